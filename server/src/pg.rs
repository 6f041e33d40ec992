//! PostgreSQL connections for the synchronous `postgres` client, which cannot run
//! inside the async runtime: a few plain threads own the connections and run the
//! queries sent to them (reconnecting when a connection was lost). Shared by the job
//! store and the catalog index of replicas.

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

type Task = Box<dyn FnOnce(&mut Client) + Send>;

/// Connection threads, used in turn.
pub struct Pool {
    workers: Vec<Mutex<mpsc::Sender<Task>>>,
    next: AtomicUsize,
}

/// The database's own message (the client's Display says only "db error").
pub fn detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// A connection URL without its password, for messages.
pub fn masked(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// True for a `postgres://` or `postgresql://` URL.
pub fn is_url(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

/// Connect to `url`.
pub fn connect(url: &str) -> Result<Client, String> {
    Client::connect(url, NoTls).map_err(|e| format!("cannot connect to {}: {}", masked(url), detail(&e)))
}

impl Pool {
    /// `connections` connection threads named `<name>-<i>`; `setup` runs once on the
    /// first connection (creating tables).
    pub fn open(
        url: &str,
        connections: usize,
        name: &str,
        setup: impl FnOnce(&mut Client) -> Result<(), postgres::Error>,
    ) -> Result<Pool, String> {
        let mut first = connect(url)?;
        setup(&mut first).map_err(|e| format!("cannot create the tables in {}: {}", masked(url), detail(&e)))?;
        let mut clients = vec![first];
        for _ in 1..connections.max(1) {
            clients.push(connect(url)?);
        }
        let mut workers = Vec::new();
        for (i, mut client) in clients.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Task>();
            let url = url.to_string();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    while let Ok(task) = rx.recv() {
                        if client.is_closed() {
                            match Client::connect(&url, NoTls) {
                                Ok(c) => client = c,
                                Err(e) => tracing::error!(error = %e, "PostgreSQL connection lost"),
                            }
                        }
                        task(&mut client);
                    }
                })
                .map_err(|e| e.to_string())?;
            workers.push(Mutex::new(tx));
        }
        Ok(Pool { workers, next: AtomicUsize::new(0) })
    }

    /// Run `f` on the next connection and wait for its result.
    pub fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = mpsc::channel();
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let task: Task = Box::new(move |c| {
            let _ = tx.send(f(c).map_err(|e| detail(&e)));
        });
        self.workers[i]
            .lock()
            .map_err(|_| "PostgreSQL pool lock poisoned".to_string())?
            .send(task)
            .map_err(|_| "PostgreSQL connection thread stopped".to_string())?;
        rx.recv().map_err(|_| "PostgreSQL connection thread stopped".to_string())?
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_masked() {
        assert_eq!(super::masked("postgres://cirrus:s3cret@db:5432/cirrus"), "postgres://cirrus:***@db:5432/cirrus");
        assert_eq!(super::masked("postgres://cirrus@db/cirrus"), "postgres://cirrus@db/cirrus");
        assert_eq!(super::masked("postgresql://db/cirrus"), "postgresql://db/cirrus");
    }
}
