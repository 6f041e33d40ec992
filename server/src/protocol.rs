//! Which protocol a request speaks (from its path and query), for metrics and usage, and
//! the error document of that protocol, for the failures found before any protocol
//! code runs (authentication, rights, rate limits, timeouts): each client gets an error
//! in the format it reads (DAP2/DAP4 error, OWS ExceptionReport, WMS
//! ServiceExceptionReport, OGC API or CDS problem JSON).

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode, Uri};

/// The protocols (and service families) the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Dap2,
    Dap4,
    /// NetCDF file responses of OPeNDAP requests (`.nc`, `.nc3`).
    NetCdf,
    /// OPeNDAP HTML pages and the OPeNDAP index.
    OpendapHtml,
    Wps,
    OgcApi,
    Cds,
    CdsLegacy,
    Wms,
    Tiles,
    Coverage,
    Zarr,
    Edr,
    Stac,
    Catalog,
    Results,
    Admin,
    Ops,
    Web,
}

impl Protocol {
    /// The label in metrics and usage reports.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Dap2 => "dap2",
            Protocol::Dap4 => "dap4",
            Protocol::NetCdf => "netcdf",
            Protocol::OpendapHtml => "opendap-html",
            Protocol::Wps => "wps",
            Protocol::OgcApi => "ogcapi",
            Protocol::Cds => "cds",
            Protocol::CdsLegacy => "cds-legacy",
            Protocol::Wms => "wms",
            Protocol::Tiles => "tiles",
            Protocol::Coverage => "coverage",
            Protocol::Zarr => "zarr",
            Protocol::Edr => "edr",
            Protocol::Stac => "stac",
            Protocol::Catalog => "catalog",
            Protocol::Results => "results",
            Protocol::Admin => "admin",
            Protocol::Ops => "ops",
            Protocol::Web => "web",
        }
    }

    /// The protocol of a request path.
    pub fn of(path: &str) -> Protocol {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        match first {
            "opendap" => opendap_kind(path),
            "wps" => Protocol::Wps,
            "processes" | "jobs" | "conformance" => Protocol::OgcApi,
            "api" if path.starts_with("/api/v2") => Protocol::CdsLegacy,
            "api" => Protocol::Cds,
            "wms" => Protocol::Wms,
            "tiles" => Protocol::Tiles,
            "coverage" => Protocol::Coverage,
            f if crate::zarr::store_of(f).is_some() => Protocol::Zarr,
            "edr" => Protocol::Edr,
            "stac" => Protocol::Stac,
            "datasets" | "catalog.xml" => Protocol::Catalog,
            "results" => Protocol::Results,
            "admin" => Protocol::Admin,
            "health" | "ready" | "metrics" => Protocol::Ops,
            _ => Protocol::Web,
        }
    }
}

fn opendap_kind(path: &str) -> Protocol {
    let ext = path.rsplit('/').next().and_then(|last| last.rsplit_once('.')).map(|(_, e)| e).unwrap_or_default();
    match ext {
        "dds" | "das" | "dods" | "ascii" | "asc" | "ver" | "info" => Protocol::Dap2,
        "dmr" | "dap" | "dsr" | "xml" => Protocol::Dap4,
        "nc" | "nc3" | "nc4" => Protocol::NetCdf,
        _ => Protocol::OpendapHtml,
    }
}

/// The dataset a request is about, when its path names one (for usage reports and
/// for telling "forbidden" from "not found").
pub fn dataset_of(uri: &Uri) -> Option<String> {
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy().into_owned();
    let rest = |prefix: &str| path.strip_prefix(prefix).map(str::to_string);
    if let Some(r) = rest("/opendap/") {
        // `{id}.{ext}`: the id is what precedes a known suffix
        let suffixes = [
            ".dmr.xml",
            ".dmr.html",
            ".dds",
            ".das",
            ".dods",
            ".ascii",
            ".asc",
            ".html",
            ".info",
            ".ver",
            ".dmr",
            ".dap",
            ".dsr",
            ".nc3",
            ".nc4",
            ".nc",
        ];
        return Some(suffixes.iter().find_map(|s| r.strip_suffix(s)).unwrap_or(&r).to_string());
    }
    if let Some(r) = rest("/datasets/") {
        return Some(r);
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    if let Some((format, _)) = crate::zarr::store_of(first) {
        let r = rest(&format!("/{first}/"))?;
        return Some(crate::zarr::dataset_part(&r, format).to_string());
    }
    if let Some(r) = rest("/edr/collections/") {
        // `{id}`, `{id}/{query}`, `{id}/locations/{place}`
        let r = r.trim_end_matches('/');
        let r = r.rsplit_once("/locations/").map_or(r, |(id, _)| id);
        let id = match r.rsplit_once('/') {
            Some((id, last)) if cirrus_ops::edr::QueryType::parse(last).is_some() => id,
            _ => r,
        };
        return Some(id.to_string());
    }
    if let Some(r) = rest("/coverage/").or_else(|| rest("/tiles/")) {
        // `{id}/{variable}...`: ids contain no '/' unless they are file paths; take
        // everything before the variable part.
        let mut parts: Vec<&str> = r.split('/').collect();
        let keep =
            if path.starts_with("/tiles/") { parts.len().saturating_sub(4) } else { parts.len().saturating_sub(1) };
        parts.truncate(keep.max(1));
        return Some(parts.join("/"));
    }
    if path == "/wms" {
        let q = uri.query().unwrap_or_default();
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k.eq_ignore_ascii_case("layers")
                || k.eq_ignore_ascii_case("layer")
                || k.eq_ignore_ascii_case("query_layers")
                || k.eq_ignore_ascii_case("layername")
            {
                let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
                let first = v.split(',').next().unwrap_or_default().to_string();
                return first.rsplit_once('/').map(|(d, _)| d.to_string());
            }
        }
    }
    None
}

/// The HTTP status of an engine error: the one mapping from [`ErrorKind`] to status,
/// used by every protocol that answers with a status of its own choosing.
pub fn status_of(e: &cirrus_ops::Error) -> StatusCode {
    use cirrus_ops::ErrorKind;
    match e.kind() {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Storage | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
    }
}

fn with_type(mut r: Response<Body>, status: StatusCode, mime: &'static str) -> Response<Body> {
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r
}

/// The error response of `protocol` with `status` and `message`.
pub fn error(protocol: Protocol, uri: &Uri, status: StatusCode, message: &str) -> Response<Body> {
    match protocol {
        Protocol::Dap2 | Protocol::NetCdf => crate::opendap::dap2_error_with(status, dap_code(status), message),
        Protocol::Dap4 => crate::opendap::dap4_error_with(status, message),
        Protocol::Wps => {
            let v2 = uri.query().is_some_and(|q| q.contains("2.0.0"));
            let e = crate::wps::WpsError::new(crate::wps::Code::NoApplicableCode, None, message).with_status(status);
            let e = if v2 { e.in_version(crate::wps::Version::V2) } else { e };
            e.into_response()
        }
        Protocol::Wms => {
            let v111 = uri.query().is_some_and(|q| q.contains("1.1.1"));
            let version = if v111 { crate::wms::Version::V111 } else { crate::wms::Version::V130 };
            crate::wms::WmsError { code: None, message: message.to_string(), status }.response(version)
        }
        Protocol::CdsLegacy => {
            let body = serde_json::json!({
                "message": message, "reason": message, "context": {},
                "permanent": !matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE),
            });
            with_type(Response::new(Body::from(body.to_string())), status, "application/json")
        }
        Protocol::OgcApi
        | Protocol::Cds
        | Protocol::Stac
        | Protocol::Catalog
        | Protocol::Admin
        | Protocol::Coverage
        | Protocol::Edr
        | Protocol::Zarr => {
            let title = status.canonical_reason().unwrap_or("Error");
            crate::ogcapi::problem(status, &title.to_lowercase().replace(' ', "-"), title, message)
        }
        Protocol::Tiles | Protocol::Results | Protocol::Ops | Protocol::Web | Protocol::OpendapHtml => {
            with_type(Response::new(Body::from(format!("{message}\n"))), status, "text/plain; charset=utf-8")
        }
    }
}

/// libdap's error codes for the statuses raised here.
fn dap_code(status: StatusCode) -> u32 {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => 1006, // no_authorization
        StatusCode::NOT_FOUND => 1003,
        _ => 1002,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_of_paths() {
        assert_eq!(Protocol::of("/opendap/CMIP6.a.b.v1.dds"), Protocol::Dap2);
        assert_eq!(Protocol::of("/opendap/CMIP6.a.b.v1.dmr.xml"), Protocol::Dap4);
        assert_eq!(Protocol::of("/opendap/misc/x.nc.dap"), Protocol::Dap4);
        assert_eq!(Protocol::of("/opendap/misc/x.nc.nc"), Protocol::NetCdf);
        assert_eq!(Protocol::of("/opendap/misc/x.nc"), Protocol::NetCdf);
        assert_eq!(Protocol::of("/api/retrieve/v1/jobs"), Protocol::Cds);
        assert_eq!(Protocol::of("/api/v2/status.json"), Protocol::CdsLegacy);
        assert_eq!(Protocol::of("/jobs/1"), Protocol::OgcApi);
        assert_eq!(Protocol::of("/"), Protocol::Web);
    }

    #[test]
    fn datasets_of_requests() {
        let d = |u: &str| dataset_of(&u.parse().expect("uri"));
        assert_eq!(d("/opendap/CMIP6.a.v1.dods?tas").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/opendap/misc/x.nc.dmr.xml").as_deref(), Some("misc/x.nc"));
        assert_eq!(d("/coverage/CMIP6.a.v1/tas.tif").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/tiles/CMIP6.a.v1/tas/1/0/0.png").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/zarr/CMIP6.a.v1/tas/0.0.0").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/zarr/CMIP6.a.v1/.zmetadata").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/zarr3/CMIP6.a.v1/tas/c/0/0").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/zarr3/misc/x.nc/zarr.json").as_deref(), Some("misc/x.nc"));
        assert_eq!(d("/zarr-uncompressed/CMIP6.a.v1/tas/3.0.0").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/zarr3-uncompressed/misc/x.nc/tas/c/0/0").as_deref(), Some("misc/x.nc"));
        assert_eq!(d("/wms?SERVICE=WMS&LAYERS=CMIP6.a.v1%2Ftas").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/datasets/CMIP6.a.v1").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/edr/collections/CMIP6.a.v1").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/edr/collections/CMIP6.a.v1/position?coords=POINT(1%202)").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/edr/collections/misc/x.nc/area").as_deref(), Some("misc/x.nc"));
        assert_eq!(d("/edr/collections/CMIP6.a.v1/locations/paris").as_deref(), Some("CMIP6.a.v1"));
        assert_eq!(d("/processes"), None);
    }
}
