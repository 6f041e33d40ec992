//! OGC WMS 1.3.0 (and 1.1.1 for older clients) at `/wms`: GetCapabilities, GetMap,
//! GetFeatureInfo, GetLegendGraphic, and the ncWMS-style `GetMetadata` the web map
//! uses. One layer per variable of each dataset, named `<dataset id>/<variable>`.
//! This module parses and formats; drawing is `cirrus_ops::render`.

mod capabilities;
mod error;
mod featureinfo;
mod getmap;
mod legend;
mod metadata;
mod params;
pub mod style;

pub use error::WmsError;
pub use getmap::{draw, draw_cached, exceptions as getmap_exceptions, png_response, sorted_params, Drawn, MapRequest};
pub use params::Params;

use crate::access::Access;
use crate::state::State;
use axum::body::Body;
use axum::extract::{RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use cirrus_ops::cf::DateTime;
use cirrus_ops::render::Layer;
use cirrus_ops::{Catalog, Dataset};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::sync::Arc;

/// WMS versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V111,
    V130,
}

impl Version {
    /// The version string.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V111 => "1.1.1",
            Version::V130 => "1.3.0",
        }
    }

    /// The version of a request: VERSION (or WMTVER), negotiated down to 1.1.1 for any
    /// version before 1.3; without one, 1.1.1 when the request speaks of SRS.
    pub fn of(p: &Params) -> Version {
        match p.get("VERSION").or_else(|| p.get("WMTVER")) {
            Some(v) if version_tuple(v) < (1, 3, 0) => Version::V111,
            Some(_) => Version::V130,
            None if p.has("SRS") && !p.has("CRS") => Version::V111,
            None => Version::V130,
        }
    }
}

fn version_tuple(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Characters escaped in layer names inside URLs (`/` and `.` are kept).
const NAME_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// A layer name for a URL.
pub fn url_name(name: &str) -> String {
    utf8_percent_encode(name, NAME_ESCAPE).to_string()
}

/// The dataset and variable of a layer name `<dataset id>/<variable>` (dataset ids may
/// contain `/`: the longest id the catalog knows wins).
pub fn resolve(catalog: &Catalog, name: &str) -> Result<(Arc<Dataset>, String), WmsError> {
    let not_defined = |why: String| WmsError::new(Some("LayerNotDefined"), why);
    let mut cut = name.len();
    while let Some(pos) = name[..cut].rfind('/') {
        let (id, var) = (&name[..pos], &name[pos + 1..]);
        if let Some(s) = catalog.summaries.get(id) {
            let ds = catalog.detail(s).map_err(|e| WmsError::from_ops(&e, None))?.dataset;
            if cirrus_ops::render::layer::map_variables(&ds).iter().any(|v| v.name == var) {
                return Ok((ds, var.to_string()));
            }
            return Err(not_defined(format!(
                "no layer '{name}': dataset '{id}' has no map variable '{var}' (its layers: {})",
                cirrus_ops::render::layer::map_variables(&ds)
                    .iter()
                    .map(|v| format!("{id}/{}", v.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some(reason) = catalog.unavailable.get(id) {
            return Err(WmsError {
                code: None,
                message: format!("dataset '{id}' is unavailable: {reason}"),
                status: StatusCode::INTERNAL_SERVER_ERROR,
            });
        }
        cut = pos;
    }
    Err(not_defined(format!("no layer '{name}' (layer names are <dataset id>/<variable>; GetCapabilities lists them)")))
}

/// The time step, level and what to tell the client about them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dims {
    pub t: usize,
    pub z: usize,
    /// The time drawn (ISO 8601).
    pub time: Option<String>,
    pub elevation: Option<f64>,
    /// `Warning` header text when the nearest time was used.
    pub warning: Option<String>,
}

/// Resolve TIME (nearest step; `current` is the last) and ELEVATION (exact) of a layer;
/// the defaults are the first time step and the first level.
pub fn dims(layer: &Layer, p: &Params) -> Result<Dims, WmsError> {
    let invalid = |m: String| WmsError::new(Some("InvalidDimensionValue"), m);
    let mut d = Dims::default();
    if let Some(axis) = &layer.time {
        let n = axis.values.len();
        match p.get("TIME") {
            None => d.t = 0,
            Some(s) if s.eq_ignore_ascii_case("current") || s.eq_ignore_ascii_case("present") => {
                d.t = n.saturating_sub(1)
            }
            Some(s) if s.contains('/') || s.contains(',') => {
                return Err(invalid(format!("TIME={s}: a map shows one time; give a single time step")))
            }
            Some(s) => {
                let dt = DateTime::parse(s).map_err(|e| invalid(format!("TIME={s}: {e}")))?;
                let (t, exact) = layer.nearest_time(&dt).map_err(|e| invalid(format!("TIME={s}: {e}")))?;
                d.t = t;
                if !exact {
                    let shown = axis.dates[t].map(|x| cirrus_ops::render::time::iso(&x)).unwrap_or_default();
                    d.warning = Some(format!("99 Nearest value used: time={shown} ISO8601"));
                }
            }
        }
        d.time = axis.dates.get(d.t).copied().flatten().map(|x| cirrus_ops::render::time::iso(&x));
    }
    if let Some(axis) = &layer.level {
        match p.get("ELEVATION") {
            None => d.z = 0,
            Some(s) => {
                let v = Params::number("ELEVATION", s).map_err(|e| invalid(e.message))?;
                d.z = layer.level_index(v).ok_or_else(|| {
                    invalid(format!(
                        "ELEVATION={s} is not a level of this layer (its levels, in {}: {})",
                        if axis.units.is_empty() { "no units" } else { &axis.units },
                        axis.values.iter().map(f64::to_string).collect::<Vec<_>>().join(", ")
                    ))
                })?;
            }
        }
        d.elevation = axis.values.get(d.z).copied();
    }
    Ok(d)
}

/// A response with a body and a media type.
pub fn respond(body: impl Into<Body>, mime: &str) -> Response<Body> {
    let mut r = Response::new(body.into());
    if let Ok(v) = HeaderValue::from_str(mime) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// `GET /wms`.
pub async fn get(
    StateX(st): StateX<State>,
    access: Access,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let p = Params::parse(query.as_deref().unwrap_or(""));
    let version = Version::of(&p);
    let request = p.get("REQUEST").unwrap_or("GetCapabilities").to_string();
    if let Some(s) = p.get("SERVICE") {
        if !s.eq_ignore_ascii_case("WMS") && !request.eq_ignore_ascii_case("GetCapabilities") {
            return WmsError::new(Some("InvalidParameterValue"), format!("SERVICE={s}: this is a WMS"))
                .response(version);
        }
    }
    let result = match request.to_ascii_lowercase().as_str() {
        "getcapabilities" | "capabilities" => capabilities::respond(&st, &access, &p, version, &headers).await,
        "getmap" | "map" => getmap::respond(&st, &access, p, version, &headers).await,
        "getfeatureinfo" => featureinfo::respond(&st, &access, p, version).await,
        "getlegendgraphic" => legend::respond(&st, &access, p, version, &headers).await,
        "getmetadata" => metadata::respond(&st, &access, p, &headers).await,
        other => Err(WmsError::new(
            Some("OperationNotSupported"),
            format!("REQUEST={other} is not supported (GetCapabilities, GetMap, GetFeatureInfo, GetLegendGraphic)"),
        )),
    };
    result.unwrap_or_else(|e| e.response(version))
}

/// `GET /wms/{id}`: the WMS of one dataset (any of its names): its own
/// GetCapabilities document, small whatever the size of the archive, and every other
/// request restricted to its layers.
pub async fn get_dataset(
    st: StateX<State>,
    access: Access,
    axum::extract::Path(id): axum::extract::Path<String>,
    query: RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let entry = match access.catalog.get(&id) {
        Ok(e) => e,
        Err(e) => {
            let version = Version::of(&Params::parse(query.0.as_deref().unwrap_or("")));
            let status = crate::protocol::status_of(&e);
            return WmsError { code: None, message: e.to_string(), status }.response(version);
        }
    };
    let one = access.catalog.only(entry);
    get(st, Access { user: access.user, catalog: std::sync::Arc::new(one) }, query, headers).await
}

/// Run blocking work (reads, drawing) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WmsError> + Send + 'static,
) -> Result<T, WmsError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| WmsError {
        code: None,
        message: format!("worker failed: {e}"),
        status: StatusCode::INTERNAL_SERVER_ERROR,
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::of(&Params::parse("VERSION=1.1.1")), Version::V111);
        assert_eq!(Version::of(&Params::parse("version=1.3.0")), Version::V130);
        assert_eq!(Version::of(&Params::parse("WMTVER=1.0.0")), Version::V111);
        assert_eq!(Version::of(&Params::parse("SRS=EPSG:4326")), Version::V111);
        assert_eq!(Version::of(&Params::parse("")), Version::V130);
        assert_eq!(url_name("a b/c.nc/tas"), "a%20b/c.nc/tas");
    }
}
