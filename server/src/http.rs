//! HTTP plumbing shared by the front-ends: streaming a body produced by blocking code
//! in bounded memory, validators and conditional requests, base URLs.

pub mod file;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use bytes::Bytes;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Bytes buffered before a chunk is handed to the socket.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the producer and the socket (bounds memory per request).
const IN_FLIGHT: usize = 4;

/// Responses up to this size are produced at once, without waiting for a turn.
pub const SMALL_RESPONSE_BYTES: u64 = 1 << 20;

/// A `Write` that sends fixed-size chunks to an HTTP body, blocking when the client
/// reads slower than the producer writes.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
    sent: bool,
    /// This producer's turn on the CPU, given up while it waits for the socket.
    turn: Option<OwnedSemaphorePermit>,
    /// The turns on the CPU producers share (`AppState::turns`).
    turns: Arc<Semaphore>,
    /// Whether this producer takes turns (large responses only).
    takes_turns: bool,
    runtime: tokio::runtime::Handle,
}

impl ChannelWriter {
    fn take_turn(&mut self) {
        if self.takes_turns && self.turn.is_none() {
            self.turn = self.runtime.block_on(self.turns.clone().acquire_owned()).ok();
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.sent = true;
        self.turn = None;
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        self.take_turn();
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Run `produce` on a blocking thread and stream what it writes (`size`: the expected
/// length, which decides whether the producer takes turns on the CPU: at most one
/// large producer per core computes at a time, taking turns chunk by chunk in arrival
/// order, so many large streams cannot starve the async workers and small responses
/// do not queue behind them). An error raised
/// before the first chunk is sent (bad request, unreadable file) is returned as
/// `Err` so the caller can answer with a proper error status; a later error aborts the
/// response (the client sees a truncated transfer) and is logged.
pub async fn stream<F>(turns: Arc<Semaphore>, size: u64, produce: F) -> Result<Body, cirrus_ops::Error>
where
    F: FnOnce(&mut ChannelWriter) -> cirrus_ops::Result<()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel(IN_FLIGHT);
    let err_tx = tx.clone();
    let runtime = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let takes_turns = size > SMALL_RESPONSE_BYTES;
        let mut w =
            ChannelWriter { tx, buf: Vec::with_capacity(CHUNK), sent: false, turn: None, turns, takes_turns, runtime };
        w.take_turn();
        let result = produce(&mut w).and_then(|()| w.send().map_err(cirrus_ops::Error::from));
        match result {
            Err(e) if w.sent => {
                if !matches!(&e, cirrus_ops::Error::Io(io) if io.kind() == io::ErrorKind::BrokenPipe) {
                    tracing::error!(error = %e, "response aborted mid-stream");
                }
                let _ = err_tx.blocking_send(Err(io::Error::other(e.to_string())));
                Ok(())
            }
            other => other,
        }
    });
    match rx.recv().await {
        Some(first) => {
            let rest = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
            let body = futures::StreamExt::chain(futures::stream::once(async move { first }), rest);
            Ok(Body::from_stream(futures::StreamExt::fuse(body)))
        }
        None => match task.await {
            Ok(Ok(())) => Ok(Body::empty()),
            Ok(Err(e)) => Err(e),
            Err(join) => Err(cirrus_ops::Error::Internal(format!("worker failed: {join}"))),
        },
    }
}

/// Marks a response the compression layer leaves alone (compressed bytes, such as
/// Zarr chunks, served with byte ranges).
#[derive(Clone, Copy, Debug)]
pub struct Uncompressed;

/// Validators of a response derived from a dataset version and the request.
pub struct Validators {
    pub etag: String,
    pub last_modified: SystemTime,
}

impl Validators {
    /// Strong validators (for files served as they are, with byte ranges).
    pub fn new(dataset_etag: &str, request_key: &str, last_modified: SystemTime) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        request_key.hash(&mut h);
        Validators { etag: format!("\"{dataset_etag}-{:08x}\"", h.finish() as u32), last_modified }
    }

    /// Weak validators, for responses that may be sent gzip- or deflate-encoded (a
    /// strong validator would have to differ per encoding).
    pub fn weak(dataset_etag: &str, request_key: &str, last_modified: SystemTime) -> Self {
        let strong = Validators::new(dataset_etag, request_key, last_modified);
        Validators { etag: format!("W/{}", strong.etag), last_modified }
    }

    /// True when the request's conditional headers say the client's copy is current.
    pub fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
            // weak comparison (RFC 9110 8.8.3.2)
            let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
            return inm.split(',').any(|t| t.trim() == "*" || bare(t) == bare(&self.etag));
        }
        if let Some(ims) = headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()) {
            if let Ok(t) = httpdate::parse_http_date(ims) {
                let lm = httpdate::fmt_http_date(self.last_modified);
                return httpdate::parse_http_date(&lm).is_ok_and(|lm| lm <= t);
            }
        }
        false
    }

    /// Add `ETag` and `Last-Modified` to a response.
    pub fn apply(&self, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(self.last_modified)) {
            headers.insert(header::LAST_MODIFIED, v);
        }
    }

    /// A 304 response.
    pub fn not_modified_response(&self) -> Response<Body> {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        self.apply(r.headers_mut());
        r
    }
}

/// The externally visible base URL (`http://host:port`), from the configuration or the
/// request's Host header.
pub fn base_url(public_url: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(u) = public_url {
        return u.to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

/// A time as ISO 8601 UTC (`2025-01-31T12:00:00Z`).
pub fn iso8601(t: SystemTime) -> String {
    cirrus_ops::clock::iso8601(t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// An RFC 9457 problem document (`about:blank` type) with `title` and `detail`.
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response<Body> {
    let body = serde_json::json!({"type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail});
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    r
}

/// [`problem`] titled with the status's reason phrase.
pub fn status_problem(status: StatusCode, detail: &str) -> Response<Body> {
    problem(status, status.canonical_reason().unwrap_or("Error"), detail)
}
