//! The worker pool: claims accepted jobs from the store, runs them on blocking threads
//! with a lease kept alive by a heartbeat, records progress, results or the failure.

use super::{now_ms, Job, JobStore, Status};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A bounded pool of workers over a job store.
pub struct Runner {
    pub store: Arc<dyn JobStore>,
    /// Identifies this server process in leases.
    pub node: String,
    pub workers: usize,
    pub results_root: PathBuf,
    pub lease: Duration,
    wake: Notify,
}

impl Runner {
    /// A runner (not started).
    pub fn new(store: Arc<dyn JobStore>, workers: usize, results_root: PathBuf) -> Runner {
        Runner {
            store,
            node: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            workers: workers.max(1),
            results_root,
            lease: Duration::from_secs(30),
            wake: Notify::new(),
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
        let outcome = match outcome {
            Ok(r) => r,
            Err(e) => Err(format!("internal error while running the job ({e})")),
        };
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
        match outcome {
            Ok(_) => tracing::info!(job = %id, seconds = started.elapsed().as_secs_f64(), "job finished"),
            Err(reason) => tracing::warn!(job = %id, %reason, "job failed"),
        }
    }
}
