//! Serving a file from disk: `Content-Length`, `Accept-Ranges: bytes`, single-range
//! requests (206 / 416), `Content-Disposition`, validators and HEAD.

use super::Validators;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Parse a `Range: bytes=...` header against a file of `len` bytes. Ok(None) means no
/// (or an ignorable) range; Err(()) means unsatisfiable.
fn parse_range(value: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: answer with the whole file
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
        };
        (start, end)
    };
    if range.0 >= len || range.0 > range.1 {
        return Err(());
    }
    Ok(Some(range))
}

/// The byte range a request asks of `len` bytes (`If-Range` with another validator:
/// the whole).
fn requested_range(request: &HeaderMap, len: u64, validators: &Validators) -> Result<Option<(u64, u64)>, ()> {
    match request.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if request.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|t| t == validators.etag) => {
            parse_range(r, len)
        }
        _ => Ok(None),
    }
}

/// Answer with `bytes` made for this request (a Zarr chunk or document), with its
/// validators and single byte ranges. HEAD is answered by the server without the body.
pub fn bytes_with_ranges(
    bytes: bytes::Bytes,
    content_type: &'static str,
    validators: &Validators,
    request: &HeaderMap,
) -> Response<Body> {
    let len = bytes.len() as u64;
    let (status, range, body) = match requested_range(request, len, validators) {
        Err(()) => (StatusCode::RANGE_NOT_SATISFIABLE, format!("bytes */{len}"), bytes::Bytes::new()),
        Ok(Some((a, b))) => {
            (StatusCode::PARTIAL_CONTENT, format!("bytes {a}-{b}/{len}"), bytes.slice(a as usize..=b as usize))
        }
        Ok(None) => (StatusCode::OK, String::new(), bytes),
    };
    let h = [
        // Content-Length also for HEAD, whose body the server leaves out
        (header::CONTENT_LENGTH, HeaderValue::from(body.len())),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
    ];
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().extend(h);
    if let Some(v) = Some(range).filter(|r| !r.is_empty()).and_then(|r| HeaderValue::from_str(&r).ok()) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    validators.apply(r.headers_mut());
    r
}

/// Answer with the file at `path`.
pub async fn serve_file(
    path: &Path,
    method: &Method,
    request: &HeaderMap,
    content_type: &str,
    download_name: &str,
    validators: &Validators,
) -> std::io::Result<Response<Body>> {
    if validators.not_modified(request) {
        return Ok(validators.not_modified_response());
    }
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let (builder, start, count) = match head(len, request, content_type, download_name, validators)? {
        Ok(h) => h,
        Err(unsatisfiable) => return Ok(unsatisfiable),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        file.seek(std::io::SeekFrom::Start(start)).await?;
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file.take(count), 256 * 1024))
    };
    let mut r = builder.body(body).map_err(std::io::Error::other)?;
    validators.apply(r.headers_mut());
    Ok(r)
}

/// [`serve_file`] for a file of an object-storage root: its bytes streamed from the
/// object store (a `Range` asks the store for that range only).
pub async fn serve_object(
    obj: cirrus_ops::object::Object,
    method: &Method,
    request: &HeaderMap,
    content_type: &str,
    download_name: &str,
    validators: &Validators,
) -> std::io::Result<Response<Body>> {
    if validators.not_modified(request) {
        return Ok(validators.not_modified_response());
    }
    let (builder, start, count) = match head(obj.size(), request, content_type, download_name, validators)? {
        Ok(h) => h,
        Err(unsatisfiable) => return Ok(unsatisfiable),
    };
    let body = if method == Method::HEAD || count == 0 {
        Body::empty()
    } else {
        Body::from_stream(obj.stream(Some(start..start + count)))
    };
    let mut r = builder.body(body).map_err(std::io::Error::other)?;
    validators.apply(r.headers_mut());
    Ok(r)
}

/// The headers of a download of `len` bytes and the byte range to send (start, count),
/// or the 416 answer to an unsatisfiable `Range`.
fn head(
    len: u64,
    request: &HeaderMap,
    content_type: &str,
    download_name: &str,
    validators: &Validators,
) -> std::io::Result<Result<(axum::http::response::Builder, u64, u64), Response<Body>>> {
    let range = requested_range(request, len, validators);
    let mut builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", download_name.replace('"', "")));
    let (status, start, count) = match range {
        Err(()) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).map_err(std::io::Error::other)?,
            );
            return Ok(Err(r));
        }
        Ok(Some((a, b))) => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}"));
            (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
        }
        Ok(None) => (StatusCode::OK, 0, len),
    };
    Ok(Ok((builder.status(status).header(header::CONTENT_LENGTH, count), start, count)))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=5-2", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }
}
