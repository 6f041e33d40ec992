//! From coordinates to indices: the `subset` selection by time (interval or instants),
//! time components, area (rectilinear, rotated-pole and curvilinear grids, any longitude
//! frame) and level, producing a [`Selection`].

use super::params::{Area, LevelParam, TimeComponents, TimeParam};
use crate::cf;
use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{AttrValue, Dataset, Variable};
use crate::read::Reader;
use crate::selection::{DimSel, Mask, Selection, ValueMap};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a `subset` asks for.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubsetRequest {
    pub time: Option<TimeParam>,
    pub time_components: Option<TimeComponents>,
    pub area: Option<Area>,
    pub level: Option<LevelParam>,
    /// Variables to keep (with their coordinates); empty: all.
    pub variables: Vec<String>,
    /// On 2-D (curvilinear, rotated) grids, set the points outside the area to the fill
    /// value (the index box always contains them).
    pub mask_outside: bool,
}

/// All values of a variable as f64.
pub fn values(reader: &Reader, ds: &Dataset, v: &Variable) -> Result<Vec<f64>> {
    reader
        .read(ds, v, &Hyperslab::full(&v.shape))?
        .data
        .to_f64()
        .ok_or_else(|| Error::bad(format!("variable '{}' is not numeric", v.name)))
}

/// The level coordinate: a 1-D coordinate variable that is vertical.
pub fn level_coordinate(ds: &Dataset) -> Option<&Variable> {
    ds.vars.iter().find(|v| {
        let t = |k: &str| v.attr(k).and_then(AttrValue::as_text).map(str::to_ascii_lowercase);
        v.is_coordinate()
            && v.dtype.is_numeric()
            && (t("axis").as_deref() == Some("z")
                || t("positive").is_some()
                || t("standard_name").is_some_and(|s| {
                    s.contains("pressure")
                        || s.contains("height")
                        || s.contains("depth")
                        || s.contains("level")
                        || s.contains("sigma")
                }))
    })
}

/// Latitude and longitude variables of a dataset's grid.
pub fn lat_lon(ds: &Dataset) -> Option<(&Variable, &Variable)> {
    let pick = |pred: fn(&Variable) -> bool| {
        ds.vars
            .iter()
            .filter(|v| pred(v) && v.dtype.is_numeric() && (1..=2).contains(&v.dims.len()))
            .min_by_key(|v| v.dims.len())
    };
    Some((pick(cf::is_latitude)?, pick(cf::is_longitude)?))
}

/// True when longitude `x` lies in `[w, e]` in some frame (modulo 360).
fn lon_in(x: f64, w: f64, e: f64) -> bool {
    if e - w >= 360.0 {
        return true;
    }
    let shifted = w + (x - w).rem_euclid(360.0);
    shifted <= e + 1e-9
}

/// Select by coordinates. Fails with a clear message when nothing is selected.
pub fn select(reader: &Reader, ds: &Arc<Dataset>, req: &SubsetRequest) -> Result<Selection> {
    let mut subset = Selection::of(ds, &req.variables)?;
    if req.time.is_some() || req.time_components.is_some() {
        let (dim, idx) = select_time(reader, ds, req)?;
        subset.dims.insert(dim, DimSel::from_indices(&idx));
    }
    if let Some(area) = &req.area {
        select_area(reader, ds, area, req.mask_outside, &mut subset)?;
    }
    if let Some(level) = &req.level {
        let z = level_coordinate(ds)
            .ok_or_else(|| Error::bad(format!("dataset '{}' has no vertical coordinate to select levels on", ds.id)))?;
        let zs = values(reader, ds, z)?;
        let tol = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0);
        let idx: Vec<usize> = match level {
            LevelParam::Range { lo, hi } => {
                let (lo, hi) = (lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY));
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                (0..zs.len()).filter(|&i| (zs[i] >= lo || tol(zs[i], lo)) && (zs[i] <= hi || tol(zs[i], hi))).collect()
            }
            LevelParam::Values(wanted) => {
                let missing: Vec<String> =
                    wanted.iter().filter(|w| !zs.iter().any(|z| tol(*z, **w))).map(|w| w.to_string()).collect();
                if !missing.is_empty() {
                    return Err(Error::bad(format!(
                        "levels {} are not in dataset '{}' (its {} values are {})",
                        missing.join(", "),
                        ds.id,
                        z.name,
                        zs.iter().map(|z| z.to_string()).collect::<Vec<_>>().join(", ")
                    )));
                }
                (0..zs.len()).filter(|&i| wanted.iter().any(|w| tol(zs[i], *w))).collect()
            }
        };
        if idx.is_empty() {
            return Err(Error::bad(format!("no level of '{}' lies in the requested range", z.name)));
        }
        subset.dims.insert(z.dims[0].clone(), DimSel::from_indices(&idx));
    }
    Ok(subset)
}

fn select_time(reader: &Reader, ds: &Dataset, req: &SubsetRequest) -> Result<(String, Vec<usize>)> {
    let t = cf::time_coordinate(ds)
        .ok_or_else(|| Error::bad(format!("dataset '{}' has no time coordinate to select on", ds.id)))?;
    let tu = cf::time_units(t).ok_or_else(|| {
        Error::bad(format!("the time coordinate of '{}' has units or a calendar cirrus cannot decode", ds.id))
    })?;
    let tv = values(reader, ds, t)?;
    let cal = tu.calendar;
    // a tolerance far below any time step, far above float noise
    let eps = 0.5 / tu.unit_seconds;
    let mut idx: Vec<usize> = match &req.time {
        None => (0..tv.len()).collect(),
        Some(TimeParam::Range { start, end }) => {
            let lo = start.map(|s| s.start(cal).and_then(|d| tu.encode(&d))).transpose()?.unwrap_or(f64::NEG_INFINITY);
            let hi = end.map(|e| e.end(cal).and_then(|d| tu.encode(&d))).transpose()?.unwrap_or(f64::INFINITY);
            if lo > hi + eps {
                return Err(Error::bad("the start of the time interval is after its end".to_string()));
            }
            (0..tv.len()).filter(|&i| tv[i] >= lo - eps && tv[i] <= hi + eps).collect()
        }
        Some(TimeParam::Instants(list)) => {
            let mut out = Vec::new();
            let mut missing = Vec::new();
            for p in list {
                let v = tu.encode(&p.start(cal)?)?;
                match (0..tv.len()).find(|&i| (tv[i] - v).abs() <= eps) {
                    Some(i) => out.push(i),
                    None => missing.push(p.dt.to_string()),
                }
            }
            if !missing.is_empty() {
                return Err(Error::bad(format!(
                    "the times {} are not time steps of dataset '{}'",
                    missing.join(", "),
                    ds.id
                )));
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    };
    if idx.is_empty() {
        let span = match (tv.first().and_then(|&v| tu.decode(v)), tv.last().and_then(|&v| tu.decode(v))) {
            (Some(a), Some(b)) => format!(" (the dataset covers {a} to {b})"),
            _ => String::new(),
        };
        return Err(Error::bad(format!(
            "no time step of dataset '{}' lies in the requested time interval{span}",
            ds.id
        )));
    }
    if let Some(tc) = &req.time_components {
        idx.retain(|&i| tu.decode(tv[i]).is_some_and(|d| tc.matches(&d)));
        if idx.is_empty() {
            return Err(Error::bad(format!(
                "no time step of dataset '{}' matches the requested time components",
                ds.id
            )));
        }
    }
    let dim = t.dims.first().cloned().ok_or_else(|| Error::Internal("time coordinate without dimension".into()))?;
    Ok((dim, idx))
}

fn select_area(reader: &Reader, ds: &Dataset, area: &Area, mask_outside: bool, subset: &mut Selection) -> Result<()> {
    let (lat, lon) = lat_lon(ds).ok_or_else(|| {
        Error::bad(format!("dataset '{}' has no latitude/longitude coordinates to select an area on", ds.id))
    })?;
    let lats = values(reader, ds, lat)?;
    let lons = values(reader, ds, lon)?;
    let empty = || {
        Error::bad(format!(
            "no grid point of dataset '{}' lies in the area W={} S={} E={} N={}",
            ds.id, area.west, area.south, area.east, area.north
        ))
    };
    if lat.dims.len() == 1 && lon.dims.len() == 1 && lat.dims[0] != lon.dims[0] {
        // Rectilinear: latitudes by value (order kept, descending stays descending).
        let yi: Vec<usize> =
            (0..lats.len()).filter(|&i| lats[i] >= area.south - 1e-9 && lats[i] <= area.north + 1e-9).collect();
        // Longitudes: the request's frame, unless it fits the data's own frame.
        let finite: Vec<f64> = lons.iter().copied().filter(|x| x.is_finite()).collect();
        let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (w, e, frame) =
            [0.0, -360.0, 360.0].iter().find(|&&k| area.west + k >= lo - 0.5 && area.east + k <= hi + 0.5).map_or_else(
                || (area.west, area.east, Some(if area.west < 0.0 { -180.0 } else { 0.0 })),
                |&k| (area.west + k, area.east + k, None),
            );
        let conv = |x: f64| frame.map_or(x, |f| f + (x - f).rem_euclid(360.0));
        let mut xi: Vec<usize> =
            (0..lons.len()).filter(|&i| conv(lons[i]) >= w - 1e-9 && conv(lons[i]) <= e + 1e-9).collect();
        if yi.is_empty() || xi.is_empty() {
            return Err(empty());
        }
        if let Some(f) = frame {
            if lons.iter().any(|&x| (conv(x) - x).abs() > 1e-9) {
                // re-expressed and sorted ascending
                xi.sort_by(|&a, &b| conv(lons[a]).total_cmp(&conv(lons[b])));
                subset.maps.insert(lon.name.clone(), ValueMap::LonFrame { west: f });
                if let Some(b) = lon.attr("bounds").and_then(AttrValue::as_text) {
                    subset.maps.insert(b.to_string(), ValueMap::LonFrame { west: f });
                }
            }
        }
        subset.dims.insert(lat.dims[0].clone(), DimSel::from_indices(&yi));
        subset.dims.insert(lon.dims[0].clone(), DimSel::from_indices(&xi));
        return Ok(());
    }
    // 2-D coordinates (rotated pole, curvilinear): the smallest index box of all points
    // inside, optionally masking the others.
    if lat.dims.len() != 2 || lat.dims != lon.dims || lats.len() != lons.len() {
        return Err(Error::bad(format!(
            "dataset '{}': cannot select an area on latitudes {:?} and longitudes {:?}",
            ds.id, lat.dims, lon.dims
        )));
    }
    let (ny, nx) = (lat.shape[0], lat.shape[1]);
    let inside: Vec<bool> = (0..ny * nx)
        .map(|k| {
            let (y, x) = (lats[k], lons[k]);
            y.is_finite()
                && y.abs() <= 90.0
                && y >= area.south
                && y <= area.north
                && x.is_finite()
                && x.abs() <= 720.0
                && lon_in(x, area.west, area.east)
        })
        .collect();
    let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
    for (k, &ok) in inside.iter().enumerate() {
        if ok {
            let (y, x) = (k / nx, k % nx);
            y0 = y0.min(y);
            y1 = y1.max(y);
            x0 = x0.min(x);
            x1 = x1.max(x);
        }
    }
    if y0 == usize::MAX {
        return Err(empty());
    }
    subset.dims.insert(lat.dims[0].clone(), DimSel::Range(DimRange { start: y0, stride: 1, count: y1 - y0 + 1 }));
    subset.dims.insert(lat.dims[1].clone(), DimSel::Range(DimRange { start: x0, stride: 1, count: x1 - x0 + 1 }));
    if mask_outside {
        let (h, w) = (y1 - y0 + 1, x1 - x0 + 1);
        let boxed: Vec<bool> = (0..h * w).map(|k| inside[(y0 + k / w) * nx + x0 + k % w]).collect();
        let mut fills = BTreeMap::new();
        for v in cf::data_variables(ds) {
            if v.dims.contains(&lat.dims[0]) && v.dims.contains(&lat.dims[1]) && subset.contains(&v.name) {
                let fill = cf::fill_value(v).unwrap_or(
                    if v.dtype == crate::DataType::F32 || v.dtype == crate::DataType::F64 { 1e20 } else { -9999.0 },
                );
                fills.insert(v.name.clone(), fill);
            }
        }
        subset.mask =
            Some(Mask { dims: [lat.dims[0].clone(), lat.dims[1].clone()], shape: [h, w], inside: boxed, fills });
    }
    Ok(())
}

/// Pressure levels of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct PressureLevels {
    /// Values in hPa.
    pub hpa: Vec<f64>,
    /// Units of the dataset's vertical coordinate per hPa (100 for Pa).
    pub per_hpa: f64,
}

/// The pressure levels of a dataset: its vertical coordinate when it is air pressure in
/// Pa or hPa (not model levels) along the main variable's dimensions.
pub fn pressure_levels(reader: &Reader, ds: &Dataset) -> Option<PressureLevels> {
    let z = level_coordinate(ds)?;
    let text = |k: &str| z.attr(k).and_then(AttrValue::as_text).unwrap_or_default().to_ascii_lowercase();
    // pressure levels, not model levels (alevel, hybrid sigma-pressure, ...)
    let standard_name = text("standard_name");
    if z.attr("formula_terms").is_some() || !(standard_name == "air_pressure" || standard_name.is_empty()) {
        return None;
    }
    if let Some(main) = crate::cf::main_variable(ds) {
        if !main.dims.contains(&z.dims[0]) {
            return None;
        }
    }
    let per_hpa = match text("units").as_str() {
        "pa" => 100.0,
        "hpa" | "mbar" | "millibar" | "mb" => 1.0,
        _ => return None,
    };
    let values = values(reader, ds, z).ok()?;
    Some(PressureLevels { hpa: values.iter().map(|v| v / per_hpa).collect(), per_hpa })
}

/// The horizontal grid of a selected variable: the shape of its dimensions after the
/// first (time) and the values of their coordinate variables.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub shape: Vec<usize>,
    pub coords: Vec<Vec<f64>>,
}

impl Grid {
    /// The grid of `var` of `ds` in the selection `sel`.
    pub fn of(reader: &Reader, ds: &Dataset, var: &str, sel: &Selection) -> Result<Grid> {
        let v = ds.require_var(var)?;
        let mut coords = Vec::new();
        for d in &v.dims[1..] {
            if let Some(c) = ds.var(d).filter(|c| c.dtype.is_numeric()) {
                let mut s = Selection::of_vars([c.name.clone()]);
                s.dims.insert(d.clone(), sel.sel(d, c.shape[0]));
                coords.push(
                    s.read(reader, ds, &crate::selection::VarSel::shared(&c.name))?.data.to_f64().unwrap_or_default(),
                );
            }
        }
        Ok(Grid { shape: sel.shape(v)[1..].to_vec(), coords })
    }

    /// True when both have the same shape and coordinates (to 1e-6).
    pub fn same(&self, other: &Grid) -> bool {
        self.shape == other.shape
            && self.coords.len() == other.coords.len()
            && self
                .coords
                .iter()
                .zip(&other.coords)
                .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6))
    }
}
