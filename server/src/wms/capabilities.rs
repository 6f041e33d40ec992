//! GetCapabilities (1.3.0 and 1.1.1): a layer per dataset variable, grouped by
//! dataset, with geographic and per-CRS bounding boxes, time (ISO 8601, compact
//! `start/end/period` runs in the dataset's calendar) and elevation dimensions, and the
//! styles × palettes from `capabilities` with their legend URLs. Documents are cached
//! per catalog version and base URL.

use super::error::WmsError;
use super::params::Params;
use super::{blocking, url_name, Version};
use crate::access::Access;
use crate::http::{base_url, Validators};
use crate::state::State;
use crate::state::{BoxCache, Projected};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response};
use cirrus_capabilities::palettes::{self, AxisOrder};
use cirrus_ops::encode::text::xml_escape as x;
use cirrus_ops::geo::Transform;
use cirrus_ops::render::layer::map_variables;
use cirrus_ops::render::{time, Layer};
use cirrus_ops::{Catalog, Engine};
use std::fmt::Write;

use std::time::SystemTime;

fn key(catalog: &Catalog, version: Version, base: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (version.as_str(), base).hash(&mut h);
    for (id, s) in &catalog.summaries {
        (id, &s.etag).hash(&mut h);
    }
    h.finish()
}

/// `REQUEST=GetCapabilities`.
pub async fn respond(
    st: &State,
    access: &Access,
    _p: &Params,
    version: Version,
    headers: &HeaderMap,
) -> Result<Response<Body>, WmsError> {
    let base = base_url(st.config.public_url.as_deref(), headers);
    let catalog = access.catalog.clone();
    let k = key(&catalog, version, &base);
    let v = Validators::weak(&format!("{k:016x}"), "capabilities", SystemTime::UNIX_EPOCH);
    if v.not_modified(headers) {
        return Ok(v.not_modified_response());
    }
    // documents are kept with the other metadata documents, by catalog view, version and base URL
    let cache_key = format!("wms-capabilities|{k:016x}");
    let doc = match st.docs.get(&cache_key) {
        Some(d) => d,
        None => {
            let engine = st.engine.clone();
            let provider = st.config.provider.clone();
            let boxes = st.projected_boxes.clone();
            let d = bytes::Bytes::from(
                blocking(move || Ok(build(&catalog, &engine, &boxes, version, &base, &provider))).await?,
            );
            st.docs.insert(cache_key, d.clone());
            d
        }
    };
    let mime = if version == Version::V130 { "text/xml; charset=utf-8" } else { "application/vnd.ogc.wms_xml" };
    let mut r = super::respond(doc, mime);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(e) = HeaderValue::from_str(&v.etag) {
        r.headers_mut().insert(header::ETAG, e);
    }
    Ok(r)
}

/// Bounding boxes of a longitude/latitude box in the projected map CRSs (the PROJ
/// transforms made only when a box is not in the cache).
struct Projector<'a> {
    transforms: std::cell::OnceCell<Vec<(String, AxisOrder, Transform)>>,
    known: &'a BoxCache,
}

impl<'a> Projector<'a> {
    fn new(known: &'a BoxCache) -> Projector<'a> {
        Projector { transforms: std::cell::OnceCell::new(), known }
    }

    /// `[minx, miny, maxx, maxy]` (easting first) of `[w, s, e, n]` in each projected CRS
    /// where it is finite.
    fn boxes(&self, b: [f64; 4]) -> Projected {
        let key = b.map(f64::to_bits);
        if let Some(p) = self.known.get(&key) {
            return p;
        }
        let p = std::sync::Arc::new(self.project(b));
        self.known.insert(key, p.clone());
        p
    }

    fn project(&self, [w, s, e, n]: [f64; 4]) -> Vec<(String, AxisOrder, [f64; 4])> {
        let transforms = self.transforms.get_or_init(|| {
            palettes::map_crs()
                .iter()
                .filter(|c| !c.geographic)
                .filter_map(|c| Transform::new("EPSG:4326", &c.code).ok().map(|t| (c.code.clone(), c.axes, t)))
                .collect()
        });
        let k = 24;
        let mut out = Vec::new();
        for (code, axes, t) in transforms {
            let (s, n) = if code == "EPSG:3857" { (s.max(-85.0511), n.min(85.0511)) } else { (s, n) };
            let mut pts = Vec::with_capacity((k + 1) * (k + 1));
            for i in 0..=k {
                for j in 0..=k {
                    #[allow(clippy::cast_precision_loss)]
                    let (fi, fj) = (i as f64 / k as f64, j as f64 / k as f64);
                    pts.push((w + (e - w) * fi, s + (n - s) * fj));
                }
            }
            t.apply(&mut pts);
            let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
            for (px, py) in
                pts.into_iter().filter(|(a, b)| a.is_finite() && b.is_finite() && a.abs() < 3e7 && b.abs() < 3e7)
            {
                x0 = x0.min(px);
                x1 = x1.max(px);
                y0 = y0.min(py);
                y1 = y1.max(py);
            }
            if x0 < x1 && y0 < y1 {
                out.push((code.clone(), *axes, [x0, y0, x1, y1]));
            }
        }
        out
    }
}

fn r6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// The `EX_GeographicBoundingBox`/`LatLonBoundingBox` and `BoundingBox` elements.
fn bbox_elements(out: &mut String, ind: &str, version: Version, b: [f64; 4], proj: &Projector) {
    let [w, s, e, n] = b.map(r6);
    match version {
        Version::V130 => {
            let _ = write!(
                out,
                "{ind}<EX_GeographicBoundingBox><westBoundLongitude>{w}</westBoundLongitude><eastBoundLongitude>{e}</eastBoundLongitude>\
<southBoundLatitude>{s}</southBoundLatitude><northBoundLatitude>{n}</northBoundLatitude></EX_GeographicBoundingBox>\n\
{ind}<BoundingBox CRS=\"CRS:84\" minx=\"{w}\" miny=\"{s}\" maxx=\"{e}\" maxy=\"{n}\"/>\n\
{ind}<BoundingBox CRS=\"EPSG:4326\" minx=\"{s}\" miny=\"{w}\" maxx=\"{n}\" maxy=\"{e}\"/>\n"
            );
        }
        Version::V111 => {
            let _ = write!(
                out,
                "{ind}<LatLonBoundingBox minx=\"{w}\" miny=\"{s}\" maxx=\"{e}\" maxy=\"{n}\"/>\n\
{ind}<BoundingBox SRS=\"EPSG:4326\" minx=\"{w}\" miny=\"{s}\" maxx=\"{e}\" maxy=\"{n}\"/>\n"
            );
        }
    }
    for (code, axes, [x0, y0, x1, y1]) in proj.boxes(b).iter() {
        let [x0, y0, x1, y1] = [x0, y0, x1, y1].map(|v| (v * 100.0).round() / 100.0);
        let _ = match (version, axes) {
            (Version::V130, AxisOrder::NorthEast) => {
                writeln!(
                    out,
                    "{ind}<BoundingBox CRS=\"{code}\" minx=\"{y0}\" miny=\"{x0}\" maxx=\"{y1}\" maxy=\"{x1}\"/>"
                )
            }
            (Version::V130, AxisOrder::EastNorth) => {
                writeln!(
                    out,
                    "{ind}<BoundingBox CRS=\"{code}\" minx=\"{x0}\" miny=\"{y0}\" maxx=\"{x1}\" maxy=\"{y1}\"/>"
                )
            }
            (Version::V111, _) => {
                writeln!(
                    out,
                    "{ind}<BoundingBox SRS=\"{code}\" minx=\"{x0}\" miny=\"{y0}\" maxx=\"{x1}\" maxy=\"{y1}\"/>"
                )
            }
        };
    }
}

fn dimensions(out: &mut String, ind: &str, version: Version, layer: &Layer) {
    if let Some(t) = &layer.time {
        let listing = time::listing(t);
        let default = t.dates.iter().flatten().next().map(time::iso);
        if let (false, Some(default)) = (listing.is_empty(), default) {
            match version {
                Version::V130 => {
                    let _ = writeln!(
                        out,
                        "{ind}<Dimension name=\"time\" units=\"ISO8601\" default=\"{default}\" multipleValues=\"0\" nearestValue=\"1\" current=\"0\">{listing}</Dimension>"
                    );
                }
                Version::V111 => {
                    let _ = writeln!(out, "{ind}<Dimension name=\"time\" units=\"ISO8601\"/>");
                    let _ = writeln!(
                        out,
                        "{ind}<Extent name=\"time\" default=\"{default}\" multipleValues=\"0\" nearestValue=\"1\" current=\"0\">{listing}</Extent>"
                    );
                }
            }
        }
    }
    if let Some(z) = &layer.level {
        let units = if z.units.is_empty() { "level".to_string() } else { x(&z.units) };
        let values = z.values.iter().map(f64::to_string).collect::<Vec<_>>().join(",");
        let default = z.values.first().map(f64::to_string).unwrap_or_default();
        match version {
            Version::V130 => {
                let _ = writeln!(
                    out,
                    "{ind}<Dimension name=\"elevation\" units=\"{units}\" unitSymbol=\"{units}\" default=\"{default}\" multipleValues=\"0\" nearestValue=\"0\">{values}</Dimension>"
                );
            }
            Version::V111 => {
                let _ = writeln!(out, "{ind}<Dimension name=\"elevation\" units=\"{units}\"/>");
                let _ = writeln!(
                    out,
                    "{ind}<Extent name=\"elevation\" default=\"{default}\" multipleValues=\"0\" nearestValue=\"0\">{values}</Extent>"
                );
            }
        }
    }
}

fn styles(out: &mut String, ind: &str, version: Version, base: &str, name: &str) {
    let style = &palettes::styles()[0];
    for p in palettes::palettes() {
        let sname = format!("{}/{}", style.name, p.name);
        let href = format!(
            "{base}/wms?SERVICE=WMS&VERSION={}&REQUEST=GetLegendGraphic&FORMAT=image/png&LAYER={}&STYLE={sname}",
            version.as_str(),
            url_name(name)
        );
        let _ = write!(
            out,
            "{ind}<Style>\n{ind}  <Name>{sname}</Name>\n{ind}  <Title>{} ({})</Title>\n\
{ind}  <LegendURL width=\"{}\" height=\"{}\"><Format>image/png</Format><OnlineResource xlink:type=\"simple\" xlink:href=\"{}\"/></LegendURL>\n{ind}</Style>\n",
            x(&style.title),
            x(&p.title),
            super::legend::WIDTH,
            super::legend::HEIGHT,
            x(&href)
        );
    }
}

/// The whole document.
pub fn build(
    catalog: &Catalog,
    engine: &Engine,
    boxes: &BoxCache,
    version: Version,
    base: &str,
    provider: &str,
) -> String {
    let reader = &*engine.reader;
    let proj = Projector::new(boxes);
    let v130 = version == Version::V130;
    let online = format!("{base}/wms?");
    let mut out = String::with_capacity(1 << 20);
    if v130 {
        out.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<WMS_Capabilities version=\"1.3.0\" xmlns=\"http://www.opengis.net/wms\" \
xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xsi:schemaLocation=\"http://www.opengis.net/wms http://schemas.opengis.net/wms/1.3.0/capabilities_1_3_0.xsd\">\n",
        );
    } else {
        out.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE WMT_MS_Capabilities SYSTEM \"http://schemas.opengis.net/wms/1.1.1/WMS_MS_Capabilities.dtd\">\n\
<WMT_MS_Capabilities version=\"1.1.1\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n",
        );
    }
    let _ = write!(
        out,
        "  <Service>\n    <Name>{}</Name>\n    <Title>cirrus climate data maps</Title>\n    <Abstract>Maps of CMIP and CORDEX fields served next to the data by cirrus {} ({}): one layer per variable, named &lt;dataset id&gt;/&lt;variable&gt;. Styles are &lt;style&gt;/&lt;palette&gt;; GetMap also takes COLORSCALERANGE (min,max or auto), NUMCOLORBANDS, LOGSCALE, ABOVEMAXCOLOR, BELOWMINCOLOR and OPACITY.</Abstract>\n    \
<KeywordList><Keyword>climate</Keyword><Keyword>CMIP6</Keyword><Keyword>CORDEX</Keyword><Keyword>NetCDF</Keyword></KeywordList>\n    \
<OnlineResource xlink:type=\"simple\" xlink:href=\"{}\"/>\n    <Fees>none</Fees>\n    <AccessConstraints>none</AccessConstraints>\n",
        if v130 { "WMS" } else { "OGC:WMS" },
        env!("CARGO_PKG_VERSION"),
        x(provider),
        x(&format!("{base}/wms"))
    );
    if v130 {
        let m = cirrus_ops::render::map::MAX_SIZE;
        let _ = writeln!(
            out,
            "    <LayerLimit>16</LayerLimit>\n    <MaxWidth>{m}</MaxWidth>\n    <MaxHeight>{m}</MaxHeight>"
        );
    }
    out.push_str("  </Service>\n  <Capability>\n    <Request>\n");
    let dcp = format!(
        "<DCPType><HTTP><Get><OnlineResource xlink:type=\"simple\" xlink:href=\"{}\"/></Get></HTTP></DCPType>",
        x(&online)
    );
    let caps_format = if v130 { "text/xml" } else { "application/vnd.ogc.wms_xml" };
    let _ = write!(
        out,
        "      <GetCapabilities><Format>{caps_format}</Format>{dcp}</GetCapabilities>\n      <GetMap><Format>image/png</Format><Format>image/jpeg</Format>{dcp}</GetMap>\n      \
<GetFeatureInfo><Format>text/plain</Format><Format>application/json</Format><Format>text/xml</Format>{dcp}</GetFeatureInfo>\n"
    );
    if !v130 {
        let _ = writeln!(out, "      <GetLegendGraphic><Format>image/png</Format>{dcp}</GetLegendGraphic>");
    }
    out.push_str("    </Request>\n");
    if v130 {
        out.push_str("    <Exception><Format>XML</Format><Format>INIMAGE</Format><Format>BLANK</Format></Exception>\n");
    } else {
        out.push_str(
            "    <Exception><Format>application/vnd.ogc.se_xml</Format><Format>application/vnd.ogc.se_inimage</Format><Format>application/vnd.ogc.se_blank</Format></Exception>\n",
        );
    }
    out.push_str("    <Layer>\n      <Title>cirrus datasets</Title>\n");
    for c in palettes::map_crs() {
        let _ = writeln!(out, "      <{0}>{1}</{0}>", if v130 { "CRS" } else { "SRS" }, c.code);
    }
    bbox_elements(&mut out, "      ", version, [-180.0, -90.0, 180.0, 90.0], &proj);
    for (id, s) in &catalog.summaries {
        if s.layers.is_empty() {
            continue;
        }
        let Ok(entry) = catalog.detail(s) else { continue };
        let ds = &entry.dataset;
        let vars = map_variables(ds);
        let bbox = match entry.extent.bbox {
            Some([w, s, e, n]) if w <= e => [w, s, e, n],
            Some([_, s, _, n]) => [-180.0, s, 180.0, n],
            None => [-180.0, -90.0, 180.0, 90.0],
        };
        let mut layers = String::new();
        for v in vars {
            let layer = match engine.renderer.layer(reader, ds, &v.name) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(dataset = %id, variable = %v.name, error = %e, "left out of the WMS capabilities");
                    continue;
                }
            };
            let name = format!("{id}/{}", v.name);
            let _ = write!(
                layers,
                "        <Layer queryable=\"1\" opaque=\"0\">\n          <Name>{}</Name>\n          <Title>{}</Title>\n          <Abstract>{}</Abstract>\n",
                x(&name),
                x(&layer.title()),
                x(&format!(
                    "{} ({}{}) of {id}",
                    v.name,
                    layer.standard_name.as_deref().unwrap_or("no standard name"),
                    layer.units.as_deref().map(|u| format!(", {u}")).unwrap_or_default()
                ))
            );
            bbox_elements(&mut layers, "          ", version, bbox, &proj);
            dimensions(&mut layers, "          ", version, &layer);
            styles(&mut layers, "          ", version, base, &name);
            layers.push_str("        </Layer>\n");
        }
        if layers.is_empty() {
            continue;
        }
        let facets: Vec<String> = ds.facets.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(
            out,
            "      <Layer>\n        <Title>{}</Title>\n        <Abstract>{}</Abstract>\n",
            x(id),
            x(&if facets.is_empty() { ds.title.clone() } else { format!("{} ({})", ds.title, facets.join(", ")) })
        );
        bbox_elements(&mut out, "        ", version, bbox, &proj);
        out.push_str(&layers);
        out.push_str("      </Layer>\n");
    }
    out.push_str("    </Layer>\n  </Capability>\n");
    out.push_str(if v130 { "</WMS_Capabilities>\n" } else { "</WMT_MS_Capabilities>\n" });
    out
}
