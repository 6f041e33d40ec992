//! XYZ tiles in Web Mercator: `/tiles/{layer}/{z}/{x}/{y}.png`, where `{layer}` is a
//! WMS layer name (`<dataset id>/<variable>`, its `/` and `.` as they are, or
//! percent-encoded). The query takes the GetMap parameters (`STYLES` or `style`,
//! `TIME`, `ELEVATION`, `COLORSCALERANGE`, `NUMCOLORBANDS`, ...) and `tilesize`
//! (256 or 512). Tiles are cacheable: ETag, Last-Modified, Cache-Control.

use crate::access::Access;
use crate::state::State;
use crate::wms::{self, MapRequest, Params, Version, WmsError};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{HeaderMap, Response};
use cirrus_ops::render::MapView;

/// Half the side of the Web Mercator square, metres.
const HALF: f64 = 20_037_508.342_789_244;

/// The EPSG:3857 extent of tile z/x/y (min x, min y, max x, max y).
pub fn tile_bbox(z: u32, x: u64, y: u64) -> [f64; 4] {
    #[allow(clippy::cast_precision_loss)]
    let size = 2.0 * HALF / (1u64 << z) as f64;
    #[allow(clippy::cast_precision_loss)]
    let (x, y) = (x as f64, y as f64);
    [-HALF + x * size, HALF - (y + 1.0) * size, -HALF + (x + 1.0) * size, HALF - y * size]
}

/// Split `{layer}/{z}/{x}/{y}.png`.
fn split(path: &str) -> Result<(String, u32, u64, u64), WmsError> {
    let bad = || {
        WmsError::new(
            Some("InvalidParameterValue"),
            format!("'{path}' is not a tile path: expected /tiles/<dataset id>/<variable>/<z>/<x>/<y>.png"),
        )
    };
    let mut parts = path.rsplitn(4, '/');
    let y = parts.next().ok_or_else(bad)?;
    let x = parts.next().ok_or_else(bad)?;
    let z = parts.next().ok_or_else(bad)?;
    let layer = parts.next().ok_or_else(bad)?;
    let y = y.strip_suffix(".png").ok_or_else(bad)?;
    let z: u32 = z.parse().map_err(|_| bad())?;
    let (x, y): (u64, u64) = (x.parse().map_err(|_| bad())?, y.parse().map_err(|_| bad())?);
    if z > 24 || x >= (1u64 << z) || y >= (1u64 << z) {
        return Err(WmsError::new(Some("InvalidParameterValue"), format!("there is no tile {z}/{x}/{y}")));
    }
    Ok((layer.trim_matches('/').to_string(), z, x, y))
}

/// `GET /tiles/{*path}`.
pub async fn get(
    StateX(st): StateX<State>,
    access: Access,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    match tile(&st, &access, &path, query.as_deref().unwrap_or(""), &headers).await {
        Ok(r) => r,
        Err(e) => e.response(Version::V130),
    }
}

async fn tile(
    st: &State,
    access: &Access,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, WmsError> {
    let (layer, z, x, y) = split(path)?;
    let p = Params::parse(query);
    let size = match p.size("TILESIZE")? {
        None | Some(256) => 256,
        Some(512) => 512,
        Some(n) => return Err(WmsError::new(Some("InvalidParameterValue"), format!("tilesize={n}: use 256 or 512"))),
    };
    let style = p.get("STYLES").or_else(|| p.get("STYLE")).map(str::to_string);
    let req = MapRequest {
        layers: vec![layer.clone()],
        styles: vec![style],
        view: MapView { crs: "EPSG:3857".into(), bbox: tile_bbox(z, x, y), width: size, height: size },
        transparent: true,
        bgcolor: [255, 255, 255, 255],
        jpeg: false,
        exceptions: wms::getmap_exceptions(&p),
        params: p.clone(),
    };
    let catalog = access.catalog.clone();
    let key = format!("tile\u{0}{layer}\u{0}{z}/{x}/{y}\u{0}{size}\u{0}{:?}", wms::sorted_params(&p));
    let v = req.validators(&catalog, &key)?;
    if v.not_modified(headers) {
        return Ok(v.not_modified_response());
    }
    let drawn = wms::draw_cached(st, catalog, &key, &v, req).await?;
    Ok(wms::png_response(&drawn, &v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_extents() {
        let (l, z, x, y) = split("cordex.output.EUR-22.x.v1/tas/3/4/2.png").expect("path");
        assert_eq!((l.as_str(), z, x, y), ("cordex.output.EUR-22.x.v1/tas", 3, 4, 2));
        let (l, ..) = split("misc/file.nc/tas/0/0/0.png").expect("path");
        assert_eq!(l, "misc/file.nc/tas");
        assert!(split("a/b/1/2/2.png").is_err());
        assert!(split("a/b/1/0/0.jpg").is_err());
        let b = tile_bbox(0, 0, 0);
        assert!((b[0] + HALF).abs() < 1e-6 && (b[3] - HALF).abs() < 1e-6);
        let b = tile_bbox(1, 1, 0);
        assert!(b[0].abs() < 1e-6 && b[1].abs() < 1e-6);
    }
}
