//! The retrieve API (OGC API - Processes shaped, as the CDS runs it): the collections
//! as processes, job submission and monitoring, results as one asset, downloads.

use super::jobs::{self, status_doc, Meta, StatusOptions};
use super::{api_base, auth, blocking, collection, json_response, vocabulary, CdsError};
use crate::access::Access;
use crate::http::file::serve_file;
use crate::http::Validators;
use crate::jobs::{Job, Status};
use crate::state::State;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use cirrus_capabilities::cds::Collection;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

fn respond(r: Result<Response<Body>, CdsError>) -> Response<Body> {
    r.unwrap_or_else(|e| e.response())
}

fn summary(c: &Collection, api: &str) -> Value {
    json!({
        "id": c.id, "title": c.title, "description": c.description, "version": "1.0.0", "keywords": c.keywords,
        "jobControlOptions": ["async-execute"], "outputTransmission": ["reference"],
        "links": [
            {"href": format!("{api}/retrieve/v1/processes/{}", c.id), "rel": "self", "type": "application/json"},
            {"href": format!("{api}/retrieve/v1/processes/{}/execution", c.id), "rel": "http://www.opengis.net/def/rel/ogc/1.0/execute", "type": "application/json"}
        ]
    })
}

/// The inputs of a collection's process: its keys with the words of the datasets served.
pub fn inputs(st: &crate::state::AppState, access: &Access, c: &Collection) -> Map<String, Value> {
    let items = vocabulary::items(access, c);
    let mut out = Map::new();
    let summaries = vocabulary::summaries(st, c, &items);
    let index_keys: Vec<&str> = c.index.iter().flat_map(|ix| [ix.key.as_str(), ix.period_key.as_str()]).collect();
    for (name, words) in summaries.iter().filter(|(n, _)| !index_keys.contains(&n.as_str())).cloned() {
        let key = c.key(&name);
        let (title, required) = match key {
            Some(k) => (k.label.clone(), k.required),
            None => (c.level.as_ref().map_or_else(|| name.clone(), |l| l.label.clone()), false),
        };
        let description = match key {
            Some(k) => format!("DRS facet '{}'", k.facet),
            None => "pressure levels in hPa; leave out for all levels".to_string(),
        };
        out.insert(
            name,
            json!({"title": title, "description": description, "minOccurs": u8::from(required),
                   "schema": {"type": "array", "items": {"type": "string", "enum": words}}}),
        );
    }
    if let Some(ix) = &c.index {
        let words = summaries.iter().find(|(n, _)| *n == ix.key).map(|(_, w)| w.clone()).unwrap_or_default();
        out.insert(
            ix.key.clone(),
            json!({"title": ix.label, "description": "the climate index", "minOccurs": 1,
                   "schema": {"type": "string", "enum": words}}),
        );
        out.insert(
            ix.period_key.clone(),
            json!({"title": ix.period_label, "description": format!("the periods of the index (default {})", ix.default_period),
                   "minOccurs": 0, "schema": {"type": "string", "enum": ix.periods.keys().collect::<Vec<_>>()}}),
        );
        out.insert(
            ix.base_key.clone(),
            json!({"title": "Base period", "description": "the years of the base period of the percentile indices, e.g. 1981-2010",
                   "minOccurs": 0, "schema": {"type": "string"}}),
        );
    }
    let (time, ..) = vocabulary::extent(&items);
    let years: Vec<String> = time
        .as_ref()
        .and_then(|(a, b)| Some((a.get(..4)?.parse::<i32>().ok()?, b.get(..4)?.parse::<i32>().ok()?)))
        .map(|(a, b)| (a..=b).map(|y| y.to_string()).collect())
        .unwrap_or_default();
    for k in &c.time_keys {
        let schema = match k.as_str() {
            "date" => {
                json!({"type": "string", "format": "date-range", "description": "start/end, e.g. 2015-01-01/2020-12-31"})
            }
            "year" => json!({"type": "array", "items": {"type": "string", "enum": years}}),
            "month" => {
                json!({"type": "array", "items": {"type": "string", "enum": (1..=12).map(|m| format!("{m:02}")).collect::<Vec<_>>()}})
            }
            "day" => {
                json!({"type": "array", "items": {"type": "string", "enum": (1..=31).map(|d| format!("{d:02}")).collect::<Vec<_>>()}})
            }
            _ => json!({"type": "string", "enum": years}),
        };
        out.insert(k.clone(), json!({"title": k.replace('_', " "), "minOccurs": 0, "schema": schema}));
    }
    out.insert(
        "area".into(),
        json!({"title": "Area", "description": "[North, West, South, East] in degrees", "minOccurs": 0,
               "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}}),
    );
    out.insert(
        "format".into(),
        json!({"title": "Format", "description": "zip or tgz of the NetCDF files and the provenance; netcdf: the file itself when there is one",
               "minOccurs": 0, "schema": {"type": "string", "enum": c.formats, "default": c.default_format}}),
    );
    out
}

/// `GET /retrieve/v1/processes`.
pub async fn processes(StateX(st): StateX<State>, headers: HeaderMap) -> Response<Body> {
    let api = api_base(&st, &headers);
    let ps: Vec<Value> = cirrus_capabilities::cds::collections().iter().map(|c| summary(c, &api)).collect();
    json_response(
        StatusCode::OK,
        &json!({"processes": ps, "links": [{"href": format!("{api}/retrieve/v1/processes"), "rel": "self"}]}),
    )
}

/// `GET /retrieve/v1/processes/{id}`: the process description of a collection.
pub async fn process(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let c = collection(&id)?;
            let st2 = st.clone();
            let ins = blocking(move || Ok(inputs(&st2, &access, c))).await?;
            let mut d = summary(c, &api);
            d["inputs"] = Value::Object(ins);
            d["outputs"] = json!({"asset": {"title": "Asset", "schema": {"type": "object", "properties": {"value": {"type": "object"}}}}});
            Ok(json_response(StatusCode::OK, &d))
        }
        .await,
    )
}

pub fn request_inputs(body: &[u8]) -> Result<Map<String, Value>, CdsError> {
    let usage = "the body must be JSON {\"inputs\": {\"variable\": ..., ...}}";
    let v: Value = serde_json::from_slice(body).map_err(|e| CdsError::Invalid(format!("{usage}: {e}")))?;
    match v.get("inputs") {
        Some(Value::Object(m)) => Ok(m.clone()),
        None | Some(Value::Null) => Ok(Map::new()),
        Some(_) => Err(CdsError::Invalid(format!("{usage}: 'inputs' is not an object"))),
    }
}

/// `POST /retrieve/v1/processes/{id}/execution`: submit a request (201 and the job
/// status with a `monitor` link; a reused result is successful at once).
pub async fn execute(
    StateX(st): StateX<State>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let c = collection(&id)?;
            let user = auth::token_user(&st, &headers)?;
            let access = Access::of(&st, Some(user.clone()));
            let request = request_inputs(&body)?;
            let st2 = st.clone();
            let (job, meta) = blocking(move || {
                let job = jobs::submit(&st2, &access, &user, c, request)?;
                let meta = jobs::load_meta(&st2, &job.id);
                Ok((job, meta))
            })
            .await?;
            let doc = status_doc(&job, meta.as_ref(), &api, &StatusOptions { submitted: true, ..Default::default() });
            let mut r = json_response(StatusCode::CREATED, &doc);
            if let Ok(v) = HeaderValue::from_str(&format!("{api}/retrieve/v1/jobs/{}", job.id)) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        .await,
    )
}

/// `POST /retrieve/v1/processes/{id}/constraints`: the values still possible for each
/// key given the others.
pub async fn constraints(
    StateX(st): StateX<State>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    respond(
        async {
            let c = collection(&id)?;
            let user = auth::token_user(&st, &headers)?;
            let access = Access::of(&st, Some(user));
            let request = request_inputs(&body)?;
            let st2 = st.clone();
            let out = blocking(move || vocabulary::constraints(&st2, &access, c, &request)).await?;
            Ok(json_response(StatusCode::OK, &Value::Object(out)))
        }
        .await,
    )
}

fn truthy(q: &BTreeMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// A job of the user with its CDS record.
async fn owned_job(st: &State, headers: &HeaderMap, id: &str) -> Result<(String, Job, Meta), CdsError> {
    let user = auth::token_user(st, headers)?;
    let (st2, id2, u2) = (st.clone(), id.to_string(), user.clone());
    let (job, meta) = blocking(move || {
        let job = jobs::owned(&st2, &u2, &id2)?;
        let meta = jobs::load_meta(&st2, &id2).ok_or_else(|| CdsError::NoJob(format!("there is no job '{id2}'")))?;
        Ok((job, meta))
    })
    .await?;
    Ok((user, job, meta))
}

/// `GET /retrieve/v1/jobs/{id}` (`?log=true&request=true&logStartTime=...`).
pub async fn job(
    StateX(st): StateX<State>,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let (_, job, meta) = owned_job(&st, &headers, &id).await?;
            let o = StatusOptions {
                log: truthy(&q, "log"),
                request: truthy(&q, "request"),
                log_start: q.get("logStartTime").cloned(),
                submitted: false,
            };
            Ok(json_response(StatusCode::OK, &status_doc(&job, Some(&meta), &api, &o)))
        }
        .await,
    )
}

/// `DELETE /retrieve/v1/jobs/{id}`: dismiss the job.
pub async fn dismiss(StateX(st): StateX<State>, Path(id): Path<String>, headers: HeaderMap) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let user = auth::token_user(&st, &headers)?;
            let st2 = st.clone();
            let (job, meta) = blocking(move || {
                let job = jobs::dismiss(&st2, &user, &id)?;
                Ok((job.clone(), jobs::load_meta(&st2, &job.id)))
            })
            .await?;
            Ok(json_response(StatusCode::OK, &status_doc(&job, meta.as_ref(), &api, &StatusOptions::default())))
        }
        .await,
    )
}

/// `POST /retrieve/v1/jobs/delete` with `{"job_ids": [...]}`.
pub async fn delete_jobs(StateX(st): StateX<State>, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let user = auth::token_user(&st, &headers)?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| CdsError::Invalid(format!("the body must be {{\"job_ids\": [...]}}: {e}")))?;
            let ids: Vec<String> = vocabulary::strings(v.get("job_ids").unwrap_or(&Value::Null));
            let st2 = st.clone();
            let docs = blocking(move || {
                let mut docs = Vec::new();
                for id in ids {
                    let job = jobs::dismiss(&st2, &user, &id)?;
                    let meta = jobs::load_meta(&st2, &id);
                    docs.push(status_doc(&job, meta.as_ref(), &api, &StatusOptions::default()));
                }
                Ok(docs)
            })
            .await?;
            Ok(json_response(StatusCode::OK, &json!({"jobs": docs})))
        }
        .await,
    )
}

/// `GET /retrieve/v1/jobs` (`?limit=&status=&sortby=created|-created`): the user's jobs.
pub async fn jobs(
    StateX(st): StateX<State>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let user = auth::token_user(&st, &headers)?;
            let get = |k: &str| q.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
            let limit = get("limit").first().and_then(|l| l.parse::<usize>().ok()).unwrap_or(100).clamp(1, 1000);
            let statuses = get("status");
            let ascending = get("sortby").first().is_some_and(|s| s == "created");
            let st2 = st.clone();
            let docs = blocking(move || {
                let mut list: Vec<(Job, Meta)> = st2
                    .runner
                    .store
                    .list(Some(&user), 10_000)?
                    .into_iter()
                    .filter(|j| statuses.is_empty() || statuses.iter().any(|s| s == j.status.as_str()))
                    .filter_map(|j| jobs::load_meta(&st2, &j.id).map(|m| (j, m)))
                    .collect();
                if ascending {
                    list.reverse();
                }
                list.truncate(limit);
                Ok(list
                    .iter()
                    .map(|(j, m)| status_doc(j, Some(m), &api, &StatusOptions::default()))
                    .collect::<Vec<_>>())
            })
            .await?;
            let n = docs.len();
            Ok(json_response(StatusCode::OK, &json!({"jobs": docs, "links": [], "metadata": {"totalCount": n}})))
        }
        .await,
    )
}

/// The URL a deliverable is downloaded from (no key needed).
fn download_url(api: &str, job: &Job, name: &str) -> String {
    format!("{api}/retrieve/v1/jobs/{}/download/{}", job.id, percent_encoding::utf8_percent_encode(name, PATH))
}

const PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The deliverable of a successful job (made on first call), or why there is none.
pub async fn deliver(st: &State, job: &Job, meta: &Meta) -> Result<jobs::Deliverable, CdsError> {
    match job.status {
        Status::Successful => {
            let (st2, job2, meta2) = (st.clone(), job.clone(), meta.clone());
            blocking(move || jobs::deliverable(&st2, &job2, &meta2)).await
        }
        Status::Failed => Err(CdsError::JobFailed(job.error.clone().unwrap_or_else(|| "unknown error".into()))),
        Status::Dismissed => Err(CdsError::NoJob(format!("job '{}' was deleted", job.id))),
        Status::Accepted | Status::Running => Err(CdsError::NotReady(format!(
            "job '{}' is {}: poll GET /api/retrieve/v1/jobs/{} until its status is successful",
            job.id,
            job.status.as_str(),
            job.id
        ))),
    }
}

/// The results document: one asset.
pub fn asset_doc(api: &str, job: &Job, d: &jobs::Deliverable) -> Value {
    json!({"asset": {"value": {
        "type": d.mime,
        "href": download_url(api, job, &d.name),
        "file:size": d.size,
        "file:checksum": format!("1220{}", d.sha256),
    }}})
}

/// `GET /retrieve/v1/jobs/{id}/results`: the asset of a successful job; for a failed
/// one, a 400 problem saying why.
pub async fn results(StateX(st): StateX<State>, Path(id): Path<String>, headers: HeaderMap) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let (_, job, meta) = owned_job(&st, &headers, &id).await?;
            let d = deliver(&st, &job, &meta).await?;
            Ok(json_response(StatusCode::OK, &asset_doc(&api, &job, &d)))
        }
        .await,
    )
}

/// `GET|HEAD /retrieve/v1/jobs/{id}/download/{name}`: the delivered file, without key
/// (the clients send none here), with `Content-Length` and byte ranges.
pub async fn download(
    StateX(st): StateX<State>,
    Path((id, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response<Body> {
    respond(
        async {
            let (st2, id2) = (st.clone(), id.clone());
            let (job, meta) = blocking(move || {
                let gone = || CdsError::NoJob(format!("there is no job '{id2}' (finished jobs expire)"));
                let job = st2.runner.store.get(&id2)?.ok_or_else(gone)?;
                let meta = jobs::load_meta(&st2, &id2).ok_or_else(gone)?;
                Ok((job, meta))
            })
            .await?;
            let d = deliver(&st, &job, &meta).await?;
            if d.name != name {
                return Err(CdsError::NoJob(format!("job '{id}' has no file '{name}'; its file is '{}'", d.name)));
            }
            let finished =
                std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(job.finished.unwrap_or(0)).unwrap_or(0));
            let validators = Validators::new(&d.sha256[..d.sha256.len().min(16)], &d.name, finished);
            let mut r = serve_file(&d.path, &method, &headers, d.mime, &d.name, &validators)
                .await
                .map_err(|e| CdsError::Internal(format!("file {} of job {id} cannot be read: {e}", d.name)))?;
            // The file is sent as it is: its length is `file:size` and ranges resume it.
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("identity"));
            Ok(r)
        }
        .await,
    )
}

/// `GET|POST /profiles/v1/account/verification/pat`: check a key.
pub async fn verify_key(StateX(st): StateX<State>, headers: HeaderMap) -> Response<Body> {
    respond(auth::token_user(&st, &headers).map(|user| json_response(StatusCode::OK, &json!({"id": user}))))
}
