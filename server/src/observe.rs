//! The middleware every request goes through: a request id, the caller's identity,
//! the rate limit, authentication, the request timeout, then — once the response body
//! has been sent or dropped — metrics, usage and one access-log line.

use crate::access::{self, Caller};
use crate::protocol::{self, Protocol};
use crate::state::State;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The request id: the client's `X-Request-Id` when it is sane, else a new one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string)
}

/// The client address: the first `X-Forwarded-For` hop when the proxy is trusted.
fn client_ip(st: &State, req: &Request) -> String {
    if st.config.trust_forwarded {
        if let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return ip.to_string();
        }
    }
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".into(), |c| c.0.ip().to_string())
}

fn refuse(protocol: Protocol, req: &Request, status: StatusCode, message: &str) -> Response<Body> {
    refuse_uri(protocol, req.uri(), status, message)
}

/// A refusal in the protocol's error format (401 with a challenge).
fn refuse_uri(protocol: Protocol, uri: &axum::http::Uri, status: StatusCode, message: &str) -> Response<Body> {
    let mut r = protocol::error(protocol, uri, status, message);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"cirrus\""));
    }
    r
}

/// Check the caller and run the request; the response and the caller's user.
async fn gate(st: &State, protocol: Protocol, mut req: Request, next: Next) -> (Response<Body>, Option<String>) {
    let user = match access::identify(st, req.headers()) {
        Ok(u) => u,
        Err(e) => {
            st.metrics.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return (refuse(protocol, &req, StatusCode::UNAUTHORIZED, &e.0), None);
        }
    };
    let client = match &user {
        Some(u) => format!("user:{u}"),
        None => format!("ip:{}", client_ip(st, &req)),
    };
    if protocol == Protocol::Ops {
        // probes and scrapes are neither rate-limited nor authenticated
    } else if let Err(wait) = st.limiter.check(&client) {
        st.metrics.rate_limited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let secs = wait.as_secs_f64().ceil().max(1.0);
        let msg = format!(
            "too many requests from {client}: the limit is {} per second (bursts of {}); retry in {secs:.0} s",
            st.config.rate_limit, st.config.rate_burst
        );
        let mut r = refuse(protocol, &req, StatusCode::TOO_MANY_REQUESTS, &msg);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
        return (r, user);
    }
    let path = req.uri().path().to_string();
    if user.is_none() && st.config.auth_required && !access::is_public(&path) {
        st.metrics.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let msg = "this server needs an API key: send it with HTTP basic authentication (any user name, the key as password), or in the PRIVATE-TOKEN header";
        return (refuse(protocol, &req, StatusCode::UNAUTHORIZED, msg), None);
    }
    if protocol == Protocol::Admin && !access::is_admin(st, user.as_deref()) {
        st.metrics.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let status = if user.is_some() { StatusCode::FORBIDDEN } else { StatusCode::UNAUTHORIZED };
        return (
            refuse(protocol, &req, status, "administration needs the API key of a user listed in admin_users"),
            user,
        );
    }
    let uri = req.uri().clone();
    // a dataset that exists but is hidden from this caller: refuse before any protocol
    // code runs (the same answer whatever the protocol would have said of a missing one)
    if let Some(status) = protocol::dataset_of(req.uri()).and_then(|id| st.hidden_status(&id, user.as_deref())) {
        st.metrics.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return (refuse(protocol, &req, status, hidden_message(status)), user);
    }
    req.extensions_mut().insert(Caller { user: user.clone() });
    let timeout = Duration::from_secs(st.config.request_timeout);
    let resp = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            st.metrics.timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let msg = format!(
                "the request took longer than {} s (request_timeout) and was stopped; ask for less data, or use a processing job",
                timeout.as_secs()
            );
            protocol::error(protocol, &uri, StatusCode::SERVICE_UNAVAILABLE, &msg)
        }
    };
    let mut resp = resp;
    // every refusal for want of a key carries the challenge (clients then send one)
    if resp.status() == StatusCode::UNAUTHORIZED && !resp.headers().contains_key(header::WWW_AUTHENTICATE) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"cirrus\""));
    }
    (resp, user)
}

/// The middleware.
pub async fn middleware(StateX(st): StateX<State>, req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let protocol = Protocol::of(req.uri().path());
    let id = request_id(req.headers());
    let method = req.method().clone();
    let uri = req.uri().clone();
    let span = tracing::info_span!("request", request_id = %id);
    st.metrics.begin();
    let (mut resp, user) = gate(&st, protocol, req, next).instrument(span.clone()).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    st.metrics.head(protocol.label(), status, started.elapsed());
    let dataset = protocol::dataset_of(&uri);
    let quiet = protocol == Protocol::Ops;
    let state = st.clone();
    let on_end = move |bytes: u64, complete: bool| {
        let secs = started.elapsed().as_secs_f64();
        state.metrics.end(protocol.label(), bytes, complete);
        if !quiet {
            state.usage.add(user.as_deref(), dataset.as_deref(), protocol.label(), bytes, secs);
            tracing::info!(
                parent: &span,
                request_id = %id,
                method = %method,
                uri = %uri,
                status,
                bytes,
                ms = (secs * 1000.0).round(),
                user = user.as_deref().unwrap_or("-"),
                complete,
                "request"
            );
        }
    };
    resp.map(|b| Body::new(Counted { inner: b, bytes: 0, done: false, on_end: Some(Box::new(on_end)) }))
}

type OnEnd = Box<dyn FnOnce(u64, bool) + Send>;

/// A response body that counts what it sends and reports when it ends or is dropped.
struct Counted {
    inner: Body,
    bytes: u64,
    done: bool,
    on_end: Option<OnEnd>,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    self.bytes += d.len() as u64;
                }
            }
            Poll::Ready(None) => self.done = true,
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            let complete = self.done || self.inner.is_end_stream();
            f(self.bytes, complete);
        }
    }
}

/// The refusal of a dataset that exists but is hidden from the caller (`status` from
/// `AppState::hidden_status`), for handlers that find the dataset name themselves.
pub fn refuse_hidden(protocol: Protocol, uri: &axum::http::Uri, status: StatusCode) -> Response<Body> {
    refuse_uri(protocol, uri, status, hidden_message(status))
}

/// Why a dataset that exists is refused to this caller (401: no key, 403: a key that
/// does not give access).
fn hidden_message(status: StatusCode) -> &'static str {
    if status == StatusCode::UNAUTHORIZED {
        "this dataset needs an API key: send it with HTTP basic authentication (the key as password) or in the PRIVATE-TOKEN header"
    } else {
        "your API key does not give access to this dataset"
    }
}
