//! WPS errors: one error type with an OWS exception code, a locator and a text,
//! rendered as an OWS 1.1 (WPS 1.0.0) or OWS 2.0 (WPS 2.0.0) `ExceptionReport` with the
//! HTTP status the OWS/WPS specifications give each code; and the mapping from
//! processing errors (`SubmitError`, `cirrus_ops::Error`) to those codes.

use super::{respond, Version, NS_OWS11, NS_OWS2, XML_CONTENT_TYPE};
use crate::processing::SubmitError;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use cirrus_ops::encode::text::xml_escape;
use cirrus_ops::ErrorKind;

/// Seconds a client is asked to wait when the job queue is full.
const RETRY_AFTER_SECS: &str = "30";

/// OWS / WPS exception codes (the names are the standards').
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    MissingParameterValue,
    InvalidParameterValue,
    OperationNotSupported,
    VersionNegotiationFailed,
    /// WPS 2.0.0 (InvalidParameterValue in 1.0.0).
    NoSuchProcess,
    /// WPS 2.0.0 (InvalidParameterValue in 1.0.0).
    NoSuchInput,
    /// WPS 2.0.0 (InvalidParameterValue in 1.0.0).
    NoSuchOutput,
    /// WPS 2.0.0 (InvalidParameterValue in 1.0.0).
    NoSuchMode,
    /// WPS 2.0.0 (NoApplicableCode in 1.0.0).
    NoSuchJob,
    /// WPS 2.0.0 (NoApplicableCode in 1.0.0).
    ResultNotReady,
    ServerBusy,
    NoApplicableCode,
}

impl Code {
    /// The exceptionCode written for this code in a version's report.
    pub fn name(self, version: Version) -> &'static str {
        match (self, version) {
            (Code::MissingParameterValue, _) => "MissingParameterValue",
            (Code::InvalidParameterValue, _)
            | (Code::NoSuchProcess | Code::NoSuchInput | Code::NoSuchOutput | Code::NoSuchMode, Version::V1) => {
                "InvalidParameterValue"
            }
            (Code::OperationNotSupported, _) => "OperationNotSupported",
            (Code::VersionNegotiationFailed, _) => "VersionNegotiationFailed",
            (Code::NoSuchProcess, Version::V2) => "NoSuchProcess",
            (Code::NoSuchInput, Version::V2) => "NoSuchInput",
            (Code::NoSuchOutput, Version::V2) => "NoSuchOutput",
            (Code::NoSuchMode, Version::V2) => "NoSuchMode",
            (Code::NoSuchJob, Version::V2) => "NoSuchJob",
            (Code::ResultNotReady, Version::V2) => "ResultNotReady",
            (Code::ServerBusy, _) => "ServerBusy",
            (Code::NoApplicableCode | Code::NoSuchJob | Code::ResultNotReady, _) => "NoApplicableCode",
        }
    }

    /// The HTTP status of a report with this code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::NoSuchJob | Code::ResultNotReady => StatusCode::NOT_FOUND,
            // the queue limit answers 429 in every protocol (OGC API - Processes, CDS API)
            Code::ServerBusy => StatusCode::TOO_MANY_REQUESTS,
            Code::NoApplicableCode => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A WPS error: what an ExceptionReport says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {text}", code.name(*version))]
pub struct WpsError {
    /// The version whose report format is used.
    pub version: Version,
    pub code: Code,
    /// The parameter (or input) concerned.
    pub locator: Option<String>,
    pub text: String,
    pub status: StatusCode,
}

impl WpsError {
    /// An error with the code's HTTP status, reported in WPS 1.0.0 format until
    /// [`WpsError::in_version`] says otherwise.
    pub fn new(code: Code, locator: Option<&str>, text: &str) -> WpsError {
        WpsError {
            version: Version::V1,
            code,
            locator: locator.map(str::to_string),
            text: text.into(),
            status: code.status(),
        }
    }

    /// A required parameter is missing; the locator names it.
    pub fn missing(param: &str, text: &str) -> WpsError {
        WpsError::new(Code::MissingParameterValue, Some(param), text)
    }

    /// A parameter has a value that cannot be used.
    pub fn invalid(param: &str, text: &str) -> WpsError {
        WpsError::new(Code::InvalidParameterValue, Some(param), text)
    }

    /// Report in this version's format.
    #[must_use]
    pub fn in_version(mut self, version: Version) -> WpsError {
        self.version = version;
        self
    }

    /// Override the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> WpsError {
        self.status = status;
        self
    }

    /// The ExceptionReport document.
    pub fn to_xml(&self) -> String {
        let (ns, version) = match self.version {
            Version::V1 => (NS_OWS11, "1.0.0"),
            Version::V2 => (NS_OWS2, "2.0.0"),
        };
        let locator = self.locator.as_ref().map(|l| format!(" locator=\"{}\"", xml_escape(l))).unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ows:ExceptionReport xmlns:ows=\"{ns}\" version=\"{version}\" xml:lang=\"en-US\">\n{}</ows:ExceptionReport>\n",
            exception(self.code.name(self.version), &locator, &self.text)
        )
    }

    /// The HTTP response (with `Retry-After` when the server is busy).
    pub fn into_response(self) -> Response<Body> {
        if self.status.is_server_error() && self.code != Code::ServerBusy {
            tracing::error!(code = self.code.name(self.version), text = %self.text, "WPS request failed");
        }
        let mut r = respond(self.status, XML_CONTENT_TYPE, self.to_xml());
        if self.code == Code::ServerBusy {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        r
    }
}

/// An `ows:Exception` element.
fn exception(code: &str, locator_attr: &str, text: &str) -> String {
    format!(
        "  <ows:Exception exceptionCode=\"{code}\"{locator_attr}>\n    <ows:ExceptionText>{}</ows:ExceptionText>\n  </ows:Exception>\n",
        xml_escape(text)
    )
}

/// The WPS error for a processing error found while validating inputs.
pub fn from_ops(e: &cirrus_ops::Error) -> WpsError {
    use cirrus_ops::Error;
    match e {
        Error::MissingInput(name) => WpsError::missing(name, &e.to_string()),
        Error::InvalidInput { input, .. } => WpsError::invalid(input, &e.to_string()),
        Error::DatasetNotFound(_) => WpsError::invalid("collection", &e.to_string()),
        other => match other.kind() {
            ErrorKind::BadRequest | ErrorKind::NotFound => {
                WpsError::new(Code::InvalidParameterValue, None, &e.to_string())
            }
            ErrorKind::TooLarge => WpsError::new(Code::InvalidParameterValue, None, &e.to_string())
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
            ErrorKind::Storage | ErrorKind::Internal => WpsError::new(Code::NoApplicableCode, None, &e.to_string()),
            ErrorKind::Unavailable | ErrorKind::Timeout => {
                WpsError::new(Code::NoApplicableCode, None, &e.to_string()).with_status(crate::protocol::status_of(e))
            }
        },
    }
}

/// The WPS error for a request that could not become a job.
pub fn from_submit(e: &SubmitError) -> WpsError {
    match e {
        SubmitError::Invalid(err) => from_ops(err),
        SubmitError::Busy { .. } | SubmitError::UserBusy { .. } => {
            WpsError::new(Code::ServerBusy, None, &e.to_string())
        }
        SubmitError::TooLarge { .. } => {
            WpsError::new(Code::NoApplicableCode, None, &e.to_string()).with_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        SubmitError::Store(_) => WpsError::new(Code::NoApplicableCode, None, &e.to_string()),
        SubmitError::Denied { .. } => WpsError::new(Code::NoApplicableCode, Some("collection"), &e.to_string())
            .with_status(e.denied_status().unwrap_or(StatusCode::FORBIDDEN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str) -> (String, String, Option<String>, String) {
        let d = roxmltree::Document::parse(doc).expect("well-formed report");
        let root = d.root_element();
        let ex = root.children().find(|n| n.has_tag_name("Exception")).expect("an Exception");
        let text = ex.children().find(|n| n.has_tag_name("ExceptionText")).and_then(|n| n.text()).unwrap_or_default();
        (
            root.tag_name().namespace().unwrap_or_default().to_string(),
            ex.attribute("exceptionCode").unwrap_or_default().to_string(),
            ex.attribute("locator").map(str::to_string),
            text.to_string(),
        )
    }

    #[test]
    fn reports_per_version() {
        let e = WpsError::new(Code::NoSuchProcess, Some("Identifier"), "unknown process 'x<y>'");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let (ns, code, loc, text) = parse(&e.to_xml());
        assert_eq!(
            (ns.as_str(), code.as_str(), loc.as_deref()),
            (NS_OWS11, "InvalidParameterValue", Some("Identifier"))
        );
        assert_eq!(text, "unknown process 'x<y>'");
        let (ns, code, _, _) = parse(&e.in_version(Version::V2).to_xml());
        assert_eq!((ns.as_str(), code.as_str()), (NS_OWS2, "NoSuchProcess"));
    }

    #[test]
    fn statuses_and_retry_after() {
        assert_eq!(Code::NoSuchJob.status(), StatusCode::NOT_FOUND);
        assert_eq!(Code::NoApplicableCode.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = WpsError::new(Code::ServerBusy, None, "busy").into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("30"));
        assert_eq!(r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some(XML_CONTENT_TYPE));
    }

    #[test]
    fn ops_errors_map_to_codes() {
        let e = from_ops(&cirrus_ops::Error::MissingInput("collection".into()));
        assert_eq!((e.code, e.locator.as_deref()), (Code::MissingParameterValue, Some("collection")));
        let e = from_ops(&cirrus_ops::Error::InvalidInput { input: "dims".into(), message: "no".into() });
        assert_eq!(
            (e.code, e.locator.as_deref(), e.status),
            (Code::InvalidParameterValue, Some("dims"), StatusCode::BAD_REQUEST)
        );
        let e = from_ops(&cirrus_ops::Error::Internal("bug".into()));
        assert_eq!((e.code, e.status), (Code::NoApplicableCode, StatusCode::INTERNAL_SERVER_ERROR));
        let e = from_submit(&SubmitError::Busy { active: 3, limit: 3 });
        assert_eq!((e.code, e.status), (Code::ServerBusy, StatusCode::TOO_MANY_REQUESTS));
    }
}
