//! GetLegendGraphic: the colour bar of a layer and style, with its range and units.

use super::error::WmsError;
use super::params::Params;
use super::{blocking, resolve, style, Version};
use crate::access::Access;
use crate::http::Validators;
use crate::state::State;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response};
use cirrus_ops::render::{legend, ColourScale, Range};

/// Default legend size (as ncWMS).
pub const WIDTH: usize = 110;
pub const HEIGHT: usize = 264;

/// `REQUEST=GetLegendGraphic`.
pub async fn respond(
    st: &State,
    access: &Access,
    p: Params,
    _version: Version,
    headers: &HeaderMap,
) -> Result<Response<Body>, WmsError> {
    let name = p
        .get("LAYER")
        .or_else(|| p.get("LAYERS"))
        .ok_or_else(|| WmsError::new(Some("MissingParameterValue"), "the parameter LAYER is required"))?;
    if let Some(f) = p.get("FORMAT") {
        if !f.to_ascii_lowercase().starts_with("image/png") {
            return Err(WmsError::new(Some("InvalidFormat"), format!("FORMAT={f}: legends are image/png")));
        }
    }
    let catalog = access.catalog.clone();
    let (ds, var) = resolve(&catalog, name)?;
    let choice = style::parse(p.get("STYLE").or_else(|| p.get("STYLES")))?;
    let (spec, range) = style::look(&p, choice, [0, 0, 0, 0])?;
    let width = p.size("WIDTH")?.unwrap_or(WIDTH).min(2000);
    let height = p.size("HEIGHT")?.unwrap_or(HEIGHT).min(2000);
    let bar_only = p.flag("COLORBARONLY")?.unwrap_or(false);
    let key = format!("legend\u{0}{name}\u{0}{}\u{0}{:?}", choice.name(), super::getmap::sorted_params(&p));
    let v = Validators::new(&format!("{:08x}", crc32fast::hash(ds.etag.as_bytes())), &key, ds.last_modified);
    if v.not_modified(headers) {
        return Ok(v.not_modified_response());
    }
    let engine = st.engine.clone();
    let reader = engine.reader.clone();
    let png = blocking(move || {
        let r = &engine.renderer;
        let layer = r.layer(&reader, &ds, &var).map_err(|e| WmsError::from_ops(&e, Some("LayerNotDefined")))?;
        let (min, max) = match range {
            Range::Fixed(a, b) => (a, b),
            Range::Auto | Range::Default => {
                r.default_range(&reader, &layer, spec.log).map_err(|e| WmsError::from_ops(&e, None))?
            }
        };
        let scale =
            ColourScale::new(&spec, min, max).map_err(|e| WmsError::from_ops(&e, Some("InvalidParameterValue")))?;
        let title = match &layer.units {
            Some(u) => format!("{} [{u}]", layer.variable),
            None => layer.variable.clone(),
        };
        legend::legend(&scale, &title, width, height, bar_only).to_png().map_err(|e| WmsError::from_ops(&e, None))
    })
    .await?;
    let mut r = super::respond(png, "image/png");
    v.apply(r.headers_mut());
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Ok(r)
}
