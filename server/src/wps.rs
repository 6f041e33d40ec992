//! OGC WPS 1.0.0 and 2.0.0 at `/wps`, the protocol the Copernicus CDS uses to call rook.
//!
//! Requests come as KVP (`GET /wps?service=WPS&request=...`, or a form-encoded POST) or
//! as XML documents (`POST /wps`); both are parsed into one [`Request`] ([`kvp`],
//! [`xml`]) and answered by the same code: capabilities and process descriptions are
//! rendered from `cirrus_capabilities` ([`v1`], [`v2`]), Execute becomes a job through
//! [`crate::processing`] ([`execute`]), and every error is an OWS ExceptionReport with
//! the right exceptionCode and HTTP status ([`error`]).
//!
//! Asynchronous WPS 1.0.0 jobs (`storeExecuteResponse=true&status=true`) are followed at
//! `statusLocation` = `/wps/status/{job}.xml` ([`status`]); WPS 2.0.0 jobs through
//! GetStatus, GetResult and Dismiss on `/wps`.

pub mod error;
pub mod execute;
pub mod kvp;
pub mod v1;
pub mod v2;
pub mod xml;

use crate::access::Access;
use crate::http::base_url;
use crate::state::State;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use cirrus_capabilities::Process;
pub use error::{Code, WpsError};

/// WPS 1.0.0 namespace.
pub const NS_WPS1: &str = "http://www.opengis.net/wps/1.0.0";
/// WPS 2.0 namespace.
pub const NS_WPS2: &str = "http://www.opengis.net/wps/2.0";
/// OWS 1.1 namespace (used by WPS 1.0.0).
pub const NS_OWS11: &str = "http://www.opengis.net/ows/1.1";
/// OWS 2.0 namespace (used by WPS 2.0.0).
pub const NS_OWS2: &str = "http://www.opengis.net/ows/2.0";
/// XLink namespace.
pub const NS_XLINK: &str = "http://www.w3.org/1999/xlink";
/// The media type of every XML document served here.
pub const XML_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A WPS protocol version served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Version {
    #[default]
    V1,
    V2,
}

impl Version {
    /// The version string (`1.0.0`, `2.0.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "1.0.0",
            Version::V2 => "2.0.0",
        }
    }

    /// A supported version from its string.
    pub fn parse(s: &str) -> Option<Version> {
        match s.trim() {
            "1.0.0" => Some(Version::V1),
            "2.0.0" => Some(Version::V2),
            _ => None,
        }
    }
}

/// A parsed WPS request, protocol syntax (KVP or XML) already removed.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub version: Version,
    pub op: Operation,
}

/// The operations of WPS 1.0.0 (the first three) and 2.0.0 (all).
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    GetCapabilities,
    /// Process identifiers as given (`ALL` stands for every process).
    DescribeProcess(Vec<String>),
    Execute(Execute),
    /// WPS 2.0.0: the job id.
    GetStatus(String),
    /// WPS 2.0.0: the job id.
    GetResult(String),
    /// WPS 2.0.0: the job id.
    Dismiss(String),
}

/// An Execute request.
#[derive(Clone, Debug, PartialEq)]
pub struct Execute {
    /// The process identifier.
    pub process: String,
    /// Inputs in request order; an input may repeat.
    pub inputs: Vec<Input>,
    pub mode: Mode,
    pub response: ResponseForm,
    /// WPS 1.0.0 `lineage`: echo the inputs and output definitions in the response.
    pub lineage: bool,
}

/// One occurrence of an input.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub id: String,
    pub value: InputValue,
}

/// The value of an input occurrence.
#[derive(Clone, Debug, PartialEq)]
pub enum InputValue {
    /// A literal (text) value.
    Literal(String),
    /// Inline complex data (e.g. a JSON workflow), as text.
    Complex { mime_type: Option<String>, content: String },
    /// An input by reference (URL); not supported.
    Reference(String),
}

/// How a job is run with respect to the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answer when the job is done.
    Sync,
    /// Answer at once; the client follows the job.
    Async,
    /// WPS 2.0.0 `auto`: the server chooses (cirrus waits like `sync`).
    Auto,
}

/// What the response to an Execute contains.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseForm {
    /// A response document with these outputs (empty: all outputs).
    Document(Vec<OutputRequest>),
    /// One output, raw (WPS 1.0.0 `RawDataOutput`, WPS 2.0.0 `response="raw"`).
    Raw(OutputRequest),
}

/// An output the client asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputRequest {
    pub id: String,
    /// Requested as a reference (cirrus always answers with references).
    pub as_reference: bool,
    pub mime_type: Option<String>,
}

impl OutputRequest {
    /// An output request by id only.
    pub fn new(id: &str) -> OutputRequest {
        OutputRequest { id: id.to_string(), as_reference: true, mime_type: None }
    }
}

/// A response with a body and content type.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A `200 text/xml` response.
pub fn xml_ok(doc: String) -> Response<Body> {
    respond(StatusCode::OK, XML_CONTENT_TYPE, doc)
}

/// Mark a response as not to be cached (job states change).
pub fn no_store(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The processes named by DescribeProcess identifiers (`ALL`: every process).
fn described(version: Version, ids: &[String]) -> Result<Vec<&'static Process>, WpsError> {
    if ids.iter().any(|i| i.eq_ignore_ascii_case("all")) {
        return Ok(cirrus_capabilities::processes().iter().collect());
    }
    ids.iter().map(|id| execute::process(version, id)).collect()
}

/// Answer a parsed request.
async fn handle(st: &State, access: &Access, base: &str, req: Request) -> Response<Body> {
    let v = req.version;
    let result = match req.op {
        Operation::GetCapabilities => Ok(xml_ok(match v {
            Version::V1 => v1::capabilities(base, &st.config.provider),
            Version::V2 => v2::capabilities(base, &st.config.provider),
        })),
        Operation::DescribeProcess(ids) => described(v, &ids).map(|ps| {
            xml_ok(match v {
                Version::V1 => v1::describe(&ps),
                Version::V2 => v2::describe(&ps),
            })
        }),
        Operation::Execute(ex) => execute::execute(st, access, base, v, ex).await,
        Operation::GetStatus(id) => execute::get_status(st, access, &id),
        Operation::GetResult(id) => execute::get_result(st, access, base, &id),
        Operation::Dismiss(id) => execute::dismiss(st, access, &id),
    };
    result.unwrap_or_else(|e| e.in_version(v).into_response())
}

/// `GET /wps?service=WPS&request=...` (KVP).
pub async fn get(
    StateX(st): StateX<State>,
    access: Access,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    match kvp::parse(query.as_deref().unwrap_or("")) {
        Ok(req) => handle(&st, &access, &base, req).await,
        Err(e) => e.into_response(),
    }
}

/// `POST /wps`: an XML request document (or a form-encoded KVP request).
pub async fn post(StateX(st): StateX<State>, access: Access, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let Ok(text) = std::str::from_utf8(&body) else {
        return WpsError::new(Code::NoApplicableCode, None, "the request body is not UTF-8 text")
            .with_status(StatusCode::BAD_REQUEST)
            .into_response();
    };
    let text = text.trim_start_matches('\u{feff}');
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let parsed = if form && !text.trim_start().starts_with('<') { kvp::parse(text) } else { xml::parse(text) };
    match parsed {
        Ok(req) => handle(&st, &access, &base, req).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /wps/status/{job}.xml`: the WPS 1.0.0 status document of an asynchronous
/// Execute (its `statusLocation`), rendered from the job's current state.
pub async fn status(StateX(st): StateX<State>, Path(file): Path<String>, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let result = match file.strip_suffix(".xml") {
        Some(id) => execute::status_document(&st, &base, id),
        None => Err(WpsError::new(
            Code::NoSuchJob,
            Some("statusLocation"),
            &format!("no status document '{file}': status documents are /wps/status/<job id>.xml"),
        )),
    };
    no_store(result.unwrap_or_else(WpsError::into_response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        use cirrus_ops::encode::text::xml_escape;
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_escape("x\u{1}y\tz"), "x\u{FFFD}y\tz");
        let doc = format!("<a b=\"{}\">{}</a>", xml_escape("q\"&\u{0}"), xml_escape("<&>\u{7}"));
        roxmltree::Document::parse(&doc).expect("well-formed");
    }

    #[test]
    fn versions() {
        assert_eq!(Version::parse("2.0.0"), Some(Version::V2));
        assert_eq!(Version::parse(" 1.0.0 "), Some(Version::V1));
        assert_eq!(Version::parse("1.1.0"), None);
        assert_eq!(Version::V2.as_str(), "2.0.0");
    }
}
