//! CDS requests as jobs: submission (per-user limit, reuse of identical results), the
//! CDS side of a job (collection, request, format, user) kept next to the job store,
//! the delivered file (one NetCDF file, or an archive made on first request), the job
//! status document, deletion.

use super::archive::{self, Kind, Member};
use super::vocabulary::{self, Resolved};
use super::CdsError;
use crate::access::Access;
use crate::jobs::{Job, Status};
use crate::processing::SubmitError;
use crate::state::AppState;
use cirrus_capabilities::cds::Collection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the CDS API knows of a job besides the job record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub collection: String,
    /// The request as the user sent it.
    pub request: Map<String, Value>,
    /// `zip`, `tgz` or `netcdf`.
    pub format: String,
    pub user: String,
    /// The job whose result was reused, when nothing was computed.
    #[serde(default)]
    pub cached_from: Option<String>,
}

/// Where the CDS records live: beside the job results, which every replica sees.
fn meta_dir(st: &AppState) -> PathBuf {
    st.results_dir().join(".cds-requests")
}

fn save_meta(st: &AppState, id: &str, meta: &Meta) -> Result<(), CdsError> {
    let dir = meta_dir(st);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".{id}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(meta).map_err(|e| CdsError::Internal(e.to_string()))?)?;
    std::fs::rename(&tmp, dir.join(format!("{id}.json")))?;
    Ok(())
}

/// The CDS side of a job (None for jobs submitted through other protocols).
pub fn load_meta(st: &AppState, id: &str) -> Option<Meta> {
    if id.contains(['/', '\\', '.']) {
        return None;
    }
    serde_json::from_slice(&std::fs::read(meta_dir(st).join(format!("{id}.json"))).ok()?).ok()
}

/// Remove the CDS records of jobs that expired (at most every ten minutes).
fn sweep(st: &AppState) {
    {
        let mut last = st.cds_swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(600)) {
            return;
        }
        *last = Some(Instant::now());
    }
    let Ok(entries) = std::fs::read_dir(meta_dir(st)) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".json") {
            if matches!(st.runner.store.get(id), Ok(None)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// An owned job, or "no such job".
pub fn owned(st: &AppState, user: &str, id: &str) -> Result<Job, CdsError> {
    match st.runner.store.get(id)? {
        Some(j) if j.owner.as_deref() == Some(user) && load_meta(st, id).is_some() => Ok(j),
        _ => Err(CdsError::NoJob(format!(
            "there is no job '{id}' of user '{user}' (finished jobs expire after {} seconds)",
            st.config.results_ttl
        ))),
    }
}

/// Hard-link (or copy) the files of one result directory into another.
fn link_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let name = e.file_name();
        if !e.file_type()?.is_file() || name.to_string_lossy().contains(".tmp-") {
            continue;
        }
        let to = dst.join(&name);
        if std::fs::hard_link(e.path(), &to).is_err() {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

/// A new successful job holding the result of `old` (its files linked, nothing
/// computed), or None when that result is gone.
fn reuse(st: &AppState, old: &Job, owner: Option<String>, notes: &[String]) -> Result<Option<Job>, CdsError> {
    let src = st.results_dir().join(&old.id);
    if !src.is_dir() {
        return Ok(None);
    }
    let mut job = Job::new(&old.process, old.inputs.clone(), owner, old.request_hash.clone());
    job.request.clone_from(&old.request);
    let dst = st.results_dir().join(&job.id);
    if let Err(e) = link_dir(&src, &dst) {
        tracing::warn!(job = %old.id, error = %e, "cannot reuse a result; computing it again");
        let _ = std::fs::remove_dir_all(&dst);
        return Ok(None);
    }
    let t = job.created;
    job.status = Status::Successful;
    job.progress = 100;
    job.message = "finished successfully (result reused)".into();
    job.finished = Some(t);
    job.updated = t;
    job.results = old.results.clone();
    job.log.extend(notes.iter().map(|n| (t, n.clone())));
    job.log.push((
        t,
        format!(
            "INFO: an identical request (job {}, finished {}) was already computed: its result is reused, nothing was recomputed",
            old.id,
            iso_ms(old.finished.unwrap_or(old.created))
        ),
    ));
    st.runner.store.insert(&job)?;
    if job.owner.is_some() {
        tracing::info!(job = %job.id, from = %old.id, "identical request: result reused");
    } else {
        tracing::info!(job = %job.id, from = %old.id, "result kept for identical requests");
    }
    Ok(Some(job))
}

/// Submit a CDS request of `user` (with the view of `access`): a reused result at
/// once, or a queued subset (or climate index) job.
pub fn submit(
    st: &AppState,
    access: &Access,
    user: &str,
    c: &Collection,
    request: Map<String, Value>,
) -> Result<Job, CdsError> {
    sweep(st);
    let Resolved { process, inputs, format, hash, notes } = vocabulary::resolve(st, access, c, &request)?;
    let meta = |cached_from: Option<String>| Meta {
        collection: c.id.clone(),
        request: request.clone(),
        format: format.clone(),
        user: user.to_string(),
        cached_from,
    };
    if let Some(old) = st.runner.store.find_successful(&hash)? {
        if let Some(job) = reuse(st, &old, Some(user.to_string()), &notes)? {
            save_meta(st, &job.id, &meta(Some(old.id.clone())))?;
            return Ok(job);
        }
    }
    let request = crate::processing::check(st, access, process, &inputs).map_err(|e| match e {
        SubmitError::UserBusy { user, active, limit } => CdsError::TooManyJobs { user, active, limit },
        SubmitError::Busy { .. } => CdsError::Busy(e.to_string()),
        SubmitError::Invalid(err) => CdsError::Invalid(err.to_string()),
        SubmitError::TooLarge { .. } => CdsError::TooLarge(e.to_string()),
        SubmitError::Store(err) => CdsError::Internal(err.to_string()),
        SubmitError::Denied { .. } => CdsError::Unauthorized(e.to_string()),
    })?;
    let mut job = Job::new(process, Value::Object(inputs), Some(user.to_string()), Some(hash)).with_request(request);
    let t = job.created;
    job.log.extend(notes.into_iter().map(|n| (t, n)));
    save_meta(st, &job.id, &meta(None))?;
    crate::processing::enqueue(st, &job).map_err(|e| CdsError::Internal(e.to_string()))?;
    tracing::info!(job = %job.id, user, collection = %c.id, "CDS request queued");
    Ok(job)
}

/// Delete (dismiss) a job of `user`. A successful result that no other job holds is
/// kept, ownerless, for identical requests.
pub fn dismiss(st: &AppState, user: &str, id: &str) -> Result<Job, CdsError> {
    let job = owned(st, user, id)?;
    st.runner.store.dismiss(id)?;
    if let (Status::Successful, Some(hash)) = (job.status, &job.request_hash) {
        if st.runner.store.find_successful(hash)?.is_none() {
            let note = format!("INFO: kept for identical requests after job {id} was deleted");
            if let Some(keeper) = reuse(st, &job, None, &[note])? {
                if let Some(mut m) = load_meta(st, id) {
                    m.user = String::new();
                    m.cached_from = Some(id.to_string());
                    save_meta(st, &keeper.id, &m)?;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(st.results_dir().join(id));
    tracing::info!(job = %id, user, "CDS job deleted");
    st.runner.store.get(id)?.ok_or_else(|| CdsError::NoJob(format!("job '{id}' vanished")))
}

/// The file a successful job delivers.
#[derive(Clone, Debug)]
pub struct Deliverable {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    pub mime: &'static str,
}

/// The delivered file of a successful job: its only NetCDF file when `netcdf` was asked
/// for and there is one, else the archive of the NetCDF files and the provenance
/// (written on first call, atomically).
pub fn deliverable(st: &AppState, job: &Job, meta: &Meta) -> Result<Deliverable, CdsError> {
    let dir = st.results_dir().join(&job.id);
    let files: Vec<(String, u64, String)> = job
        .results
        .as_ref()
        .and_then(|r| r.get("files"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    Some((
                        f.get("name")?.as_str()?.to_string(),
                        f.get("size").and_then(Value::as_u64).unwrap_or(0),
                        f.get("sha256").and_then(Value::as_str).unwrap_or_default().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if let ([(name, size, sha)], "netcdf") = (files.as_slice(), meta.format.as_str()) {
        return Ok(Deliverable {
            name: name.clone(),
            path: dir.join(name),
            size: *size,
            sha256: sha.clone(),
            mime: "application/netcdf",
        });
    }
    let kind = if meta.format == "tgz" { Kind::Tgz } else { Kind::Zip };
    let stem = job.request_hash.as_deref().and_then(|h| h.get(..16)).unwrap_or(&job.id);
    let name = format!("{}-{stem}.{}", meta.collection, kind.extension());
    let path = dir.join(&name);
    let sum_path = dir.join(format!(".{name}.sha256"));
    if let (Ok(m), Ok(sha)) = (std::fs::metadata(&path), std::fs::read_to_string(&sum_path)) {
        return Ok(Deliverable { name, path, size: m.len(), sha256: sha.trim().to_string(), mime: kind.mime() });
    }
    let mut members: Vec<Member> = files.iter().map(|(n, ..)| Member { name: n.clone(), path: dir.join(n) }).collect();
    if dir.join("provenance.json").is_file() {
        members.push(Member { name: "provenance.json".into(), path: dir.join("provenance.json") });
    }
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let written = archive::write(kind, &members, &tmp).and_then(|(size, sha)| {
        let sum_tmp = dir.join(format!(".{name}.sha256.tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&sum_tmp, &sha)?;
        std::fs::rename(&sum_tmp, &sum_path)?;
        std::fs::rename(&tmp, &path)?;
        Ok((size, sha))
    });
    match written {
        Ok((size, sha256)) => {
            tracing::info!(job = %job.id, archive = %name, size, "archive written");
            Ok(Deliverable { name, path, size, sha256, mime: kind.mime() })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(CdsError::Internal(format!("cannot write the archive of job {}: {e}", job.id)))
        }
    }
}

/// A time in ms as ISO 8601 with milliseconds (`2025-01-31T12:00:00.123Z`).
pub fn iso_ms(ms: i64) -> String {
    let secs = u64::try_from(ms.max(0) / 1000).unwrap_or(0);
    let s = crate::http::iso8601(std::time::UNIX_EPOCH + Duration::from_secs(secs));
    format!("{}.{:03}Z", s.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// What a job status document includes.
#[derive(Default)]
pub struct StatusOptions {
    pub log: bool,
    pub request: bool,
    /// Only log lines after this time (as sent in an earlier document).
    pub log_start: Option<String>,
    /// The answer to a submission: a `monitor` link instead of `self`.
    pub submitted: bool,
}

/// A job log line with its level prefix (the clients log them at that level).
fn log_line(msg: &str) -> String {
    let levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
    if levels.iter().any(|l| msg.starts_with(l)) {
        msg.to_string()
    } else if msg.starts_with("failed") {
        format!("ERROR: {msg}")
    } else {
        msg.to_string()
    }
}

/// The job status document of the retrieve API.
pub fn status_doc(job: &Job, meta: Option<&Meta>, api: &str, o: &StatusOptions) -> Value {
    let url = format!("{api}/retrieve/v1/jobs/{}", job.id);
    let mut links = Vec::new();
    if o.submitted {
        links.push(json!({"href": url, "rel": "monitor", "type": "application/json", "title": "job status info"}));
    } else {
        links.push(json!({"href": url, "rel": "self", "type": "application/json"}));
    }
    if matches!(job.status, Status::Successful | Status::Failed) {
        links.push(json!({"href": format!("{url}/results"), "rel": "results", "type": "application/json"}));
    }
    let mut v = json!({
        "processID": meta.map_or(job.process.as_str(), |m| m.collection.as_str()),
        "type": "process",
        "jobID": job.id,
        "status": job.status.as_str(),
        "created": iso_ms(job.created),
        "updated": iso_ms(job.updated),
        "progress": job.progress,
        "links": links,
    });
    // a reused result was neither started nor finished (as the CDS shows cached results)
    let reused = meta.is_some_and(|m| m.cached_from.is_some());
    if !reused {
        if let Some(t) = job.started {
            v["started"] = json!(iso_ms(t));
        }
        if let Some(t) = job.finished {
            v["finished"] = json!(iso_ms(t));
        }
    }
    let mut md = Map::new();
    if o.log {
        let log: Vec<Value> = job
            .log
            .iter()
            .map(|(t, m)| (iso_ms(*t), log_line(m)))
            .filter(|(t, _)| o.log_start.as_ref().is_none_or(|s| t > s))
            .map(|(t, m)| json!([t, m]))
            .collect();
        md.insert("log".into(), Value::Array(log));
    }
    if o.request {
        md.insert(
            "request".into(),
            json!({"ids": meta.map(|m| Value::Object(m.request.clone())).unwrap_or(job.inputs.clone())}),
        );
    }
    if let Some(from) = meta.and_then(|m| m.cached_from.as_ref()) {
        md.insert("cachedFrom".into(), json!(from));
    }
    if !md.is_empty() {
        v["metadata"] = Value::Object(md);
    }
    v
}
