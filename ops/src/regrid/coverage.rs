//! Coverages: a variable of a dataset for a time (instant or interval), an area and a
//! level, on its own grid or reprojected to a CRS at a resolution or size, as GeoTIFF
//! (COG on request) or NetCDF. The direct downloads of the server (`/coverage/...`)
//! and the `reproject` process use this.

use super::field::Plan;
use super::output::{regridded_file, write_geotiff};
use super::source::{SourceGrid, SourceKind};
use super::target::{is_lonlat, normalize_crs, LatLonGrid, NativeWindow, ProjectedGrid, Target};
use super::Method;
use crate::encode::netcdf::{selection_file, write_file, NcOptions};
use crate::geo::Transform;
use crate::model::{Dataset, Variable};
use crate::process::output::clean_fill_values;
use crate::process::params::{Area, LevelParam, TimeParam};
use crate::process::select::{select, SubsetRequest};
use crate::read::Reader;
use crate::selection::Selection;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The file format of a coverage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    GeoTiff,
    NetCdf,
}

impl Format {
    /// From a file extension (`tif`, `tiff`, `nc`).
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "tif" | "tiff" => Some(Format::GeoTiff),
            "nc" => Some(Format::NetCdf),
            _ => None,
        }
    }
}

/// What a coverage request asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageRequest {
    pub time: Option<TimeParam>,
    pub bbox: Option<Area>,
    pub level: Option<LevelParam>,
    /// Target CRS; None: the data's own grid (`native` is the same).
    pub crs: Option<String>,
    /// Pixel size in CRS units (x, y).
    pub resolution: Option<(f64, f64)>,
    /// Width and height in pixels.
    pub size: Option<(usize, usize)>,
    pub method: Method,
    /// Cloud-Optimized GeoTIFF.
    pub cog: bool,
}

fn bad(key: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::BadRequest(m) => Error::InvalidInput { input: key.to_string(), message: m },
        other => other,
    }
}

impl CoverageRequest {
    /// From query parameters (`time`, `bbox`, `level`, `crs`, `resolution`, `width`,
    /// `height`, `method`, `cog`).
    pub fn from_query(pairs: &[(String, String)]) -> Result<CoverageRequest> {
        let mut r = CoverageRequest {
            time: None,
            bbox: None,
            level: None,
            crs: None,
            resolution: None,
            size: None,
            method: Method::Nearest,
            cog: false,
        };
        let (mut width, mut height) = (None, None);
        for (k, v) in pairs {
            let v = v.trim();
            match k.as_str() {
                "time" => {
                    r.time = TimeParam::parse(v).map_err(bad("time"))?.map(|t| match t {
                        // one instant: the period it names (a month, a day, an instant)
                        TimeParam::Instants(p) if p.len() == 1 => {
                            TimeParam::Range { start: Some(p[0]), end: Some(p[0]) }
                        }
                        other => other,
                    });
                }
                "bbox" => r.bbox = Area::parse(v).map_err(bad("bbox"))?,
                "level" => r.level = LevelParam::parse(v).map_err(bad("level"))?,
                "crs" => {
                    r.crs = Some(v.to_string()).filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("native"));
                    if let Some(c) = &r.crs {
                        crate::geotiff::crs_wkt(&normalize_crs(c)).map_err(bad("crs"))?;
                    }
                }
                "resolution" => {
                    r.resolution = Some(crate::process::regrid::parse_resolution(v).map_err(bad("resolution"))?);
                }
                "width" | "height" => {
                    let n = v.parse::<usize>().ok().filter(|n| (1..=100_000).contains(n)).ok_or_else(|| {
                        Error::InvalidInput {
                            input: k.clone(),
                            message: format!("'{v}' is not a pixel count (1-100000)"),
                        }
                    })?;
                    if k == "width" {
                        width = Some(n);
                    } else {
                        height = Some(n);
                    }
                }
                "method" => {
                    r.method = Method::parse(v).map_err(bad("method"))?;
                    if r.method == Method::Conservative {
                        return Err(Error::InvalidInput {
                            input: "method".into(),
                            message: "use nearest or bilinear".into(),
                        });
                    }
                }
                "cog" => {
                    r.cog = match v.to_ascii_lowercase().as_str() {
                        "" | "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => {
                            return Err(Error::InvalidInput {
                                input: "cog".into(),
                                message: format!("'{v}' is not true or false"),
                            })
                        }
                    }
                }
                "f" | "format" => {}
                other => {
                    return Err(Error::InvalidInput {
                        input: other.to_string(),
                        message: "unknown parameter (time, bbox, level, crs, resolution, width, height, method, cog)"
                            .into(),
                    })
                }
            }
        }
        r.size = match (width, height) {
            (Some(w), Some(h)) => Some((w, h)),
            (None, None) => None,
            _ => return Err(Error::bad("give both width and height (or a resolution)")),
        };
        if r.size.is_some() && r.resolution.is_some() {
            return Err(Error::bad("give either a resolution or width and height, not both"));
        }
        Ok(r)
    }
}

/// A "nice" number near `x` (two significant digits).
fn nice(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x;
    }
    let p = 10f64.powf(x.log10().floor() - 1.0);
    (x / p).round() * p
}

/// The lon/lat box of a source grid's cells (west, south, east, north), longitudes in
/// the grid's frame.
fn source_box(src: &SourceGrid) -> (f64, f64, f64, f64) {
    let (x0, x1) = src.lon_range();
    let (y0, y1) = src.lat_range();
    let (dx, dy) = src.mean_spacing();
    if src.cyclic {
        let w = if x1 > 180.0 { 0.0 } else { -180.0 };
        return (w, (y0 - dy / 2.0).max(-90.0), w + 360.0, (y1 + dy / 2.0).min(90.0));
    }
    (x0 - dx / 2.0, (y0 - dy / 2.0).max(-90.0), x1 + dx / 2.0, (y1 + dy / 2.0).min(90.0))
}

/// Number of source cells whose centre lies in a lon/lat box.
fn cells_inside(src: &SourceGrid, b: (f64, f64, f64, f64)) -> usize {
    (0..src.len())
        .filter(|&k| {
            let (x, y) = (src.lon[k], src.lat[k]);
            src.valid[k] && y >= b.1 && y <= b.3 && {
                let s = b.0 + (x - b.0).rem_euclid(360.0);
                s <= b.2 || b.2 - b.0 >= 360.0
            }
        })
        .count()
}

/// The target of a reprojection to `crs` over `area` (degrees; default: the source's
/// extent within the CRS's area of use) at `resolution` (CRS units) or `size` pixels
/// (default: about as many pixels as source cells).
pub fn target_for(
    src: &SourceGrid,
    crs: &str,
    area: Option<&Area>,
    resolution: Option<(f64, f64)>,
    size: Option<(usize, usize)>,
) -> Result<Target> {
    let crs = normalize_crs(crs);
    let mut b = match area {
        Some(a) => (a.west, a.south, a.east, a.north),
        None => source_box(src),
    };
    if area.is_none() && !is_lonlat(&crs) {
        // keep within the CRS's area of use
        if let Some(u) = gdal::spatial_ref::SpatialRef::from_definition(&crs).ok().and_then(|s| s.area_of_use()) {
            let (w, s, e, n) = (u.west_lon_degree, u.south_lat_degree, u.east_lon_degree, u.north_lat_degree);
            if e > w && e - w < 359.0 {
                if b.2 - b.0 >= 359.0 {
                    (b.0, b.2) = (w, e);
                } else {
                    // the area of use moved by whole turns to overlap the data best
                    let best = [-360.0, 0.0, 360.0]
                        .into_iter()
                        .map(|k| (k, (b.2.min(e + k) - b.0.max(w + k)).max(0.0)))
                        .max_by(|a, c| a.1.total_cmp(&c.1));
                    if let Some((k, overlap)) = best.filter(|x| x.1 > 0.0) {
                        let _ = overlap;
                        (b.0, b.2) = (b.0.max(w + k), b.2.min(e + k));
                    }
                }
            }
            (b.1, b.3) = (b.1.max(s), b.3.min(n));
        }
    }
    if !(b.2 > b.0 && b.3 > b.1) {
        return Err(Error::bad("the requested area does not overlap the data"));
    }
    let n_cells = cells_inside(src, b).max(1);
    #[allow(clippy::cast_precision_loss)]
    let n_cells_f = n_cells as f64;
    if is_lonlat(&crs) {
        let (dx, dy) = match (resolution, size) {
            (Some(r), _) => r,
            (None, Some((w, h))) => {
                #[allow(clippy::cast_precision_loss)]
                let r = ((b.2 - b.0) / w as f64, (b.3 - b.1) / h as f64);
                r
            }
            (None, None) => match src.kind {
                SourceKind::Regular => {
                    let (dx, dy) = src.mean_spacing();
                    (dx, dy)
                }
                _ => {
                    let d = nice(((b.2 - b.0) * (b.3 - b.1) / n_cells_f).sqrt());
                    (d, d)
                }
            },
        };
        let mut g = LatLonGrid::regional(b.0, b.2, dx, b.1, b.3, dy)?;
        if let Some((w, h)) = size {
            g = LatLonGrid::centred(b.0 + dx / 2.0, dx, w, b.3 - dy / 2.0, -dy, h, "");
        }
        g.title = format!("{crs} grid of {}x{} cells ({dx} x {dy} degrees)", g.nlat(), g.nlon());
        return Ok(Target::LatLon(g));
    }
    // the box's outline in the target CRS
    let t = Transform::new("EPSG:4326", &crs)?;
    let mut pts = Vec::new();
    for k in 0..=64 {
        let f = f64::from(k) / 64.0;
        let x = b.0 + f * (b.2 - b.0);
        let y = b.1 + f * (b.3 - b.1);
        pts.extend([(x, b.1), (x, b.3), (b.0, y), (b.2, y)]);
    }
    // interior points too (polar projections bulge)
    for i in 0..=16 {
        for j in 0..=16 {
            pts.push((b.0 + f64::from(i) / 16.0 * (b.2 - b.0), b.1 + f64::from(j) / 16.0 * (b.3 - b.1)));
        }
    }
    t.apply(&mut pts);
    let ok: Vec<(f64, f64)> = pts
        .into_iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite() && p.0.abs() < 1e15 && p.1.abs() < 1e15)
        .collect();
    if ok.is_empty() {
        return Err(Error::bad(format!("the area cannot be projected to {crs}")));
    }
    let (x0, x1) = ok.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (y0, y1) = ok.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let (rx, ry, w, h) = match (resolution, size) {
        (Some((rx, ry)), _) => (rx, ry, ((x1 - x0) / rx).ceil().max(1.0), ((y1 - y0) / ry).ceil().max(1.0)),
        (None, Some((w, h))) => {
            #[allow(clippy::cast_precision_loss)]
            let (wf, hf) = (w as f64, h as f64);
            ((x1 - x0) / wf, (y1 - y0) / hf, wf, hf)
        }
        (None, None) => {
            let r = nice(((x1 - x0) * (y1 - y0) / n_cells_f).sqrt());
            (r, r, ((x1 - x0) / r).ceil().max(1.0), ((y1 - y0) / r).ceil().max(1.0))
        }
    };
    if w * h > 1e8 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Err(Error::TooManyCells { what: "an image", count: (w * h) as u64, limit: 100_000_000 });
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (w, h) = (w as usize, h as usize);
    Ok(Target::Projected(ProjectedGrid { crs, width: w, height: h, transform: [x0, rx, 0.0, y1, 0.0, -ry] }))
}

/// A prepared coverage: what to read and where it goes, before any weights are
/// computed (so that its size can be checked first).
pub struct Coverage {
    pub ds: Arc<Dataset>,
    pub var: String,
    pub format: Format,
    kind: Kind,
    pub cog: bool,
    /// Size of the values in bytes.
    pub bytes: u64,
}

enum Kind {
    /// Values mapped onto a target.
    Regrid { source: Arc<SourceGrid>, target: Target, method: Method, sel: BTreeMap<String, Vec<usize>> },
    /// A subset of the native grid (NetCDF).
    Subset(Box<Selection>),
}

impl Coverage {
    /// Plan a coverage of `var` of `ds`.
    pub fn prepare(
        reader: &Reader,
        ds: Arc<Dataset>,
        var: &str,
        req: &CoverageRequest,
        format: Format,
    ) -> Result<Coverage> {
        let v = ds.require_var(var)?.clone();
        if !v.dtype.is_numeric() {
            return Err(Error::bad(format!("variable '{var}' is not numeric")));
        }
        let sreq = SubsetRequest {
            time: req.time.clone(),
            level: req.level.clone(),
            area: if req.crs.is_none() { req.bbox } else { None },
            variables: vec![var.to_string()],
            ..SubsetRequest::default()
        };
        let subset = select(reader, &ds, &sreq)?;
        if req.crs.is_none() && format == Format::NetCdf {
            if req.resolution.is_some() || req.size.is_some() {
                return Err(Error::bad("a resolution or size needs a crs to resample to (e.g. crs=EPSG:4326)"));
            }
            let bytes = subset.size(&ds);
            return Ok(Coverage {
                ds,
                var: var.into(),
                format,
                kind: Kind::Subset(Box::new(subset)),
                cog: false,
                bytes,
            });
        }
        let source = Arc::new(SourceGrid::of(reader, &ds, &v)?);
        let n = v.dims.len();
        let mut sel = BTreeMap::new();
        for (d, &len) in v.dims[..n - 2].iter().zip(&v.shape) {
            sel.insert(d.clone(), subset.sel(d, len).indices());
        }
        let bands: usize = sel.values().map(Vec::len).product();
        let target = match (&req.crs, source.kind) {
            (Some(crs), _) => target_for(&source, crs, req.bbox.as_ref(), req.resolution, req.size)?,
            (None, _) if req.resolution.is_some() || req.size.is_some() => {
                return Err(Error::bad("a resolution or size needs a crs to resample to (e.g. crs=EPSG:4326)"))
            }
            (None, SourceKind::Regular) => native_regular(reader, &ds, &v, &source, &subset)?,
            (None, SourceKind::Rotated(pole)) => {
                let (ys, xs) =
                    (subset.sel(&source.y_dim, source.ny).indices(), subset.sel(&source.x_dim, source.nx).indices());
                let (y0, x0) = (ys.first().copied().unwrap_or(0), xs.first().copied().unwrap_or(0));
                Target::Native(NativeWindow {
                    y0,
                    ny: ys.len(),
                    x0,
                    nx: xs.len(),
                    y: ys.iter().map(|&j| source.y[j]).collect(),
                    x: xs.iter().map(|&i| source.x[i]).collect(),
                    crs: pole.proj4(),
                })
            }
            (None, SourceKind::Curvilinear) => target_for(&source, "EPSG:4326", req.bbox.as_ref(), None, None)?,
        };
        let size = if super::field::output_type(&v) == crate::model::DataType::F64 { 8 } else { 4 };
        let bytes = (target.len() as u64) * (bands as u64) * size;
        Ok(Coverage {
            ds,
            var: var.into(),
            format,
            kind: Kind::Regrid { source, target, method: req.method, sel },
            cog: req.cog,
            bytes,
        })
    }

    /// Write the coverage to `path`.
    pub fn write(&self, engine: &crate::Engine, path: &Path, history: &str) -> Result<()> {
        let reader = &*engine.reader;
        let v = self.ds.require_var(&self.var)?;
        match &self.kind {
            Kind::Subset(subset) => {
                let mut out = selection_file(&self.ds, subset);
                clean_fill_values(&self.ds, &mut out);
                write_file(reader, &out, path, &NcOptions { history: history.to_string(), ..NcOptions::default() })
            }
            Kind::Regrid { source, target, method, sel } => {
                let plan = Arc::new(Plan::new(&engine.regrid, source.clone(), target.clone(), *method, 0.5)?);
                match self.format {
                    Format::GeoTiff => write_geotiff(reader, &self.ds, v, &plan, sel, self.cog, history, path),
                    Format::NetCdf => {
                        let mut out = regridded_file(reader, &self.ds, &plan, &[v], sel)?;
                        clean_fill_values(&self.ds, &mut out);
                        write_file(
                            reader,
                            &out,
                            path,
                            &NcOptions { history: history.to_string(), ..NcOptions::default() },
                        )
                    }
                }
            }
        }
    }
}

/// The native cells of a regular grid in a subset, as an evenly spaced target (an
/// unevenly spaced axis, e.g. Gaussian latitudes, is resampled to even spacing).
fn native_regular(reader: &Reader, ds: &Dataset, v: &Variable, src: &SourceGrid, subset: &Selection) -> Result<Target> {
    let (ys, xs) = (subset.sel(&src.y_dim, src.ny).indices(), subset.sel(&src.x_dim, src.nx).indices());
    let lat: Vec<f64> = ys.iter().map(|&j| src.y[j]).collect();
    let mut lon: Vec<f64> = xs.iter().map(|&i| src.x[i]).collect();
    // longitudes re-expressed in the request's frame
    if let Some(crate::selection::ValueMap::LonFrame { west }) =
        ds.var(&src.x_dim).and_then(|c| subset.maps.get(&c.name))
    {
        for x in &mut lon {
            *x = west + (*x - west).rem_euclid(360.0);
        }
    }
    let _ = (reader, v);
    let step = |a: &[f64]| if a.len() > 1 { (a[a.len() - 1] - a[0]) / (a.len() - 1) as f64 } else { 1.0 };
    let (dx, dy) = (step(&lon), step(&lat));
    if lon.len() > 1 && dx <= 0.0 {
        return Err(Error::bad("the longitudes of this dataset are not increasing; give a crs to resample"));
    }
    let g = LatLonGrid::centred(lon[0], dx, lon.len(), lat[0], dy, lat.len(), "native grid");
    Ok(Target::LatLon(g))
}
