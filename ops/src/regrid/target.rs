//! Regridding targets: regular latitude-longitude grids (named as rook offers them,
//! custom as xESMF builds them, adapted to the source, or taken from another dataset)
//! and projected grids (pixels of a map projection, for reprojection).

use super::source::SourceGrid;
use crate::geo::Transform;
use crate::model::{AttrValue, Dataset};
use crate::read::Reader;
use crate::{Error, Result};
use sha2::Digest;

/// A regular latitude-longitude grid: 1-D centres with cell bounds. Longitudes are
/// ascending; latitudes ascending or descending.
#[derive(Clone, Debug, PartialEq)]
pub struct LatLonGrid {
    pub lat: Vec<f64>,
    pub lon: Vec<f64>,
    pub lat_bnds: Vec<[f64; 2]>,
    pub lon_bnds: Vec<[f64; 2]>,
    /// A short description (`global 1deg grid`, ...).
    pub title: String,
}

/// The named grids (rook's list and a few more), as roocs-grids defines them: first
/// centre and spacing of longitude and latitude, and their counts.
type Named = (&'static str, f64, f64, usize, f64, f64, usize, &'static str);

const NAMED: &[Named] = &[
    (
        "0pt25deg",
        0.125,
        0.25,
        1440,
        -89.875,
        0.25,
        720,
        "Global 0.25 degree grid with one cell centered at 0.125E,0.125N",
    ),
    (
        "0pt25deg_era5",
        0.0,
        0.25,
        1440,
        90.0,
        -0.25,
        721,
        "Global 0.25 degree grid with one cell centered at 0E,0N. As used by ERA-5",
    ),
    ("0pt5deg", -179.75, 0.5, 720, -89.75, 0.5, 360, "Global 0.5 degree grid with one cell centered at 0.25E,0.25N"),
    (
        "0pt5deg_lsm",
        -179.75,
        0.5,
        720,
        -89.75,
        0.5,
        360,
        "Global 0.5 degree grid with one cell centered at 0.25E,0.25N",
    ),
    (
        "0pt625x0pt5deg",
        -180.0,
        0.625,
        576,
        -90.0,
        0.5,
        361,
        "Global 0.625x0.5 (lon x lat) degree grid with one cell centered at 0E,0N. As used by MERRA-2",
    ),
    (
        "0pt75deg",
        0.0,
        0.75,
        480,
        -90.0,
        0.75,
        241,
        "Global 0.75 degree grid with one cell centered at 0E,0N. As used by ERA-Interim",
    ),
    ("1deg", 0.5, 1.0, 360, -89.5, 1.0, 180, "Global 1.0 degree grid with one cell centered at 0.5E,0.5N"),
    (
        "1pt25deg",
        0.0,
        1.25,
        288,
        -90.0,
        1.25,
        145,
        "Global 1.25 degree grid with one cell centered at 0E,0N. As used by ERA-40",
    ),
    ("2deg", -179.0, 2.0, 180, -89.0, 2.0, 90, "Global 2.0 degree grid with one cell centered at 1.0E,1.0N"),
    ("2pt5deg", 1.25, 2.5, 144, -88.75, 2.5, 72, "Global 2.5 degree grid with one cell centered at 1.25E,1.25N"),
];

/// Names of the predefined grids.
pub fn grid_names() -> Vec<&'static str> {
    NAMED.iter().map(|n| n.0).collect()
}

/// Number of cells between bounds `lo` and `hi` with step `d`, as xESMF makes them
/// (`numpy.arange(lo, hi + d / 2, d)` bounds: the nearest whole number of steps).
fn cell_count(lo: f64, hi: f64, d: f64) -> usize {
    let n = ((hi - lo) / d + 0.5).ceil() - 1.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    if n.is_finite() && n >= 1.0 {
        n as usize
    } else {
        1
    }
}

fn num(x: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let f = x as f64;
    f
}

impl LatLonGrid {
    /// A grid of `nlon` x `nlat` cells of `dlon` x `dlat` degrees centred on the given
    /// first centres (latitude bounds are cut at the poles).
    pub fn centred(lon0: f64, dlon: f64, nlon: usize, lat0: f64, dlat: f64, nlat: usize, title: &str) -> LatLonGrid {
        let lon: Vec<f64> = (0..nlon).map(|i| lon0 + dlon * num(i)).collect();
        let lat: Vec<f64> = (0..nlat).map(|j| lat0 + dlat * num(j)).collect();
        let lon_bnds = lon.iter().map(|&c| [c - dlon.abs() / 2.0, c + dlon.abs() / 2.0]).collect();
        let lat_bnds = lat
            .iter()
            .map(|&c| {
                let (a, b) = (c - dlat / 2.0, c + dlat / 2.0);
                [a.clamp(-90.0, 90.0), b.clamp(-90.0, 90.0)]
            })
            .collect();
        LatLonGrid { lat, lon, lat_bnds, lon_bnds, title: title.to_string() }
    }

    /// The grid between the bounds `lon0..lon1` and `lat0..lat1` with steps `dlon` and
    /// `dlat` (xESMF's `grid_2d`: cells from the first bound on, the last one may end
    /// beyond the second bound).
    pub fn regional(lon0: f64, lon1: f64, dlon: f64, lat0: f64, lat1: f64, dlat: f64) -> Result<LatLonGrid> {
        for (name, d) in [("longitude", dlon), ("latitude", dlat)] {
            if !(d.is_finite() && d > 0.0) {
                return Err(Error::bad(format!("the {name} step {d} must be a positive number of degrees")));
            }
        }
        if !(lon1 > lon0 && lat1 > lat0) {
            return Err(Error::bad(format!(
                "the grid bounds lon {lon0}..{lon1}, lat {lat0}..{lat1} must be increasing"
            )));
        }
        if lon1 - lon0 > 360.0 + 1e-9 || lat0 < -90.0 - 1e-9 || lat1 > 90.0 + 1e-9 {
            return Err(Error::bad(format!(
                "the grid bounds lon {lon0}..{lon1}, lat {lat0}..{lat1} must span at most 360 degrees of longitude and lie within -90..90 of latitude"
            )));
        }
        let (nlon, nlat) = (cell_count(lon0, lon1, dlon), cell_count(lat0, lat1, dlat));
        if nlon.saturating_mul(nlat) > 100_000_000 {
            let count = (nlon as u64).saturating_mul(nlat as u64);
            return Err(Error::TooManyCells { what: "a target grid", count, limit: 100_000_000 });
        }
        let global = (lon1 - lon0 - 360.0).abs() < 1e-9 && lat0 <= -90.0 + 1e-9 && lat1 >= 90.0 - 1e-9;
        let title = format!(
            "{} regular lat-lon {nlat}x{nlon} grid ({dlon} x {dlat} degrees)",
            if global { "global" } else { "regional" }
        );
        Ok(LatLonGrid::centred(lon0 + dlon / 2.0, dlon, nlon, lat0 + dlat / 2.0, dlat, nlat, &title))
    }

    /// A named grid (`0pt25deg`, `1deg`, `2pt5deg`, ...), or a global grid of a spacing
    /// written the same way (`0pt1deg`, `3deg`).
    pub fn named(name: &str) -> Option<LatLonGrid> {
        let n = name.trim().to_ascii_lowercase();
        if let Some(g) = NAMED.iter().find(|g| g.0 == n) {
            return Some(LatLonGrid::centred(g.1, g.2, g.3, g.4, g.5, g.6, g.7));
        }
        let d: f64 = n.strip_suffix("deg")?.replace("pt", ".").parse().ok()?;
        if !(d > 0.0 && d <= 90.0) {
            return None;
        }
        let nlon = cell_count(0.0, 360.0, d);
        let nlat = cell_count(-90.0, 90.0, d);
        Some(LatLonGrid::centred(d / 2.0, d, nlon, -90.0 + d / 2.0, d, nlat, &format!("Global {d} degree grid")))
    }

    /// A custom grid from 1, 2, 3 or 6 numbers (rook's `custom_grid`): `d`, `dlon
    /// dlat` (global), `lonlat0 lonlat1 d`, `lon0 lon1 dlon lat0 lat1 dlat` (regional).
    pub fn custom(text: &str) -> Result<LatLonGrid> {
        let v: Vec<f64> = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| Error::bad(format!("custom_grid value '{s}' is not a number")))
            })
            .collect::<Result<_>>()?;
        match v.len() {
            1 => LatLonGrid::regional(-180.0, 180.0, v[0], -90.0, 90.0, v[0]),
            2 => LatLonGrid::regional(-180.0, 180.0, v[0], -90.0, 90.0, v[1]),
            3 => LatLonGrid::regional(v[0], v[1], v[2], v[0], v[1], v[2]),
            6 => LatLonGrid::regional(v[0], v[1], v[2], v[3], v[4], v[5]),
            n => Err(Error::bad(format!("Invalid custom_grid format: expected 1, 2, 3, or 6 values, got {n}"))),
        }
    }

    /// A grid of the source's extent and mean resolution (clisops' `adaptive`):
    /// global directions span the globe with a spacing that divides it.
    pub fn adaptive(src: &SourceGrid) -> Result<LatLonGrid> {
        let (mut x0, mut x1) = src.lon_range();
        let (y0, y1) = src.lat_range();
        if !(x0.is_finite() && y0.is_finite()) {
            return Err(Error::bad("the source grid has no valid coordinates"));
        }
        let (dx, dy) = src.mean_spacing();
        if !(dx > 0.0 && dy > 0.0) {
            return Err(Error::bad(
                "the source grid has a single row or column; give a grid (e.g. 1deg) or a custom_grid instead of auto",
            ));
        }
        let global_lon = src.cyclic;
        let global_lat = y0 <= -75.0 + 2.0 * dy && y1 >= 90.0 - 2.0 * dy;
        let (lon0, lon1, xinc) = if global_lon {
            let xinc = 360.0 / (360.0 / dx).round().max(1.0);
            if x1 > 180.0 {
                (0.0, 360.0, xinc)
            } else {
                (-180.0, 180.0, xinc)
            }
        } else {
            if x1 - x0 > 360.0 {
                x1 = x0 + 360.0;
            }
            x0 -= dx / 2.0;
            x1 += dx / 2.0 + 1e-7;
            (x0, x1, dx)
        };
        let (lat0, lat1, yinc) = if global_lat {
            (-90.0, 90.0, 180.0 / (180.0 / dy).round().max(1.0))
        } else {
            ((y0 - dy / 2.0).max(-90.0), (y1 + dy / 2.0 + 1e-7).min(90.0), dy)
        };
        let mut g = LatLonGrid::regional(lon0, lon1.min(lon0 + 360.0), xinc, lat0, lat1, yinc)?;
        g.title = format!(
            "{} regular lat-lon {}x{} grid adapted to the source ({:.4} x {:.4} degrees)",
            if global_lon && global_lat { "global" } else { "regional" },
            g.lat.len(),
            g.lon.len(),
            xinc,
            yinc
        );
        Ok(g)
    }

    /// The grid of another dataset (which must have 1-D latitude and longitude).
    pub fn of_dataset(reader: &Reader, ds: &Dataset) -> Result<LatLonGrid> {
        let (lat, lon) = crate::process::select::lat_lon(ds)
            .ok_or_else(|| Error::bad(format!("dataset '{}' has no latitude/longitude to take a grid from", ds.id)))?;
        if lat.dims.len() != 1 || lon.dims.len() != 1 {
            return Err(Error::bad(format!(
                "dataset '{}' has 2-D latitude/longitude; only regular latitude-longitude grids can be regridding targets",
                ds.id
            )));
        }
        let la = crate::process::select::values(reader, ds, lat)?;
        let mut lo = crate::process::select::values(reader, ds, lon)?;
        let bounds = |v: &crate::model::Variable, c: &[f64]| -> Result<Vec<[f64; 2]>> {
            if let Some(b) = v.attr("bounds").and_then(AttrValue::as_text).and_then(|b| ds.var(b)) {
                if b.shape == [c.len(), 2] {
                    let x = crate::process::select::values(reader, ds, b)?;
                    return Ok(x.chunks(2).map(|p| [p[0].min(p[1]), p[0].max(p[1])]).collect());
                }
            }
            let e = super::source::edges_of(c);
            Ok(e.windows(2).map(|w| [w[0].min(w[1]), w[0].max(w[1])]).collect())
        };
        let lat_bnds: Vec<[f64; 2]> =
            bounds(lat, &la)?.into_iter().map(|[a, b]| [a.clamp(-90.0, 90.0), b.clamp(-90.0, 90.0)]).collect();
        let mut lon_bnds = bounds(lon, &lo)?;
        // longitudes ascending (reorder a descending axis)
        if lo.len() > 1 && lo[0] > lo[lo.len() - 1] {
            lo.reverse();
            lon_bnds.reverse();
        }
        let title = format!("regular lat-lon {}x{} grid of {}", la.len(), lo.len(), ds.id);
        Ok(LatLonGrid { lat: la, lon: lo, lat_bnds, lon_bnds, title })
    }

    /// Number of latitudes.
    pub fn nlat(&self) -> usize {
        self.lat.len()
    }

    /// Number of longitudes.
    pub fn nlon(&self) -> usize {
        self.lon.len()
    }

    /// Cell centres (lon, lat), row-major (latitude outer).
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.lat.iter().flat_map(|&y| self.lon.iter().map(move |&x| (x, y))).collect()
    }

    /// Cell areas on the unit sphere (steradians), row-major.
    pub fn areas(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.nlat() * self.nlon());
        for b in &self.lat_bnds {
            let dmu = (b[1].to_radians().sin() - b[0].to_radians().sin()).abs();
            for l in &self.lon_bnds {
                out.push((l[1] - l[0]).abs().to_radians() * dmu);
            }
        }
        out
    }

    /// The GDAL geotransform when the grid is evenly spaced (`[x0, dx, 0, y0, 0, dy]`
    /// for rows in the grid's latitude order).
    pub fn geotransform(&self) -> Option<[f64; 6]> {
        let even = |v: &[f64]| {
            if v.len() < 2 {
                return None;
            }
            let d = (v[v.len() - 1] - v[0]) / num(v.len() - 1);
            v.windows(2).all(|w| ((w[1] - w[0]) - d).abs() <= 1e-6 * d.abs().max(1e-9)).then_some(d)
        };
        let dx = even(&self.lon)?;
        let dy = even(&self.lat)?;
        Some([self.lon[0] - dx / 2.0, dx, 0.0, self.lat[0] - dy / 2.0, 0.0, dy])
    }

    /// A stable description of the grid for cache keys.
    pub fn fingerprint(&self) -> String {
        let mut h = sha2::Sha256::new();
        for v in [&self.lat, &self.lon] {
            h.update(v.len().to_le_bytes());
            for x in v.iter() {
                h.update(x.to_le_bytes());
            }
        }
        for b in self.lat_bnds.iter().chain(&self.lon_bnds) {
            h.update(b[0].to_le_bytes());
            h.update(b[1].to_le_bytes());
        }
        format!("latlon-{:x}", h.finalize())
    }
}

/// How a target grid is asked for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum GridSpec {
    /// `auto` / `adaptive`: the source's extent and mean resolution.
    Adaptive,
    /// A predefined grid.
    Named(String),
    /// `custom` with the numbers of `custom_grid`.
    Custom(String),
    /// The grid of another dataset (its id).
    Dataset(String),
}

impl GridSpec {
    /// From rook's `grid` and `custom_grid` inputs; anything that is not a grid name is
    /// taken as a dataset id.
    pub fn parse(grid: Option<&str>, custom: Option<&str>) -> Result<GridSpec> {
        let g = grid.map(str::trim).filter(|g| !g.is_empty()).unwrap_or("auto");
        let custom = custom.map(str::trim).filter(|c| !c.is_empty());
        Ok(match g.to_ascii_lowercase().as_str() {
            "auto" | "adaptive" => GridSpec::Adaptive,
            "custom" => {
                let c = custom.ok_or_else(|| Error::bad("Parameter 'custom_grid' is required when grid='custom'"))?;
                LatLonGrid::custom(c)?;
                GridSpec::Custom(c.to_string())
            }
            name if LatLonGrid::named(name).is_some() => GridSpec::Named(name.to_string()),
            _ => GridSpec::Dataset(g.to_string()),
        })
    }

    /// The target grid for a source; a dataset id is looked up in `catalog` (the
    /// caller's view).
    pub fn resolve(&self, reader: &Reader, catalog: &crate::Catalog, src: &SourceGrid) -> Result<LatLonGrid> {
        match self {
            GridSpec::Adaptive => LatLonGrid::adaptive(src),
            GridSpec::Named(n) => LatLonGrid::named(n).ok_or_else(|| Error::bad(format!("no grid named '{n}'"))),
            GridSpec::Custom(c) => LatLonGrid::custom(c),
            GridSpec::Dataset(id) => {
                let ds = catalog.get(id).map(|e| e.dataset.clone()).map_err(|e| {
                    Error::bad(format!(
                        "'{id}' is neither a grid name ({}, auto, custom) nor a dataset ({e})",
                        grid_names().join(", ")
                    ))
                })?;
                LatLonGrid::of_dataset(reader, &ds)
            }
        }
    }
}

/// A grid of a map projection: `width` x `height` pixels with a GDAL geotransform
/// (north-up: `[x0, dx, 0, y0, 0, -dy]`) in a CRS given as EPSG code or PROJ string.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectedGrid {
    /// The CRS as given (`EPSG:3035`, `+proj=...`).
    pub crs: String,
    pub width: usize,
    pub height: usize,
    pub transform: [f64; 6],
}

/// Normalise a CRS as users give it: `3035` → `EPSG:3035`; `epsg:3035` → `EPSG:3035`.
pub fn normalize_crs(crs: &str) -> String {
    let c = crs.trim();
    if !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit()) {
        return format!("EPSG:{c}");
    }
    if let Some(code) = c.strip_prefix("epsg:").or_else(|| c.strip_prefix("Epsg:")) {
        return format!("EPSG:{code}");
    }
    c.to_string()
}

/// True when a CRS is geographic longitude/latitude in degrees (EPSG:4326 and friends).
pub fn is_lonlat(crs: &str) -> bool {
    let c = normalize_crs(crs).to_ascii_uppercase();
    matches!(c.as_str(), "EPSG:4326" | "OGC:CRS84" | "CRS:84" | "WGS84")
        || (c.starts_with("+PROJ=LONGLAT") || c.starts_with("+PROJ=LATLONG")) && !c.contains("OB_TRAN")
}

impl ProjectedGrid {
    /// Pixel centre coordinates in the grid's CRS, row-major (top row first).
    pub fn xy(&self) -> Vec<(f64, f64)> {
        let t = &self.transform;
        let mut out = Vec::with_capacity(self.width * self.height);
        for r in 0..self.height {
            for c in 0..self.width {
                let (x, y) = (num(c) + 0.5, num(r) + 0.5);
                out.push((t[0] + x * t[1] + y * t[2], t[3] + x * t[4] + y * t[5]));
            }
        }
        out
    }

    /// Pixel centres as longitude/latitude (NaN where the projection has no inverse).
    pub fn points(&self) -> Result<Vec<(f64, f64)>> {
        let mut p = self.xy();
        if !is_lonlat(&self.crs) {
            let t = Transform::new(&normalize_crs(&self.crs), "EPSG:4326")?;
            use rayon::prelude::*;
            // PROJ objects are not shared between threads: one per chunk.
            let crs = normalize_crs(&self.crs);
            let chunks: Vec<Result<()>> = p
                .par_chunks_mut(65536)
                .map(|c| {
                    let t = Transform::new(&crs, "EPSG:4326")?;
                    t.apply(c);
                    Ok(())
                })
                .collect();
            drop(t);
            for r in chunks {
                r?;
            }
        }
        Ok(p)
    }

    /// A stable description for cache keys.
    pub fn fingerprint(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(normalize_crs(&self.crs).as_bytes());
        h.update(self.width.to_le_bytes());
        h.update(self.height.to_le_bytes());
        for x in self.transform {
            h.update(x.to_le_bytes());
        }
        format!("proj-{:x}", h.finalize())
    }
}

/// A window of the source's own grid (rows `y0..y0+ny`, columns `x0..x0+nx`), with
/// its axis values and CRS (`EPSG:4326` for regular grids, the rotated pole's PROJ
/// string for rotated ones): values are copied, not interpolated.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeWindow {
    pub y0: usize,
    pub ny: usize,
    pub x0: usize,
    pub nx: usize,
    pub y: Vec<f64>,
    pub x: Vec<f64>,
    pub crs: String,
}

impl NativeWindow {
    /// The GDAL geotransform when the axes are evenly spaced.
    pub fn geotransform(&self) -> Option<[f64; 6]> {
        let even = |v: &[f64]| {
            if v.len() < 2 {
                return None;
            }
            let d = (v[v.len() - 1] - v[0]) / num(v.len() - 1);
            v.windows(2).all(|w| ((w[1] - w[0]) - d).abs() <= 1e-4 * d.abs().max(1e-9)).then_some(d)
        };
        let (dx, dy) = (even(&self.x)?, even(&self.y)?);
        Some([self.x[0] - dx / 2.0, dx, 0.0, self.y[0] - dy / 2.0, 0.0, dy])
    }
}

/// Where values go.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    LatLon(LatLonGrid),
    Projected(ProjectedGrid),
    Native(NativeWindow),
}

impl Target {
    /// Number of target cells.
    pub fn len(&self) -> usize {
        match self {
            Target::LatLon(g) => g.nlat() * g.nlon(),
            Target::Projected(p) => p.width * p.height,
            Target::Native(w) => w.ny * w.nx,
        }
    }

    /// True without cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (rows, columns).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Target::LatLon(g) => (g.nlat(), g.nlon()),
            Target::Projected(p) => (p.height, p.width),
            Target::Native(w) => (w.ny, w.nx),
        }
    }

    /// A stable description for cache keys.
    pub fn fingerprint(&self) -> String {
        match self {
            Target::LatLon(g) => g.fingerprint(),
            Target::Projected(p) => p.fingerprint(),
            Target::Native(w) => format!("native-{}-{}-{}-{}", w.y0, w.ny, w.x0, w.nx),
        }
    }

    /// Cell centres as (lon, lat).
    pub fn points(&self) -> Result<Vec<(f64, f64)>> {
        match self {
            Target::LatLon(g) => Ok(g.points()),
            Target::Projected(p) => p.points(),
            Target::Native(_) => Err(Error::Internal("a native window has no target points".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_grids_match_roocs_grids() {
        let g = LatLonGrid::named("0pt25deg").expect("0pt25deg");
        assert_eq!((g.nlat(), g.nlon()), (720, 1440));
        assert_eq!((g.lon[0], g.lat[0]), (0.125, -89.875));
        let g = LatLonGrid::named("1deg").expect("1deg");
        assert_eq!((g.nlat(), g.nlon(), g.lon[0], g.lat[179]), (180, 360, 0.5, 89.5));
        assert_eq!(g.lat_bnds[0], [-90.0, -89.0]);
        let g = LatLonGrid::named("2pt5deg").expect("2pt5deg");
        assert_eq!((g.nlat(), g.nlon(), g.lon[0]), (72, 144, 1.25));
        let g = LatLonGrid::named("0pt25deg_era5").expect("era5");
        assert_eq!((g.nlat(), g.lat[0], g.lat[720], g.lat_bnds[0]), (721, 90.0, -90.0, [90.0, 89.875]));
        let g = LatLonGrid::named("0pt75deg").expect("0pt75deg");
        assert_eq!((g.nlat(), g.nlon(), g.lat_bnds[0]), (241, 480, [-90.0, -89.625]));
        let g = LatLonGrid::named("0pt1deg").expect("0pt1deg");
        assert_eq!((g.nlat(), g.nlon()), (1800, 3600));
        assert!(LatLonGrid::named("fine").is_none());
        let total: f64 = LatLonGrid::named("1pt25deg").expect("grid").areas().iter().sum();
        assert!((total - 4.0 * std::f64::consts::PI).abs() < 1e-9);
    }

    #[test]
    fn custom_grids_as_xesmf_builds_them() {
        let g = LatLonGrid::custom("1").expect("1");
        assert_eq!((g.nlat(), g.nlon(), g.lon[0], g.lat[0]), (180, 360, -179.5, -89.5));
        let g = LatLonGrid::custom("2 1").expect("2 1");
        assert_eq!((g.nlat(), g.nlon()), (180, 180));
        let g = LatLonGrid::custom("0 10 0.5").expect("3");
        assert_eq!((g.nlat(), g.nlon(), g.lon[0], g.lat[19]), (20, 20, 0.25, 9.75));
        let g = LatLonGrid::custom("-10 30 0.25 35 70 0.5").expect("6");
        assert_eq!((g.nlat(), g.nlon()), (70, 160));
        assert_eq!(
            LatLonGrid::custom("1 2 3 4").expect_err("4 values").to_string(),
            "Invalid custom_grid format: expected 1, 2, 3, or 6 values, got 4"
        );
        assert!(LatLonGrid::custom("a").is_err());
        assert!(LatLonGrid::custom("0").is_err());
        assert_eq!(
            GridSpec::parse(Some("custom"), None).expect_err("needs custom").to_string(),
            "Parameter 'custom_grid' is required when grid='custom'"
        );
        assert_eq!(GridSpec::parse(None, None).expect("auto"), GridSpec::Adaptive);
        assert_eq!(GridSpec::parse(Some("1deg"), None).expect("named"), GridSpec::Named("1deg".into()));
        assert_eq!(GridSpec::parse(Some("CMIP6.x.y"), None).expect("ds"), GridSpec::Dataset("CMIP6.x.y".into()));
        assert_eq!(LatLonGrid::custom("1").expect("1").geotransform(), Some([-180.0, 1.0, 0.0, -90.0, 0.0, 1.0]));
    }

    #[test]
    fn adaptive_grid_of_a_regional_rotated_source() {
        let pole = crate::geo::RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
        let rlat: Vec<f64> = (0..201).map(|j| -22.88 + 0.22 * f64::from(j)).collect();
        let rlon: Vec<f64> = (0..225).map(|i| -28.21 + 0.22 * f64::from(i)).collect();
        let src = SourceGrid::rotated(rlat, rlon, pole, None, "rlat".into(), "rlon".into());
        let g = LatLonGrid::adaptive(&src).expect("adaptive");
        let (x0, x1) = src.lon_range();
        assert_eq!(g.nlon(), 225);
        assert_eq!(g.nlat(), 201);
        assert!((g.lon[0] - x0).abs() < 1e-6 && (g.lon[224] - x1).abs() < 1e-6);
    }
}
