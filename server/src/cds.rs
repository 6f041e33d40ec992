//! The Copernicus Climate Data Store (CDS) API, as `cdsapi` (0.7) and
//! `ecmwf-datastores-client` speak it, under `/api`:
//!
//! - catalogue (no key needed): `GET /catalogue/v1/messages`, `/catalogue/v1/collections`
//!   (also `/datasets`), `/catalogue/v1/collections/{id}` (+ `/form.json`,
//!   `/constraints.json`): the collections of `capabilities/data/cds.json` with the words
//!   of the datasets served;
//! - retrieve (`PRIVATE-TOKEN: <key>`): `GET /retrieve/v1/processes[/{id}]`,
//!   `POST /retrieve/v1/processes/{id}/execution` (201, a `monitor` link),
//!   `POST .../constraints`, `GET /retrieve/v1/jobs`, `GET|DELETE /retrieve/v1/jobs/{id}`,
//!   `GET /retrieve/v1/jobs/{id}/results` (the asset: a zip or tgz of the NetCDF files
//!   and the provenance, made on first request), `POST /retrieve/v1/jobs/delete`;
//!   `GET /profiles/v1/account/verification/pat`;
//! - downloads without key: `GET /retrieve/v1/jobs/{id}/download/{name}` (Range);
//! - the legacy API of keys `UID:KEY` (HTTP basic auth): `GET /v2/status.json`,
//!   `POST /v2/resources/{name}`, `GET|DELETE /v2/tasks/{id}`.
//!
//! A request becomes one `subset` job over the datasets it selects; an identical
//! request (same inputs, same dataset versions) reuses a finished result at once.

mod archive;
pub mod auth;
mod catalogue;
mod jobs;
mod legacy;
pub mod retrieve;
pub mod vocabulary;

use crate::jobs::StoreError;
use crate::state::State;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

/// What went wrong with a CDS API request, in words the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum CdsError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("there is no collection '{id}'; the collections are: {known}")]
    NoCollection { id: String, known: String },
    #[error("'{key}' is not a request key of {collection}; its keys are: {known}")]
    UnknownKey { key: String, collection: String, known: String },
    #[error("{key}: '{value}' is not valid; valid values: {valid}{hint}")]
    InvalidValue { key: String, value: String, valid: String, hint: String },
    #[error("'{key}' is required; valid values: {valid}")]
    MissingKey { key: String, valid: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Empty(String),
    #[error("user '{user}' has {active} jobs waiting or running and the limit is {limit}: wait until one has finished (or delete one), then submit again")]
    TooManyJobs { user: String, active: usize, limit: usize },
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NoJob(String),
    #[error("{0}")]
    NotReady(String),
    #[error("{0}")]
    JobFailed(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for CdsError {
    fn from(e: StoreError) -> Self {
        CdsError::Internal(e.to_string())
    }
}

impl From<std::io::Error> for CdsError {
    fn from(e: std::io::Error) -> Self {
        CdsError::Internal(e.to_string())
    }
}

impl CdsError {
    fn status(&self) -> StatusCode {
        match self {
            CdsError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            CdsError::NoCollection { .. } | CdsError::NoJob(_) | CdsError::NotReady(_) => StatusCode::NOT_FOUND,
            CdsError::TooManyJobs { .. } | CdsError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            CdsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            CdsError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            CdsError::Unauthorized(_) => "Authentication failed",
            CdsError::NoCollection { .. } => "No such collection",
            CdsError::UnknownKey { .. } | CdsError::InvalidValue { .. } | CdsError::MissingKey { .. } => {
                "Invalid request"
            }
            CdsError::Invalid(_) => "Invalid request",
            CdsError::Empty(_) => "Empty selection",
            CdsError::TooManyJobs { .. } => "Too many jobs",
            CdsError::Busy(_) => "Server busy",
            CdsError::TooLarge(_) => "Request too large",
            CdsError::NoJob(_) => "No such job",
            CdsError::NotReady(_) => "Results not ready",
            CdsError::JobFailed(_) => "The job failed",
            CdsError::Internal(_) => "Internal error",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            CdsError::Unauthorized(_) => "authentication-failed",
            CdsError::NoCollection { .. } => "no-such-process",
            CdsError::Empty(_) => "empty-selection",
            CdsError::TooLarge(_) => "too-large",
            CdsError::TooManyJobs { .. } | CdsError::Busy(_) => "too-many-jobs",
            CdsError::NoJob(_) => "no-such-job",
            CdsError::NotReady(_) => "result-not-ready",
            CdsError::JobFailed(_) => "execution-failed",
            CdsError::Internal(_) => "internal",
            _ => "invalid-request",
        }
    }

    fn finish(&self, mut r: Response<Body>, content_type: &'static str) -> Response<Body> {
        *r.status_mut() = self.status();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        match self {
            CdsError::TooManyJobs { .. } => {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            }
            CdsError::Busy(_) => {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            }
            CdsError::Unauthorized(_) => {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"cirrus\""));
            }
            _ => {}
        }
        r
    }

    /// The problem document of the current API (`title` and `detail` are what the
    /// clients show).
    pub fn response(&self) -> Response<Body> {
        let body = json!({
            "type": format!("http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/{}", self.kind()),
            "title": self.title(),
            "status": self.status().as_u16(),
            "detail": self.to_string(),
        });
        self.finish(Response::new(Body::from(body.to_string())), "application/problem+json")
    }

    /// The error document of the legacy API (`cdsapi` raises `message`).
    pub fn legacy_response(&self) -> Response<Body> {
        let body = json!({
            "message": format!("{}: {}", self.title(), self),
            "reason": self.to_string(),
            "context": {},
            "permanent": !matches!(self.status(), StatusCode::TOO_MANY_REQUESTS | StatusCode::INTERNAL_SERVER_ERROR),
        });
        self.finish(Response::new(Body::from(body.to_string())), "application/json")
    }
}

/// A JSON response.
fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The base URL of the API (`http://host:port/api`).
fn api_base(st: &State, headers: &HeaderMap) -> String {
    format!("{}/api", crate::http::base_url(st.config.public_url.as_deref(), headers))
}

/// Run blocking work (catalog scans, level reads, the job store, archives) off the
/// async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, CdsError> + Send + 'static) -> Result<T, CdsError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| CdsError::Internal(format!("worker failed: {e}")))?
}

/// A collection by id, or the error listing them.
fn collection(id: &str) -> Result<&'static cirrus_capabilities::cds::Collection, CdsError> {
    cirrus_capabilities::cds::collection(id).ok_or_else(|| CdsError::NoCollection {
        id: id.to_string(),
        known: cirrus_capabilities::cds::collections().iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", "),
    })
}

/// The routes, to be nested under `/api`.
pub fn router() -> Router<State> {
    Router::new()
        .route("/catalogue/v1/messages", get(catalogue::messages))
        .route("/catalogue/v1/collections", get(catalogue::collections))
        .route("/catalogue/v1/datasets", get(catalogue::collections))
        .route("/catalogue/v1/collections/{id}", get(catalogue::collection))
        .route("/catalogue/v1/collections/{id}/form.json", get(catalogue::form))
        .route("/catalogue/v1/collections/{id}/constraints.json", get(catalogue::constraints))
        .route("/retrieve/v1/processes", get(retrieve::processes))
        .route("/retrieve/v1/processes/{id}", get(retrieve::process))
        .route("/retrieve/v1/processes/{id}/execution", post(retrieve::execute))
        .route("/retrieve/v1/processes/{id}/constraints", post(retrieve::constraints))
        .route("/retrieve/v1/jobs", get(retrieve::jobs))
        .route("/retrieve/v1/jobs/delete", post(retrieve::delete_jobs))
        .route("/retrieve/v1/jobs/{id}", get(retrieve::job).delete(retrieve::dismiss))
        .route("/retrieve/v1/jobs/{id}/results", get(retrieve::results))
        .route("/retrieve/v1/jobs/{id}/download/{name}", get(retrieve::download))
        .route("/profiles/v1/account/verification/pat", post(retrieve::verify_key).get(retrieve::verify_key))
        .route("/v2/status.json", get(legacy::status))
        .route("/v2/resources/{name}", post(legacy::resources))
        .route("/v2/tasks/{id}", get(legacy::task).delete(legacy::delete))
}
