//! The `multi_model_statistics` operation: mean, standard deviation, median, minimum,
//! maximum and percentiles across datasets (one variable of many models, members or
//! experiments), on a common grid and over their common time steps. The datasets
//! must share a calendar (as a join does); the time steps they all have (same day, or
//! same month for monthly data) are kept. Without `grid` they must share their grid;
//! with `grid` (a grid name or a dataset id) each is regridded onto it. Missing values
//! are left out of each statistic (NaN when every dataset misses a cell). The output
//! is split along time so that each file's statistics fit in memory.

use super::indices::percentile::quantile7;
use super::output::{file_name, frequency, text_attr, time_var, write_output, OutputFile};
use super::params::Area;
use super::run::{list, text};
use super::select::{select, values, Grid, SubsetRequest};
use super::RunContext;
use crate::cf::{self, DateTime};
use crate::encode::netcdf::{selection_file, Constant, OutDim, OutFile, OutVar};
use crate::hyperslab::Hyperslab;
use crate::model::{AttrValue, Attribute, DataType, Dataset};
use crate::regrid::{field::Plan, GridSpec, LatLonGrid, Method, SourceGrid, Target};
use crate::selection::{DimSel, Selection, VarSel};
use crate::{Data, Error, Result};
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One statistic across the datasets.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Stat {
    Mean,
    /// Standard deviation (population, n), as xclim's `ensemble_mean_std_max_min`.
    Stdev,
    Median,
    Min,
    Max,
    /// A percentile (0-100), linear (type 7) as xclim's `ensemble_percentiles`.
    Percentile(f64),
}

impl Stat {
    fn parse(s: &str) -> Result<Stat> {
        let t = s.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "mean" => Stat::Mean,
            "std" | "stdev" | "stddev" => Stat::Stdev,
            "median" => Stat::Median,
            "min" | "minimum" => Stat::Min,
            "max" | "maximum" => Stat::Max,
            _ => {
                let p = t.strip_prefix('p').unwrap_or(&t);
                match p.parse::<f64>() {
                    Ok(v) if (0.0..=100.0).contains(&v) && t.starts_with('p') => Stat::Percentile(v),
                    _ => {
                        return Err(Error::InvalidInput {
                            input: "statistics".into(),
                            message: format!(
                                "'{s}' is not a statistic: use mean, stdev, median, min, max or pNN (a percentile, e.g. p10)"
                            ),
                        })
                    }
                }
            }
        })
    }

    /// The output variable's suffix (`tas_mean`, `tas_p10`).
    fn suffix(self) -> String {
        match self {
            Stat::Mean => "mean".into(),
            Stat::Stdev => "stdev".into(),
            Stat::Median => "median".into(),
            Stat::Min => "min".into(),
            Stat::Max => "max".into(),
            Stat::Percentile(p) => format!("p{}", number_text(p)),
        }
    }

    fn method(self) -> String {
        match self {
            Stat::Mean => "mean".into(),
            Stat::Stdev => "standard_deviation".into(),
            Stat::Median => "median".into(),
            Stat::Min => "minimum".into(),
            Stat::Max => "maximum".into(),
            Stat::Percentile(p) => format!("percentile {}", number_text(p)),
        }
    }

    /// The statistic of sorted values without NaN.
    fn of(self, sorted: &[f64]) -> f64 {
        let n = sorted.len();
        if n == 0 {
            return f64::NAN;
        }
        #[allow(clippy::cast_precision_loss)]
        let mean = sorted.iter().sum::<f64>() / n as f64;
        match self {
            Stat::Mean => mean,
            #[allow(clippy::cast_precision_loss)]
            Stat::Stdev => (sorted.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64).sqrt(),
            Stat::Min => sorted[0],
            Stat::Max => sorted[n - 1],
            Stat::Median => quantile7(sorted, 0.5),
            Stat::Percentile(p) => quantile7(sorted, p / 100.0),
        }
    }
}

/// A number without trailing zeros (`10`, `2.5`).
fn number_text(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A checked `multi_model_statistics` request.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EnsembleRequest {
    pub stats: Vec<Stat>,
    /// The `time` and `area` inputs.
    pub subset: SubsetRequest,
    /// The common grid; `None`: the datasets' own (shared) grid.
    pub grid: Option<GridSpec>,
    pub method: Method,
}

/// Parse and check the inputs of `multi_model_statistics`.
pub fn request(inputs: &Map<String, Value>) -> Result<EnsembleRequest> {
    let mut stats: Vec<Stat> = list(inputs, "statistics").iter().map(|s| Stat::parse(s)).collect::<Result<_>>()?;
    if stats.is_empty() {
        stats = vec![Stat::Mean, Stat::Stdev, Stat::Min, Stat::Max];
    }
    let mut seen = Vec::new();
    stats.retain(|s| {
        let k = s.suffix();
        let new = !seen.contains(&k);
        seen.push(k);
        new
    });
    let grid = match text(inputs, "grid").map(|g| g.trim().to_string()).filter(|g| !g.is_empty()) {
        None => None,
        Some(g) => Some(
            GridSpec::parse(Some(&g), None)
                .map_err(|e| Error::InvalidInput { input: "grid".into(), message: e.to_string() })?,
        ),
    };
    let method = Method::parse(&text(inputs, "method").unwrap_or_else(|| "bilinear".into()))
        .map_err(|e| Error::InvalidInput { input: "method".into(), message: e.to_string() })?;
    let mut subset = super::run::subset_request(inputs)?;
    subset.variables.clear();
    Ok(EnsembleRequest { stats, subset, grid, method })
}

/// One dataset of the ensemble, with the positions of the common time steps.
struct Member {
    ds: Arc<Dataset>,
    var: String,
    sel: Selection,
    /// Dataset time indices of the common steps.
    times: Vec<usize>,
    plan: Option<Arc<Plan>>,
}

/// The key a time step is matched on: the day, or the month for monthly data.
fn key(d: &DateTime, monthly: bool) -> (i64, u32, u32) {
    (d.year, d.month, if monthly { 0 } else { d.day })
}

fn cut(grid: LatLonGrid, area: Option<&Area>) -> Result<LatLonGrid> {
    let Some(a) = area else { return Ok(grid) };
    let lats: Vec<usize> = (0..grid.lat.len()).filter(|&i| grid.lat[i] >= a.south && grid.lat[i] <= a.north).collect();
    let lons: Vec<usize> = (0..grid.lon.len())
        .filter(|&i| {
            let x = a.west + (grid.lon[i] - a.west).rem_euclid(360.0);
            a.east - a.west >= 360.0 || x <= a.east + 1e-9
        })
        .collect();
    if lats.is_empty() || lons.is_empty() {
        return Err(Error::bad(format!("no cell of the {} lies in the area", grid.title)));
    }
    Ok(LatLonGrid {
        lat: lats.iter().map(|&i| grid.lat[i]).collect(),
        lat_bnds: lats.iter().map(|&i| grid.lat_bnds[i]).collect(),
        lon: lons.iter().map(|&i| grid.lon[i]).collect(),
        lon_bnds: lons.iter().map(|&i| grid.lon_bnds[i]).collect(),
        title: format!("{} (cut to the area)", grid.title),
    })
}

/// Values (NaN: missing) of member `m` at dataset time indices `idx`, on the common
/// grid, (time, cell) order.
fn read_member(ctx: &RunContext, m: &Member, idx: &[usize]) -> Result<Vec<f64>> {
    let v = m.ds.require_var(&m.var)?;
    let dec = cf::Decode::of(v);
    match &m.plan {
        None => {
            let mut sel = m.sel.clone();
            sel.dims.insert(v.dims[0].clone(), DimSel::from_indices(idx));
            let arr = sel.read(&ctx.engine.reader, &m.ds, &VarSel::shared(&m.var))?;
            dec.decode(&arr.data, "combined")
        }
        Some(plan) => {
            let mut out = Vec::new();
            for r in DimSel::from_indices(idx).ranges() {
                let slab: Hyperslab = plan.slab(&[*r]);
                let arr = ctx.engine.reader.read(&m.ds, v, &slab)?;
                out.extend(plan.apply(&dec.decode(&arr.data, "regridded")?));
            }
            Ok(out)
        }
    }
}

/// Bytes of statistics one output file holds at most (before it is written).
const PIECE_BYTES: usize = 256 << 20;

/// Compute the statistics across `datasets` into `ctx.out_dir`.
pub fn run_ensemble(ctx: &mut RunContext, datasets: &[Arc<Dataset>], req: &EnsembleRequest) -> Result<Vec<OutputFile>> {
    if datasets.len() < 2 {
        return Err(Error::InvalidInput {
            input: "collection".into(),
            message: "multi-model statistics need at least two datasets".into(),
        });
    }
    let reader = &ctx.engine.reader;
    let first = &datasets[0];
    let var = cf::main_variable(first)
        .ok_or_else(|| Error::bad(format!("'{}' has no data variable", first.id)))?
        .name
        .clone();
    // calendars, time keys
    let monthly = frequency(first).to_ascii_lowercase().contains("mon");
    let mut calendar = None;
    let mut members = Vec::new();
    let mut common: Option<Vec<(i64, u32, u32)>> = None;
    let mut keyed: Vec<BTreeMap<(i64, u32, u32), usize>> = Vec::new();
    for ds in datasets {
        let v = ds.var(&var).ok_or_else(|| Error::InvalidInput {
            input: "collection".into(),
            message: format!("'{}' has no variable '{var}' (the variable of '{}')", ds.id, first.id),
        })?;
        if v.dims.len() != 3 {
            return Err(Error::bad(format!("'{var}' of '{}' is not (time, y, x): select one level first", ds.id)));
        }
        let t = cf::time_coordinate(ds)
            .filter(|t| t.dims.first() == v.dims.first())
            .ok_or_else(|| Error::bad(format!("'{var}' of '{}' has no time as its first dimension", ds.id)))?;
        let tu = cf::time_units(t).ok_or_else(|| Error::bad(format!("the time of '{}' cannot be decoded", ds.id)))?;
        match calendar {
            None => calendar = Some((tu.calendar, ds.id.clone())),
            Some((c, ref id)) if c != tu.calendar => {
                return Err(Error::bad(format!(
                    "'{}' uses the {} calendar and '{id}' the {} calendar: datasets of different calendars are not combined (as in a join)",
                    ds.id,
                    tu.calendar.name(),
                    c.name()
                )))
            }
            Some(_) => {}
        }
        let mut r = req.subset.clone();
        r.variables = vec![var.clone()];
        if req.grid.is_some() {
            r.area = None;
        }
        let sel = select(reader, ds, &r)?;
        let tv = values(reader, ds, t)?;
        let map: BTreeMap<(i64, u32, u32), usize> = sel
            .sel(&t.dims[0], tv.len())
            .indices()
            .into_iter()
            .filter_map(|i| tu.decode(tv[i]).map(|d| (key(&d, monthly), i)))
            .collect();
        common = Some(match common {
            None => map.keys().copied().collect(),
            Some(c) => c.into_iter().filter(|k| map.contains_key(k)).collect(),
        });
        keyed.push(map);
        members.push(Member { ds: ds.clone(), var: var.clone(), sel, times: Vec::new(), plan: None });
    }
    let common = common.unwrap_or_default();
    if common.is_empty() {
        return Err(Error::bad("the datasets have no time step in common (in the selected time)".to_string()));
    }
    for (m, map) in members.iter_mut().zip(&keyed) {
        m.times = common.iter().filter_map(|k| map.get(k).copied()).collect();
    }
    // the common grid
    let target = match &req.grid {
        None => {
            let g0 = Grid::of(reader, first, &var, &members[0].sel)?;
            for m in &members[1..] {
                if !Grid::of(reader, &m.ds, &var, &m.sel)?.same(&g0) {
                    return Err(Error::InvalidInput {
                        input: "grid".into(),
                        message: format!(
                            "'{}' and '{}' are on different grids: give a common grid (grid=1deg, or grid=<dataset id>)",
                            m.ds.id, first.id
                        ),
                    });
                }
            }
            None
        }
        Some(spec) => {
            (ctx.progress)(0.02, "regridding weights")?;
            let v0 = first.require_var(&var)?;
            let src0 = SourceGrid::of(reader, first, v0)?;
            let grid = cut(spec.resolve(reader, ctx.catalog, &src0)?, req.subset.area.as_ref())?;
            for m in &mut members {
                let v = m.ds.require_var(&var)?;
                let source = Arc::new(SourceGrid::of(reader, &m.ds, v)?);
                m.plan = Some(Arc::new(Plan::new(
                    &ctx.engine.regrid,
                    source,
                    Target::LatLon(grid.clone()),
                    req.method,
                    0.5,
                )?));
            }
            Some(grid)
        }
    };
    let v0 = first.require_var(&var)?;
    let cells = match &target {
        Some(g) => g.lat.len() * g.lon.len(),
        None => members[0].sel.shape(v0)[1..].iter().product(),
    };
    // the output time axis: the first dataset's values at the common steps
    let t0 = cf::time_coordinate(first).ok_or_else(|| Error::Internal("time vanished".into()))?;
    let tv0 = values(reader, first, t0)?;
    let steps_per_piece = (PIECE_BYTES / (cells * 4 * req.stats.len()).max(1)).max(1);
    let nsteps = common.len();
    let pieces: Vec<(usize, usize)> =
        (0..nsteps).step_by(steps_per_piece).map(|a| (a, (a + steps_per_piece).min(nsteps))).collect();
    let mut files = Vec::new();
    let ids: Vec<&str> = datasets.iter().map(|d| d.id.as_str()).collect();
    for (pi, &(a, b)) in pieces.iter().enumerate() {
        let n = b - a;
        let mut stats = vec![vec![f32::NAN; n * cells]; req.stats.len()];
        // a few steps at a time: every member's values, then the statistics per cell
        let per = (64 << 20) / (cells * 8 * members.len()).max(1);
        let mut s0 = a;
        while s0 < b {
            let s1 = (s0 + per.max(1)).min(b);
            #[allow(clippy::cast_precision_loss)]
            (ctx.progress)(
                0.05 + 0.85 * s0 as f64 / nsteps as f64,
                &format!("statistics of {} datasets", members.len()),
            )?;
            let blocks: Vec<Vec<f64>> =
                members.iter().map(|m| read_member(ctx, m, &m.times[s0..s1])).collect::<Result<_>>()?;
            let len = (s1 - s0) * cells;
            let out: Vec<Vec<f64>> = (0..len)
                .into_par_iter()
                .map_init(
                    || Vec::with_capacity(blocks.len()),
                    |vals: &mut Vec<f64>, k| {
                        vals.clear();
                        vals.extend(blocks.iter().map(|b| b[k]).filter(|x| !x.is_nan()));
                        vals.sort_unstable_by(f64::total_cmp);
                        req.stats.iter().map(|s| s.of(vals)).collect()
                    },
                )
                .collect();
            for (k, row) in out.into_iter().enumerate() {
                for (j, x) in row.into_iter().enumerate() {
                    #[allow(clippy::cast_possible_truncation)]
                    let y = x as f32;
                    stats[j][(s0 - a) * cells + k] = y;
                }
            }
            s0 = s1;
        }
        let times: Vec<f64> = members[0].times[a..b].iter().map(|&i| tv0[i]).collect();
        let mut out = grid_file(first, &members[0], target.as_ref(), &var)?;
        let tdim = t0.dims[0].clone();
        out.dims.push(OutDim { name: tdim.clone(), len: n, unlimited: true });
        out.vars.push(time_var(t0, &tdim, times));
        let (ydim, xdim) = match &target {
            Some(_) => ("lat".to_string(), "lon".to_string()),
            None => (v0.dims[1].clone(), v0.dims[2].clone()),
        };
        let ny = out.dims.iter().find(|d| d.name == ydim).map_or(0, |d| d.len);
        let nx = out.dims.iter().find(|d| d.name == xdim).map_or(0, |d| d.len);
        for (s, vals) in req.stats.iter().zip(stats) {
            let mut attrs: Vec<Attribute> = v0
                .attrs
                .iter()
                .filter(|x| ["units", "standard_name", "long_name"].contains(&x.name.as_str()))
                .cloned()
                .collect();
            if target.is_none() {
                attrs.extend(
                    v0.attrs.iter().filter(|x| ["coordinates", "grid_mapping"].contains(&x.name.as_str())).cloned(),
                );
            }
            let cm = v0.attr("cell_methods").and_then(AttrValue::as_text).unwrap_or("");
            attrs.push(text_attr("cell_methods", format!("{cm} realization: {}", s.method()).trim()));
            attrs.push(text_attr("ensemble_members", &ids.join(" ")));
            attrs.push(Attribute { name: "_FillValue".into(), value: AttrValue::F32(vec![1e20]) });
            let data: Vec<f32> = vals.into_iter().map(|x| if x.is_nan() { 1e20 } else { x }).collect();
            out.vars.push(OutVar {
                name: format!("{var}_{}", s.suffix()),
                dtype: DataType::F32,
                dims: vec![tdim.clone(), ydim.clone(), xdim.clone()],
                attrs,
                chunks: None,
                source: Box::new(Constant { shape: vec![n, ny, nx], data: Data::F32(data) }),
            });
        }
        out.attrs.retain(|x| !["source_id", "variant_label", "member_id", "tracking_id"].contains(&x.name.as_str()));
        out.attrs.push(text_attr("multi_model_statistics", &format!("{} datasets: {}", ids.len(), ids.join(", "))));
        let tu = cf::time_units(t0);
        let range =
            tu.and_then(|u| Some((u.decode(tv0[members[0].times[a]])?, u.decode(tv0[members[0].times[b - 1]])?)));
        let piece = if pieces.len() > 1 { format!("_part{}", pi + 1) } else { String::new() };
        let name = file_name(first, &var, range, &format!("_multi-model-{}{piece}", ids.len()));
        files.push(write_output(reader, &out, ctx.out_dir, &name, &ctx.history)?);
    }
    Ok(files)
}

/// The file with the common grid's coordinates: the first dataset's (without its
/// time-dependent variables), or the target latitude-longitude grid.
fn grid_file(first: &Arc<Dataset>, m: &Member, target: Option<&LatLonGrid>, var: &str) -> Result<OutFile> {
    let Some(g) = target else {
        let v = first.require_var(var)?;
        let tdim = &v.dims[0];
        let mut coords = m.sel.clone();
        coords.vars.retain(|vs| first.var(&vs.name).is_some_and(|w| !w.dims.contains(tdim)));
        return Ok(selection_file(first, &coords));
    };
    let (ny, nx) = (g.lat.len(), g.lon.len());
    let axis = |name: &str, units: &str, std: &str, axis: &str, vals: &[f64], bnds: &[[f64; 2]]| {
        [
            OutVar {
                name: name.into(),
                dtype: DataType::F64,
                dims: vec![name.into()],
                attrs: vec![
                    text_attr("units", units),
                    text_attr("standard_name", std),
                    text_attr("axis", axis),
                    text_attr("bounds", &format!("{name}_bnds")),
                ],
                chunks: None,
                source: Constant::f64(&[vals.len()], vals.to_vec()),
            },
            OutVar {
                name: format!("{name}_bnds"),
                dtype: DataType::F64,
                dims: vec![name.into(), "bnds".into()],
                attrs: vec![],
                chunks: None,
                source: Constant::f64(&[vals.len(), 2], bnds.iter().flat_map(|b| [b[0], b[1]]).collect()),
            },
        ]
    };
    let mut vars = Vec::new();
    vars.extend(axis("lat", "degrees_north", "latitude", "Y", &g.lat, &g.lat_bnds));
    vars.extend(axis("lon", "degrees_east", "longitude", "X", &g.lon, &g.lon_bnds));
    let mut attrs = first.attrs.clone();
    attrs.push(text_attr("grid", &g.title));
    Ok(OutFile {
        dims: vec![
            OutDim { name: "lat".into(), len: ny, unlimited: false },
            OutDim { name: "lon".into(), len: nx, unlimited: false },
            OutDim { name: "bnds".into(), len: 2, unlimited: false },
        ],
        vars,
        attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        let v = [1.0, 2.0, 4.0, 10.0];
        assert_eq!(Stat::Mean.of(&v), 4.25);
        assert_eq!(Stat::Min.of(&v), 1.0);
        assert_eq!(Stat::Max.of(&v), 10.0);
        assert_eq!(Stat::Median.of(&v), 3.0);
        // numpy.percentile([1, 2, 4, 10], 90) = 8.2
        assert!((Stat::Percentile(90.0).of(&v) - 8.2).abs() < 1e-12);
        // numpy.std
        assert!((Stat::Stdev.of(&v) - 3.491_060_010_942_235_6).abs() < 1e-12);
        assert!(Stat::Mean.of(&[]).is_nan());
        assert_eq!(Stat::parse("p10").expect("p10"), Stat::Percentile(10.0));
        assert!(Stat::parse("p101").is_err() && Stat::parse("mode").is_err() && Stat::parse("10").is_err());
        assert_eq!(Stat::Percentile(2.5).suffix(), "p2.5");
    }
}
