//! DAP2 error documents: `Error { code = ...; message = "..."; };` with the HTTP
//! status that matches the failure.

use crate::protocol::status_of;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use cirrus_ops::Error;

/// libdap error codes.
fn dap_code(e: &Error) -> u32 {
    match e {
        Error::DatasetNotFound(_) => 1003,      // no_such_file
        Error::VariableNotFound { .. } => 1004, // no_such_variable
        Error::File { .. } | Error::ReadFailed { .. } | Error::Unavailable { .. } => 1007, // cannot_read_file
        Error::Internal(_) | Error::Io(_) => 1002, // internal_error
        _ => 1005,                              // malformed_expr
    }
}

/// A DAP2 error response for an engine error.
pub fn dap2_error(e: &Error) -> Response<Body> {
    let status = status_of(e);
    if status.is_server_error() {
        tracing::error!(error = %e, "request failed");
    }
    dap2_error_with(status, dap_code(e), &e.to_string())
}

/// A DAP2 error response with an explicit status, code and message.
pub fn dap2_error_with(status: StatusCode, code: u32, message: &str) -> Response<Body> {
    let msg = message.replace('\\', "\\\\").replace('"', "\\\"");
    let body = format!("Error {{\n    code = {code};\n    message = \"{msg}\";\n}};\n");
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("content-description", HeaderValue::from_static("dods_error"));
    super::protocol_headers(h);
    r
}
