//! The job store shared by several replicas: PostgreSQL. Each job is claimed by one
//! worker with `FOR UPDATE SKIP LOCKED`; a running job holds a lease that its worker's
//! heartbeat extends, so another replica re-runs the jobs of a replica that died.
//!
//! Queries run on the connection threads of [`crate::pg::Pool`].

use super::{now_ms, Job, JobStore, Status, StoreError, StoreResult, UsageRow};
use crate::pg::Pool;
use postgres::{Client, Row};
use serde_json::Value;
use std::collections::BTreeMap;

/// Jobs in PostgreSQL.
pub struct PgStore {
    pool: Pool,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

const COLUMNS: &str = "id, process, inputs, status, progress, message, created, started, finished, updated, results, error, owner, request_hash, attempts, log, request";

fn row_to_job(r: &Row) -> Job {
    let status: String = r.get(3);
    let log: Value = r.get(15);
    let request: Option<Value> = r.get(16);
    Job {
        id: r.get(0),
        process: r.get(1),
        inputs: r.get(2),
        status: Status::parse(&status).unwrap_or(Status::Failed),
        progress: u8::try_from(r.get::<_, i32>(4).clamp(0, 100)).unwrap_or(0),
        message: r.get(5),
        created: r.get(6),
        started: r.get(7),
        finished: r.get(8),
        updated: r.get(9),
        results: r.get(10),
        error: r.get(11),
        owner: r.get(12),
        request_hash: r.get(13),
        attempts: u32::try_from(r.get::<_, i32>(14).max(0)).unwrap_or(0),
        log: serde_json::from_value(log).unwrap_or_default(),
        request: request.and_then(|v| serde_json::from_value(v).ok()),
    }
}

fn log_entry(msg: &str) -> Value {
    serde_json::json!([[now_ms(), msg]])
}

impl PgStore {
    /// Connect (`postgres://user@host/db`), create the table if needed, and start
    /// `connections` connection threads.
    pub fn open(url: &str, connections: usize) -> StoreResult<PgStore> {
        // replicas starting together create the tables once (the lock ends with the
        // transaction)
        let pool = Pool::open(url, connections, "jobs-pg", |c| {
            c.batch_execute(
                "BEGIN; SELECT pg_advisory_xact_lock(7420417);
                 CREATE TABLE IF NOT EXISTS jobs (
                    id TEXT PRIMARY KEY, process TEXT NOT NULL, inputs JSONB NOT NULL, status TEXT NOT NULL,
                    progress INTEGER NOT NULL, message TEXT NOT NULL, created BIGINT NOT NULL, started BIGINT,
                    finished BIGINT, updated BIGINT NOT NULL, results JSONB, error TEXT, owner TEXT,
                    request_hash TEXT, attempts INTEGER NOT NULL, log JSONB NOT NULL,
                    lease_owner TEXT, lease_until BIGINT);
                 ALTER TABLE jobs ADD COLUMN IF NOT EXISTS request JSONB;
                 CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created);
                 CREATE INDEX IF NOT EXISTS jobs_hash ON jobs(request_hash);
                 CREATE TABLE IF NOT EXISTS usage (
                    day TEXT NOT NULL, \"user\" TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL,
                    requests BIGINT NOT NULL, bytes BIGINT NOT NULL, seconds DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (day, \"user\", dataset, protocol));
                 COMMIT;",
            )
        })
        .map_err(err)?;
        Ok(PgStore { pool })
    }

    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> StoreResult<T> {
        self.pool.with(f).map_err(err)
    }
}

impl JobStore for PgStore {
    fn insert(&self, job: &Job) -> StoreResult<()> {
        let j = job.clone();
        self.with(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO jobs ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)"
                ),
                &[
                    &j.id,
                    &j.process,
                    &j.inputs,
                    &j.status.as_str(),
                    &i32::from(j.progress),
                    &j.message,
                    &j.created,
                    &j.started,
                    &j.finished,
                    &j.updated,
                    &j.results,
                    &j.error,
                    &j.owner,
                    &j.request_hash,
                    &i32::try_from(j.attempts).unwrap_or(i32::MAX),
                    &serde_json::to_value(&j.log).unwrap_or(Value::Null),
                    &j.request.as_ref().and_then(|r| serde_json::to_value(r).ok()),
                ],
            )
            .map(|_| ())
        })
    }

    fn get(&self, id: &str) -> StoreResult<Option<Job>> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"), &[&id])
                .map(|r| r.as_ref().map(row_to_job))
        })
    }

    fn list(&self, owner: Option<&str>, limit: usize) -> StoreResult<Vec<Job>> {
        let owner = owner.map(str::to_string);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM jobs WHERE ($1::TEXT IS NULL OR owner = $1) ORDER BY created DESC LIMIT $2"
                ),
                &[&owner, &limit],
            )
            .map(|rows| rows.iter().map(row_to_job).collect())
        })
    }

    fn claim(&self, worker: &str, lease_until: i64) -> StoreResult<Option<Job>> {
        let worker = worker.to_string();
        self.with(move |c| {
            let t = now_ms();
            c.query_opt(
                &format!(
                    "UPDATE jobs SET status = 'running', started = COALESCE(started, $1), updated = $1, attempts = attempts + 1,
                     message = 'running', lease_owner = $2, lease_until = $3, log = log || $4
                     WHERE id = (SELECT id FROM jobs WHERE status = 'accepted' ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING {COLUMNS}"
                ),
                &[&t, &worker, &lease_until, &log_entry(&format!("job started on {worker}"))],
            )
            .map(|r| r.as_ref().map(row_to_job))
        })
    }

    fn heartbeat(&self, id: &str, lease_until: i64) -> StoreResult<bool> {
        let id = id.to_string();
        self.with(move |c| {
            c.execute("UPDATE jobs SET lease_until = $2 WHERE id = $1 AND status = 'running'", &[&id, &lease_until])
                .map(|n| n == 1)
        })
    }

    fn progress(&self, id: &str, percent: u8, message: &str) -> StoreResult<()> {
        let (id, message) = (id.to_string(), message.to_string());
        self.with(move |c| {
            c.execute(
                "UPDATE jobs SET progress = $2, message = $3, updated = $4, log = log || $5 WHERE id = $1 AND status = 'running'",
                &[&id, &i32::from(percent.min(100)), &message, &now_ms(), &log_entry(&message)],
            )
            .map(|_| ())
        })
    }

    fn finish(&self, id: &str, status: Status, results: Option<&Value>, error: Option<&str>) -> StoreResult<()> {
        let (id, results, error) = (id.to_string(), results.cloned(), error.map(str::to_string));
        self.with(move |c| {
            let message = match status {
                Status::Successful => "finished successfully".to_string(),
                _ => format!("failed: {}", error.as_deref().unwrap_or("unknown error")),
            };
            c.execute(
                "UPDATE jobs SET status = $2, progress = CASE WHEN $2 = 'successful' THEN 100 ELSE progress END,
                 message = $3, finished = $4, updated = $4, results = $5, error = $6, lease_owner = NULL, lease_until = NULL,
                 log = log || $7 WHERE id = $1 AND status != 'dismissed'",
                &[&id, &status.as_str(), &message, &now_ms(), &results, &error, &log_entry(&message)],
            )
            .map(|_| ())
        })
    }

    fn dismiss(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.with(move |c| {
            let t = now_ms();
            c.execute(
                "UPDATE jobs SET status = 'dismissed', message = 'dismissed', updated = $2, finished = COALESCE(finished, $2),
                 lease_owner = NULL, lease_until = NULL, log = log || $3 WHERE id = $1",
                &[&id, &t, &log_entry("job dismissed")],
            )
            .map(|n| n == 1)
        })
    }

    fn recover(&self, now: i64, max_attempts: u32) -> StoreResult<(usize, usize)> {
        let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        self.with(move |c| {
            let mut tx = c.transaction()?;
            let failed = tx.execute(
                "UPDATE jobs SET status = 'failed', finished = $1, updated = $1, lease_owner = NULL, lease_until = NULL,
                 error = 'the server running this job stopped ' || attempts || ' times; it was not retried again',
                 message = 'failed: the server running this job stopped'
                 WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1) AND attempts >= $2",
                &[&now.min(i64::MAX - 1), &max],
            )?;
            let requeued = tx.execute(
                "UPDATE jobs SET status = 'accepted', updated = $2, lease_owner = NULL, lease_until = NULL,
                 message = 're-queued: the server running it stopped', log = log || $3
                 WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1)",
                &[&now.min(i64::MAX - 1), &now_ms(), &log_entry("re-queued: the server running it stopped")],
            )?;
            tx.commit()?;
            Ok((usize::try_from(requeued).unwrap_or(0), usize::try_from(failed).unwrap_or(0)))
        })
    }

    fn active(&self, owner: Option<&str>) -> StoreResult<usize> {
        let owner = owner.map(str::to_string);
        self.with(move |c| {
            c.query_one("SELECT COUNT(*) FROM jobs WHERE status IN ('accepted', 'running') AND ($1::TEXT IS NULL OR owner = $1)", &[&owner])
                .map(|r| usize::try_from(r.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    fn find_successful(&self, request_hash: &str) -> StoreResult<Option<Job>> {
        let h = request_hash.to_string();
        self.with(move |c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE request_hash = $1 AND status = 'successful' ORDER BY finished DESC LIMIT 1"), &[&h])
                .map(|r| r.as_ref().map(row_to_job))
        })
    }

    fn expired(&self, before: i64) -> StoreResult<Vec<Job>> {
        self.with(move |c| {
            c.query(&format!("SELECT {COLUMNS} FROM jobs WHERE status IN ('successful', 'failed', 'dismissed') AND finished < $1"), &[&before])
                .map(|rows| rows.iter().map(row_to_job).collect())
        })
    }

    fn delete(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.with(move |c| c.execute("DELETE FROM jobs WHERE id = $1", &[&id]).map(|_| ()))
    }

    fn count_by_status(&self) -> StoreResult<BTreeMap<String, usize>> {
        self.with(move |c| {
            c.query("SELECT status, COUNT(*) FROM jobs GROUP BY status", &[]).map(|rows| {
                rows.iter().map(|r| (r.get::<_, String>(0), usize::try_from(r.get::<_, i64>(1)).unwrap_or(0))).collect()
            })
        })
    }

    fn release(&self, id: &str, reason: &str) -> StoreResult<()> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.with(move |c| {
            c.execute(
                "UPDATE jobs SET status = 'accepted', updated = $2, lease_owner = NULL, lease_until = NULL,
                 attempts = GREATEST(attempts - 1, 0), message = $3, log = log || $4 WHERE id = $1 AND status = 'running'",
                &[&id, &now_ms(), &reason, &log_entry(&reason)],
            )
            .map(|_| ())
        })
    }

    fn add_usage(&self, rows: &[UsageRow]) -> StoreResult<()> {
        let rows = rows.to_vec();
        self.with(move |c| {
            let mut tx = c.transaction()?;
            for r in &rows {
                tx.execute(
                    "INSERT INTO usage (day, \"user\", dataset, protocol, requests, bytes, seconds)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (day, \"user\", dataset, protocol) DO UPDATE SET requests = usage.requests + excluded.requests,
                     bytes = usage.bytes + excluded.bytes, seconds = usage.seconds + excluded.seconds",
                    &[
                        &r.day,
                        &r.user,
                        &r.dataset,
                        &r.protocol,
                        &i64::try_from(r.requests).unwrap_or(i64::MAX),
                        &i64::try_from(r.bytes).unwrap_or(i64::MAX),
                        &r.seconds,
                    ],
                )?;
            }
            tx.commit()
        })
    }

    fn usage(&self, from: &str, to: &str) -> StoreResult<Vec<UsageRow>> {
        let (from, to) = (from.to_string(), to.to_string());
        self.with(move |c| {
            c.query(
                "SELECT day, \"user\", dataset, protocol, requests, bytes, seconds FROM usage
                 WHERE day >= $1 AND day <= $2 ORDER BY day, \"user\", dataset, protocol",
                &[&from, &to],
            )
            .map(|rows| {
                rows.iter()
                    .map(|r| UsageRow {
                        day: r.get(0),
                        user: r.get(1),
                        dataset: r.get(2),
                        protocol: r.get(3),
                        requests: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
                        bytes: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
                        seconds: r.get(6),
                    })
                    .collect()
            })
        })
    }
}
