//! WMS errors: a ServiceExceptionReport (1.3.0 or 1.1.1) with the standard exception
//! code, HTTP 400 for client errors and 500 for failures of the server.

use super::Version;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use cirrus_ops::encode::text::xml_escape;
use cirrus_ops::ErrorKind;

/// A WMS exception.
#[derive(Clone, Debug, PartialEq)]
pub struct WmsError {
    /// The exception code (`LayerNotDefined`, `InvalidCRS`, ...), None for a plain error.
    pub code: Option<&'static str>,
    pub message: String,
    pub status: StatusCode,
}

impl WmsError {
    /// A client error (HTTP 400).
    pub fn new(code: Option<&'static str>, message: impl Into<String>) -> WmsError {
        WmsError { code, message: message.into(), status: StatusCode::BAD_REQUEST }
    }

    /// From an error of the data engine: client errors get `code`, storage failures
    /// and bugs are HTTP 500 without a code.
    pub fn from_ops(e: &cirrus_ops::Error, code: Option<&'static str>) -> WmsError {
        match e.kind() {
            ErrorKind::BadRequest | ErrorKind::NotFound | ErrorKind::TooLarge => WmsError::new(code, e.to_string()),
            ErrorKind::Storage | ErrorKind::Internal | ErrorKind::Unavailable | ErrorKind::Timeout => {
                WmsError { code: None, message: e.to_string(), status: crate::protocol::status_of(e) }
            }
        }
    }

    /// The ServiceExceptionReport document of a version and its media type.
    pub fn document(&self, version: Version) -> (String, &'static str) {
        let code = self.code.map(|c| format!(" code=\"{c}\"")).unwrap_or_default();
        let msg = xml_escape(&self.message);
        match version {
            Version::V111 => (
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE ServiceExceptionReport SYSTEM \"http://schemas.opengis.net/wms/1.1.1/exception_1_1_1.dtd\">\n\
<ServiceExceptionReport version=\"1.1.1\">\n  <ServiceException{code}>{msg}</ServiceException>\n</ServiceExceptionReport>\n"
                ),
                "application/vnd.ogc.se_xml",
            ),
            Version::V130 => (
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceExceptionReport version=\"1.3.0\" xmlns=\"http://www.opengis.net/ogc\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://www.opengis.net/ogc http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd\">\n  \
<ServiceException{code}>{msg}</ServiceException>\n</ServiceExceptionReport>\n"
                ),
                "text/xml; charset=utf-8",
            ),
        }
    }

    /// The HTTP response.
    pub fn response(&self, version: Version) -> Response<Body> {
        let (doc, mime) = self.document(version);
        let mut r = Response::new(Body::from(doc));
        *r.status_mut() = self.status;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let e = WmsError::new(Some("LayerNotDefined"), "no layer 'a<b'");
        let (d, m) = e.document(Version::V130);
        assert!(d.contains("<ServiceException code=\"LayerNotDefined\">no layer "));
        assert!(d.contains("a&lt;b"));
        assert_eq!(m, "text/xml; charset=utf-8");
        let (d, _) = e.document(Version::V111);
        assert!(d.contains("version=\"1.1.1\""));
        let io = cirrus_ops::Error::Internal("x".into());
        assert_eq!(WmsError::from_ops(&io, Some("X")).status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
