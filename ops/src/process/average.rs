//! Averaging: the mean over dimensions (time, level, latitude, longitude, realization;
//! optionally cos(latitude)-weighted) and the mean over calendar periods of time (day,
//! month, season, year). Missing values (`_FillValue`, `missing_value`, NaN) are left
//! out; packed values are unpacked. Averaged coordinates become scalar coordinates with
//! bounds; `cell_methods` says what was done.

use super::output::{clean_fill_values, file_name, write_output, OutputFile, STORAGE_ATTRS};
use super::params::{AvgDim, Freq};
use super::select::{level_coordinate, values};
use super::RunContext;
use crate::array::Data;
use crate::cf::{self, DateTime};
use crate::encode::netcdf::{selection_file, BlockSink, Constant, OutDim, OutFile, OutVar, VarSource};
use crate::hyperslab::{next_index, DimRange, Hyperslab};
use crate::model::{AttrValue, Attribute, DataType, Dataset, Variable};
use crate::read::Reader;
use crate::selection::Selection;
use crate::{Error, Result};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The output type of a mean of `v` (double stays double, everything else float).
fn mean_type(v: &Variable) -> DataType {
    if v.dtype == DataType::F64 {
        DataType::F64
    } else {
        DataType::F32
    }
}

const FILL: f64 = 1e20;

/// Where the values of one block go in the output of a mean.
struct BlockGeometry<'a> {
    shape: Vec<usize>,
    /// The block's start in the slab, per axis.
    base: Vec<usize>,
    /// Output stride of each axis (0 for averaged axes).
    ostride: &'a [usize],
    /// Weights along one axis (indexed by the slab position on it).
    weights: Option<&'a (usize, Vec<f64>)>,
}

impl BlockGeometry<'_> {
    /// Add the block's values (NaN: missing) whose slab index on axis `k` is in
    /// `range` to the sums of the outputs `first..first + sum.len()` (all of them when
    /// `k` is `usize::MAX`).
    fn accumulate(
        &self,
        vals: &[f64],
        k: usize,
        range: (usize, usize),
        first: usize,
        sum: &mut [f64],
        wsum: &mut [f64],
    ) {
        let n = self.shape.len();
        if n == 0 {
            if let Some(&x) = vals.first().filter(|x| !x.is_nan()) {
                sum[0] += x;
                wsum[0] += 1.0;
            }
            return;
        }
        let last = n - 1;
        let run = self.shape[last];
        let (ls, lb) = (self.ostride[last], self.base[last]);
        let wlast = self.weights.filter(|(ax, _)| *ax == last).map(|(_, w)| &w[lb..lb + run]);
        // the part of each row (along the last axis) that falls in range
        let (i0, i1) = if k == last {
            (range.0.saturating_sub(lb).min(run), range.1.saturating_sub(lb).min(run))
        } else {
            (0, run)
        };
        let mut idx = vec![0usize; last];
        for row in vals.chunks_exact(run.max(1)) {
            let pos = |d: usize| self.base[d] + idx[d];
            if k >= last || (range.0..range.1).contains(&pos(k)) {
                let o0 = (0..last).map(|d| pos(d) * self.ostride[d]).sum::<usize>() + lb * ls;
                let wrow = self.weights.filter(|(ax, _)| *ax < last).map_or(1.0, |(ax, w)| w[pos(*ax)]);
                if ls == 0 && wlast.is_none() {
                    // the whole row goes to one output
                    let (mut s, mut c) = (0.0, 0.0);
                    for &x in row[i0..i1].iter().filter(|x| !x.is_nan()) {
                        s += x;
                        c += 1.0;
                    }
                    sum[o0 - first] += s * wrow;
                    wsum[o0 - first] += c * wrow;
                } else {
                    for i in i0..i1 {
                        let x = row[i];
                        if !x.is_nan() {
                            let o = o0 + i * ls - first;
                            let w = wlast.map_or(wrow, |w| w[i]);
                            sum[o] += x * w;
                            wsum[o] += w;
                        }
                    }
                }
            }
            next_index(&mut idx, |d| self.shape[d]);
        }
    }
}

/// Mean over `axes` of the block `slab` of `var`: one value per combination of the
/// kept axes, row-major. `weights`: per-index weights along one axis.
fn reduce(
    reader: &Reader,
    ds: &Dataset,
    var: &Variable,
    slab: &Hyperslab,
    axes: &[usize],
    weights: Option<&(usize, Vec<f64>)>,
    block_bytes: usize,
) -> Result<Vec<f64>> {
    let n = slab.0.len();
    let kept: Vec<usize> = (0..n).filter(|d| !axes.contains(d)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&d| slab.0[d].count).collect();
    let out_len: usize = out_shape.iter().product();
    if out_len > 400_000_000 {
        return Err(Error::bad(format!(
            "the result of averaging '{}' would hold {out_len} values, too many for one step",
            var.name
        )));
    }
    // output stride of each input axis (0 for averaged axes)
    let mut ostride = vec![0usize; n];
    let mut s = 1;
    for (&d, &len) in kept.iter().zip(&out_shape).rev() {
        ostride[d] = s;
        s *= len;
    }
    let dec = cf::Decode::of(var);
    let mut sum = vec![0f64; out_len];
    let mut wsum = vec![0f64; out_len];
    let max_elems = (block_bytes / var.dtype.size().max(1)).max(1);
    let what = "averaged";
    for block in slab.blocks(max_elems) {
        let arr = reader.read(ds, var, &block)?;
        let vals = dec.decode(&arr.data, what)?;
        // position of the block's start in the slab, per axis
        let base: Vec<usize> =
            block.0.iter().zip(&slab.0).map(|(b, s)| (b.start - s.start) / s.stride.max(1)).collect();
        let geo = BlockGeometry { shape: block.shape(), base, ostride: &ostride, weights };
        match kept.first() {
            // outputs split along the outermost kept axis: each part is summed by one
            // task, in the same order as one task would (results do not depend on it)
            Some(&k) if n > 0 => {
                let len = slab.0[k].count;
                let per = len.div_ceil(rayon::current_num_threads() * 4).max(1);
                let step = per * ostride[k];
                sum.par_chunks_mut(step).zip(wsum.par_chunks_mut(step)).enumerate().for_each(|(p, (s, w))| {
                    geo.accumulate(&vals, k, (p * per, (p * per + per).min(len)), p * step, s, w)
                });
            }
            _ => geo.accumulate(&vals, usize::MAX, (0, 1), 0, &mut sum, &mut wsum),
        }
    }
    Ok(sum.iter().zip(&wsum).map(|(s, w)| if *w > 0.0 { s / w } else { f64::NAN }).collect())
}

fn typed(vals: Vec<f64>, t: DataType) -> Data {
    let fill = |x: f64| if x.is_nan() { FILL } else { x };
    #[allow(clippy::cast_possible_truncation)]
    match t {
        DataType::F64 => Data::F64(vals.into_iter().map(fill).collect()),
        _ => Data::F32(vals.into_iter().map(|x| fill(x) as f32).collect()),
    }
}

/// Mean over dimensions, streamed along the first dimension when it is kept.
struct MeanOverDims {
    ds: Arc<Dataset>,
    var: String,
    axes: Vec<usize>,
    weights: Option<(usize, Vec<f64>)>,
    dtype: DataType,
}

impl VarSource for MeanOverDims {
    fn in_row_order(&self) -> bool {
        true
    }

    fn blocks(&self, reader: &Reader, block_bytes: usize, put: &mut BlockSink) -> Result<()> {
        let v = self.ds.require_var(&self.var)?;
        let full = Hyperslab::full(&v.shape);
        let kept_shape: Vec<usize> =
            (0..v.shape.len()).filter(|d| !self.axes.contains(d)).map(|d| v.shape[d]).collect();
        if v.shape.is_empty() || self.axes.contains(&0) {
            let out = reduce(reader, &self.ds, v, &full, &self.axes, self.weights.as_ref(), block_bytes)?;
            return put(&vec![0; kept_shape.len()], &kept_shape, typed(out, self.dtype));
        }
        // stream along the first (kept) dimension
        let row: usize = v.shape[1..].iter().product::<usize>().max(1);
        let per = (block_bytes / (row * v.dtype.size().max(1))).max(1);
        let mut o = 0;
        while o < v.shape[0] {
            let c = per.min(v.shape[0] - o);
            let mut slab = full.clone();
            slab.0[0] = DimRange { start: o, stride: 1, count: c };
            let out = reduce(reader, &self.ds, v, &slab, &self.axes, self.weights.as_ref(), block_bytes)?;
            let mut start = vec![0; kept_shape.len()];
            start[0] = o;
            let mut shape = kept_shape.clone();
            shape[0] = c;
            put(&start, &shape, typed(out, self.dtype))?;
            o += c;
        }
        Ok(())
    }
}

/// Mean over each period of the time axis.
struct MeanOverPeriods {
    ds: Arc<Dataset>,
    var: String,
    axis: usize,
    periods: Vec<(usize, usize)>,
    dtype: DataType,
}

impl VarSource for MeanOverPeriods {
    fn in_row_order(&self) -> bool {
        self.axis == 0
    }

    fn blocks(&self, reader: &Reader, block_bytes: usize, put: &mut BlockSink) -> Result<()> {
        let v = self.ds.require_var(&self.var)?;
        for (p, &(a, b)) in self.periods.iter().enumerate() {
            let mut slab = Hyperslab::full(&v.shape);
            slab.0[self.axis] = DimRange { start: a, stride: 1, count: b - a };
            let out = reduce(reader, &self.ds, v, &slab, &[self.axis], None, block_bytes)?;
            let mut start = vec![0; v.shape.len()];
            start[self.axis] = p;
            let mut shape = v.shape.clone();
            shape[self.axis] = 1;
            put(&start, &shape, typed(out, self.dtype))?;
        }
        Ok(())
    }
}

/// The dataset dimension an averaging dimension refers to.
fn dim_of(ds: &Dataset, d: AvgDim) -> Result<String> {
    let coord_dim = |v: Option<&Variable>| v.filter(|v| v.is_coordinate()).map(|v| v.dims[0].clone());
    let found = match d {
        AvgDim::Time => coord_dim(cf::time_coordinate(ds)),
        AvgDim::Level => coord_dim(level_coordinate(ds)),
        AvgDim::Latitude => coord_dim(ds.vars.iter().find(|v| cf::is_latitude(v) && v.is_coordinate())),
        AvgDim::Longitude => coord_dim(ds.vars.iter().find(|v| cf::is_longitude(v) && v.is_coordinate())),
        AvgDim::Realization => ds.dims.iter().find(|x| x.name == "realization").map(|x| x.name.clone()),
    };
    found.ok_or_else(|| {
        let why = match d {
            AvgDim::Latitude | AvgDim::Longitude
                if ds.vars.iter().any(|v| (cf::is_latitude(v) || cf::is_longitude(v)) && v.dims.len() == 2) =>
            {
                " (its grid is curvilinear: latitude and longitude are 2-D, not dimensions)"
            }
            _ => "",
        };
        Error::bad(format!("dataset '{}' has no {} dimension to average over{why}", ds.id, d.name()))
    })
}

/// Names of bounds variables (referenced by `bounds` attributes).
fn bounds_names(ds: &Dataset) -> BTreeSet<String> {
    ds.vars.iter().filter_map(|v| v.attr("bounds").and_then(AttrValue::as_text)).map(str::to_string).collect()
}

fn with_cell_method(attrs: &[Attribute], method: &str) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = attrs.iter().filter(|a| !STORAGE_ATTRS.contains(&a.name.as_str())).cloned().collect();
    let old = attrs.iter().find(|a| a.name == "cell_methods").and_then(|a| a.value.as_text()).unwrap_or("");
    let text = if old.is_empty() { method.to_string() } else { format!("{old} {method}") };
    out.retain(|a| a.name != "cell_methods");
    out.push(Attribute { name: "cell_methods".into(), value: AttrValue::Text(text) });
    out
}

fn fill_attrs(t: DataType) -> Vec<Attribute> {
    #[allow(clippy::cast_possible_truncation)]
    let v = if t == DataType::F64 { AttrValue::F64(vec![FILL]) } else { AttrValue::F32(vec![FILL as f32]) };
    vec![
        Attribute { name: "_FillValue".into(), value: v.clone() },
        Attribute { name: "missing_value".into(), value: v },
    ]
}

/// Average a dataset over dimensions into `ctx.out_dir`.
pub fn run_average(
    ctx: &mut RunContext,
    ds: &Arc<Dataset>,
    dims: &[AvgDim],
    weighted: bool,
) -> Result<Vec<OutputFile>> {
    if dims.is_empty() {
        return Err(Error::bad(
            "give at least one dimension to average over (time, level, latitude, longitude, realization)",
        ));
    }
    let names: Vec<String> = dims.iter().map(|&d| dim_of(ds, d)).collect::<Result<_>>()?;
    (ctx.progress)(0.02, &format!("averaging {} over {}", ds.id, names.join(", ")))?;
    let bounds = bounds_names(ds);
    let averaged = |v: &Variable| v.dims.iter().any(|d| names.contains(d));
    let is_bounds_or_coord =
        |v: &Variable| bounds.contains(&v.name) || (v.is_coordinate() && names.contains(&v.dims[0]));
    // Untouched variables: no averaged dimension.
    let keep = Selection::of_vars(ds.vars.iter().filter(|v| !averaged(v)).map(|v| v.name.clone()));
    let mut out: OutFile = selection_file(ds, &keep);
    let weights = if weighted {
        let lat = ds.vars.iter().find(|v| cf::is_latitude(v) && v.is_coordinate());
        match lat {
            Some(lat) if names.contains(&lat.dims[0]) => Some((
                lat.dims[0].clone(),
                values(&ctx.engine.reader, ds, lat)?
                    .iter()
                    .map(|y| y.to_radians().cos().max(0.0))
                    .collect::<Vec<f64>>(),
            )),
            _ => {
                return Err(Error::bad(
                    "weighted=true weights by cos(latitude) and needs latitude among the dimensions averaged over",
                ))
            }
        }
    } else {
        None
    };
    let method = format!("{}: mean", names.join(": "));
    let method = if weights.is_some() { format!("{method} (weighted by cosine of latitude)") } else { method };
    // Averaged coordinates become scalar coordinates with bounds.
    let mut scalar_coords = Vec::new();
    for name in &names {
        let Some(c) = ds.var(name) else { continue };
        let cv = values(&ctx.engine.reader, ds, c)?;
        let (lo, hi) = match c.attr("bounds").and_then(AttrValue::as_text).and_then(|b| ds.var(b)) {
            Some(b) => {
                let bv = values(&ctx.engine.reader, ds, b)?;
                (bv.iter().copied().fold(f64::INFINITY, f64::min), bv.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            }
            None => {
                (cv.iter().copied().fold(f64::INFINITY, f64::min), cv.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            }
        };
        #[allow(clippy::cast_precision_loss)]
        let mean = cv.iter().sum::<f64>() / cv.len().max(1) as f64;
        let bname = format!("{name}_bnds");
        let mut attrs: Vec<Attribute> =
            c.attrs.iter().filter(|a| a.name != "bounds" && a.name != "_FillValue").cloned().collect();
        attrs.push(Attribute { name: "bounds".into(), value: AttrValue::Text(bname.clone()) });
        out.vars.push(OutVar {
            name: name.clone(),
            dtype: DataType::F64,
            dims: vec![],
            attrs,
            chunks: None,
            source: Constant::f64(&[], vec![mean]),
        });
        scalar_coords.push((name.clone(), bname, lo, hi));
    }
    if !scalar_coords.is_empty() && !out.dims.iter().any(|d| d.name == "bnds") {
        out.dims.push(OutDim { name: "bnds".into(), len: 2, unlimited: false });
    }
    for (_, bname, lo, hi) in &scalar_coords {
        out.vars.push(OutVar {
            name: bname.clone(),
            dtype: DataType::F64,
            dims: vec!["bnds".into()],
            attrs: vec![],
            chunks: None,
            source: Constant::f64(&[2], vec![*lo, *hi]),
        });
    }
    let coord_list: String = scalar_coords.iter().map(|(n, ..)| n.as_str()).collect::<Vec<_>>().join(" ");
    // Averaged variables.
    for v in ds.vars.iter().filter(|v| averaged(v) && !is_bounds_or_coord(v) && v.dtype.is_numeric()) {
        let axes: Vec<usize> = v.dims.iter().enumerate().filter(|(_, d)| names.contains(d)).map(|(i, _)| i).collect();
        let kept: Vec<String> = v.dims.iter().filter(|d| !names.contains(d)).cloned().collect();
        for d in &kept {
            if !out.dims.iter().any(|x| x.name == *d) {
                let len = ds.dim(d).map_or(0, |x| x.len);
                out.dims.push(OutDim { name: d.clone(), len, unlimited: ds.dim(d).is_some_and(|x| x.unlimited) });
            }
        }
        let w = weights.as_ref().and_then(|(dim, w)| v.dims.iter().position(|d| d == dim).map(|ax| (ax, w.clone())));
        let dtype = mean_type(v);
        let mut attrs = with_cell_method(&v.attrs, &method);
        attrs.extend(fill_attrs(dtype));
        let old_coords = v.attr("coordinates").and_then(AttrValue::as_text).unwrap_or("");
        let coords = format!("{old_coords} {coord_list}").trim().to_string();
        attrs.retain(|a| a.name != "coordinates");
        if !coords.is_empty() {
            attrs.push(Attribute { name: "coordinates".into(), value: AttrValue::Text(coords) });
        }
        out.vars.push(OutVar {
            name: v.name.clone(),
            dtype,
            dims: kept,
            attrs,
            chunks: None,
            source: Box::new(MeanOverDims { ds: ds.clone(), var: v.name.clone(), axes, weights: w, dtype }),
        });
    }
    order_like(ds, &mut out);
    clean_fill_values(ds, &mut out);
    let main = main_name(ds);
    let mut letters: Vec<char> = dims.iter().map(|d| d.letter()).collect();
    letters.sort_unstable();
    letters.dedup();
    let extra = format!("_{}avg-{}", if weighted { "w-" } else { "" }, letters.iter().collect::<String>());
    let range = if names
        .iter()
        .any(|n| Some(n.as_str()) == cf::time_coordinate(ds).and_then(|t| t.dims.first()).map(String::as_str))
    {
        None
    } else {
        time_range(&ctx.engine.reader, ds)?
    };
    let name = file_name(ds, &main, range, &extra);
    (ctx.progress)(0.1, &format!("writing {name}"))?;
    Ok(vec![write_output(&ctx.engine.reader, &out, ctx.out_dir, &name, &ctx.history)?])
}

fn main_name(ds: &Dataset) -> String {
    cf::main_variable(ds).map_or_else(|| "data".to_string(), |v| v.name.clone())
}

fn time_range(reader: &Reader, ds: &Dataset) -> Result<Option<(DateTime, DateTime)>> {
    let Some(t) = cf::time_coordinate(ds) else { return Ok(None) };
    let Some(tu) = cf::time_units(t) else { return Ok(None) };
    let tv = values(reader, ds, t)?;
    Ok(match (tv.first(), tv.last()) {
        (Some(&a), Some(&b)) => tu.decode(a).zip(tu.decode(b)),
        _ => None,
    })
}

/// Put output variables in the order of the dataset's (new ones last).
fn order_like(ds: &Dataset, out: &mut OutFile) {
    let pos = |n: &str| ds.vars.iter().position(|v| v.name == n).unwrap_or(usize::MAX);
    out.vars.sort_by_key(|v| pos(&v.name));
}

/// The calendar period a date falls in, and the start of that period and of the next.
fn period(d: &DateTime, freq: Freq, cal: cf::Calendar) -> (i64, DateTime, DateTime) {
    let date = |y: i64, m: u32, dd: u32| DateTime::date(y, m, dd);
    match freq {
        Freq::Day => {
            let n = cal.day_number(d.year, d.month, d.day);
            let (y, m, dd) = cal.date_of(n + 1);
            (n, date(d.year, d.month, d.day), date(y, m, dd))
        }
        Freq::Month => {
            let (ny, nm) = if d.month == 12 { (d.year + 1, 1) } else { (d.year, d.month + 1) };
            (d.year * 12 + i64::from(d.month), date(d.year, d.month, 1), date(ny, nm, 1))
        }
        Freq::Year => (d.year, date(d.year, 1, 1), date(d.year + 1, 1, 1)),
        Freq::Season => {
            // DJF (December counts with the next year), MAM, JJA, SON
            let (sy, s) = match d.month {
                12 => (d.year + 1, 0),
                1 | 2 => (d.year, 0),
                3..=5 => (d.year, 1),
                6..=8 => (d.year, 2),
                _ => (d.year, 3),
            };
            let start = if s == 0 { date(sy - 1, 12, 1) } else { date(sy, 3 * s, 1) };
            let next = if s == 3 { date(sy, 12, 1) } else { date(sy, 3 * s + 3, 1) };
            (sy * 4 + i64::from(s), start, next)
        }
    }
}

/// Average a dataset over calendar periods of time into `ctx.out_dir`.
pub fn run_average_time(ctx: &mut RunContext, ds: &Arc<Dataset>, freq: Freq) -> Result<Vec<OutputFile>> {
    let t = cf::time_coordinate(ds)
        .ok_or_else(|| Error::bad(format!("dataset '{}' has no time coordinate to average over", ds.id)))?;
    let tu =
        cf::time_units(t).ok_or_else(|| Error::bad(format!("the time coordinate of '{}' cannot be decoded", ds.id)))?;
    let tdim = t.dims.first().cloned().ok_or_else(|| Error::Internal("time without dimension".into()))?;
    (ctx.progress)(0.02, &format!("averaging {} by {}", ds.id, freq.name()))?;
    let tv = values(&ctx.engine.reader, ds, t)?;
    // consecutive time steps in the same period form one output step
    let mut periods: Vec<(usize, usize, DateTime, DateTime)> = Vec::new();
    let mut last_key = None;
    for (i, &x) in tv.iter().enumerate() {
        let d = tu.decode(x).ok_or_else(|| Error::bad(format!("time value {x} of '{}' cannot be decoded", ds.id)))?;
        let (key, start, next) = period(&d, freq, tu.calendar);
        if last_key == Some(key) {
            if let Some(p) = periods.last_mut() {
                p.1 = i + 1;
            }
        } else {
            periods.push((i, i + 1, start, next));
            last_key = Some(key);
        }
    }
    let bounds = bounds_names(ds);
    let keep = Selection::of_vars(ds.vars.iter().filter(|v| !v.dims.contains(&tdim)).map(|v| v.name.clone()));
    let mut out = selection_file(ds, &keep);
    let spans_of: Vec<(DateTime, DateTime)> = periods.iter().map(|p| (p.2, p.3)).collect();
    super::output::period_time_axis(&mut out, t, &tu, &spans_of)?;
    let spans: Vec<(usize, usize)> = periods.iter().map(|p| (p.0, p.1)).collect();
    let interval = match freq {
        Freq::Day => "1 day",
        Freq::Month => "1 month",
        Freq::Season => "3 months",
        Freq::Year => "1 year",
    };
    for v in ds
        .vars
        .iter()
        .filter(|v| v.dims.contains(&tdim) && v.name != t.name && !bounds.contains(&v.name) && v.dtype.is_numeric())
    {
        let axis = v.dims.iter().position(|d| *d == tdim).unwrap_or(0);
        let dtype = mean_type(v);
        let mut attrs = with_cell_method(&v.attrs, &format!("{tdim}: mean (interval: {interval})"));
        attrs.extend(fill_attrs(dtype));
        out.vars.push(OutVar {
            name: v.name.clone(),
            dtype,
            dims: v.dims.clone(),
            attrs,
            chunks: None,
            source: Box::new(MeanOverPeriods {
                ds: ds.clone(),
                var: v.name.clone(),
                axis,
                periods: spans.clone(),
                dtype,
            }),
        });
    }
    order_like(ds, &mut out);
    clean_fill_values(ds, &mut out);
    let range = periods.first().zip(periods.last()).map(|(a, b)| (a.2, b.2));
    let name = file_name(ds, &main_name(ds), range, &format!("_avg-{}", freq.name()));
    (ctx.progress)(0.1, &format!("writing {name}"))?;
    Ok(vec![write_output(&ctx.engine.reader, &out, ctx.out_dir, &name, &ctx.history)?])
}
