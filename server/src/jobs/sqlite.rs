//! The embedded job store: one SQLite database under the state directory.

use super::{now_ms, Job, JobStore, Status, StoreError, StoreResult, UsageRow};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// Jobs in a SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

const COLUMNS: &str = "id, process, inputs, status, progress, message, created, started, finished, updated, results, error, owner, request_hash, attempts, log, request";

fn row_to_job(r: &Row) -> rusqlite::Result<Job> {
    let inputs: String = r.get(2)?;
    let status: String = r.get(3)?;
    let results: Option<String> = r.get(10)?;
    let log: String = r.get(15)?;
    let request: Option<String> = r.get(16)?;
    Ok(Job {
        id: r.get(0)?,
        process: r.get(1)?,
        inputs: serde_json::from_str(&inputs).unwrap_or(Value::Null),
        status: Status::parse(&status).unwrap_or(Status::Failed),
        progress: r.get::<_, i64>(4)?.clamp(0, 100) as u8,
        message: r.get(5)?,
        created: r.get(6)?,
        started: r.get(7)?,
        finished: r.get(8)?,
        updated: r.get(9)?,
        results: results.and_then(|s| serde_json::from_str(&s).ok()),
        error: r.get(11)?,
        owner: r.get(12)?,
        request_hash: r.get(13)?,
        attempts: r.get::<_, i64>(14)?.max(0) as u32,
        log: serde_json::from_str(&log).unwrap_or_default(),
        request: request.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

impl SqliteStore {
    /// Open (and create) the database.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY, process TEXT NOT NULL, inputs TEXT NOT NULL, status TEXT NOT NULL,
                progress INTEGER NOT NULL, message TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER,
                finished INTEGER, updated INTEGER NOT NULL, results TEXT, error TEXT, owner TEXT,
                request_hash TEXT, attempts INTEGER NOT NULL, log TEXT NOT NULL,
                lease_owner TEXT, lease_until INTEGER);
             CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created);
             CREATE INDEX IF NOT EXISTS jobs_hash ON jobs(request_hash);
             CREATE TABLE IF NOT EXISTS usage (
                day TEXT NOT NULL, user TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL,
                requests INTEGER NOT NULL, bytes INTEGER NOT NULL, seconds REAL NOT NULL,
                PRIMARY KEY (day, user, dataset, protocol));",
        )
        .map_err(err)?;
        // stores made before requests were kept gain the column
        let has_request: bool = conn
            .query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('jobs') WHERE name = 'request'", [], |r| r.get(0))
            .map_err(err)?;
        if !has_request {
            conn.execute_batch("ALTER TABLE jobs ADD COLUMN request TEXT").map_err(err)?;
        }
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let mut c = self.conn.lock().map_err(|_| StoreError::Backend("store lock poisoned".into()))?;
        f(&mut c).map_err(err)
    }

    fn append_log(c: &Connection, id: &str, line: &str) -> rusqlite::Result<()> {
        let log: Option<String> = c.query_row("SELECT log FROM jobs WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        let mut entries: Vec<(i64, String)> = log.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_default();
        if entries.last().is_none_or(|(_, l)| l != line) {
            entries.push((now_ms(), line.to_string()));
        }
        c.execute(
            "UPDATE jobs SET log = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(&entries).unwrap_or_default()],
        )?;
        Ok(())
    }
}

impl JobStore for SqliteStore {
    fn insert(&self, job: &Job) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                &format!("INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
                params![
                    job.id,
                    job.process,
                    job.inputs.to_string(),
                    job.status.as_str(),
                    i64::from(job.progress),
                    job.message,
                    job.created,
                    job.started,
                    job.finished,
                    job.updated,
                    job.results.as_ref().map(Value::to_string),
                    job.error,
                    job.owner,
                    job.request_hash,
                    i64::from(job.attempts),
                    serde_json::to_string(&job.log).unwrap_or_default(),
                    job.request.as_ref().and_then(|r| serde_json::to_string(r).ok()),
                ],
            )
            .map(|_| ())
        })
    }

    fn get(&self, id: &str) -> StoreResult<Option<Job>> {
        self.with(|c| c.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [id], row_to_job).optional())
    }

    fn list(&self, owner: Option<&str>, limit: usize) -> StoreResult<Vec<Job>> {
        self.with(|c| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR owner = ?1) ORDER BY created DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![owner, limit], row_to_job)?;
            rows.collect()
        })
    }

    fn claim(&self, worker: &str, lease_until: i64) -> StoreResult<Option<Job>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let id: Option<String> = tx
                .query_row("SELECT id FROM jobs WHERE status = 'accepted' ORDER BY created LIMIT 1", [], |r| r.get(0))
                .optional()?;
            let Some(id) = id else { return Ok(None) };
            let t = now_ms();
            tx.execute(
                "UPDATE jobs SET status = 'running', started = COALESCE(started, ?2), updated = ?2, attempts = attempts + 1,
                 message = 'running', lease_owner = ?3, lease_until = ?4 WHERE id = ?1",
                params![id, t, worker, lease_until],
            )?;
            Self::append_log(&tx, &id, &format!("job started on {worker}"))?;
            let job = tx.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), [&id], row_to_job)?;
            tx.commit()?;
            Ok(Some(job))
        })
    }

    fn heartbeat(&self, id: &str, lease_until: i64) -> StoreResult<bool> {
        self.with(|c| {
            c.execute("UPDATE jobs SET lease_until = ?2 WHERE id = ?1 AND status = 'running'", params![id, lease_until])
                .map(|n| n == 1)
        })
    }

    fn progress(&self, id: &str, percent: u8, message: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE jobs SET progress = ?2, message = ?3, updated = ?4 WHERE id = ?1 AND status = 'running'",
                params![id, i64::from(percent.min(100)), message, now_ms()],
            )?;
            Self::append_log(c, id, message)
        })
    }

    fn finish(&self, id: &str, status: Status, results: Option<&Value>, error: Option<&str>) -> StoreResult<()> {
        self.with(|c| {
            let t = now_ms();
            let message = match status {
                Status::Successful => "finished successfully".to_string(),
                _ => format!("failed: {}", error.unwrap_or("unknown error")),
            };
            c.execute(
                "UPDATE jobs SET status = ?2, progress = CASE WHEN ?2 = 'successful' THEN 100 ELSE progress END,
                 message = ?3, finished = ?4, updated = ?4, results = ?5, error = ?6, lease_owner = NULL, lease_until = NULL
                 WHERE id = ?1 AND status != 'dismissed'",
                params![id, status.as_str(), message, t, results.map(Value::to_string), error],
            )?;
            Self::append_log(c, id, &message)
        })
    }

    fn dismiss(&self, id: &str) -> StoreResult<bool> {
        self.with(|c| {
            let t = now_ms();
            let n = c.execute(
                "UPDATE jobs SET status = 'dismissed', message = 'dismissed', updated = ?2,
                 finished = COALESCE(finished, ?2), lease_owner = NULL, lease_until = NULL WHERE id = ?1",
                params![id, t],
            )?;
            if n == 1 {
                Self::append_log(c, id, "job dismissed")?;
            }
            Ok(n == 1)
        })
    }

    fn recover(&self, now: i64, max_attempts: u32) -> StoreResult<(usize, usize)> {
        self.with(|c| {
            let tx = c.transaction()?;
            let failed = tx.execute(
                "UPDATE jobs SET status = 'failed', finished = ?1, updated = ?1, lease_owner = NULL, lease_until = NULL,
                 error = 'the server stopped while running this job ' || attempts || ' times; it was not retried again',
                 message = 'failed: the server stopped while running this job'
                 WHERE status = 'running' AND (lease_until IS NULL OR lease_until < ?1) AND attempts >= ?2",
                params![now, i64::from(max_attempts)],
            )?;
            let ids: Vec<String> = {
                let mut st = tx.prepare(
                    "SELECT id FROM jobs WHERE status = 'running' AND (lease_until IS NULL OR lease_until < ?1)",
                )?;
                let rows = st.query_map([now], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for id in &ids {
                tx.execute(
                    "UPDATE jobs SET status = 'accepted', updated = ?2, lease_owner = NULL, lease_until = NULL,
                     message = 're-queued: the server stopped while running it' WHERE id = ?1",
                    params![id, now],
                )?;
                Self::append_log(&tx, id, "re-queued: the server stopped while running it")?;
            }
            tx.commit()?;
            Ok((ids.len(), failed))
        })
    }

    fn active(&self, owner: Option<&str>) -> StoreResult<usize> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('accepted', 'running') AND (?1 IS NULL OR owner = ?1)",
                [owner],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| usize::try_from(n).unwrap_or(0))
        })
    }

    fn find_successful(&self, request_hash: &str) -> StoreResult<Option<Job>> {
        self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM jobs WHERE request_hash = ?1 AND status = 'successful' ORDER BY finished DESC LIMIT 1"
                ),
                [request_hash],
                row_to_job,
            )
            .optional()
        })
    }

    fn expired(&self, before: i64) -> StoreResult<Vec<Job>> {
        self.with(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE status IN ('successful', 'failed', 'dismissed') AND finished < ?1"
            ))?;
            let rows = st.query_map([before], row_to_job)?;
            rows.collect()
        })
    }

    fn delete(&self, id: &str) -> StoreResult<()> {
        self.with(|c| c.execute("DELETE FROM jobs WHERE id = ?1", [id]).map(|_| ()))
    }

    fn count_by_status(&self) -> StoreResult<BTreeMap<String, usize>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            rows.map(|r| r.map(|(s, n)| (s, usize::try_from(n).unwrap_or(0)))).collect()
        })
    }

    fn release(&self, id: &str, reason: &str) -> StoreResult<()> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE jobs SET status = 'accepted', updated = ?2, lease_owner = NULL, lease_until = NULL,
                 attempts = MAX(attempts - 1, 0), message = ?3 WHERE id = ?1 AND status = 'running'",
                params![id, now_ms(), reason],
            )?;
            if n == 1 {
                Self::append_log(c, id, reason)?;
            }
            Ok(())
        })
    }

    fn add_usage(&self, rows: &[UsageRow]) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for r in rows {
                tx.execute(
                    "INSERT INTO usage (day, user, dataset, protocol, requests, bytes, seconds)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (day, user, dataset, protocol) DO UPDATE SET requests = requests + excluded.requests,
                     bytes = bytes + excluded.bytes, seconds = seconds + excluded.seconds",
                    params![
                        r.day,
                        r.user,
                        r.dataset,
                        r.protocol,
                        i64::try_from(r.requests).unwrap_or(i64::MAX),
                        i64::try_from(r.bytes).unwrap_or(i64::MAX),
                        r.seconds
                    ],
                )?;
            }
            tx.commit()
        })
    }

    fn usage(&self, from: &str, to: &str) -> StoreResult<Vec<UsageRow>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT day, user, dataset, protocol, requests, bytes, seconds FROM usage
                 WHERE day >= ?1 AND day <= ?2 ORDER BY day, user, dataset, protocol",
            )?;
            let rows = st.query_map([from, to], |r| {
                Ok(UsageRow {
                    day: r.get(0)?,
                    user: r.get(1)?,
                    dataset: r.get(2)?,
                    protocol: r.get(3)?,
                    requests: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    bytes: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                    seconds: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lifecycle_and_recovery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("jobs.db")).expect("open");
        let a = Job::new("subset", json!({"collection": "x"}), Some("alice".into()), Some("h1".into()));
        let b = Job::new("average", json!({}), None, None);
        store.insert(&a).expect("insert");
        store.insert(&b).expect("insert");
        assert_eq!(store.active(Some("alice")).expect("active"), 1);
        let claimed = store.claim("w1", now_ms() + 60_000).expect("claim").expect("a job");
        assert_eq!(claimed.id, a.id);
        assert_eq!(claimed.status, Status::Running);
        assert_eq!(claimed.attempts, 1);
        store.progress(&a.id, 40, "reading").expect("progress");
        // a crash: the lease runs out and the job goes back to the queue
        assert_eq!(store.recover(now_ms() + 120_000, 3).expect("recover"), (1, 0));
        assert_eq!(store.get(&a.id).expect("get").expect("job").status, Status::Accepted);
        let again = store.claim("w2", 0).expect("claim").expect("a job");
        assert_eq!(again.attempts, 2);
        assert_eq!(store.recover(now_ms(), 2).expect("recover"), (0, 1));
        let failed = store.get(&a.id).expect("get").expect("job");
        assert_eq!(failed.status, Status::Failed);
        assert!(failed.error.as_deref().unwrap_or_default().contains("server stopped"));
        let b2 = store.claim("w1", now_ms() + 60_000).expect("claim").expect("b");
        store.finish(&b2.id, Status::Successful, Some(&json!({"files": []})), None).expect("finish");
        let done = store.get(&b.id).expect("get").expect("job");
        assert_eq!((done.status, done.progress), (Status::Successful, 100));
        assert!(store.dismiss(&b.id).expect("dismiss"));
        assert!(!store.dismiss("nope").expect("dismiss"));
        assert!(store.claim("w1", 0).expect("claim").is_none());
        assert_eq!(store.list(None, 10).expect("list").len(), 2);
    }

    #[test]
    fn typed_requests_are_kept_and_old_stores_gain_the_column() {
        use cirrus_ops::process::run::{Operation, Request};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jobs.db");
        // a store made before requests were kept
        Connection::open(&path)
            .and_then(|c| {
                c.execute_batch(
                    "CREATE TABLE jobs (id TEXT PRIMARY KEY, process TEXT NOT NULL, inputs TEXT NOT NULL, status TEXT NOT NULL,
                     progress INTEGER NOT NULL, message TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER,
                     finished INTEGER, updated INTEGER NOT NULL, results TEXT, error TEXT, owner TEXT,
                     request_hash TEXT, attempts INTEGER NOT NULL, log TEXT NOT NULL, lease_owner TEXT, lease_until INTEGER);
                     INSERT INTO jobs VALUES ('old', 'subset', '{}', 'accepted', 0, '', 1, NULL, NULL, 1, NULL, NULL, NULL, NULL, 0, '[]', NULL, NULL);",
                )
            })
            .expect("old store");
        let store = SqliteStore::open(&path).expect("open migrates");
        assert_eq!(store.get("old").expect("get").expect("old job").request, None);
        let inputs = json!({"collection": "x", "freq": "month"});
        let op = Operation::parse("average_time", inputs.as_object().expect("object")).expect("parse");
        let request = Request::Single {
            process: "average_time".into(),
            collections: vec!["x".into()],
            operation: op,
            parameters: serde_json::Map::new(),
        };
        let job = Job::new("average_time", inputs, None, None).with_request(request.clone());
        store.insert(&job).expect("insert");
        assert_eq!(store.get(&job.id).expect("get").expect("job").request, Some(request));
    }
}
