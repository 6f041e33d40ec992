//! From an EDR [`Query`] on a dataset to what to read: the parameters, the time steps
//! and levels, and the grid cells in output order ([`Plan`]). Points resolve to the
//! nearest cell in geographic distance on every grid (rectilinear, rotated-pole,
//! curvilinear); areas to the cells whose centres fall inside.

use super::geometry::{distance_km, distance_to_line_km, lon_near, Point, Polygon};
use super::query::{Place, Query};
use crate::cf::{self, DateTime, TimeUnits};
use crate::geo::Grid;
use crate::model::{AttrValue, Dataset, Variable};
use crate::process::params::{LevelParam, TimeParam};
use crate::process::select::{lat_lon, level_coordinate, values};
use crate::read::Reader;
use crate::selection::{DimSel, Mask, Selection, ValueMap};
use crate::series::at_cells;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// A grid cell: its indices and the longitude/latitude of its centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub y: usize,
    pub x: usize,
    pub lon: f64,
    pub lat: f64,
}

/// The cells of the answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    /// A box of a rectilinear grid: rows and columns in output order, longitudes in the
    /// request's frame, and which cells are inside the query's polygons (None: all).
    Grid { ys: Vec<usize>, xs: Vec<usize>, lats: Vec<f64>, lons: Vec<f64>, inside: Option<Vec<bool>> },
    /// Separate cells, each with the whole time and level selection.
    Points(Vec<Cell>),
    /// One cell per vertex at its own time step (an index into the time axis) and level
    /// (an index into the level axis), from a LINESTRINGM.
    Trajectory(Vec<(Cell, usize, Option<usize>)>),
}

/// A selected coordinate axis: the dimension, the indices along it, and their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisSel {
    pub dim: String,
    /// The coordinate variable's name.
    pub name: String,
    pub indices: Vec<usize>,
    /// ISO 8601 instants (time) or level values (as text).
    pub labels: Vec<String>,
    /// Level values (empty for time).
    pub values: Vec<f64>,
    pub units: Option<String>,
}

/// What an EDR query reads from a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub params: Vec<String>,
    pub time: Option<AxisSel>,
    pub level: Option<AxisSel>,
    /// The grid's (y, x) dimension names.
    pub grid_dims: (String, String),
    /// Longitudes are answered within ±180 of this one (the request's frame).
    pub reference_lon: f64,
    pub domain: Domain,
}

fn text<'a>(v: &'a Variable, k: &str) -> Option<&'a str> {
    v.attr(k).and_then(AttrValue::as_text)
}

/// The longitude whose ±180 frame the answer uses: the first point, the centre of the
/// first polygon or of the box.
fn reference(place: &Place) -> f64 {
    match place {
        Place::Points(p)
        | Place::Trajectory(p)
        | Place::Radius { centers: p, .. }
        | Place::Corridor { line: p, .. } => p.first().map_or(0.0, |p| p.lon),
        Place::Area(polygons) => polygons.first().map_or(0.0, |p| {
            let (w, _, e, _) = p.bbox();
            (w + e) / 2.0
        }),
        Place::Cube { west, east, .. } => (west + east) / 2.0,
    }
}

/// An instant as CoverageJSON and EDR write it.
pub fn iso(d: &DateTime) -> String {
    format!("{d}Z")
}

/// The parameters a query reads: those asked for, else every data variable on the grid.
fn parameters<'a>(ds: &'a Dataset, asked: &[String]) -> Result<Vec<&'a Variable>> {
    let on_grid: Vec<&Variable> =
        cf::data_variables(ds).into_iter().filter(|v| v.dims.len() >= 2 && v.dtype.is_numeric()).collect();
    if asked.is_empty() {
        return match on_grid.first() {
            // the parameters sharing the dimensions of the first one
            Some(first) => Ok(on_grid.iter().copied().filter(|v| v.dims == first.dims).collect()),
            None => Err(Error::bad(format!("dataset '{}' has no gridded parameter", ds.id))),
        };
    }
    let names: Vec<&str> = on_grid.iter().map(|v| v.name.as_str()).collect();
    asked
        .iter()
        .map(|a| {
            on_grid.iter().copied().find(|v| v.name == *a).ok_or_else(|| {
                Error::bad(format!(
                    "parameter-name '{a}' is not a parameter of collection '{}' (it has: {})",
                    ds.id,
                    names.join(", ")
                ))
            })
        })
        .collect()
}

impl Plan {
    /// Resolve a query on a dataset.
    pub fn new(reader: &Reader, ds: &Dataset, q: &Query) -> Result<Plan> {
        let params = parameters(ds, &q.parameters)?;
        let first = params[0];
        if let Some(other) = params.iter().find(|v| v.dims != first.dims) {
            return Err(Error::bad(format!(
                "parameters '{}' {:?} and '{}' {:?} lie on different dimensions: query them separately",
                first.name, first.dims, other.name, other.dims
            )));
        }
        let grid = Grid::of(reader, ds, first)?;
        let (yd, xd) = grid.dims();
        let rank = first.dims.len();
        if first.dims[rank - 2] != yd || first.dims[rank - 1] != xd {
            return Err(Error::bad(format!(
                "'{}' {:?} does not end with the grid dimensions ({yd}, {xd})",
                first.name, first.dims
            )));
        }
        let outer = &first.dims[..rank - 2];
        let tvar = cf::time_coordinate(ds).filter(|t| t.dims.len() == 1 && outer.contains(&t.dims[0]));
        let zvar = level_coordinate(ds).filter(|z| outer.contains(&z.dims[0]));
        if let Some(d) =
            outer.iter().find(|d| Some(*d) != tvar.map(|t| &t.dims[0]) && Some(*d) != zvar.map(|z| &z.dims[0]))
        {
            return Err(Error::bad(format!(
                "'{}' has a dimension '{d}' that is neither time nor a vertical level; EDR cannot select on it",
                first.name
            )));
        }
        if q.datetime.is_some() && tvar.is_none() {
            return Err(Error::bad(format!("'{}' has no time dimension to select datetime on", first.name)));
        }
        if q.z.is_some() && zvar.is_none() {
            return Err(Error::bad(format!("'{}' has no vertical dimension to select z on", first.name)));
        }
        let time = tvar.map(|t| time_axis(reader, ds, t, q.datetime.as_ref())).transpose()?;
        let level = zvar.map(|z| level_axis(reader, ds, z, q.z.as_ref())).transpose()?;
        let reference_lon = reference(&q.place);
        let file = match (&grid, lat_lon(ds)) {
            (Grid::Rotated { .. }, Some((la, lo))) if la.dims.len() == 2 && lo.dims == la.dims => {
                Some((values(reader, ds, la)?, values(reader, ds, lo)?))
            }
            _ => None,
        };
        let c = Centres { grid: &grid, file, reference: reference_lon };
        let domain = match &q.place {
            Place::Points(points) => Domain::Points(points.iter().map(|p| nearest(&c, ds, p)).collect::<Result<_>>()?),
            Place::Radius { centers, km } => {
                let cells =
                    within(&c, |lon, lat| centers.iter().any(|c| distance_km((c.lon, c.lat), (lon, lat)) <= *km));
                if cells.is_empty() {
                    return Err(Error::bad(format!("no grid cell centre of '{}' lies within {km} km", ds.id)));
                }
                Domain::Points(cells)
            }
            Place::Corridor { line, km } => {
                let l: Vec<(f64, f64)> = line.iter().map(|p| (p.lon, p.lat)).collect();
                let cells = within(&c, |lon, lat| distance_to_line_km((lon, lat), &l) <= *km);
                if cells.is_empty() {
                    return Err(Error::bad(format!("no grid cell centre of '{}' lies within the corridor", ds.id)));
                }
                Domain::Points(cells)
            }
            Place::Area(polygons) => area(&c, ds, polygons, None)?,
            Place::Cube { west, south, east, north } => {
                let rect =
                    Polygon { rings: vec![vec![(*west, *south), (*east, *south), (*east, *north), (*west, *north)]] };
                area(&c, ds, &[rect], Some((*west, *south, *east, *north)))?
            }
            Place::Trajectory(vertices) if vertices.iter().all(|v| v.m.is_some()) => {
                trajectory(reader, ds, &c, vertices, time.as_ref(), level.as_ref())?
            }
            Place::Trajectory(vertices) => {
                Domain::Points(vertices.iter().map(|p| nearest(&c, ds, p)).collect::<Result<_>>()?)
            }
        };
        Ok(Plan {
            params: params.iter().map(|v| v.name.clone()).collect(),
            time,
            level,
            grid_dims: (yd.to_string(), xd.to_string()),
            reference_lon,
            domain,
        })
    }

    /// The cells read, in output order (a grid box row-major).
    pub fn cells(&self) -> Vec<(usize, usize)> {
        match &self.domain {
            Domain::Grid { ys, xs, .. } => ys.iter().flat_map(|&y| xs.iter().map(move |&x| (y, x))).collect(),
            Domain::Points(c) => c.iter().map(|c| (c.y, c.x)).collect(),
            Domain::Trajectory(v) => v.iter().map(|(c, _, _)| (c.y, c.x)).collect(),
        }
    }

    /// Number of cells of the answer (without listing them).
    pub fn cell_count(&self) -> usize {
        match &self.domain {
            Domain::Grid { ys, xs, .. } => ys.len() * xs.len(),
            Domain::Points(c) => c.len(),
            Domain::Trajectory(v) => v.len(),
        }
    }

    /// Number of time steps and levels in the output (1 when absent).
    pub fn steps(&self) -> (usize, usize) {
        let n = |a: &Option<AxisSel>| a.as_ref().map_or(1, |a| a.indices.len());
        match &self.domain {
            Domain::Trajectory(_) => (1, 1),
            _ => (n(&self.time), n(&self.level)),
        }
    }

    /// Number of values the answer holds.
    pub fn values_count(&self) -> u64 {
        let (nt, nz) = self.steps();
        (nt * nz * self.cell_count() * self.params.len()) as u64
    }

    /// The values of a parameter: `[time][level][cell]` (cells in [`Plan::cells`]
    /// order; outside an area's polygons NaN), or one per vertex for a trajectory.
    pub fn values(&self, reader: &Reader, ds: &Dataset, param: &str) -> Result<Vec<f64>> {
        let v =
            ds.var(param).ok_or_else(|| Error::VariableNotFound { dataset: ds.id.clone(), variable: param.into() })?;
        let cells = self.cells();
        let sel = |a: &Option<AxisSel>| a.as_ref().map(|a| DimSel::from_indices(&a.indices));
        if let Domain::Trajectory(vertices) = &self.domain {
            // each vertex at its own step: read the steps and cells involved, then pick
            let steps: Vec<usize> = self.time.as_ref().map(|t| t.indices.clone()).unwrap_or_default();
            let nl = self.level.as_ref().map_or(1, |l| l.indices.len());
            let outer: Vec<DimSel> =
                [Some(DimSel::from_indices(&steps)), sel(&self.level)].into_iter().flatten().collect();
            let all = at_cells(reader, ds, v, &outer, &cells)?;
            let n = cells.len();
            return Ok(vertices
                .iter()
                .enumerate()
                .map(|(k, (_, t, z))| all[(t * nl + z.unwrap_or(0)) * n + k])
                .collect());
        }
        let outer: Vec<DimSel> = [sel(&self.time), sel(&self.level)].into_iter().flatten().collect();
        let mut out = at_cells(reader, ds, v, &outer, &cells)?;
        if let Domain::Grid { inside: Some(inside), .. } = &self.domain {
            for (k, x) in out.iter_mut().enumerate() {
                if !inside[k % inside.len()] {
                    *x = f64::NAN;
                }
            }
        }
        Ok(out)
    }

    /// The same cells, times and levels as a [`Selection`] of the dataset (for NetCDF
    /// output): the rows and columns of the cells, the cells not asked for masked.
    pub fn selection(&self, reader: &Reader, ds: &Dataset) -> Result<Selection> {
        let mut sel = Selection::of(ds, &self.params)?;
        let cells = self.cells();
        let mut ys: Vec<usize> = cells.iter().map(|c| c.0).collect();
        let mut xs: Vec<usize> = cells.iter().map(|c| c.1).collect();
        if let Domain::Grid { ys: gy, xs: gx, .. } = &self.domain {
            ys.clone_from(gy);
            xs.clone_from(gx);
        } else {
            ys.sort_unstable();
            ys.dedup();
            xs.sort_unstable();
            xs.dedup();
        }
        // longitudes in the request's frame, in ascending order on a 1-D axis
        if let Some((_, lon)) = lat_lon(ds) {
            let west = self.reference_lon - 180.0;
            let map = ValueMap::LonFrame { west };
            let lons = values(reader, ds, lon)?;
            if lons.iter().any(|&x| x.is_finite() && x.abs() < 1e10 && (map.apply(x) - x).abs() > 1e-9) {
                if lon.dims.len() == 1 && !matches!(self.domain, Domain::Grid { .. }) {
                    xs.sort_by(|&a, &b| map.apply(lons[a]).total_cmp(&map.apply(lons[b])));
                }
                sel.maps.insert(lon.name.clone(), map.clone());
                if let Some(b) = lon.attr("bounds").and_then(AttrValue::as_text) {
                    sel.maps.insert(b.to_string(), map);
                }
            }
        }
        let (yd, xd) = &self.grid_dims;
        sel.dims.insert(yd.clone(), DimSel::from_indices(&ys));
        sel.dims.insert(xd.clone(), DimSel::from_indices(&xs));
        let mut times: Vec<usize> = self.time.as_ref().map(|t| t.indices.clone()).unwrap_or_default();
        if let Some(t) = &self.time {
            times.sort_unstable();
            times.dedup();
            sel.dims.insert(t.dim.clone(), DimSel::from_indices(&times));
        }
        if let Some(z) = &self.level {
            sel.dims.insert(z.dim.clone(), DimSel::from_indices(&z.indices));
        }
        let inside: Vec<bool> = match &self.domain {
            Domain::Grid { inside: Some(i), .. } => i.clone(),
            Domain::Grid { inside: None, .. } => vec![true; ys.len() * xs.len()],
            _ => {
                let row: BTreeMap<usize, usize> = ys.iter().enumerate().map(|(k, &y)| (y, k)).collect();
                let col: BTreeMap<usize, usize> = xs.iter().enumerate().map(|(k, &x)| (x, k)).collect();
                let mut m = vec![false; ys.len() * xs.len()];
                for (y, x) in cells {
                    if let (Some(a), Some(b)) = (row.get(&y), col.get(&x)) {
                        m[a * xs.len() + b] = true;
                    }
                }
                m
            }
        };
        if inside.iter().any(|i| !i) {
            let fills: BTreeMap<String, f64> = self
                .params
                .iter()
                .filter_map(|p| ds.var(p))
                .map(|v| {
                    let wide = v.dtype == crate::DataType::F32 || v.dtype == crate::DataType::F64;
                    (v.name.clone(), cf::fill_value(v).unwrap_or(if wide { 1e20 } else { -9999.0 }))
                })
                .collect();
            sel.mask = Some(Mask { dims: [yd.clone(), xd.clone()], shape: [ys.len(), xs.len()], inside, fills });
        }
        Ok(sel)
    }
}

/// The cell centres of a grid: the file's latitudes and longitudes when it has 2-D
/// ones (rotated grids too, rather than centres recomputed from the pole), answered
/// with longitudes in the frame of the request (`reference` ± 180).
struct Centres<'a> {
    grid: &'a Grid,
    file: Option<(Vec<f64>, Vec<f64>)>,
    reference: f64,
}

impl Centres<'_> {
    /// The centre as stored (longitude, latitude).
    fn raw(&self, y: usize, x: usize) -> (f64, f64) {
        match &self.file {
            Some((la, lo)) => {
                let k = y * self.grid.shape().1 + x;
                (lo[k], la[k])
            }
            None => self.grid.center(y, x),
        }
    }

    fn cell(&self, y: usize, x: usize) -> Cell {
        let (lon, lat) = self.raw(y, x);
        Cell { y, x, lon: lon_near(lon, self.reference), lat }
    }
}

fn nearest(c: &Centres, ds: &Dataset, p: &Point) -> Result<Cell> {
    let (y, x) = c.grid.locate(p.lon, p.lat).ok_or_else(|| {
        Error::bad(format!("POINT({} {}) is outside the grid of collection '{}'", p.lon, p.lat, ds.id))
    })?;
    if !matches!(c.grid, Grid::Rotated { .. }) {
        return Ok(c.cell(y, x));
    }
    // the cell found in rotated coordinates, or a neighbour nearer on the sphere
    let (ny, nx) = c.grid.shape();
    let mut best = (y, x, f64::INFINITY);
    for yy in y.saturating_sub(1)..=(y + 1).min(ny - 1) {
        for xx in x.saturating_sub(1)..=(x + 1).min(nx - 1) {
            let d = distance_km((p.lon, p.lat), c.raw(yy, xx));
            if d < best.2 {
                best = (yy, xx, d);
            }
        }
    }
    Ok(c.cell(best.0, best.1))
}

/// The cells whose centres pass `keep`, row-major.
fn within(c: &Centres, keep: impl Fn(f64, f64) -> bool) -> Vec<Cell> {
    let (ny, nx) = c.grid.shape();
    let mut out = Vec::new();
    for y in 0..ny {
        for x in 0..nx {
            let (lon, lat) = c.raw(y, x);
            if lon.is_finite() && lat.is_finite() && keep(lon, lat) {
                out.push(c.cell(y, x));
            }
        }
    }
    out
}

/// The cells of polygons (or of a box, `cube`): a box of a rectilinear grid, else the
/// cells whose centres are inside.
fn area(c: &Centres, ds: &Dataset, polygons: &[Polygon], cube: Option<(f64, f64, f64, f64)>) -> Result<Domain> {
    let grid = c.grid;
    let empty = || Error::bad(format!("no grid cell centre of collection '{}' lies inside the area", ds.id));
    let in_box = |lon: f64, lat: f64, (w, s, e, n): (f64, f64, f64, f64)| {
        let x = lon_near(lon, (w + e) / 2.0);
        lat >= s - 1e-9 && lat <= n + 1e-9 && x >= w - 1e-9 && x <= e + 1e-9
    };
    let inside = |lon: f64, lat: f64| match cube {
        Some(b) => in_box(lon, lat, b),
        None => polygons.iter().any(|p| p.contains(lon, lat)),
    };
    let Grid::Regular { lat, lon, .. } = grid else {
        let cells = within(c, inside);
        return if cells.is_empty() { Err(empty()) } else { Ok(Domain::Points(cells)) };
    };
    let boxes: Vec<(f64, f64, f64, f64)> = match cube {
        Some(b) => vec![b],
        None => polygons.iter().map(Polygon::bbox).collect(),
    };
    let ys: Vec<usize> = (0..lat.values.len())
        .filter(|&y| boxes.iter().any(|b| lat.values[y] >= b.1 - 1e-9 && lat.values[y] <= b.3 + 1e-9))
        .collect();
    let centre = (boxes[0].0 + boxes[0].2) / 2.0;
    let mut xs: Vec<usize> = (0..lon.values.len())
        .filter(|&x| {
            boxes.iter().any(|b| {
                let l = lon_near(lon.values[x], (b.0 + b.2) / 2.0);
                l >= b.0 - 1e-9 && l <= b.2 + 1e-9
            })
        })
        .collect();
    xs.sort_by(|&a, &b| lon_near(lon.values[a], centre).total_cmp(&lon_near(lon.values[b], centre)));
    let lons: Vec<f64> = xs.iter().map(|&x| lon_near(lon.values[x], centre)).collect();
    let lats: Vec<f64> = ys.iter().map(|&y| lat.values[y]).collect();
    let mask: Vec<bool> =
        lats.iter().flat_map(|&la| lons.iter().map(move |&lo| (lo, la))).map(|(lo, la)| inside(lo, la)).collect();
    if !mask.iter().any(|&m| m) {
        return Err(empty());
    }
    let all = mask.iter().all(|&m| m);
    Ok(Domain::Grid { ys, xs, lats, lons, inside: (!all).then_some(mask) })
}

/// The time axis of a query: every step, an interval, or the steps nearest each
/// instant (a year or month given alone stands for the whole period).
fn time_axis(reader: &Reader, ds: &Dataset, t: &Variable, q: Option<&TimeParam>) -> Result<AxisSel> {
    let tu = cf::time_units(t)
        .ok_or_else(|| Error::bad(format!("the time coordinate of '{}' has units cirrus cannot decode", ds.id)))?;
    let tv = values(reader, ds, t)?;
    let cal = tu.calendar;
    let eps = 0.5 / tu.unit_seconds;
    let span = || match (tv.first().and_then(|&v| tu.decode(v)), tv.last().and_then(|&v| tu.decode(v))) {
        (Some(a), Some(b)) => format!(" (it covers {} to {})", iso(&a), iso(&b)),
        _ => String::new(),
    };
    let range =
        |lo: f64, hi: f64| (0..tv.len()).filter(|&i| tv[i] >= lo - eps && tv[i] <= hi + eps).collect::<Vec<_>>();
    let indices: Vec<usize> = match q {
        None => (0..tv.len()).collect(),
        Some(TimeParam::Range { start, end }) => {
            let lo = start.map(|s| s.start(cal).and_then(|d| tu.encode(&d))).transpose()?.unwrap_or(f64::NEG_INFINITY);
            let hi = end.map(|e| e.end(cal).and_then(|d| tu.encode(&d))).transpose()?.unwrap_or(f64::INFINITY);
            if lo > hi + eps {
                return Err(Error::bad("datetime: the start of the interval is after its end".to_string()));
            }
            range(lo, hi)
        }
        Some(TimeParam::Instants(list)) => {
            let mut out = Vec::new();
            for p in list {
                // a year, a month or a day given alone: the steps in it (a day without
                // steps, e.g. in monthly data: the nearest step)
                if p.precision <= 3 {
                    let r = range(tu.encode(&p.start(cal)?)?, tu.encode(&p.end(cal)?)?);
                    if !r.is_empty() || p.precision < 3 {
                        out.extend(r);
                        continue;
                    }
                }
                let v = tu.encode(&p.start(cal)?)?;
                let step = if tv.len() > 1 {
                    (tv[tv.len() - 1] - tv[0]).abs() / (tv.len() - 1) as f64
                } else {
                    1.0 / tu.unit_seconds * 86400.0
                };
                let best = (0..tv.len()).min_by(|&a, &b| (tv[a] - v).abs().total_cmp(&(tv[b] - v).abs()));
                match best {
                    Some(i) if (tv[i] - v).abs() <= step.max(eps) => out.push(i),
                    _ => {
                        return Err(Error::bad(format!(
                            "datetime {} is not within the time steps of '{}'{}",
                            p.dt,
                            ds.id,
                            span()
                        )))
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    };
    if indices.is_empty() {
        return Err(Error::bad(format!(
            "no time step of collection '{}' lies in the requested datetime{}",
            ds.id,
            span()
        )));
    }
    let labels = indices.iter().map(|&i| tu.decode(tv[i]).map_or_else(|| tv[i].to_string(), |d| iso(&d))).collect();
    Ok(AxisSel { dim: t.dims[0].clone(), name: t.name.clone(), indices, labels, values: vec![], units: None })
}

fn level_axis(reader: &Reader, ds: &Dataset, z: &Variable, q: Option<&LevelParam>) -> Result<AxisSel> {
    let zs = values(reader, ds, z)?;
    let tol = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0);
    let all = || zs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let indices: Vec<usize> = match q {
        None => (0..zs.len()).collect(),
        Some(LevelParam::Range { lo, hi }) => {
            let (lo, hi) = (lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY));
            let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            (0..zs.len()).filter(|&i| (zs[i] >= lo || tol(zs[i], lo)) && (zs[i] <= hi || tol(zs[i], hi))).collect()
        }
        Some(LevelParam::Values(wanted)) => {
            if let Some(w) = wanted.iter().find(|w| !zs.iter().any(|z| tol(*z, **w))) {
                return Err(Error::bad(format!(
                    "z={w} is not a level of '{}' (its {} values are {})",
                    ds.id,
                    z.name,
                    all()
                )));
            }
            (0..zs.len()).filter(|&i| wanted.iter().any(|w| tol(zs[i], *w))).collect()
        }
    };
    if indices.is_empty() {
        return Err(Error::bad(format!("no level of '{}' lies in the requested z range (levels: {})", z.name, all())));
    }
    Ok(AxisSel {
        dim: z.dims[0].clone(),
        name: z.name.clone(),
        labels: indices.iter().map(|&i| zs[i].to_string()).collect(),
        values: indices.iter().map(|&i| zs[i]).collect(),
        indices,
        units: text(z, "units").map(str::to_string),
    })
}

/// A LINESTRINGM: each vertex at the step nearest its time (seconds since 1970 in the
/// dataset's calendar) and, with Z, the level nearest its Z.
fn trajectory(
    reader: &Reader,
    ds: &Dataset,
    c: &Centres,
    vertices: &[Point],
    time: Option<&AxisSel>,
    level: Option<&AxisSel>,
) -> Result<Domain> {
    let t = cf::time_coordinate(ds)
        .filter(|_| time.is_some())
        .ok_or_else(|| Error::bad(format!("collection '{}' has no time: send a LINESTRING without M", ds.id)))?;
    let tu = cf::time_units(t).ok_or_else(|| Error::bad("time units cannot be decoded".to_string()))?;
    let epoch = TimeUnits::parse("seconds since 1970-01-01", tu.calendar)?;
    let tv = values(reader, ds, t)?;
    let selected = time.map(|a| a.indices.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for p in vertices {
        let cell = nearest(c, ds, p)?;
        let m = p.m.unwrap_or_default();
        let d = epoch.decode(m).ok_or_else(|| Error::bad(format!("M={m} is not a time (seconds since 1970)")))?;
        let v = tu.encode(&d)?;
        let k = (0..selected.len())
            .min_by(|&a, &b| (tv[selected[a]] - v).abs().total_cmp(&(tv[selected[b]] - v).abs()))
            .ok_or_else(|| Error::bad("no time step selected".to_string()))?;
        let z = match (level, p.z) {
            (Some(l), Some(z)) => {
                (0..l.values.len()).min_by(|&a, &b| (l.values[a] - z).abs().total_cmp(&(l.values[b] - z).abs()))
            }
            (Some(_), None) => Some(0),
            _ => None,
        };
        out.push((cell, k, z));
    }
    Ok(Domain::Trajectory(out))
}
