//! OPeNDAP front-end at `/opendap/{dataset id}{.suffix}`: splits the URL into dataset
//! and response kind, and hands DAP2 requests to [`dap2`].

pub mod constraint;
pub mod constraint4;
pub mod dap2;
pub mod dap4;
mod error;
mod html;
mod netcdf;

use crate::access::Access;
use crate::state::State;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use cirrus_ops::Catalog;

pub use crate::protocol::status_of;
pub use dap4::dap4_error_with;
pub use error::{dap2_error, dap2_error_with};

/// Version of the OPeNDAP server software, as reported to clients.
pub const SERVER_VERSION: &str = concat!("cirrus/", env!("CARGO_PKG_VERSION"));

/// The response kinds, by URL suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dds,
    Das,
    Dods,
    Ascii,
    Html,
    Info,
    Ver,
    Dmr,
    DmrHtml,
    Dap,
    Dsr,
    /// A NetCDF-4 file.
    Nc,
    /// A NetCDF-3 (64-bit offset) file.
    Nc3,
}

impl Kind {
    /// True for the DAP4 responses.
    pub fn is_dap4(self) -> bool {
        matches!(self, Kind::Dmr | Kind::DmrHtml | Kind::Dap | Kind::Dsr)
    }
}

/// Known suffixes, longest first where one ends another.
const SUFFIXES: &[(&str, Kind)] = &[
    (".dmr.xml", Kind::Dmr),
    (".dmr.html", Kind::DmrHtml),
    (".dsr.xml", Kind::Dsr),
    (".dmr", Kind::Dmr),
    (".dap", Kind::Dap),
    (".dsr", Kind::Dsr),
    (".nc3", Kind::Nc3),
    (".nc4", Kind::Nc),
    (".nc", Kind::Nc),
    (".dds", Kind::Dds),
    (".das", Kind::Das),
    (".dods", Kind::Dods),
    (".ascii", Kind::Ascii),
    (".asc", Kind::Ascii),
    (".html", Kind::Html),
    (".info", Kind::Info),
    (".ver", Kind::Ver),
];

/// Split `path` into a dataset id known to the catalog and a response kind. A bare
/// dataset id (no suffix) gives the HTML form.
pub fn split_path<'p>(catalog: &Catalog, path: &'p str) -> Option<(&'p str, Kind)> {
    for (suffix, kind) in SUFFIXES {
        if let Some(id) = path.strip_suffix(suffix) {
            if catalog.contains(id) {
                return Some((id, *kind));
            }
        }
    }
    catalog.contains(path).then_some((path, Kind::Html))
}

/// Headers every OPeNDAP response carries.
pub fn protocol_headers(h: &mut HeaderMap) {
    h.insert("xdods-server", HeaderValue::from_static("dods/3.2"));
    h.insert("xopendap-server", HeaderValue::from_static(SERVER_VERSION));
    h.insert("xdap", HeaderValue::from_static("2.0"));
}

/// `GET /opendap/{*path}`.
pub async fn handle(
    StateX(st): StateX<State>,
    access: Access,
    Path(path): Path<String>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    headers: HeaderMap,
) -> Response<Body> {
    if path == "version" {
        return version();
    }
    let catalog = access.catalog.clone();
    let Some((id, kind)) = split_path(&catalog, &path) else {
        let msg = if let Some((s, _)) = SUFFIXES.iter().find(|(s, _)| path.ends_with(s)) {
            format!("no dataset with id '{}'", &path[..path.len() - s.len()])
        } else if !path.contains('.') {
            format!("no dataset with id '{path}'")
        } else {
            format!("no dataset with id '{path}', and the URL does not end with a known response suffix (.dds, .das, .dods, .ascii, .html, .info, .ver, .dmr, .dap, .dsr, .nc, .nc3)")
        };
        // DAP4 XML for DAP4 suffixes, a DAP2 error otherwise (pages and unknown suffixes too)
        if crate::protocol::Protocol::of(uri.path()) == crate::protocol::Protocol::Dap4 {
            return dap4_error_with(StatusCode::NOT_FOUND, &msg);
        }
        return error::dap2_error_with(StatusCode::NOT_FOUND, 1003, &msg);
    };
    if kind == Kind::Ver {
        return version();
    }
    let entry = match catalog.get(id) {
        Ok(e) => e,
        Err(e) => return dap2_error(&e),
    };
    let query = uri.query().unwrap_or("");
    let head = method == Method::HEAD;
    if matches!(kind, Kind::Nc | Kind::Nc3) {
        return netcdf::respond(&st, entry.dataset.clone(), kind, query, &method, &headers).await;
    }
    if kind.is_dap4() {
        let url = format!("{}{}", crate::http::base_url(st.config.public_url.as_deref(), &headers), uri.path());
        let req =
            dap4::Request { state: &st, dataset: entry.dataset.clone(), kind, query, headers: &headers, url, head };
        return dap4::respond(req).await;
    }
    let req = dap2::Request { state: &st, dataset: entry.dataset.clone(), kind, query, headers: &headers, head };
    dap2::respond(req).await
}

/// `GET /opendap/version` and `.ver`.
fn version() -> Response<Body> {
    let body = format!("Core version: DAP/2.0\nServer version: {SERVER_VERSION}\n");
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert("content-description", HeaderValue::from_static("dods_version"));
    protocol_headers(r.headers_mut());
    r
}

/// `GET /opendap/`: the list of datasets as links to their request forms.
pub async fn index(access: Access) -> Response<Body> {
    html::index(&access.catalog.clone())
}
