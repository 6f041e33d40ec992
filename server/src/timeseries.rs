//! Time-chunked copies (`cirrus_ops::timeseries`): `POST /admin/timeseries/<dataset id>`
//! starts a job building them (202 with the job's `Location`, in the OGC API -
//! Processes job format, with progress), `GET /admin/timeseries` lists the copies, and
//! a background task starts such jobs for the datasets whose series reads passed
//! `--timeseries-after`.

use crate::access::Access;
use crate::http::base_url;
use crate::jobs::Job;
use crate::ogcapi::status_problem as problem;
use crate::state::{AppState, State};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use cirrus_ops::process::run::Request;
use serde_json::json;
use std::time::Duration;

/// The process id of copy jobs.
pub const PROCESS: &str = "timeseries-copy";

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Record a copy job for `id` (owner `owner`).
fn submit(st: &AppState, id: &str, variables: Vec<String>, owner: Option<String>) -> Result<Job, String> {
    let inputs = json!({"collection": id, "variable": variables});
    let job = Job::new(PROCESS, inputs, owner, None)
        .with_request(Request::TimeseriesCopy { collection: id.to_string(), variables });
    crate::processing::enqueue(st, &job).map_err(|e| e.to_string())?;
    Ok(job)
}

/// `POST /admin/timeseries/{*id}` (`variable=` to copy some variables only).
pub async fn build(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let mut variables = Vec::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "variable" => variables.extend(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
            other => return problem(StatusCode::BAD_REQUEST, &format!("unknown parameter '{other}': use variable")),
        }
    }
    let catalog = st.catalog_all();
    let Ok(entry) = catalog.get(&id) else {
        return problem(StatusCode::NOT_FOUND, &format!("no dataset '{id}'"));
    };
    let ds = &entry.dataset;
    let eligible = cirrus_ops::timeseries::Copies::variables(ds);
    if let Some(v) = variables.iter().find(|v| !eligible.contains(v)) {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("'{v}' cannot be copied for time series (variables with time first: {})", eligible.join(", ")),
        );
    }
    if eligible.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("dataset '{id}' has no variable with time as first dimension"),
        );
    }
    let s = st.clone();
    let owner = access.user.clone();
    let made = tokio::task::spawn_blocking(move || submit(&s, &entry.dataset.id, variables, owner)).await;
    match made {
        Ok(Ok(job)) => {
            let mut r = json_response(StatusCode::ACCEPTED, &crate::ogcapi::status_info(&job, &base));
            if let Ok(v) = HeaderValue::from_str(&format!("{base}/jobs/{}", job.id)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Ok(Err(e)) => problem(StatusCode::SERVICE_UNAVAILABLE, &e),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("worker failed: {e}")),
    }
}

/// `GET /admin/timeseries`: the copies, their size and the quota.
pub async fn list(StateX(st): StateX<State>) -> Response<Body> {
    let s = &st.engine.series;
    json_response(
        StatusCode::OK,
        &json!({
            "copies": s.list(),
            "bytes": s.bytes(),
            "quota": st.config.timeseries_bytes,
            "reads_from_copies": s.hits.load(std::sync::atomic::Ordering::Relaxed),
            "build_after_reads": st.config.timeseries_after,
        }),
    )
}

/// Start copy jobs for the datasets whose series reads passed the threshold.
pub fn spawn_auto(st: State) {
    if st.config.timeseries_after == 0 {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            for id in st.engine.series.take_wanted() {
                let s = st.clone();
                let made = tokio::task::spawn_blocking(move || submit(&s, &id, Vec::new(), None)).await;
                match made {
                    Ok(Ok(job)) => tracing::info!(job = %job.id, "time-series copy wanted: job started"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "time-series copy job not started"),
                    Err(e) => tracing::warn!(error = %e, "time-series copy job not started"),
                }
            }
        }
    });
}
