//! Service use per user, dataset, protocol and day, for reports and billing. Requests
//! add to counters in memory, flushed to the job store (shared by replicas) every few
//! seconds and at shutdown; `GET /admin/usage` reports them.

use crate::jobs::UsageRow;
use crate::state::State;
use axum::extract::{Query, State as StateX};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

type Key = (String, String, String, String);

/// Counters not yet written to the store.
#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<Key, (u64, u64, f64)>>,
}

/// Today (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    crate::http::iso8601(SystemTime::now())[..10].to_string()
}

impl Usage {
    /// Count one request (or job) of `user` on `dataset` through `protocol`.
    pub fn add(&self, user: Option<&str>, dataset: Option<&str>, protocol: &str, bytes: u64, seconds: f64) {
        let key = (
            today(),
            user.unwrap_or("anonymous").to_string(),
            dataset.unwrap_or("-").to_string(),
            protocol.to_string(),
        );
        let mut p = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = p.entry(key).or_default();
        e.0 += 1;
        e.1 += bytes;
        e.2 += seconds;
    }

    fn take(&self) -> Vec<UsageRow> {
        let mut p = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        p.drain()
            .map(|((day, user, dataset, protocol), (requests, bytes, seconds))| UsageRow {
                day,
                user,
                dataset,
                protocol,
                requests,
                bytes,
                seconds,
            })
            .collect()
    }

    fn put_back(&self, rows: Vec<UsageRow>) {
        let mut p = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for r in rows {
            let e = p.entry((r.day, r.user, r.dataset, r.protocol)).or_default();
            e.0 += r.requests;
            e.1 += r.bytes;
            e.2 += r.seconds;
        }
    }

    /// Write the pending counters to the store (kept for the next try on failure).
    pub fn flush(&self, store: &dyn crate::jobs::JobStore) {
        let rows = self.take();
        if rows.is_empty() {
            return;
        }
        if let Err(e) = store.add_usage(&rows) {
            tracing::warn!(error = %e, "cannot record usage; will retry");
            self.put_back(rows);
        }
    }
}

/// Flush usage every few seconds.
pub fn spawn_flush(state: State) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || s.usage.flush(s.runner.store.as_ref())).await;
        }
    });
}

/// Parameters of `GET /admin/usage`.
#[derive(Deserialize)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD` (default: 30 days ago).
    from: Option<String>,
    /// Last day (default: today).
    to: Option<String>,
    /// Grouping: comma list of `day`, `user`, `dataset`, `protocol` (default `user,dataset`).
    by: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

fn valid_day(d: &str) -> bool {
    d.len() == 10 && d.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() })
}

/// `GET /admin/usage?from=&to=&by=user,dataset&format=json|csv`.
pub async fn report(StateX(st): StateX<State>, Query(q): Query<ReportQuery>) -> Response {
    let to = q.to.unwrap_or_else(today);
    let from = q
        .from
        .unwrap_or_else(|| crate::http::iso8601(SystemTime::now() - Duration::from_secs(30 * 86400))[..10].to_string());
    let problem =
        |m: String| crate::ogcapi::problem(StatusCode::BAD_REQUEST, "invalid-parameter", "Invalid parameter", &m);
    if !valid_day(&from) || !valid_day(&to) {
        return problem(format!("from and to must be days as YYYY-MM-DD (got {from} and {to})"));
    }
    let by: Vec<String> = q.by.as_deref().unwrap_or("user,dataset").split(',').map(|s| s.trim().to_string()).collect();
    if let Some(bad) = by.iter().find(|b| !["day", "user", "dataset", "protocol"].contains(&b.as_str())) {
        return problem(format!("cannot group by '{bad}': use day, user, dataset or protocol"));
    }
    let s = st.clone();
    let rows = tokio::task::spawn_blocking(move || {
        s.usage.flush(s.runner.store.as_ref());
        s.runner.store.usage(&from, &to)
    })
    .await;
    let rows = match rows {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return crate::ogcapi::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                "Store unavailable",
                &e.to_string(),
            )
        }
        Err(e) => {
            return crate::ogcapi::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                &e.to_string(),
            )
        }
    };
    let mut groups: BTreeMap<Vec<String>, (u64, u64, f64)> = BTreeMap::new();
    for r in rows {
        let key = by
            .iter()
            .map(|b| match b.as_str() {
                "day" => r.day.clone(),
                "user" => r.user.clone(),
                "dataset" => r.dataset.clone(),
                _ => r.protocol.clone(),
            })
            .collect();
        let g = groups.entry(key).or_default();
        g.0 += r.requests;
        g.1 += r.bytes;
        g.2 += r.seconds;
    }
    if q.format.as_deref() == Some("csv") {
        let mut out = format!("{},requests,bytes,seconds\n", by.join(","));
        for (k, (n, b, s)) in &groups {
            let cells: Vec<String> = k.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&format!("{},{n},{b},{s:.3}\n", cells.join(",")));
        }
        return ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    }
    let items: Vec<serde_json::Value> = groups
        .into_iter()
        .map(|(k, (n, b, s))| {
            let mut o = serde_json::Map::new();
            for (name, v) in by.iter().zip(k) {
                o.insert(name.clone(), v.into());
            }
            o.insert("requests".into(), n.into());
            o.insert("bytes".into(), b.into());
            o.insert("seconds".into(), ((s * 1000.0).round() / 1000.0).into());
            serde_json::Value::Object(o)
        })
        .collect();
    axum::Json(serde_json::json!({"by": by, "usage": items})).into_response()
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
