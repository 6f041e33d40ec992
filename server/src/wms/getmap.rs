//! GetMap: PNG maps of one or more layers in any offered CRS, transparent where there
//! is no data. Also the drawing shared with the XYZ tiles.

use super::error::WmsError;
use super::params::Params;
use super::{blocking, dims, resolve, style, Version};
use crate::access::Access;
use crate::http::Validators;
use crate::state::State;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response};
use cirrus_capabilities::palettes::{self, AxisOrder};
use cirrus_ops::render::{colour, text, MapView, Rgba};
use cirrus_ops::{Catalog, Engine};
use std::sync::Arc;
use std::time::SystemTime;

/// How errors of a map request are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceptions {
    /// A ServiceExceptionReport document.
    Xml,
    /// The message drawn into an image.
    InImage,
    /// A transparent (or background-coloured) image.
    Blank,
}

/// A parsed map request (GetMap, a tile).
#[derive(Clone, Debug)]
pub struct MapRequest {
    pub layers: Vec<String>,
    /// The style of each layer (None: default).
    pub styles: Vec<Option<String>>,
    pub view: MapView,
    pub transparent: bool,
    pub bgcolor: [u8; 4],
    /// JPEG (opaque, over BGCOLOR) instead of PNG.
    pub jpeg: bool,
    pub exceptions: Exceptions,
    /// All parameters (TIME, ELEVATION, colour scale).
    pub params: Params,
}

/// Map CRS codes accepted as another name of an offered CRS.
fn canonical_crs(code: &str) -> String {
    match code.trim().to_ascii_uppercase().as_str() {
        "EPSG:900913" | "EPSG:3785" | "EPSG:102100" | "EPSG:102113" => "EPSG:3857".into(),
        "OGC:CRS84" | "CRS84" => "CRS:84".into(),
        other => other.to_string(),
    }
}

impl MapRequest {
    /// Parse the map parameters of a GetMap (or GetFeatureInfo) request.
    pub fn parse(p: &Params, version: Version) -> Result<MapRequest, WmsError> {
        let layers: Vec<String> =
            p.require("LAYERS")?.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if layers.is_empty() {
            return Err(WmsError::new(Some("LayerNotDefined"), "LAYERS names no layer"));
        }
        let styles: Vec<Option<String>> = match p.get("STYLES") {
            None => vec![None; layers.len()],
            Some(s) => {
                let v: Vec<Option<String>> =
                    s.split(',').map(|x| Some(x.trim().to_string()).filter(|x| !x.is_empty())).collect();
                if v.len() == 1 {
                    vec![v[0].clone(); layers.len()]
                } else if v.len() == layers.len() {
                    v
                } else {
                    return Err(WmsError::new(
                        Some("StyleNotDefined"),
                        format!("STYLES lists {} styles for {} layers", v.len(), layers.len()),
                    ));
                }
            }
        };
        let crs_name = if version == Version::V130 { "CRS" } else { "SRS" };
        let crs_raw = p.get("CRS").or_else(|| p.get("SRS")).ok_or_else(|| {
            WmsError::new(Some("MissingParameterValue"), format!("the parameter {crs_name} is required"))
        })?;
        let code = canonical_crs(crs_raw);
        let crs = palettes::crs(&code).ok_or_else(|| {
            WmsError::new(
                Some(if version == Version::V130 { "InvalidCRS" } else { "InvalidSRS" }),
                format!(
                    "{crs_name}={crs_raw} is not offered (offered: {})",
                    palettes::map_crs().iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let b = Params::numbers("BBOX", p.require("BBOX")?)?;
        let [a, bb, c, d] = b[..] else {
            return Err(WmsError::new(Some("InvalidParameterValue"), "BBOX must be four numbers minx,miny,maxx,maxy"));
        };
        let bbox =
            if version == Version::V130 && crs.axes == AxisOrder::NorthEast { [bb, a, d, c] } else { [a, bb, c, d] };
        let width =
            p.size("WIDTH")?.ok_or_else(|| WmsError::new(Some("MissingParameterValue"), "WIDTH is required"))?;
        let height =
            p.size("HEIGHT")?.ok_or_else(|| WmsError::new(Some("MissingParameterValue"), "HEIGHT is required"))?;
        let view = MapView { crs: crs.code.clone(), bbox, width, height };
        view.check().map_err(|e| WmsError::new(Some("InvalidParameterValue"), e.to_string()))?;
        let jpeg = match p.get("FORMAT").map(str::to_ascii_lowercase) {
            None => false,
            Some(f) if f.starts_with("image/png") => false,
            Some(f) if f == "image/jpeg" || f == "image/jpg" => true,
            Some(f) => {
                return Err(WmsError::new(
                    Some("InvalidFormat"),
                    format!("FORMAT={f}: maps are image/png or image/jpeg"),
                ))
            }
        };
        let transparent = p.flag("TRANSPARENT")?.unwrap_or(true);
        let bgcolor = match p.get("BGCOLOR") {
            Some(s) => colour::parse_colour(s).ok_or_else(|| {
                WmsError::new(Some("InvalidParameterValue"), format!("BGCOLOR={s} is not a colour 0xRRGGBB"))
            })?,
            None => [255, 255, 255, 255],
        };
        Ok(MapRequest {
            layers,
            styles,
            view,
            transparent,
            bgcolor: [bgcolor[0], bgcolor[1], bgcolor[2], 255],
            jpeg,
            exceptions: exceptions(p),
            params: p.clone(),
        })
    }

    /// Validators from the datasets drawn and the request.
    pub fn validators(&self, catalog: &Catalog, key: &str) -> Result<Validators, WmsError> {
        let mut etag = String::new();
        let mut last = SystemTime::UNIX_EPOCH;
        for name in &self.layers {
            let (ds, _) = resolve(catalog, name)?;
            etag.push_str(&ds.etag);
            last = last.max(ds.last_modified);
        }
        Ok(Validators::new(&format!("{:08x}", crc32fast::hash(etag.as_bytes())), key, last))
    }
}

/// EXCEPTIONS of a request.
pub fn exceptions(p: &Params) -> Exceptions {
    match p.get("EXCEPTIONS").map(str::to_ascii_lowercase).as_deref() {
        Some("inimage" | "application/vnd.ogc.se_inimage") => Exceptions::InImage,
        Some("blank" | "application/vnd.ogc.se_blank") => Exceptions::Blank,
        _ => Exceptions::Xml,
    }
}

pub use cirrus_ops::render::Drawn;

/// Draw the layers of a map request (blocking: reads data).
pub fn draw(catalog: &Catalog, engine: &Engine, req: &MapRequest) -> Result<Drawn, WmsError> {
    let (r, reader) = (&engine.renderer, &*engine.reader);
    let single = req.layers.len() == 1 && !req.jpeg;
    let nodata = if req.transparent || !single { [0, 0, 0, 0] } else { req.bgcolor };
    let mut base = (!single).then(|| {
        if req.transparent || req.jpeg {
            Rgba::new(req.view.width, req.view.height)
        } else {
            Rgba::filled(req.view.width, req.view.height, req.bgcolor)
        }
    });
    let mut warnings = Vec::new();
    let mut time = None;
    for (name, style_name) in req.layers.iter().zip(&req.styles) {
        let (ds, var) = resolve(catalog, name)?;
        let layer = r.layer(reader, &ds, &var).map_err(|e| WmsError::from_ops(&e, Some("LayerNotDefined")))?;
        let d = dims(&layer, &req.params)?;
        let choice = style::parse(style_name.as_deref())?;
        let (spec, range) = style::look(&req.params, choice, nodata)?;
        let img = r
            .render(reader, &layer, &req.view, (d.t, d.z), &spec, range)
            .map_err(|e| WmsError::from_ops(&e, Some("InvalidParameterValue")))?;
        warnings.extend(d.warning);
        time = time.or(d.time);
        match base.as_mut() {
            Some(b) => b.draw_over(&img.to_rgba()),
            None => {
                let png = img.to_png().map_err(|e| WmsError::from_ops(&e, None))?;
                return Ok(Drawn { png, mime: "image/png", warnings, time });
            }
        }
    }
    let img = base.unwrap_or_else(|| Rgba::new(1, 1));
    let (png, mime) = if req.jpeg {
        let [r, g, b, _] = req.bgcolor;
        (img.to_jpeg(90, [r, g, b]).map_err(|e| WmsError::from_ops(&e, None))?, "image/jpeg")
    } else {
        (img.to_png().map_err(|e| WmsError::from_ops(&e, None))?, "image/png")
    };
    Ok(Drawn { png, mime, warnings, time })
}

/// Draw a map, or take it from the cache of drawn maps. `key` names the request; the
/// validators name the versions of the datasets drawn, so a changed file is redrawn.
pub async fn draw_cached(
    st: &State,
    catalog: Arc<Catalog>,
    key: &str,
    v: &Validators,
    req: MapRequest,
) -> Result<Arc<Drawn>, WmsError> {
    let cache_key = format!("{}\u{0}{key}", v.etag);
    if let Some(d) = st.maps.get(&cache_key) {
        return Ok(d);
    }
    let engine = st.engine.clone();
    let d = Arc::new(blocking(move || draw(&catalog, &engine, &req)).await?);
    st.maps.insert(cache_key, d.clone());
    Ok(d)
}

/// A PNG response with validators and caching headers.
pub fn png_response(drawn: &Drawn, v: &Validators) -> Response<Body> {
    let mut r = super::respond(drawn.png.clone(), drawn.mime);
    v.apply(r.headers_mut());
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    for w in &drawn.warnings {
        if let Ok(v) = HeaderValue::from_str(w) {
            h.append(header::WARNING, v);
        }
    }
    if let Some(t) = drawn.time.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert("x-cirrus-time", t);
    }
    r
}

/// The error drawn into an image (EXCEPTIONS=INIMAGE or BLANK), HTTP 200.
pub fn error_image(req_w: usize, req_h: usize, e: &WmsError, how: Exceptions) -> Response<Body> {
    let (w, h) = (req_w.clamp(1, cirrus_ops::render::map::MAX_SIZE), req_h.clamp(1, cirrus_ops::render::map::MAX_SIZE));
    let img = match how {
        Exceptions::InImage => text::message_image(w, h, &e.message),
        _ => Rgba::new(w, h),
    };
    match img.to_png() {
        Ok(png) => {
            let mut r = super::respond(png, "image/png");
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(err) => WmsError::from_ops(&err, None).response(Version::V130),
    }
}

/// `REQUEST=GetMap`.
pub async fn respond(
    st: &State,
    access: &Access,
    p: Params,
    version: Version,
    headers: &HeaderMap,
) -> Result<Response<Body>, WmsError> {
    let how = exceptions(&p);
    let req = match MapRequest::parse(&p, version) {
        Ok(r) => r,
        Err(e) if how != Exceptions::Xml => {
            let (w, h) =
                (p.size("WIDTH").ok().flatten().unwrap_or(256), p.size("HEIGHT").ok().flatten().unwrap_or(256));
            return Ok(error_image(w, h, &e, how));
        }
        Err(e) => return Err(e),
    };
    let catalog = access.catalog.clone();
    let key = format!("getmap\u{0}{:?}", sorted_params(&p));
    let validators = match req.validators(&catalog, &key) {
        Ok(v) => v,
        Err(e) if how != Exceptions::Xml => return Ok(error_image(req.view.width, req.view.height, &e, how)),
        Err(e) => return Err(e),
    };
    if validators.not_modified(headers) {
        return Ok(validators.not_modified_response());
    }
    let (w, h, how) = (req.view.width, req.view.height, req.exceptions);
    match draw_cached(st, catalog, &key, &validators, req).await {
        Ok(d) => Ok(png_response(&d, &validators)),
        Err(e) if how != Exceptions::Xml => Ok(error_image(w, h, &e, how)),
        Err(e) => Err(e),
    }
}

/// The parameters in a canonical order (a cache key).
pub fn sorted_params(p: &Params) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        "LAYERS",
        "STYLES",
        "CRS",
        "SRS",
        "BBOX",
        "WIDTH",
        "HEIGHT",
        "TIME",
        "ELEVATION",
        "COLORSCALERANGE",
        "NUMCOLORBANDS",
        "LOGSCALE",
        "ABOVEMAXCOLOR",
        "BELOWMINCOLOR",
        "OPACITY",
        "TRANSPARENT",
        "BGCOLOR",
        "PALETTE",
        "VERSION",
        "FORMAT",
        "STYLE",
    ]
    .iter()
    .filter_map(|k| p.get(k).map(|v| ((*k).to_string(), v.to_string())))
    .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_axis_order() {
        let p = Params::parse("LAYERS=a/b&CRS=EPSG:4326&BBOX=30,-10,60,40&WIDTH=100&HEIGHT=50&FORMAT=image/png");
        let r = MapRequest::parse(&p, Version::V130).expect("request");
        assert_eq!(r.view.bbox, [-10.0, 30.0, 40.0, 60.0]);
        let p = Params::parse("LAYERS=a/b&SRS=EPSG:4326&BBOX=-10,30,40,60&WIDTH=100&HEIGHT=50");
        let r = MapRequest::parse(&p, Version::V111).expect("request");
        assert_eq!(r.view.bbox, [-10.0, 30.0, 40.0, 60.0]);
        let p = Params::parse("LAYERS=a/b&CRS=CRS:84&BBOX=-10,30,40,60&WIDTH=100&HEIGHT=50");
        assert_eq!(MapRequest::parse(&p, Version::V130).expect("request").view.bbox, [-10.0, 30.0, 40.0, 60.0]);
        let p = Params::parse("LAYERS=a/b&CRS=EPSG:3035&BBOX=1,2,3,4&WIDTH=100&HEIGHT=50");
        assert_eq!(MapRequest::parse(&p, Version::V130).expect("request").view.bbox, [2.0, 1.0, 4.0, 3.0]);
        let p = Params::parse("LAYERS=a/b&CRS=EPSG:9999&BBOX=1,2,3,4&WIDTH=100&HEIGHT=50");
        assert_eq!(MapRequest::parse(&p, Version::V130).map_err(|e| e.code).err(), Some(Some("InvalidCRS")));
        let p = Params::parse("LAYERS=a/b&CRS=EPSG:4326&BBOX=1,2,3,4&WIDTH=100&HEIGHT=50&FORMAT=image/gif");
        assert_eq!(MapRequest::parse(&p, Version::V130).map_err(|e| e.code).err(), Some(Some("InvalidFormat")));
        let p = Params::parse("LAYERS=a/b&CRS=EPSG:4326&BBOX=1,2,3,4&WIDTH=100&HEIGHT=50&FORMAT=image/jpeg");
        assert!(MapRequest::parse(&p, Version::V130).expect("jpeg").jpeg);
        let p = Params::parse("LAYERS=a/b,c/d&STYLES=x,y,z&CRS=EPSG:4326&BBOX=1,2,3,4&WIDTH=100&HEIGHT=50");
        assert!(MapRequest::parse(&p, Version::V130).is_err());
    }
}
