//! The worker pool: claims accepted jobs from the store, runs them on blocking threads
//! with a lease kept alive by a heartbeat, records progress, results or the failure.

use super::{now_ms, Job, JobStore, Status};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What a running job can do: report progress (which also tells it when it has been
/// dismissed) and write its outputs under `out_dir`.
pub struct JobContext {
    pub id: String,
    pub out_dir: PathBuf,
    store: Arc<dyn JobStore>,
    cancelled: Arc<AtomicBool>,
    last: Mutex<Option<(Instant, u8)>>,
}

/// The job was dismissed while running.
#[derive(Debug)]
pub struct Cancelled;

impl JobContext {
    /// Record progress (at most about once a second unless the percentage moves by 5).
    /// Err when the job has been dismissed: the work should stop.
    pub fn progress(&self, percent: u8, message: &str) -> Result<(), Cancelled> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        if let Ok(mut last) = self.last.lock() {
            let due = last.is_none_or(|(t, p)| t.elapsed() > Duration::from_secs(1) || percent >= p.saturating_add(5));
            if due {
                *last = Some((Instant::now(), percent));
                if let Err(e) = self.store.progress(&self.id, percent, message) {
                    tracing::warn!(job = %self.id, error = %e, "cannot record progress");
                }
            }
        }
        Ok(())
    }

    /// True once the job has been dismissed.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Runs a job: results on success, a user-facing reason on failure.
pub type Executor = dyn Fn(&JobContext, &Job) -> Result<Value, String> + Send + Sync;

/// This process in job logs and leases: `host:pid:random`.
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map_or_else(|| "localhost".to_string(), |h| h.trim().to_string());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &tag[..8])
}

/// A bounded pool of workers over a job store.
pub struct Runner {
    pub store: Arc<dyn JobStore>,
    /// Identifies this server process in leases.
    pub node: String,
    pub workers: usize,
    pub results_root: PathBuf,
    pub lease: Duration,
    wake: Notify,
    /// Set when the server stops: no new job is claimed.
    stopping: AtomicBool,
    /// Jobs running here, with their cancellation flags.
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
    ran: AtomicU64,
}

impl Runner {
    /// A runner (not started).
    pub fn new(store: Arc<dyn JobStore>, workers: usize, results_root: PathBuf) -> Runner {
        Runner {
            store,
            node: node_name(),
            workers: workers.max(1),
            results_root,
            lease: Duration::from_secs(30),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
            ran: AtomicU64::new(0),
        }
    }

    /// Workers running a job now.
    pub fn busy(&self) -> usize {
        self.running.lock().map_or(0, |r| r.len())
    }

    /// Jobs this runner ran to an end (successful or failed).
    pub fn ran(&self) -> u64 {
        self.ran.load(Ordering::Relaxed)
    }

    /// Stop claiming jobs, give the running ones `grace` to finish, then hand those
    /// still running back to the queue (another replica, or the next start, runs them).
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake();
        let deadline = Instant::now() + grace;
        if self.busy() > 0 {
            tracing::info!(jobs = self.busy(), grace_secs = grace.as_secs(), "waiting for running jobs to finish");
        }
        while self.busy() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left: Vec<(String, Arc<AtomicBool>)> =
            self.running.lock().map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        for (id, cancelled) in left {
            cancelled.store(true, Ordering::Relaxed);
            match self.store.release(&id, "handed back to the queue: the server running it stopped") {
                Ok(()) => tracing::warn!(job = %id, "job handed back to the queue"),
                Err(e) => tracing::error!(job = %id, error = %e, "cannot hand a job back; its lease will run out"),
            }
        }
    }

    /// Tell idle workers that a job was submitted.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Recover jobs of a previous run, then start the workers. With `exclusive` (a
    /// store no other server uses), every job still marked running was interrupted by
    /// the previous stop and is recovered at once; otherwise only those whose lease ran
    /// out (their server is gone).
    pub fn start(self: &Arc<Self>, exec: Arc<Executor>, exclusive: bool) {
        let now = if exclusive { i64::MAX } else { now_ms() };
        match self.store.recover(now, 3) {
            Ok((requeued, failed)) if requeued + failed > 0 => {
                tracing::warn!(requeued, failed, "recovered jobs interrupted by a previous stop");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot recover interrupted jobs"),
        }
        for w in 0..self.workers {
            let me = self.clone();
            let exec = exec.clone();
            tokio::spawn(async move { me.work(w, exec).await });
        }
        // Leases that run out (a worker thread stuck or a replica gone) are recovered.
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(me.lease).await;
                if let Ok((r, _)) = me.store.recover(now_ms(), 3) {
                    if r > 0 {
                        me.wake();
                    }
                }
            }
        });
    }

    async fn work(self: Arc<Self>, n: usize, exec: Arc<Executor>) {
        let worker = format!("{}#{n}", self.node);
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let lease_until = now_ms() + i64::try_from(self.lease.as_millis()).unwrap_or(30_000);
            match self.store.claim(&worker, lease_until) {
                Ok(Some(job)) => self.run(job, exec.clone()).await,
                Ok(None) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim jobs");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }

    async fn run(&self, job: Job, exec: Arc<Executor>) {
        let id = job.id.clone();
        tracing::info!(job = %id, process = %job.process, attempt = job.attempts, "job started");
        let out_dir = self.results_root.join(&id);
        let _ = std::fs::remove_dir_all(&out_dir);
        if let Err(e) = std::fs::create_dir_all(&out_dir) {
            let _ =
                self.store.finish(&id, Status::Failed, None, Some(&format!("cannot create the output directory: {e}")));
            return;
        }
        let cancelled = Arc::new(AtomicBool::new(false));
        if let Ok(mut r) = self.running.lock() {
            r.insert(id.clone(), cancelled.clone());
        }
        let ctx = Arc::new(JobContext {
            id: id.clone(),
            out_dir,
            store: self.store.clone(),
            cancelled: cancelled.clone(),
            last: Mutex::new(None),
        });
        // Heartbeat: keep the lease; notice dismissal.
        let hb = {
            let (store, id, cancelled, lease) = (self.store.clone(), id.clone(), cancelled.clone(), self.lease);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let until = now_ms() + i64::try_from(lease.as_millis()).unwrap_or(30_000);
                    if let Ok(false) = store.heartbeat(&id, until) {
                        cancelled.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            })
        };
        let started = Instant::now();
        let c2 = ctx.clone();
        let outcome = tokio::task::spawn_blocking(move || exec(&c2, &job)).await;
        hb.abort();
        if let Ok(mut r) = self.running.lock() {
            r.remove(&id);
        }
        let outcome = match outcome {
            Ok(r) => r,
            Err(e) => Err(format!("internal error while running the job ({e})")),
        };
        if self.stopping.load(Ordering::SeqCst) && ctx.is_cancelled() {
            return; // handed back by shutdown
        }
        if ctx.is_cancelled() {
            tracing::info!(job = %id, "job dismissed while running");
            let _ = std::fs::remove_dir_all(&ctx.out_dir);
            return;
        }
        let result = match &outcome {
            Ok(results) => self.store.finish(&id, Status::Successful, Some(results), None),
            Err(reason) => self.store.finish(&id, Status::Failed, None, Some(reason)),
        };
        if let Err(e) = result {
            tracing::error!(job = %id, error = %e, "cannot record the end of a job");
        }
        self.ran.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(_) => tracing::info!(job = %id, seconds = started.elapsed().as_secs_f64(), "job finished"),
            Err(reason) => tracing::warn!(job = %id, %reason, "job failed"),
        }
    }
}
