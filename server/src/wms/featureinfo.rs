//! GetFeatureInfo: the value of each queried layer at a pixel of a map, with its
//! units, time and level, as JSON (GeoJSON), text/plain or text/xml.

use super::error::WmsError;
use super::getmap::MapRequest;
use super::params::Params;
use super::{blocking, dims, resolve, Version};
use crate::access::Access;
use crate::state::State;
use axum::body::Body;
use axum::http::Response;
use cirrus_ops::encode::text::xml_escape;
use serde_json::{json, Value};
use std::fmt::Write;

/// One layer's answer.
struct Info {
    layer: String,
    title: String,
    units: Option<String>,
    time: Option<String>,
    elevation: Option<f64>,
    elevation_units: Option<String>,
    /// (y, x, lon, lat, value) of the cell; None outside the grid.
    cell: Option<(usize, usize, f64, f64, f64)>,
}

fn number(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// `REQUEST=GetFeatureInfo`.
pub async fn respond(st: &State, access: &Access, p: Params, version: Version) -> Result<Response<Body>, WmsError> {
    let map = MapRequest::parse(&p, version)?;
    let query: Vec<String> = p.require("QUERY_LAYERS")?.split(',').map(|s| s.trim().to_string()).collect();
    let (iname, jname) = if version == Version::V130 { ("I", "J") } else { ("X", "Y") };
    let pix = |name: &str, other: &str, limit: usize| -> Result<f64, WmsError> {
        let s = p
            .get(name)
            .or_else(|| p.get(other))
            .ok_or_else(|| WmsError::new(Some("MissingParameterValue"), format!("the parameter {name} is required")))?;
        let v = Params::number(name, s).map_err(|e| WmsError::new(Some("InvalidPoint"), e.message))?;
        #[allow(clippy::cast_precision_loss)]
        if v < 0.0 || v >= limit as f64 || v.fract() != 0.0 {
            return Err(WmsError::new(
                Some("InvalidPoint"),
                format!("{name}={s} is not a pixel of the {}x{} map", map.view.width, map.view.height),
            ));
        }
        Ok(v)
    };
    let i = pix(iname, if iname == "I" { "X" } else { "I" }, map.view.width)?;
    let j = pix(jname, if jname == "J" { "Y" } else { "J" }, map.view.height)?;
    let format = p.get("INFO_FORMAT").unwrap_or("text/plain").to_ascii_lowercase();
    let kind = match format.as_str() {
        "application/json" | "application/geo+json" | "json" | "application/vnd.geo+json" => "json",
        "text/plain" => "text",
        "text/xml" | "application/xml" | "application/vnd.ogc.gml" => "xml",
        other => {
            return Err(WmsError::new(
                Some("InvalidFormat"),
                format!("INFO_FORMAT={other}: use application/json, text/plain or text/xml"),
            ))
        }
    };
    for q in &query {
        if !map.layers.contains(q) {
            return Err(WmsError::new(
                Some("LayerNotDefined"),
                format!("QUERY_LAYERS names '{q}', which is not in LAYERS"),
            ));
        }
    }
    let catalog = access.catalog.clone();
    let engine = st.engine.clone();
    let reader = engine.reader.clone();
    let view = map.view.clone();
    let params = p.clone();
    let count = p.size("FEATURE_COUNT")?.unwrap_or(query.len()).max(1);
    let (lonlat, infos) = blocking(move || {
        let lonlat = view.lon_lat(i + 0.5, j + 0.5).map_err(|e| WmsError::from_ops(&e, Some("InvalidCRS")))?;
        let mut infos = Vec::new();
        for name in query.iter().take(count) {
            let (ds, var) = resolve(&catalog, name)?;
            let layer = engine
                .renderer
                .layer(&reader, &ds, &var)
                .map_err(|e| WmsError::from_ops(&e, Some("LayerNotDefined")))?;
            let d = dims(&layer, &params)?;
            let cell = match lonlat {
                Some(ll) => engine
                    .renderer
                    .point(&reader, &layer, ll, (d.t, d.z))
                    .map_err(|e| WmsError::from_ops(&e, None))?
                    .map(|pv| (pv.y, pv.x, pv.lon, pv.lat, pv.value)),
                None => None,
            };
            infos.push(Info {
                layer: name.clone(),
                title: layer.title(),
                units: layer.units.clone(),
                time: d.time,
                elevation: d.elevation,
                elevation_units: layer.level.as_ref().map(|l| l.units.clone()),
                cell,
            });
        }
        Ok((lonlat, infos))
    })
    .await?;
    let (lon, lat) = lonlat.unwrap_or((f64::NAN, f64::NAN));
    Ok(match kind {
        "json" => {
            let features: Vec<Value> = infos
                .iter()
                .map(|f| {
                    let mut props = json!({
                        "layer": f.layer, "title": f.title, "units": f.units, "time": f.time,
                        "value": f.cell.map_or(Value::Null, |c| number(c.4)),
                    });
                    if let Some(e) = f.elevation {
                        props["elevation"] = json!(e);
                        props["elevation_units"] = json!(f.elevation_units);
                    }
                    if let Some((y, x, clon, clat, _)) = f.cell {
                        props["cell"] = json!({"y": y, "x": x, "lon": clon, "lat": clat});
                    }
                    json!({
                        "type": "Feature", "id": f.layer,
                        "geometry": if lon.is_finite() { json!({"type": "Point", "coordinates": [lon, lat]}) } else { Value::Null },
                        "properties": props
                    })
                })
                .collect();
            super::respond(json!({"type": "FeatureCollection", "features": features}).to_string(), "application/json")
        }
        "xml" => {
            let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<FeatureInfoResponse>\n");
            for f in &infos {
                let _ = write!(
                    x,
                    "  <FeatureInfo>\n    <layer>{}</layer>\n    <lon>{lon}</lon>\n    <lat>{lat}</lat>\n",
                    xml_escape(&f.layer)
                );
                if let Some(t) = &f.time {
                    let _ = writeln!(x, "    <time>{}</time>", xml_escape(t));
                }
                if let Some(e) = f.elevation {
                    let _ = writeln!(x, "    <elevation>{e}</elevation>");
                }
                if let Some((y, xi, clon, clat, _)) = f.cell {
                    let _ = writeln!(x, "    <cell y=\"{y}\" x=\"{xi}\" lon=\"{clon}\" lat=\"{clat}\"/>");
                }
                let v =
                    f.cell.map(|c| c.4).filter(|v| v.is_finite()).map_or_else(|| "none".to_string(), |v| v.to_string());
                let _ = writeln!(
                    x,
                    "    <value units=\"{}\">{v}</value>\n  </FeatureInfo>",
                    xml_escape(f.units.as_deref().unwrap_or(""))
                );
            }
            x.push_str("</FeatureInfoResponse>\n");
            super::respond(x, "text/xml; charset=utf-8")
        }
        _ => {
            let mut t = String::new();
            for f in &infos {
                let _ = writeln!(t, "layer = {}\ntitle = {}\nlon = {lon}\nlat = {lat}", f.layer, f.title);
                if let Some(tm) = &f.time {
                    let _ = writeln!(t, "time = {tm}");
                }
                if let Some(e) = f.elevation {
                    let _ = writeln!(t, "elevation = {e} {}", f.elevation_units.as_deref().unwrap_or(""));
                }
                match f.cell {
                    Some((y, x, clon, clat, v)) => {
                        let shown = if v.is_finite() { v.to_string() } else { "none".into() };
                        let _ = writeln!(t, "value = {shown}\nunits = {}", f.units.as_deref().unwrap_or(""));
                        let _ = writeln!(t, "cell = y {y} x {x} (lon {clon}, lat {clat})");
                    }
                    None => {
                        let _ = writeln!(t, "value = none (outside the grid)");
                    }
                }
                t.push('\n');
            }
            super::respond(t, "text/plain; charset=utf-8")
        }
    })
}
