//! The legacy CDS API (`/api/v2`), which `cdsapi` uses for keys of the form `UID:KEY`
//! (HTTP basic auth): `GET /v2/status.json`, `POST /v2/resources/{name}` (the request
//! as the body), `GET|DELETE /v2/tasks/{id}`. Replies carry `state`
//! (queued/running/completed/failed), `request_id`, and when completed `location`,
//! `content_length`, `content_type`.

use super::jobs::{self, Meta};
use super::retrieve::deliver;
use super::{api_base, auth, blocking, collection, json_response, CdsError};
use crate::access::Access;
use crate::jobs::{Job, Status};
use crate::state::State;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State as StateX};
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::{json, Map, Value};

fn respond(r: Result<Response<Body>, CdsError>) -> Response<Body> {
    r.unwrap_or_else(|e| e.legacy_response())
}

/// `GET /v2/status.json`: service messages (none).
pub async fn status() -> Response<Body> {
    json_response(StatusCode::OK, &json!({"info": [], "warning": []}))
}

async fn reply(st: &State, api: &str, job: &Job, meta: &Meta) -> Result<Response<Body>, CdsError> {
    let id = &job.id;
    let (status, body) = match job.status {
        Status::Accepted => (StatusCode::ACCEPTED, json!({"state": "queued", "request_id": id})),
        Status::Running => (StatusCode::ACCEPTED, json!({"state": "running", "request_id": id})),
        Status::Successful => {
            let d = deliver(st, job, meta).await?;
            let doc = super::retrieve::asset_doc(api, job, &d);
            (
                StatusCode::OK,
                json!({"state": "completed", "request_id": id, "location": doc["asset"]["value"]["href"],
                       "content_length": d.size, "content_type": d.mime, "checksum": doc["asset"]["value"]["file:checksum"]}),
            )
        }
        Status::Failed => (
            StatusCode::OK,
            json!({"state": "failed", "request_id": id, "error": {
                "message": "the job failed",
                "reason": job.error.clone().unwrap_or_else(|| "unknown error".into()),
                "context": {"traceback": ""}}}),
        ),
        Status::Dismissed => return Err(CdsError::NoJob(format!("request '{id}' was deleted"))),
    };
    Ok(json_response(status, &body))
}

/// `POST /v2/resources/{name}`: submit a request.
pub async fn resources(
    StateX(st): StateX<State>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let user = auth::basic_user(&st, &headers)?;
            let c = collection(&name)?;
            let request: Map<String, Value> = match serde_json::from_slice(&body) {
                Ok(Value::Object(m)) => m,
                _ => return Err(CdsError::Invalid("the body must be the request as a JSON object".into())),
            };
            let access = Access::of(&st, Some(user.clone()));
            let st2 = st.clone();
            let (job, meta) = blocking(move || {
                let job = jobs::submit(&st2, &access, &user, c, request)?;
                let meta =
                    jobs::load_meta(&st2, &job.id).ok_or_else(|| CdsError::Internal("job record lost".into()))?;
                Ok((job, meta))
            })
            .await?;
            reply(&st, &api, &job, &meta).await
        }
        .await,
    )
}

async fn owned(st: &State, headers: &HeaderMap, id: &str) -> Result<(String, Job, Meta), CdsError> {
    let user = auth::basic_user(st, headers)?;
    let (st2, u2, id2) = (st.clone(), user.clone(), id.to_string());
    let (job, meta) = blocking(move || {
        let job = jobs::owned(&st2, &u2, &id2)?;
        let meta =
            jobs::load_meta(&st2, &id2).ok_or_else(|| CdsError::NoJob(format!("there is no request '{id2}'")))?;
        Ok((job, meta))
    })
    .await?;
    Ok((user, job, meta))
}

/// `GET /v2/tasks/{id}`: the state of a request.
pub async fn task(StateX(st): StateX<State>, Path(id): Path<String>, headers: HeaderMap) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let (_, job, meta) = owned(&st, &headers, &id).await?;
            reply(&st, &api, &job, &meta).await
        }
        .await,
    )
}

/// `DELETE /v2/tasks/{id}`: delete a request.
pub async fn delete(StateX(st): StateX<State>, Path(id): Path<String>, headers: HeaderMap) -> Response<Body> {
    respond(
        async {
            let user = auth::basic_user(&st, &headers)?;
            let st2 = st.clone();
            let id2 = id.clone();
            blocking(move || jobs::dismiss(&st2, &user, &id2)).await?;
            Ok(json_response(StatusCode::OK, &json!({"request_id": id, "state": "deleted"})))
        }
        .await,
    )
}
