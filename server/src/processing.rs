//! Processing shared by every processing protocol (WPS 1.0/2.0, OGC API - Processes,
//! the CDS API): submit a validated request as a job, wait for it, run it on a worker,
//! serve its result files, describe them (Metalink), expire them.

use crate::access::Access;
use crate::http::{base_url, file::serve_file, Validators};
use crate::jobs::runner::{Executor, JobContext};
use crate::jobs::{now_ms, Job, Status, StoreError};
use crate::state::{AppState, State};
use axum::body::Body;
use axum::extract::{Path, State as StateX};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use cirrus_ops::encode::text::xml_escape;
use cirrus_ops::process::run::{execute, validate, Request};
use cirrus_ops::process::RunContext;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a request could not become a job.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{0}")]
    Invalid(cirrus_ops::Error),
    #[error("the server has {active} jobs waiting or running (limit {limit}); try again later")]
    Busy { active: usize, limit: usize },
    #[error(
        "the request would read {size} bytes of data, more than the limit of {limit} bytes per job; select a smaller area or period, or fewer variables"
    )]
    TooLarge { size: u64, limit: u64 },
    #[error("{user} has {active} jobs waiting or running (limit {limit} per user); wait for one to end")]
    UserBusy { user: String, active: usize, limit: usize },
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A collection exists but the caller may not read it (`anonymous`: no key sent).
    #[error("{}", if *.anonymous { format!("collection '{id}' needs an API key: send it with HTTP basic authentication (the key as password) or in the PRIVATE-TOKEN header") } else { format!("your API key does not give access to collection '{id}'") })]
    Denied { id: String, anonymous: bool },
}

impl SubmitError {
    /// The HTTP status of a refusal for lack of rights (401 or 403), if it is one.
    pub fn denied_status(&self) -> Option<StatusCode> {
        match self {
            SubmitError::Denied { anonymous: true, .. } => Some(StatusCode::UNAUTHORIZED),
            SubmitError::Denied { anonymous: false, .. } => Some(StatusCode::FORBIDDEN),
            _ => None,
        }
    }
}

/// Validate and record a job of the caller of `access`; it starts when a worker is free.
pub fn submit(st: &AppState, access: &Access, process: &str, inputs: Map<String, Value>) -> Result<Job, SubmitError> {
    let request = check(st, access, process, &inputs)?;
    let job = Job::new(process, Value::Object(inputs), access.user.clone(), None).with_request(request);
    enqueue(st, &job)?;
    Ok(job)
}

/// Whether a request may become a job now: valid inputs, input volume within
/// `max_job_input_bytes`, room in the queue and in the owner's share of it.
pub fn check(
    st: &AppState,
    access: &Access,
    process: &str,
    inputs: &Map<String, Value>,
) -> Result<Request, SubmitError> {
    let catalog = &access.catalog;
    let owner = access.user.as_deref();
    for id in cirrus_ops::process::run::list(inputs, "collection") {
        if st.hidden_status(&id, owner).is_some() {
            return Err(SubmitError::Denied { id, anonymous: owner.is_none() });
        }
    }
    let request = validate(process, inputs, catalog).map_err(SubmitError::Invalid)?;
    let size = request.input_bytes(&st.engine.reader, catalog);
    let limit = st.config.max_job_input_bytes;
    if size > limit {
        return Err(SubmitError::TooLarge { size, limit });
    }
    let active = st.runner.store.active(None)?;
    if active >= st.config.queue_limit {
        return Err(SubmitError::Busy { active, limit: st.config.queue_limit });
    }
    if let Some(user) = owner {
        let mine = st.runner.store.active(Some(user))?;
        if mine >= st.config.max_jobs_per_user {
            return Err(SubmitError::UserBusy {
                user: user.to_string(),
                active: mine,
                limit: st.config.max_jobs_per_user,
            });
        }
    }
    Ok(request)
}

/// Record a checked job and wake a worker.
pub fn enqueue(st: &AppState, job: &Job) -> Result<(), SubmitError> {
    st.runner.store.insert(job)?;
    st.runner.wake();
    tracing::info!(job = %job.id, process = %job.process, owner = job.owner.as_deref().unwrap_or("-"), "job submitted");
    Ok(())
}

/// Wait until a job is final or `timeout` passes; returns its latest state.
pub async fn wait(st: &AppState, id: &str, timeout: Duration) -> Result<Option<Job>, StoreError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        let job = st.runner.store.get(id)?;
        match &job {
            Some(j) if !j.status.is_final() && start.elapsed() < timeout => {}
            _ => return Ok(job),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// The function workers run: the process, then its provenance document next to the
/// outputs. The error text is what users see.
pub fn executor(state: State) -> Arc<Executor> {
    Arc::new(move |ctx: &JobContext, job: &Job| {
        let started = Instant::now();
        let inputs = job.inputs.as_object().cloned().unwrap_or_default();
        let catalog = state.catalog_for(job.owner.as_deref());
        let history = format!(
            "{} cirrus/{}: {} {}",
            cirrus_ops::clock::output_iso8601(),
            env!("CARGO_PKG_VERSION"),
            job.process,
            serde_json::to_string(&inputs).unwrap_or_default()
        );
        let mut progress = |f: f64, msg: &str| -> cirrus_ops::Result<()> {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let pct = (f.clamp(0.0, 1.0) * 99.0) as u8;
            ctx.progress(pct, msg).map_err(|_| cirrus_ops::Error::bad("the job was dismissed"))
        };
        let mut run = RunContext {
            engine: &state.engine,
            catalog: &catalog,
            out_dir: &ctx.out_dir,
            file_limit: state.config.file_limit,
            history,
            progress: &mut progress,
        };
        // the request checked at submission (its datasets are looked up again in the
        // owner's current view when it runs); jobs recorded before requests were kept
        // are checked now
        let request = match &job.request {
            Some(r) => r.clone(),
            None => validate(&job.process, &inputs, &catalog).map_err(|e| e.to_string())?,
        };
        let out = execute(&request, &mut run, &state.config.provider).map_err(|e| e.to_string())?;
        let prov = serde_json::to_vec_pretty(&out.provenance).map_err(|e| e.to_string())?;
        std::fs::write(ctx.out_dir.join("provenance.json"), prov)
            .map_err(|e| format!("cannot write the provenance document: {e}"))?;
        if out.files.is_empty() {
            return Err("the process produced no files".into());
        }
        record_usage(&state, job, &ctx.out_dir, started.elapsed());
        Ok(json!({"files": out.files, "provenance": "provenance.json"}))
    })
}

/// Count a finished job in the usage report: its result bytes and run time, shared
/// among the datasets it read.
fn record_usage(st: &AppState, job: &Job, out_dir: &std::path::Path, took: Duration) {
    let bytes: u64 = std::fs::read_dir(out_dir)
        .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    let collections: Vec<String> = match job.inputs.get("collection") {
        Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let protocol = format!("job:{}", job.process);
    let n = collections.len().max(1) as u64;
    let secs = took.as_secs_f64() / n as f64;
    if collections.is_empty() {
        st.usage.add(job.owner.as_deref(), None, &protocol, bytes, secs);
    }
    for c in &collections {
        st.usage.add(job.owner.as_deref(), Some(c), &protocol, bytes / n, secs);
    }
}

/// Characters escaped in a URL path segment (file names keep `-`, `_`, `.`, `~`).
const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A result file of a job.
#[derive(Clone, Debug)]
pub struct ResultFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub url: String,
}

/// The files of a successful job with their download URLs.
pub fn result_files(base: &str, job: &Job) -> Vec<ResultFile> {
    let files =
        job.results.as_ref().and_then(|r| r.get("files")).and_then(Value::as_array).cloned().unwrap_or_default();
    files
        .iter()
        .filter_map(|f| {
            let name = f.get("name")?.as_str()?.to_string();
            Some(ResultFile {
                url: format!(
                    "{base}/results/{}/{}",
                    job.id,
                    percent_encoding::utf8_percent_encode(&name, PATH_SEGMENT)
                ),
                size: f.get("size").and_then(Value::as_u64).unwrap_or(0),
                sha256: f.get("sha256").and_then(Value::as_str).unwrap_or_default().to_string(),
                name,
            })
        })
        .collect()
}

/// The Metalink v4 document listing a job's files (as rook returns it, with sizes and
/// SHA-256 hashes).
pub fn metalink(base: &str, job: &Job) -> String {
    let published = crate::http::iso8601(
        std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(job.finished.unwrap_or(job.created)).unwrap_or(0)),
    );
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n    <published>{published}</published>\n    <generator>cirrus/{}</generator>\n",
        env!("CARGO_PKG_VERSION")
    );
    for f in result_files(base, job) {
        x.push_str(&format!(
            "    <file name=\"{}\">\n        <identity>NetCDF file</identity>\n        <size>{}</size>\n        <hash type=\"sha-256\">{}</hash>\n        <metaurl mediatype=\"application/x-netcdf\">{}</metaurl>\n        <url>{}</url>\n    </file>\n",
            xml_escape(&f.name),
            f.size,
            f.sha256,
            xml_escape(&f.url),
            xml_escape(&f.url)
        ));
    }
    x.push_str("</metalink>\n");
    x
}

fn not_found(what: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(
        json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": what}).to_string(),
    ));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert("content-type", axum::http::HeaderValue::from_static("application/problem+json"));
    r
}

/// `GET /results/{job}/{file}`: a result file (Range supported), the Metalink
/// (`output.meta4`) or the provenance (`provenance.json`).
pub async fn result_file(
    StateX(st): StateX<State>,
    Path((id, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response<Body> {
    let job = match st.runner.store.get(&id) {
        Ok(Some(j)) if j.status == Status::Successful => j,
        Ok(Some(j)) => return not_found(&format!("job {id} has no results: it is {}", j.status.as_str())),
        Ok(None) => return not_found(&format!("no job {id} (results expire after {} seconds)", st.config.results_ttl)),
        Err(e) => return not_found(&e.to_string()),
    };
    let base = base_url(st.config.public_url.as_deref(), &headers);
    if name == "output.meta4" {
        let mut r = Response::new(Body::from(metalink(&base, &job)));
        r.headers_mut().insert("content-type", axum::http::HeaderValue::from_static("application/metalink4+xml"));
        return r;
    }
    let known = name == "provenance.json" || result_files(&base, &job).iter().any(|f| f.name == name);
    if !known || name.contains('/') || name.starts_with('.') {
        return not_found(&format!("job {id} has no file '{name}'"));
    }
    let path = st.results_dir().join(&id).join(&name);
    let ctype = if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".zip") {
        "application/zip"
    } else {
        "application/x-netcdf"
    };
    let validators = Validators::new(
        &id,
        &name,
        std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(job.finished.unwrap_or(0)).unwrap_or(0)),
    );
    match serve_file(&path, &method, &headers, ctype, &name, &validators).await {
        Ok(r) => r,
        Err(e) => not_found(&format!("file {name} of job {id} is missing: {e}")),
    }
}

/// Delete jobs and their results some time after they end.
pub fn spawn_cleanup(st: State) {
    tokio::spawn(async move {
        loop {
            let ttl = i64::try_from(st.config.results_ttl).unwrap_or(i64::MAX / 2000).saturating_mul(1000);
            if let Ok(jobs) = st.runner.store.expired(now_ms() - ttl) {
                for j in jobs {
                    let _ = std::fs::remove_dir_all(st.results_dir().join(&j.id));
                    let _ = st.runner.store.delete(&j.id);
                    tracing::info!(job = %j.id, "expired job removed");
                }
            }
            tokio::time::sleep(Duration::from_secs(60.min(st.config.results_ttl.max(1)))).await;
        }
    });
}
