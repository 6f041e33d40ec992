//! Jobs: long work (processing requests) recorded in a job store, run by a bounded
//! pool of workers, surviving restarts (a job that was running when the server died is
//! re-queued, or failed with the reason once it has been tried too often).

pub mod postgres;
pub mod runner;
pub mod sqlite;

use cirrus_ops::process::run::Request;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Open the job store named by `--jobs`: a `postgres://` (or `postgresql://`) URL for a
/// store shared by replicas, else a SQLite file.
pub fn open(spec: &str, workers: usize) -> StoreResult<Arc<dyn JobStore>> {
    if crate::pg::is_url(spec) {
        Ok(Arc::new(postgres::PgStore::open(spec, workers + 2)?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::open(std::path::Path::new(spec))?))
    }
}

/// True when the store may be shared with other replicas (jobs still marked running
/// at start-up may belong to a live replica).
pub fn is_shared(spec: &str) -> bool {
    crate::pg::is_url(spec)
}

/// The state of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accepted,
    Running,
    Successful,
    Failed,
    Dismissed,
}

impl Status {
    /// The lowercase name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Running => "running",
            Status::Successful => "successful",
            Status::Failed => "failed",
            Status::Dismissed => "dismissed",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "accepted" => Status::Accepted,
            "running" => Status::Running,
            "successful" => Status::Successful,
            "failed" => Status::Failed,
            "dismissed" => Status::Dismissed,
            _ => return None,
        })
    }

    /// True once the job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Successful | Status::Failed | Status::Dismissed)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A job record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub id: String,
    /// The process run (`subset`, `average`, ...).
    pub process: String,
    /// Inputs as given (protocol-neutral names and values).
    pub inputs: Value,
    pub status: Status,
    /// 0-100.
    pub progress: u8,
    pub message: String,
    /// Times in ms since the epoch.
    pub created: i64,
    pub started: Option<i64>,
    pub finished: Option<i64>,
    pub updated: i64,
    /// What the job produced (files, provenance), once successful.
    pub results: Option<Value>,
    /// Why it failed, in words a user can act on.
    pub error: Option<String>,
    /// The user who submitted it (API key owner), if any.
    pub owner: Option<String>,
    /// Hash of the normalised request and dataset versions, to reuse identical results.
    pub request_hash: Option<String>,
    /// How many times a worker started it.
    pub attempts: u32,
    /// Timestamped log lines.
    pub log: Vec<(i64, String)>,
    /// The checked request as parsed once at submission: what the size estimate used and
    /// what a worker runs (None for jobs recorded before requests were kept).
    pub request: Option<Request>,
}

impl Job {
    /// A new accepted job.
    pub fn new(process: &str, inputs: Value, owner: Option<String>, request_hash: Option<String>) -> Job {
        let t = now_ms();
        Job {
            id: uuid::Uuid::new_v4().to_string(),
            process: process.to_string(),
            inputs,
            status: Status::Accepted,
            progress: 0,
            message: "accepted, waiting for a worker".into(),
            created: t,
            started: None,
            finished: None,
            updated: t,
            results: None,
            error: None,
            owner,
            request_hash,
            attempts: 0,
            log: vec![(t, "job accepted".into())],
            request: None,
        }
    }

    /// The job with its checked request.
    #[must_use]
    pub fn with_request(mut self, request: Request) -> Job {
        self.request = Some(request);
        self
    }
}

/// A failure of the job store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store: {0}")]
    Backend(String),
}

/// Result alias of the job store.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where jobs are kept. Implementations must make `claim` atomic so that each job runs
/// on one worker at a time.
pub trait JobStore: Send + Sync {
    /// Record a new job.
    fn insert(&self, job: &Job) -> StoreResult<()>;
    /// A job by id.
    fn get(&self, id: &str) -> StoreResult<Option<Job>>;
    /// Jobs, newest first (optionally of one owner), at most `limit`.
    fn list(&self, owner: Option<&str>, limit: usize) -> StoreResult<Vec<Job>>;
    /// Take the oldest accepted job for `worker`, marking it running with a lease
    /// until `lease_until` (ms).
    fn claim(&self, worker: &str, lease_until: i64) -> StoreResult<Option<Job>>;
    /// Extend the lease of a running job; false when the job is no longer running
    /// (dismissed).
    fn heartbeat(&self, id: &str, lease_until: i64) -> StoreResult<bool>;
    /// Record progress.
    fn progress(&self, id: &str, percent: u8, message: &str) -> StoreResult<()>;
    /// Record the end of a job (successful with results, or failed with an error).
    fn finish(&self, id: &str, status: Status, results: Option<&Value>, error: Option<&str>) -> StoreResult<()>;
    /// Dismiss a job (cancel it if not finished); false when unknown.
    fn dismiss(&self, id: &str) -> StoreResult<bool>;
    /// Running jobs whose lease ended (their worker died): re-queue those tried fewer
    /// than `max_attempts` times, fail the others. Returns (requeued, failed).
    fn recover(&self, now: i64, max_attempts: u32) -> StoreResult<(usize, usize)>;
    /// Number of accepted or running jobs (of an owner, or all).
    fn active(&self, owner: Option<&str>) -> StoreResult<usize>;
    /// The newest successful job with this request hash (used by the CDS API).
    #[allow(dead_code)]
    fn find_successful(&self, request_hash: &str) -> StoreResult<Option<Job>>;
    /// Final jobs that finished before `before` (ms), for cleanup.
    fn expired(&self, before: i64) -> StoreResult<Vec<Job>>;
    /// Forget a job entirely.
    fn delete(&self, id: &str) -> StoreResult<()>;
    /// Number of jobs in each state (by state name).
    fn count_by_status(&self) -> StoreResult<std::collections::BTreeMap<String, usize>>;
    /// Hand a running job back to the queue (its server is stopping): accepted again,
    /// this attempt not counted.
    fn release(&self, id: &str, reason: &str) -> StoreResult<()>;
    /// Add usage counts (summed with what is already recorded for the same key).
    fn add_usage(&self, rows: &[UsageRow]) -> StoreResult<()>;
    /// Usage recorded for days `from..=to` (`YYYY-MM-DD`).
    fn usage(&self, from: &str, to: &str) -> StoreResult<Vec<UsageRow>>;
}

/// Use of the service by one user of one dataset through one protocol on one day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The API key owner, or `anonymous`.
    pub user: String,
    /// The dataset id, or `-` when the request named none.
    pub dataset: String,
    /// The protocol label (`dap2`, `wms`, `jobs` ...).
    pub protocol: String,
    pub requests: u64,
    /// Response bytes sent (or, for jobs, bytes of the result files).
    pub bytes: u64,
    /// Service time in seconds (request time to the last byte; job run time).
    pub seconds: f64,
}
