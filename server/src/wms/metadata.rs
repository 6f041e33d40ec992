//! `REQUEST=GetMetadata` (the ncWMS extension web maps use): JSON about layers, their
//! time steps, levels, palettes and default colour range.
//! `ITEM=layers[&DATASET=<id>]` lists layers; `ITEM=layerDetails&LAYERNAME=<layer>`
//! describes one.

use super::error::WmsError;
use super::params::Params;
use super::{blocking, resolve, url_name};
use crate::access::Access;
use crate::http::base_url;
use crate::state::State;
use axum::body::Body;
use axum::http::{HeaderMap, Response};
use cirrus_capabilities::palettes;
use cirrus_ops::render::time;
use serde_json::{json, Value};

/// Time steps listed at most; longer axes are sampled evenly (first and last kept).
const MAX_TIMES: usize = 2000;

/// Indices of at most `max` evenly spaced steps of `n`, first and last included.
fn sample(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..max).map(|k| k * (n - 1) / (max - 1)).collect();
    v.dedup();
    v
}

/// `REQUEST=GetMetadata`.
pub async fn respond(st: &State, access: &Access, p: Params, headers: &HeaderMap) -> Result<Response<Body>, WmsError> {
    let base = base_url(st.config.public_url.as_deref(), headers);
    let item = p.get("ITEM").unwrap_or("layers").to_ascii_lowercase();
    let catalog = access.catalog.clone();
    let doc = match item.as_str() {
        "layers" => {
            let only = p.get("DATASET");
            let layers: Vec<Value> = catalog
                .summaries
                .values()
                .filter(|s| only.is_none_or(|id| s.id == id))
                .flat_map(|s| {
                    s.layers.iter().map(|(v, title)| {
                        json!({"name": format!("{}/{v}", s.id), "dataset": s.id, "variable": v, "title": title})
                    })
                })
                .collect();
            json!({"layers": layers})
        }
        "layerdetails" => {
            let name = p
                .get("LAYERNAME")
                .or_else(|| p.get("LAYER"))
                .ok_or_else(|| WmsError::new(Some("MissingParameterValue"), "the parameter LAYERNAME is required"))?;
            let (ds, var) = resolve(&catalog, name)?;
            let bbox = catalog.summaries.get(&ds.id).and_then(|s| s.extent.bbox);
            let engine = st.engine.clone();
            let reader = engine.reader.clone();
            let name = name.to_string();
            blocking(move || {
                let r = &engine.renderer;
                let layer = r.layer(&reader, &ds, &var).map_err(|e| WmsError::from_ops(&e, Some("LayerNotDefined")))?;
                let range = r.default_range(&reader, &layer, false).map_err(|e| WmsError::from_ops(&e, None))?;
                let times = layer.time.as_ref().map(|t| {
                    let idx = sample(t.values.len(), MAX_TIMES);
                    let values: Vec<String> =
                        idx.iter().filter_map(|&i| t.dates[i].map(|d| time::iso(&d))).collect();
                    json!({
                        "count": t.values.len(), "values": values, "sampled": idx.len() < t.values.len(),
                        "calendar": t.units.calendar.name(), "default": values.first(),
                        "period": time::regular_period(t),
                    })
                });
                let levels = layer.level.as_ref().map(|l| {
                    json!({"name": l.name, "values": l.values, "units": l.units, "positive": l.positive, "default": l.values.first()})
                });
                Ok(json!({
                    "name": name, "title": layer.title(), "dataset": ds.id, "variable": var,
                    "units": layer.units, "standard_name": layer.standard_name, "bbox": bbox,
                    "time": times, "elevation": levels, "scaleRange": [range.0, range.1],
                    "defaultStyle": format!("{}/{}", palettes::styles()[0].name, palettes::default_palette().name),
                    "styles": palettes::styles().iter().map(|s| json!({"name": s.name, "title": s.title})).collect::<Vec<_>>(),
                    "palettes": palettes::palettes().iter().map(|p| json!({"name": p.name, "title": p.title, "kind": p.kind, "colors": p.colors})).collect::<Vec<_>>(),
                    "wms": format!("{base}/wms"),
                    "tiles": format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.png", url_name(&name)),
                    "legend": format!("{base}/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&FORMAT=image/png&LAYER={}", url_name(&name)),
                }))
            })
            .await?
        }
        other => {
            return Err(WmsError::new(
                Some("InvalidParameterValue"),
                format!("ITEM={other}: GetMetadata items are layers and layerDetails"),
            ))
        }
    };
    Ok(super::respond(doc.to_string(), "application/json"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sampling() {
        assert_eq!(super::sample(5, 10), vec![0, 1, 2, 3, 4]);
        let s = super::sample(54750, 2000);
        assert_eq!((s.len(), s[0], s[s.len() - 1]), (2000, 0, 54749));
    }
}
