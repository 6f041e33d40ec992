//! In-process tests of the whole service (`router::app`, with its middleware) over the
//! shared ESGF samples: no TCP, no spawned binary — each request goes through
//! `tower::ServiceExt::oneshot`. The samples' `cordex/` root is restricted to alice.
//!
//! - routing: the main route of every protocol answers, with its media type;
//! - errors: unknown paths and bad requests get the status and the error document of
//!   the protocol they belong to;
//! - access: the restricted datasets exist for alice only (403 for bob, 401 with a
//!   challenge for anonymous callers), an invalid key is refused everywhere.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use cirrus_server::config::{Config, ServeArgs};
use cirrus_server::router;
use cirrus_server::state::AppState;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

/// A dataset of the open part of the samples.
const INM: &str = "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619";
/// A dataset under `cordex/`, the root restricted to alice.
const EUR22: &str = "cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029";
const ALICE_KEY: &str = "alice-key-0123456789";
const BOB_KEY: &str = "bob-key-9876543210";

/// The shared ESGF samples (`$CIRRUS_SHARED_DATA/esgf`, default `../shared/data/esgf`
/// from the repository root); missing data fails the tests.
fn esgf() -> PathBuf {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    let root = base.join("esgf");
    assert!(root.is_dir(), "shared ESGF data not found at {} (set CIRRUS_SHARED_DATA)", root.display());
    // the binary serves canonical roots (restrictions are compared with canonical paths)
    root.canonicalize().expect("canonical ESGF root")
}

/// The whole service over the samples, with its state directory (job store, caches,
/// the key file) in a temporary directory removed when the server is dropped.
struct Server {
    app: Router,
    _dir: tempfile::TempDir,
}

fn server() -> Server {
    let dir = tempfile::Builder::new().prefix("cirrus-router-").tempdir().expect("temporary state directory");
    let keys = dir.path().join("api-keys");
    std::fs::write(&keys, format!("alice:{ALICE_KEY}\nbob:{BOB_KEY}\n")).expect("key file");
    let esgf = esgf();
    let args = ServeArgs {
        data: vec![esgf.clone()],
        state: Some(dir.path().to_path_buf()),
        restrict: vec![format!("{}=alice", esgf.join("cordex").display())],
        api_keys: Some(keys),
        ..ServeArgs::default()
    };
    let config = Config::resolve(args).expect("configuration");
    let roots = config.data.clone();
    let st = AppState::new(config, roots).expect("application state");
    st.rescan();
    let all = st.catalog_all();
    assert!(all.unavailable.is_empty(), "unavailable datasets: {:?}", all.unavailable);
    for id in [INM, EUR22] {
        assert!(all.summaries.contains_key(id), "{id} is not in the catalog");
    }
    Server { app: router::app(Arc::new(st)), _dir: dir }
}

/// Who sends a request, and how.
#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    /// `Authorization: Basic base64(user:key)`.
    Basic(&'static str),
    /// `PRIVATE-TOKEN: key`.
    Token(&'static str),
    /// A key no user has, in basic authentication.
    BadKey,
}

fn key_of(user: &str) -> &'static str {
    match user {
        "alice" => ALICE_KEY,
        "bob" => BOB_KEY,
        other => panic!("no key for {other}"),
    }
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn request(method: Method, uri: &str, who: Who, body: Body) -> Request<Body> {
    let b = Request::builder().method(method).uri(uri);
    let b = match who {
        Who::Anonymous => b,
        Who::Basic(u) => {
            b.header(header::AUTHORIZATION, format!("Basic {}", base64(format!("{u}:{}", key_of(u)).as_bytes())))
        }
        Who::Token(u) => b.header("private-token", key_of(u)),
        Who::BadKey => b.header(header::AUTHORIZATION, format!("Basic {}", base64(b"alice:not-a-key"))),
    };
    b.body(body).expect("request")
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = app.clone().oneshot(req).await.expect("infallible service");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("response body");
    (parts.status, parts.headers, bytes)
}

async fn get(app: &Router, uri: &str, who: Who) -> (StatusCode, HeaderMap, Bytes) {
    send(app, request(Method::GET, uri, who, Body::empty())).await
}

async fn post(app: &Router, uri: &str, content_type: &str, body: &'static str) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = request(Method::POST, uri, Who::Anonymous, Body::from(body));
    req.headers_mut().insert(header::CONTENT_TYPE, content_type.parse().expect("content type"));
    send(app, req).await
}

fn content_type(h: &HeaderMap) -> &str {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn text(b: &Bytes) -> &str {
    std::str::from_utf8(b).expect("UTF-8 body")
}

fn json(b: &Bytes) -> serde_json::Value {
    serde_json::from_slice(b).expect("JSON body")
}

/// A DAP2 error document with `status`; its message.
fn dap2_error(uri: &str, (status, h, body): &(StatusCode, HeaderMap, Bytes), expected: StatusCode) -> String {
    assert_eq!(*status, expected, "{uri}: {}", text(body));
    assert!(content_type(h).starts_with("text/plain"), "{uri}: {}", content_type(h));
    assert_eq!(h.get("content-description").and_then(|v| v.to_str().ok()), Some("dods_error"), "{uri}");
    let t = text(body);
    assert!(t.starts_with("Error {") && t.contains("code = ") && t.contains("message = \""), "{uri}: {t}");
    t.to_string()
}

/// A DAP4 error document (XML `<Error httpcode=...>`) with `status`.
fn dap4_error(uri: &str, (status, h, body): &(StatusCode, HeaderMap, Bytes), expected: StatusCode) {
    assert_eq!(*status, expected, "{uri}: {}", text(body));
    assert!(content_type(h).starts_with("application/vnd.opendap.dap4.error+xml"), "{uri}: {}", content_type(h));
    let doc = roxmltree::Document::parse(text(body)).expect("DAP4 error is XML");
    assert_eq!(doc.root_element().tag_name().name(), "Error", "{uri}");
    assert_eq!(doc.root_element().attribute("httpcode"), Some(expected.as_str()), "{uri}");
}

/// An OWS ExceptionReport (WPS) with `status` and exception code `code`.
fn ows_error(uri: &str, (status, h, body): &(StatusCode, HeaderMap, Bytes), expected: StatusCode, code: &str) {
    assert_eq!(*status, expected, "{uri}: {}", text(body));
    assert!(content_type(h).starts_with("text/xml"), "{uri}: {}", content_type(h));
    let doc = roxmltree::Document::parse(text(body)).expect("ExceptionReport is XML");
    assert_eq!(doc.root_element().tag_name().name(), "ExceptionReport", "{uri}");
    let exc = doc.descendants().find(|n| n.tag_name().name() == "Exception").expect("an Exception");
    assert_eq!(exc.attribute("exceptionCode"), Some(code), "{uri}: {}", text(body));
}

/// A WMS 1.3.0 ServiceExceptionReport with `status`.
fn wms_error(uri: &str, (status, h, body): &(StatusCode, HeaderMap, Bytes), expected: StatusCode, code: Option<&str>) {
    assert_eq!(*status, expected, "{uri}: {}", text(body));
    assert!(content_type(h).starts_with("text/xml"), "{uri}: {}", content_type(h));
    let doc = roxmltree::Document::parse(text(body)).expect("ServiceExceptionReport is XML");
    assert_eq!(doc.root_element().tag_name().name(), "ServiceExceptionReport", "{uri}");
    let exc = doc.descendants().find(|n| n.tag_name().name() == "ServiceException").expect("a ServiceException");
    assert_eq!(exc.attribute("code"), code, "{uri}");
}

/// An RFC 7807 problem with `status`.
fn problem(uri: &str, (status, h, body): &(StatusCode, HeaderMap, Bytes), expected: StatusCode) {
    assert_eq!(*status, expected, "{uri}: {}", text(body));
    assert_eq!(content_type(h), "application/problem+json", "{uri}");
    let p = json(body);
    assert_eq!(p["status"], expected.as_u16(), "{uri}: {p}");
    assert!(p["title"].is_string() && p["detail"].is_string(), "{uri}: {p}");
}

fn dataset_ids(body: &Bytes) -> Vec<String> {
    json(body)["datasets"]
        .as_array()
        .expect("datasets array")
        .iter()
        .map(|d| d["id"].as_str().expect("dataset id").to_string())
        .collect()
}

// --------------------------------------------------------------------------- routing

#[tokio::test]
async fn every_protocol_answers() {
    let srv = server();
    let app = &srv.app;
    let dds = format!("/opendap/{INM}.dds");
    let das = format!("/opendap/{INM}.das");
    let dmr = format!("/opendap/{INM}.dmr");
    let one = format!("/datasets/{INM}");
    // (path, media type it starts with, text the body contains)
    let routes: &[(&str, &str, &str)] = &[
        ("/", "application/json", "\"links\""),
        ("/datasets", "application/json", INM),
        (&one, "application/json", "\"dimensions\""),
        ("/catalog.xml", "application/xml", "<catalog"),
        ("/opendap/", "text/html", INM),
        (&dds, "text/plain", "Dataset {"),
        (&das, "text/plain", "Attributes {"),
        (&dmr, "application/vnd.opendap.dap4.dataset-metadata+xml", "<Dataset"),
        ("/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0", "text/xml", "<WMS_Capabilities"),
        ("/stac", "application/json", "\"conformsTo\""),
        ("/stac/collections", "application/json", "\"collections\""),
        ("/processes", "application/json", "\"processes\""),
        ("/processes/subset", "application/json", "\"inputs\""),
        ("/conformance", "application/json", "ogcapi-processes-1"),
        ("/wps?service=WPS&request=GetCapabilities&version=1.0.0", "text/xml", "Capabilities"),
        ("/api/catalogue/v1/collections", "application/json", "\"collections\""),
        ("/health", "text/plain", "ok"),
        ("/ready", "text/plain", "ready"),
    ];
    for &(uri, mime, needle) in routes {
        let (status, h, body) = get(app, uri, Who::Anonymous).await;
        let t = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::OK, "{uri}: {t}");
        assert!(content_type(&h).starts_with(mime), "{uri}: content type {:?}, expected {mime}", content_type(&h));
        assert!(t.contains(needle), "{uri}: no {needle:?} in {}", &t[..t.len().min(300)]);
        assert!(h.contains_key("x-request-id"), "{uri}: the middleware set no request id");
    }
    // the landing page is HTML for browsers
    let req = Request::get("/").header(header::ACCEPT, "text/html").body(Body::empty()).expect("request");
    let (status, h, _) = send(app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type(&h).starts_with("text/html"), "{}", content_type(&h));
    // the XML documents are well-formed
    for uri in ["/catalog.xml", &dmr, "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0"] {
        let (_, _, body) = get(app, uri, Who::Anonymous).await;
        roxmltree::Document::parse(text(&body)).unwrap_or_else(|e| panic!("{uri}: not XML: {e}"));
    }
}

// --------------------------------------------------------------------------- errors

#[tokio::test]
async fn unknown_paths_are_404_in_the_protocol_format() {
    let srv = server();
    let app = &srv.app;
    for uri in ["/opendap/no.such.dataset.dds", "/opendap/no.such.dataset.das", "/opendap/no.such.dataset.dods"] {
        let msg = dap2_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::NOT_FOUND);
        assert!(msg.contains("no.such.dataset"), "{uri}: {msg}");
    }
    let uri = "/wps/no/such/thing?service=WPS&version=1.0.0";
    ows_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::NOT_FOUND, "NoApplicableCode");
    let uri = "/wms/no/such/thing";
    wms_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::NOT_FOUND, None);
    for uri in [
        "/processes/subset/no/such/thing",
        "/jobs/a/b/c",
        "/stac/no/such/thing",
        "/api/catalogue/v1/no/such/thing",
        "/api/no-such-api",
        "/datasets/no.such.dataset",
        "/catalog.xml/no/such/thing",
    ] {
        problem(uri, &get(app, uri, Who::Anonymous).await, StatusCode::NOT_FOUND);
    }
    // the legacy CDS API answers in its own JSON
    let uri = "/api/v2/no/such/thing";
    let (status, h, body) = get(app, uri, Who::Anonymous).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    assert_eq!(content_type(&h), "application/json", "{uri}");
    assert!(json(&body)["message"].as_str().is_some_and(|m| m.contains(uri)), "{uri}: {}", text(&body));
    // anything else: plain text
    let (status, h, body) = get(app, "/no/such/path", Who::Anonymous).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(content_type(&h).starts_with("text/plain"), "{}", content_type(&h));
    assert!(text(&body).contains("/no/such/path"));
}

/// A DAP4 request for a dataset that does not exist gets the DAP4 error document, as
/// every other DAP4 error does (a DAP4 client parses XML errors, not DAP2 text).
#[tokio::test]
async fn unknown_dap4_dataset_is_a_dap4_error() {
    let srv = server();
    let app = &srv.app;
    for uri in ["/opendap/no.such.dataset.dmr", "/opendap/no.such.dataset.dap", "/opendap/no.such.dataset.dmr.xml"] {
        dap4_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn bad_requests_get_the_protocol_error() {
    let srv = server();
    let app = &srv.app;
    // a malformed DAP2 constraint
    for q in ["rlds[0:1", "rlds[[", "rlds[5:1:2]"] {
        let uri = format!("/opendap/{INM}.dds?{q}");
        dap2_error(&uri, &get(app, &uri, Who::Anonymous).await, StatusCode::BAD_REQUEST);
    }
    // a malformed DAP4 constraint
    let uri = format!("/opendap/{INM}.dmr?dap4.ce=rlds%5B0:1");
    dap4_error(&uri, &get(app, &uri, Who::Anonymous).await, StatusCode::BAD_REQUEST);
    // an unknown WMS request, in 1.3.0
    let uri = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetNothing";
    wms_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::BAD_REQUEST, Some("OperationNotSupported"));
    // ... and in 1.1.1 its own exception document
    let uri = "/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetNothing";
    let (status, h, body) = get(app, uri, Who::Anonymous).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
    assert_eq!(content_type(&h), "application/vnd.ogc.se_xml", "{uri}");
    assert!(text(&body).contains("<ServiceExceptionReport version=\"1.1.1\""), "{uri}: {}", text(&body));
    // an unknown WMS layer
    let uri = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=no.such.dataset/tas&STYLES=&CRS=EPSG:4326\
               &BBOX=-90,-180,90,180&WIDTH=16&HEIGHT=16&FORMAT=image/png";
    wms_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::BAD_REQUEST, Some("LayerNotDefined"));
    // an unknown WPS process, in 1.0.0 and 2.0.0
    let uri = "/wps?service=WPS&version=1.0.0&request=DescribeProcess&identifier=no-such-process";
    ows_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::BAD_REQUEST, "InvalidParameterValue");
    let uri = "/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=no-such-process";
    ows_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::BAD_REQUEST, "NoSuchProcess");
    // an unknown WPS operation
    let uri = "/wps?service=WPS&version=1.0.0&request=DoNothing";
    ows_error(uri, &get(app, uri, Who::Anonymous).await, StatusCode::BAD_REQUEST, "OperationNotSupported");
    // a WPS XML request that is not XML
    let (status, h, body) = post(app, "/wps", "text/xml", "<wps:Execute").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    assert!(text(&body).contains("ExceptionReport"), "{}", text(&body));
    assert!(content_type(&h).starts_with("text/xml"));
    // OGC API - Processes: a body that is not JSON, inputs that are not an object, an
    // unknown process
    let uri = "/processes/subset/execution";
    problem(uri, &post(app, uri, "application/json", "{not json").await, StatusCode::BAD_REQUEST);
    problem(uri, &post(app, uri, "application/json", "{\"inputs\": [1, 2]}").await, StatusCode::BAD_REQUEST);
    let uri = "/processes/no-such-process/execution";
    problem(uri, &post(app, uri, "application/json", "{\"inputs\": {}}").await, StatusCode::NOT_FOUND);
    problem(
        "/processes/no-such-process",
        &get(app, "/processes/no-such-process", Who::Anonymous).await,
        StatusCode::NOT_FOUND,
    );
    problem("/jobs/no-such-job", &get(app, "/jobs/no-such-job", Who::Anonymous).await, StatusCode::NOT_FOUND);
    // a method the route does not have
    let (status, _, _) = send(app, request(Method::DELETE, "/datasets", Who::Anonymous, Body::empty())).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

// --------------------------------------------------------------------------- access

#[tokio::test]
async fn restricted_dataset_over_dap() {
    let srv = server();
    let app = &srv.app;
    let dds = format!("/opendap/{EUR22}.dds");
    for who in [Who::Basic("alice"), Who::Token("alice")] {
        let (status, h, body) = get(app, &dds, who).await;
        assert_eq!(status, StatusCode::OK, "{who:?}: {}", text(&body));
        assert!(text(&body).starts_with("Dataset {") && text(&body).contains("tas"), "{}", text(&body));
        assert!(!h.contains_key(header::WWW_AUTHENTICATE));
    }
    for who in [Who::Basic("bob"), Who::Token("bob")] {
        let r = get(app, &dds, who).await;
        let msg = dap2_error(&dds, &r, StatusCode::FORBIDDEN);
        assert!(msg.contains("does not give access"), "{msg}");
        assert!(!r.1.contains_key(header::WWW_AUTHENTICATE), "{who:?}: a challenge in a 403");
    }
    let r = get(app, &dds, Who::Anonymous).await;
    let msg = dap2_error(&dds, &r, StatusCode::UNAUTHORIZED);
    assert!(msg.contains("API key"), "{msg}");
    let challenge = r.1.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(challenge.starts_with("Basic"), "challenge {challenge:?}");
    // DAP4 refuses in its own format
    let dmr = format!("/opendap/{EUR22}.dmr");
    assert_eq!(get(app, &dmr, Who::Basic("alice")).await.0, StatusCode::OK);
    dap4_error(&dmr, &get(app, &dmr, Who::Token("bob")).await, StatusCode::FORBIDDEN);
    dap4_error(&dmr, &get(app, &dmr, Who::Anonymous).await, StatusCode::UNAUTHORIZED);
    // the open data stays open to everybody
    let open = format!("/opendap/{INM}.dds");
    for who in [Who::Anonymous, Who::Basic("bob"), Who::Token("alice")] {
        assert_eq!(get(app, &open, who).await.0, StatusCode::OK, "{who:?}");
    }
    // a dataset that does not exist is a 404 for everybody, restricted root or not
    for uri in ["/opendap/cordex.no.such.dds", "/opendap/cordex.output.EUR-22.no.such.dataset.dds"] {
        for who in [Who::Anonymous, Who::Basic("bob"), Who::Basic("alice"), Who::Token("bob")] {
            let r = get(app, uri, who).await;
            dap2_error(uri, &r, StatusCode::NOT_FOUND);
            assert!(!r.1.contains_key(header::WWW_AUTHENTICATE), "{uri} {who:?}");
        }
    }
}

#[tokio::test]
async fn restricted_dataset_in_listings_and_documents() {
    let srv = server();
    let app = &srv.app;
    let (status, _, alice) = get(app, "/datasets", Who::Basic("alice")).await;
    assert_eq!(status, StatusCode::OK);
    let alice = dataset_ids(&alice);
    assert!(alice.iter().any(|id| id == EUR22) && alice.iter().any(|id| id == INM), "{alice:?}");
    for who in [Who::Anonymous, Who::Basic("bob"), Who::Token("bob")] {
        let (status, _, body) = get(app, "/datasets", who).await;
        assert_eq!(status, StatusCode::OK, "{who:?}");
        let ids = dataset_ids(&body);
        assert!(ids.iter().any(|id| id == INM), "{who:?}: {ids:?}");
        assert!(!ids.iter().any(|id| id.starts_with("cordex.")), "{who:?} sees cordex: {ids:?}");
        assert!(!text(&body).contains("EUR-22"), "{who:?}: the listing names restricted data");
        assert!(ids.len() < alice.len(), "{who:?}");
    }
    // the other catalogues hide it too
    for uri in ["/catalog.xml", "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0", "/opendap/"] {
        let (_, _, body) = get(app, uri, Who::Basic("alice")).await;
        assert!(text(&body).contains(EUR22), "{uri}: alice does not see {EUR22}");
        for who in [Who::Anonymous, Who::Basic("bob")] {
            let (status, _, body) = get(app, uri, who).await;
            assert_eq!(status, StatusCode::OK, "{uri} {who:?}");
            assert!(!text(&body).contains("EUR-22"), "{uri} {who:?}: names restricted data");
        }
    }
    // the dataset document: 200, 403, 401 (+ challenge) as problems
    let uri = format!("/datasets/{EUR22}");
    let (status, _, body) = get(app, &uri, Who::Token("alice")).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert_eq!(json(&body)["id"], EUR22);
    let r = get(app, &uri, Who::Basic("bob")).await;
    problem(&uri, &r, StatusCode::FORBIDDEN);
    assert!(!r.1.contains_key(header::WWW_AUTHENTICATE));
    let r = get(app, &uri, Who::Anonymous).await;
    problem(&uri, &r, StatusCode::UNAUTHORIZED);
    assert!(r.1.contains_key(header::WWW_AUTHENTICATE));
    // a WMS layer of it: a ServiceExceptionReport
    let uri = format!("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER={EUR22}/tas&FORMAT=image/png");
    assert_eq!(get(app, &uri, Who::Basic("alice")).await.0, StatusCode::OK);
    wms_error(&uri, &get(app, &uri, Who::Basic("bob")).await, StatusCode::FORBIDDEN, None);
}

#[tokio::test]
async fn an_invalid_key_is_refused_everywhere() {
    let srv = server();
    let app = &srv.app;
    let dds = format!("/opendap/{INM}.dds");
    let restricted = format!("/opendap/{EUR22}.dds");
    let uris = [
        "/",
        "/datasets",
        "/catalog.xml",
        dds.as_str(),
        restricted.as_str(),
        "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
        "/stac",
        "/processes",
        "/wps?service=WPS&request=GetCapabilities&version=1.0.0",
        "/api/catalogue/v1/collections",
        "/health",
        "/no/such/path",
    ];
    for uri in uris {
        let (status, h, body) = get(app, uri, Who::BadKey).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {}", String::from_utf8_lossy(&body));
        let challenge = h.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(challenge.starts_with("Basic"), "{uri}: challenge {challenge:?}");
        // the same key in the other headers
        for (name, value) in [("private-token", "not-a-key"), ("authorization", "Bearer not-a-key")] {
            let req = Request::get(uri).header(name, value).body(Body::empty()).expect("request");
            assert_eq!(send(app, req).await.0, StatusCode::UNAUTHORIZED, "{uri} with {name}");
        }
    }
    // ... in the format of the protocol
    dap2_error(&dds, &get(app, &dds, Who::BadKey).await, StatusCode::UNAUTHORIZED);
    problem("/datasets", &get(app, "/datasets", Who::BadKey).await, StatusCode::UNAUTHORIZED);
    let uri = "/wps?service=WPS&request=GetCapabilities&version=1.0.0";
    ows_error(uri, &get(app, uri, Who::BadKey).await, StatusCode::UNAUTHORIZED, "NoApplicableCode");
}
