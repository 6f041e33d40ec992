//! OGC API - Processes 1.0 (Core, OGC Process Description, JSON, job list, dismiss):
//! `/conformance`, `/processes`, `/processes/{id}`, `/processes/{id}/execution`, `/jobs`,
//! `/jobs/{id}`, `/jobs/{id}/results`. Descriptions come from `capabilities`; errors are
//! problem+json.

use crate::access::Access;
use crate::http::base_url;
use crate::jobs::{Job, Status};
use crate::processing::{result_files, submit, wait, SubmitError};
use crate::state::State;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use cirrus_capabilities::{processes, InputType, Process};
use serde_json::{json, Map, Value};
use std::time::Duration;

const EXC: &str = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0";
const REL: &str = "http://www.opengis.net/def/rel/ogc/1.0";

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A problem+json response.
pub fn problem(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response<Body> {
    let t = if kind.starts_with("http") { kind.to_string() } else { format!("{EXC}/{kind}") };
    let mut r = json_response(status, &json!({"type": t, "title": title, "status": status.as_u16(), "detail": detail}));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    r
}

/// [`problem`] of an OGC API exception type named after the status (`not-found`, ...).
pub fn status_problem(status: StatusCode, detail: &str) -> Response<Body> {
    let title = status.canonical_reason().unwrap_or("Error");
    problem(status, &title.to_lowercase().replace(' ', "-"), title, detail)
}

fn iso(ms: i64) -> String {
    crate::http::iso8601(std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// The links of the landing page for OGC API - Processes.
pub fn landing_links(base: &str) -> Vec<Value> {
    vec![
        json!({"rel": "conformance", "href": format!("{base}/conformance"), "type": "application/json", "title": "Conformance"}),
        json!({"rel": format!("{REL}/conformance"), "href": format!("{base}/conformance"), "type": "application/json"}),
        json!({"rel": format!("{REL}/processes"), "href": format!("{base}/processes"), "type": "application/json", "title": "Processes"}),
        json!({"rel": format!("{REL}/job-list"), "href": format!("{base}/jobs"), "type": "application/json", "title": "Jobs"}),
    ]
}

/// `GET /conformance`.
pub async fn conformance() -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"conformsTo": [
            "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
            "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
            "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
            "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
            "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json"
        ]}),
    )
}

fn summary(p: &Process, base: &str) -> Value {
    json!({
        "id": p.id, "title": p.title, "description": p.description, "version": p.version, "keywords": p.keywords,
        "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
        "outputTransmission": ["reference"],
        "links": [{"rel": "self", "href": format!("{base}/processes/{}", p.id), "type": "application/json"},
                  {"rel": format!("{REL}/execute"), "href": format!("{base}/processes/{}/execution", p.id), "type": "application/json"}]
    })
}

/// The OGC process description of a process.
pub fn description(p: &Process, base: &str) -> Value {
    let mut d = summary(p, base);
    let mut inputs = Map::new();
    for i in &p.inputs {
        let mut schema = match i.kind {
            InputType::Boolean => json!({"type": "boolean"}),
            InputType::Integer => json!({"type": "integer"}),
            InputType::Number => json!({"type": "number"}),
            InputType::Json => json!({"type": "object", "contentMediaType": "application/json"}),
            InputType::String => json!({"type": "string"}),
        };
        if let Some(a) = &i.allowed {
            schema["enum"] = json!(a);
        }
        if let Some(def) = &i.default {
            schema["default"] = if i.kind == InputType::Boolean { json!(def == "true") } else { json!(def) };
        }
        if i.max > 1 {
            schema = json!({"oneOf": [schema.clone(), {"type": "array", "items": schema, "maxItems": i.max}]});
        }
        inputs.insert(i.id.clone(), json!({"title": i.title, "description": i.description, "schema": schema, "minOccurs": i.min, "maxOccurs": i.max}));
    }
    let outputs: Map<String, Value> = p
        .outputs
        .iter()
        .map(|o| (o.id.clone(), json!({"title": o.title, "description": o.description, "schema": {"type": "string", "contentMediaType": o.mime_type}})))
        .collect();
    d["inputs"] = Value::Object(inputs);
    d["outputs"] = Value::Object(outputs);
    d
}

/// `GET /processes`.
pub async fn list(StateX(st): StateX<State>, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let ps: Vec<Value> = processes().iter().map(|p| summary(p, &base)).collect();
    json_response(
        StatusCode::OK,
        &json!({"processes": ps, "links": [{"rel": "self", "href": format!("{base}/processes"), "type": "application/json"}]}),
    )
}

/// `GET /processes/{id}`.
pub async fn one(StateX(st): StateX<State>, Path(id): Path<String>, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    match cirrus_capabilities::process(&id) {
        Some(p) => json_response(StatusCode::OK, &description(p, &base)),
        None => problem(
            StatusCode::NOT_FOUND,
            "no-such-process",
            "No such process",
            &format!("there is no process '{id}'; GET /processes lists them"),
        ),
    }
}

/// The status document of a job.
pub fn status_info(job: &Job, base: &str) -> Value {
    let status = job.status.as_str();
    let mut links = vec![
        json!({"rel": "self", "href": format!("{base}/jobs/{}", job.id), "type": "application/json", "title": "status"}),
    ];
    if job.status == Status::Successful {
        links.push(json!({"rel": format!("{REL}/results"), "href": format!("{base}/jobs/{}/results", job.id), "type": "application/json", "title": "results"}));
    }
    let mut v = json!({
        "jobID": job.id, "processID": job.process, "type": "process", "status": status,
        "message": job.error.clone().unwrap_or_else(|| job.message.clone()),
        "created": iso(job.created), "updated": iso(job.updated), "progress": job.progress, "links": links
    });
    if let Some(t) = job.started {
        v["started"] = json!(iso(t));
    }
    if let Some(t) = job.finished {
        v["finished"] = json!(iso(t));
    }
    v["log"] = job.log.iter().map(|(t, m)| json!({"time": iso(*t), "message": m})).collect();
    v
}

/// The results document of a successful job.
pub fn results(job: &Job, base: &str) -> Value {
    let files: Vec<Value> = result_files(base, job)
        .iter()
        .map(|f| json!({"href": f.url, "type": "application/x-netcdf", "title": f.name, "file:size": f.size, "file:checksum": format!("1220{}", f.sha256)}))
        .collect();
    json!({
        "output": {"href": format!("{base}/results/{}/output.meta4", job.id), "type": "application/metalink+xml; version=4.0"},
        "prov": {"href": format!("{base}/results/{}/provenance.json", job.id), "type": "application/json"},
        "files": files
    })
}

fn submit_error(e: &SubmitError) -> Response<Body> {
    match e {
        SubmitError::Invalid(err) => {
            let status = crate::opendap::status_of(err);
            let status = if status == StatusCode::NOT_FOUND { StatusCode::BAD_REQUEST } else { status };
            problem(status, "invalid-parameter", "Invalid input", &err.to_string())
        }
        SubmitError::TooLarge { .. } => {
            problem(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Request too large", &e.to_string())
        }
        SubmitError::Busy { .. } | SubmitError::UserBusy { .. } => {
            let mut r = problem(StatusCode::TOO_MANY_REQUESTS, "server-busy", "Too many jobs", &e.to_string());
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            r
        }
        SubmitError::Store(_) => {
            problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Job store error", &e.to_string())
        }
        SubmitError::Denied { .. } => {
            let status = e.denied_status().unwrap_or(StatusCode::FORBIDDEN);
            problem(status, "forbidden", status.canonical_reason().unwrap_or("Forbidden"), &e.to_string())
        }
    }
}

/// `POST /processes/{id}/execution`: `{"inputs": {...}}`; asynchronous with
/// `Prefer: respond-async` (201 + Location), else synchronous (the results document).
pub async fn execute(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    if cirrus_capabilities::process(&id).is_none() {
        return problem(
            StatusCode::NOT_FOUND,
            "no-such-process",
            "No such process",
            &format!("there is no process '{id}'"),
        );
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid request body",
                &format!("the body must be JSON {{\"inputs\": {{...}}}}: {e}"),
            )
        }
    };
    let inputs = match req.get("inputs") {
        Some(Value::Object(m)) => m.clone(),
        None => Map::new(),
        Some(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid request body",
                "'inputs' must be an object",
            )
        }
    };
    // Inputs may be given as {"value": ...} or {"href": ...} objects.
    let inputs: Map<String, Value> = inputs
        .into_iter()
        .map(|(k, v)| match v {
            Value::Object(ref o) if o.contains_key("value") && k != "workflow" => (k, o["value"].clone()),
            other => (k, other),
        })
        .collect();
    let asynchronous = headers.get("prefer").and_then(|v| v.to_str().ok()).is_some_and(|p| p.contains("respond-async"));
    let job = match submit(&st, &access, &id, inputs) {
        Ok(j) => j,
        Err(e) => return submit_error(&e),
    };
    let accepted = |job: &Job| {
        let mut r = json_response(StatusCode::CREATED, &status_info(job, &base));
        if let Ok(v) = HeaderValue::from_str(&format!("{base}/jobs/{}", job.id)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        if asynchronous {
            r.headers_mut().insert("preference-applied", HeaderValue::from_static("respond-async"));
        }
        r
    };
    if asynchronous {
        return accepted(&job);
    }
    match wait(&st, &job.id, Duration::from_secs(st.config.sync_timeout)).await {
        Ok(Some(done)) if done.status == Status::Successful => json_response(StatusCode::OK, &results(&done, &base)),
        Ok(Some(done)) if done.status == Status::Failed => problem(
            StatusCode::BAD_REQUEST,
            "execution-failed",
            "The process failed",
            done.error.as_deref().unwrap_or("unknown error"),
        ),
        Ok(Some(running)) => accepted(&running),
        Ok(None) => problem(StatusCode::INTERNAL_SERVER_ERROR, "no-such-job", "Job vanished", "the job disappeared"),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Job store error", &e.to_string()),
    }
}

/// `GET /jobs`.
pub async fn jobs(StateX(st): StateX<State>, access: Access, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    match st.runner.store.list(access.user.as_deref(), 1000) {
        Ok(mut js) => {
            js.retain(|j| access.owns(j.owner.as_deref()));
            json_response(
                StatusCode::OK,
                &json!({"jobs": js.iter().map(|j| status_info(j, &base)).collect::<Vec<_>>(), "links": [{"rel": "self", "href": format!("{base}/jobs")}]}),
            )
        }
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Job store error", &e.to_string()),
    }
}

fn no_job(id: &str) -> Response<Body> {
    problem(
        StatusCode::NOT_FOUND,
        "no-such-job",
        "No such job",
        &format!("there is no job '{id}' (finished jobs expire)"),
    )
}

/// `GET /jobs/{id}`.
pub async fn job(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    match st.runner.store.get(&id).map(|j| j.filter(|j| access.owns(j.owner.as_deref()))) {
        Ok(Some(j)) => json_response(StatusCode::OK, &status_info(&j, &base)),
        Ok(None) => no_job(&id),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Job store error", &e.to_string()),
    }
}

/// `GET /jobs/{id}/results`.
pub async fn job_results(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    match st.runner.store.get(&id).map(|j| j.filter(|j| access.owns(j.owner.as_deref()))) {
        Ok(Some(j)) if j.status == Status::Successful => json_response(StatusCode::OK, &results(&j, &base)),
        Ok(Some(j)) if j.status == Status::Failed => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "execution-failed",
            "The process failed",
            j.error.as_deref().unwrap_or("unknown error"),
        ),
        Ok(Some(j)) => problem(
            StatusCode::NOT_FOUND,
            "result-not-ready",
            "Results not ready",
            &format!("job {id} is {}", j.status.as_str()),
        ),
        Ok(None) => no_job(&id),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Job store error", &e.to_string()),
    }
}

/// `DELETE /jobs/{id}`: dismiss (cancel a running job; results are removed).
pub async fn dismiss(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    if !matches!(st.runner.store.get(&id), Ok(Some(j)) if access.owns(j.owner.as_deref())) {
        return no_job(&id);
    }
    match st.runner.store.dismiss(&id) {
        Ok(true) => {
            let _ = std::fs::remove_dir_all(st.results_dir().join(&id));
            match st.runner.store.get(&id) {
                Ok(Some(j)) => json_response(StatusCode::OK, &status_info(&j, &base)),
                _ => no_job(&id),
            }
        }
        Ok(false) => no_job(&id),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Job store error", &e.to_string()),
    }
}
