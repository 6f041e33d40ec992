//! The catalog index shared by replicas: PostgreSQL (by default the job store's server,
//! see `--catalog-index`). The same rows as the SQLite index (`catalog_files`,
//! `catalog_groups`, `catalog_datasets`, `catalog_paths`). One replica indexes: the one
//! holding a session advisory lock (taken over when its connection ends); every pass,
//! by the indexer or asked of any replica (`POST /admin/rescan`), holds a second
//! advisory lock so that passes never overlap. Followers LISTEN on `cirrus_catalog`
//! and reload the catalog when the indexer NOTIFYs a change.

use crate::pg::{self, Pool};
use cirrus_ops::catalog::store::{
    decode_entry, decode_group, FileRow, GroupRows, GROUP_FORMAT, HEADER_FORMAT as FORMAT,
};
use cirrus_ops::catalog::{CatalogStore, Entry, FileInfo, GroupRecord, GroupWrite};
use cirrus_ops::model::SourceFile;
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Advisory lock keys: the indexer's, and one pass at a time.
const LEAD_KEY: i64 = 7_420_418;
const PASS_KEY: i64 = 7_420_419;

/// The catalog index in PostgreSQL.
pub struct PgIndex {
    pool: Pool,
    /// The connection holding the indexer's and the pass locks (session locks).
    locks: Pool,
    /// Bumped by the listener thread on each notification from another replica.
    changes: Arc<(Mutex<u64>, Condvar)>,
    /// This replica's name in its notifications (it does not reload on its own).
    me: String,
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn warn<T>(r: Result<T, String>, what: &str) -> Option<T> {
    r.map_err(|e| tracing::warn!(error = %e, "catalog index: {what} failed")).ok()
}

impl PgIndex {
    /// Connect, create the tables if needed, and start listening for changes.
    pub fn open(url: &str) -> Result<PgIndex, String> {
        let pool = Pool::open(url, 2, "catalog-pg", |c| {
            c.batch_execute(
                "BEGIN; SELECT pg_advisory_xact_lock(7420417);
                 CREATE TABLE IF NOT EXISTS catalog_files (
                    path TEXT PRIMARY KEY, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL,
                    format INTEGER NOT NULL, info BYTEA NOT NULL);
                 CREATE TABLE IF NOT EXISTS catalog_groups (
                    key TEXT PRIMARY KEY, format INTEGER NOT NULL, record BYTEA NOT NULL);
                 CREATE TABLE IF NOT EXISTS catalog_datasets (
                    id TEXT PRIMARY KEY, grp TEXT NOT NULL, detail BYTEA NOT NULL);
                 CREATE INDEX IF NOT EXISTS catalog_datasets_grp ON catalog_datasets (grp);
                 CREATE TABLE IF NOT EXISTS catalog_paths (
                    path TEXT PRIMARY KEY, grp TEXT NOT NULL, dataset TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS catalog_paths_grp ON catalog_paths (grp);
                 CREATE TABLE IF NOT EXISTS catalog_passes (
                    id INTEGER PRIMARY KEY, finished TIMESTAMPTZ NOT NULL);
                 COMMIT;",
            )
        })?;
        let locks = Pool::open(url, 1, "catalog-pg-lock", |_| Ok(()))?;
        let changes = Arc::new((Mutex::new(0u64), Condvar::new()));
        let me = uuid::Uuid::new_v4().to_string();
        listen(url, changes.clone(), me.clone())?;
        Ok(PgIndex { pool, locks, changes, me })
    }
}

/// A thread LISTENing on `cirrus_catalog` that bumps `changes` on each notification
/// of another replica than `me` (reconnecting when the connection is lost).
fn listen(url: &str, changes: Arc<(Mutex<u64>, Condvar)>, me: String) -> Result<(), String> {
    let mut client = pg::connect(url)?;
    client.batch_execute("LISTEN cirrus_catalog").map_err(|e| pg::detail(&e))?;
    let url = url.to_string();
    std::thread::Builder::new()
        .name("catalog-pg-listen".into())
        .spawn(move || loop {
            let got = client.notifications().timeout_iter(Duration::from_secs(5)).next();
            match got {
                Ok(Some(n)) if n.payload() == me => {}
                Ok(Some(_)) => {
                    let (n, cv) = &*changes;
                    *n.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
                    cv.notify_all();
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %pg::detail(&e), "catalog index: listening lost; reconnecting");
                    std::thread::sleep(Duration::from_secs(1));
                    if let Ok(mut c) = pg::connect(&url) {
                        if c.batch_execute("LISTEN cirrus_catalog").is_ok() {
                            client = c;
                        }
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn delete_group(tx: &mut postgres::Transaction, key: &str) -> Result<(), postgres::Error> {
    tx.execute("DELETE FROM catalog_groups WHERE key = $1", &[&key])?;
    tx.execute("DELETE FROM catalog_datasets WHERE grp = $1", &[&key])?;
    tx.execute("DELETE FROM catalog_paths WHERE grp = $1", &[&key])?;
    Ok(())
}

impl CatalogStore for PgIndex {
    fn load(&self, file: &SourceFile) -> Option<FileInfo> {
        let (p, size, mt) = FileRow::key(file);
        let blob = self.pool.with(move |c| {
            c.query_opt(
                "SELECT info FROM catalog_files WHERE path = $1 AND size = $2 AND mtime_ns = $3 AND format = $4",
                &[&p, &size, &mt, &FORMAT],
            )
            .map(|r| r.map(|r| r.get::<_, Vec<u8>>(0)))
        });
        FileInfo::decode(&warn(blob, "reading a file header")??).ok()
    }

    fn retain(&self, roots: &[PathBuf], live: &[&SourceFile]) {
        let live: std::collections::HashSet<String> = live.iter().map(|f| path_text(&f.path)).collect();
        let roots: Vec<String> = roots.iter().map(|r| format!("{}/", path_text(r))).collect();
        let done = self.pool.with(move |c| {
            let mut gone = Vec::new();
            for r in &roots {
                for row in c.query("SELECT path FROM catalog_files WHERE starts_with(path, $1)", &[r])? {
                    let p: String = row.get(0);
                    if !live.contains(&p) {
                        gone.push(p);
                    }
                }
            }
            if !gone.is_empty() {
                c.execute("DELETE FROM catalog_files WHERE path = ANY($1)", &[&gone])?;
            }
            Ok(())
        });
        warn(done, "forgetting removed files");
    }

    fn groups(&self) -> Vec<GroupRecord> {
        let rows = self.pool.with(|c| {
            let rows = c.query("SELECT record FROM catalog_groups WHERE format = $1", &[&GROUP_FORMAT])?;
            Ok(rows.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect::<Vec<_>>())
        });
        warn(rows, "reading the groups").unwrap_or_default().iter().filter_map(|b| decode_group(b).ok()).collect()
    }

    fn put_groups(&self, groups: &[GroupWrite]) {
        if groups.is_empty() {
            return;
        }
        let rows: Vec<GroupRows> = groups.iter().map(GroupWrite::rows).collect();
        let done = self.pool.with(move |c: &mut Client| {
            let mut tx = c.transaction()?;
            for g in &rows {
                for f in &g.files {
                    tx.execute(
                        "INSERT INTO catalog_files (path, size, mtime_ns, format, info) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (path) DO UPDATE SET size = $2, mtime_ns = $3, format = $4, info = $5",
                        &[&f.path, &f.size, &f.mtime_ns, &FORMAT, &f.info],
                    )?;
                }
                delete_group(&mut tx, &g.key)?;
                tx.execute(
                    "INSERT INTO catalog_groups (key, format, record) VALUES ($1, $2, $3)",
                    &[&g.key, &GROUP_FORMAT, &g.record],
                )?;
                for (id, blob) in &g.details {
                    tx.execute(
                        "INSERT INTO catalog_datasets (id, grp, detail) VALUES ($1, $2, $3)
                         ON CONFLICT (id) DO UPDATE SET grp = $2, detail = $3",
                        &[id, &g.key, blob],
                    )?;
                }
                for (path, id) in &g.paths {
                    tx.execute(
                        "INSERT INTO catalog_paths (path, grp, dataset) VALUES ($1, $2, $3)
                         ON CONFLICT (path) DO UPDATE SET grp = $2, dataset = $3",
                        &[path, &g.key, id],
                    )?;
                }
            }
            tx.commit()
        });
        warn(done, "recording datasets");
    }

    fn remove_group(&self, key: &str) {
        let key = key.to_string();
        let done = self.pool.with(move |c| {
            let mut tx = c.transaction()?;
            delete_group(&mut tx, &key)?;
            tx.commit()
        });
        warn(done, "forgetting a dataset");
    }

    fn dataset(&self, id: &str) -> Option<Entry> {
        let id = id.to_string();
        let blob = self.pool.with(move |c| {
            c.query_opt("SELECT detail FROM catalog_datasets WHERE id = $1", &[&id])
                .map(|r| r.map(|r| r.get::<_, Vec<u8>>(0)))
        });
        decode_entry(&warn(blob, "reading a dataset")??).ok()
    }

    fn dataset_of(&self, path: &str) -> Option<String> {
        let path = path.to_string();
        let id = self.pool.with(move |c| {
            c.query_opt("SELECT dataset FROM catalog_paths WHERE path = $1", &[&path])
                .map(|r| r.map(|r| r.get::<_, String>(0)))
        });
        warn(id, "looking up a path")?
    }

    fn shared(&self) -> bool {
        true
    }

    fn try_lead(&self) -> bool {
        // session locks are re-entrant: the holder gets true again; a lost connection
        // lost the lock with it, and another replica takes over
        let got = self.locks.with(|c| Ok(c.query_one("SELECT pg_try_advisory_lock($1)", &[&LEAD_KEY])?.get(0)));
        warn(got, "taking the indexer's lock").unwrap_or(false)
    }

    fn exclusive(&self, pass: &mut dyn FnMut()) {
        if warn(
            self.locks.with(|c| c.execute("SELECT pg_advisory_lock($1)", &[&PASS_KEY])),
            "waiting for the pass lock",
        )
        .is_none()
        {
            return;
        }
        pass();
        warn(self.locks.with(|c| c.execute("SELECT pg_advisory_unlock($1)", &[&PASS_KEY])), "ending the pass lock");
    }

    fn record_pass(&self) {
        let done = self.pool.with(|c| {
            c.execute(
                "INSERT INTO catalog_passes (id, finished) VALUES (1, now())
                 ON CONFLICT (id) DO UPDATE SET finished = now()",
                &[],
            )
        });
        warn(done, "recording a finished pass");
    }

    fn first_pass_done(&self) -> bool {
        let n = self.pool.with(|c| Ok(c.query_one("SELECT count(*) FROM catalog_passes", &[])?.get::<_, i64>(0)));
        warn(n, "reading the finished passes").is_some_and(|n| n > 0)
    }

    fn notify_change(&self) {
        let me = self.me.clone();
        warn(
            self.pool.with(move |c| c.execute("SELECT pg_notify('cirrus_catalog', $1)", &[&me])),
            "notifying the replicas",
        );
    }

    fn wait_change(&self, timeout: Duration) -> bool {
        let (n, cv) = &*self.changes;
        let guard = n.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = *guard;
        let (guard, _) = cv
            .wait_timeout_while(guard, timeout, |now| *now == seen)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard != seen
    }
}
