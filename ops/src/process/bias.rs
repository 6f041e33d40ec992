//! The `bias_adjustment` operation: empirical quantile mapping (xsdba's
//! `EmpiricalQuantileMapping`) of a model dataset against a reference dataset over a
//! calibration period, applied to the model's selected period. Per cell, the
//! quantiles of the reference and of the model's calibration data at `n` equally
//! spaced nodes ((i + ½)/n, type 7) give adjustment factors (reference − model,
//! additive, or reference / model, multiplicative); each model value gets the factor
//! of the nearest (or linearly interpolated) model quantile, the first or last factor
//! beyond them. The adjusted values stream to the output in time order. A model on
//! another grid than the reference is first regridded (bilinear) onto it.

use super::indices::percentile::quantile7;
use super::output::{clean_fill_values, file_name, write_output, OutputFile, STORAGE_ATTRS};
use super::params::TimeParam;
use super::run::text;
use super::select::{select, Grid, SubsetRequest};
use super::RunContext;
use crate::cf;
use crate::cf::cell_major;
use crate::encode::netcdf::{selection_file, BlockSink, VarSource};
use crate::model::{AttrValue, Attribute, DataType, Dataset};
use crate::read::Reader;
use crate::regrid::{LatLonGrid, Method, Plan, SourceGrid, Target};
use crate::selection::{DimSel, Selection, VarSel};
use crate::{Data, Error, Result};
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::sync::Arc;

/// How factors are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Additive,
    Multiplicative,
}

/// How a model value finds its factor among the model quantiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Interp {
    Nearest,
    Linear,
}

/// A checked `bias_adjustment` request.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BiasRequest {
    /// The reference (observations, reanalysis) dataset.
    pub reference: String,
    /// The model dataset of the calibration period (default: the adjusted one).
    pub historical: Option<String>,
    pub calibration: TimeParam,
    /// The adjusted period (`time`) and the `area`.
    pub subset: SubsetRequest,
    /// `None`: multiplicative for precipitation, additive otherwise.
    pub kind: Option<Kind>,
    pub nquantiles: usize,
    pub interp: Interp,
}

fn invalid(input: &str, message: impl Into<String>) -> Error {
    Error::InvalidInput { input: input.into(), message: message.into() }
}

/// Parse and check the inputs of `bias_adjustment` (not yet the datasets).
pub fn request(inputs: &Map<String, Value>) -> Result<BiasRequest> {
    let reference = text(inputs, "reference").ok_or_else(|| Error::MissingInput("reference".into()))?;
    let cal = text(inputs, "calibration_period").ok_or_else(|| Error::MissingInput("calibration_period".into()))?;
    let calibration = TimeParam::parse(&cal)
        .map_err(|e| invalid("calibration_period", e.to_string()))?
        .ok_or_else(|| invalid("calibration_period", "give the calibration period as start/end, e.g. 1981/2010"))?;
    let kind = match text(inputs, "kind").map(|k| k.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => None,
        Some("+" | "additive" | "add") => Some(Kind::Additive),
        Some("*" | "multiplicative" | "mul") => Some(Kind::Multiplicative),
        Some(other) => {
            return Err(invalid("kind", format!("'{other}' is not a kind: use + (additive) or * (multiplicative)")))
        }
    };
    let nquantiles = match text(inputs, "nquantiles") {
        None => 20,
        Some(n) => n
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (2..=1000).contains(n))
            .ok_or_else(|| invalid("nquantiles", format!("'{n}' is not a number of quantiles in 2..1000")))?,
    };
    let interp = match text(inputs, "interp").map(|k| k.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "nearest") => Interp::Nearest,
        Some("linear") => Interp::Linear,
        Some(other) => {
            return Err(invalid("interp", format!("'{other}' is not an interpolation: use nearest or linear")))
        }
    };
    let mut subset = super::run::subset_request(inputs)?;
    subset.variables.clear();
    let historical = text(inputs, "historical").map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    Ok(BiasRequest {
        reference: reference.trim().to_string(),
        historical,
        calibration,
        subset,
        kind,
        nquantiles,
        interp,
    })
}

/// The quantiles of `values` (NaN left out) at `nodes`.
fn quantiles(values: &mut Vec<f64>, nodes: &[f64]) -> Vec<f64> {
    values.retain(|x| !x.is_nan());
    values.sort_unstable_by(f64::total_cmp);
    nodes.iter().map(|&q| quantile7(values, q)).collect()
}

/// One cell's mapping: model quantiles (ascending, without NaN) and their factors.
#[derive(Clone, Debug, Default)]
pub struct Mapping {
    xs: Vec<f64>,
    fs: Vec<f64>,
}

impl Mapping {
    /// The mapping from the reference's and the model's calibration values.
    pub fn train(reference: &mut Vec<f64>, model: &mut Vec<f64>, nodes: &[f64], kind: Kind) -> Mapping {
        let rq = quantiles(reference, nodes);
        let mq = quantiles(model, nodes);
        let mut pairs: Vec<(f64, f64)> = mq
            .iter()
            .zip(&rq)
            .map(|(&m, &r)| (m, if kind == Kind::Additive { r - m } else { r / m }))
            .filter(|(m, f)| !m.is_nan() && !f.is_nan())
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        Mapping { xs: pairs.iter().map(|p| p.0).collect(), fs: pairs.iter().map(|p| p.1).collect() }
    }

    /// The factor of a model value.
    pub fn factor(&self, x: f64, interp: Interp) -> f64 {
        let n = self.xs.len();
        if n == 0 || x.is_nan() {
            return f64::NAN;
        }
        if x < self.xs[0] {
            return self.fs[0];
        }
        if x > self.xs[n - 1] {
            return self.fs[n - 1];
        }
        match interp {
            // scipy's interp1d 'nearest': the index of the first midpoint not below x
            Interp::Nearest => {
                let k = self.xs.windows(2).take_while(|w| (w[0] + w[1]) / 2.0 < x).count();
                self.fs[k]
            }
            Interp::Linear => {
                let k = self.xs.partition_point(|&v| v < x).max(1).min(n - 1);
                let (x0, x1) = (self.xs[k - 1], self.xs[k]);
                if x1 > x0 {
                    self.fs[k - 1] + (self.fs[k] - self.fs[k - 1]) * (x - x0) / (x1 - x0)
                } else {
                    self.fs[k]
                }
            }
        }
    }

    /// The adjusted value.
    pub fn adjust(&self, x: f64, kind: Kind, interp: Interp) -> f64 {
        let f = self.factor(x, interp);
        match kind {
            Kind::Additive => x + f,
            Kind::Multiplicative => x * f,
        }
    }
}

/// The mapping of each of `n` cells from the reference's and the model's calibration
/// values, read in (time, cell) order (`tr` and `th` steps).
fn train(rv: &[f64], hv: &[f64], (tr, th, n): (usize, usize, usize), nodes: &[f64], kind: Kind) -> Vec<Mapping> {
    let (rv, hv) = (cell_major(rv, tr, n, |x| x), cell_major(hv, th, n, |x| x));
    (0..n)
        .into_par_iter()
        .map(|c| {
            let mut r = rv[c * tr..(c + 1) * tr].to_vec();
            let mut h = hv[c * th..(c + 1) * th].to_vec();
            Mapping::train(&mut r, &mut h, nodes, kind)
        })
        .collect()
}

/// The nodes xsdba's `equally_spaced_nodes(n)` gives: (i + ½) / n.
pub fn nodes(n: usize) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss)]
    (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect()
}

const FILL: f32 = 1e20;

/// The model variable's values, adjusted cell by cell as they stream.
struct Adjusted {
    inner: Box<dyn VarSource>,
    /// How the inner values decode: the stored variable's packing and fill, or
    /// (regridded values) only this fill.
    decode: Option<cf::Decode>,
    fill: f64,
    /// Output shape (time first); cells are the other dimensions, row-major.
    shape: Vec<usize>,
    maps: Arc<Vec<Mapping>>,
    kind: Kind,
    interp: Interp,
}

impl VarSource for Adjusted {
    fn in_row_order(&self) -> bool {
        self.inner.in_row_order()
    }

    fn blocks(&self, reader: &Reader, block_bytes: usize, put: &mut BlockSink) -> Result<()> {
        let n = self.shape.len();
        self.inner.blocks(reader, block_bytes, &mut |start: &[usize], shape: &[usize], data: Data| {
            let vals = match &self.decode {
                Some(d) => d.decode(&data, "bias-adjusted")?,
                None => data
                    .to_f64()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|x| if x == self.fill { f64::NAN } else { x })
                    .collect(),
            };
            let mut out = vec![FILL; vals.len()];
            let mut idx = vec![0usize; n];
            for (k, o) in out.iter_mut().enumerate() {
                // the cell of element k of the block: its position in the non-time dims
                let mut rem = k;
                for d in (0..n).rev() {
                    idx[d] = rem % shape[d].max(1);
                    rem /= shape[d].max(1);
                }
                let cell = (1..n).fold(0usize, |c, d| c * self.shape[d] + start[d] + idx[d]);
                let y = self.maps[cell].adjust(vals[k], self.kind, self.interp);
                #[allow(clippy::cast_possible_truncation)]
                if y.is_finite() {
                    *o = y as f32;
                }
            }
            put(start, shape, Data::F32(out))
        })
    }
}

/// Values of `var` in `sel` for the band `rows` of its second dimension (all when
/// `None`), in (time, cell) order, NaN for missing.
fn read_band(
    ctx: &RunContext,
    ds: &Dataset,
    var: &str,
    sel: &Selection,
    rows: Option<(&str, &[usize])>,
) -> Result<Vec<f64>> {
    let v = ds.require_var(var)?;
    let mut sel = sel.clone();
    if let Some((dim, idx)) = rows {
        sel.dims.insert(dim.to_string(), DimSel::from_indices(idx));
    }
    let arr = sel.read(&ctx.engine.reader, ds, &VarSel::shared(var))?;
    cf::Decode::of(v).decode(&arr.data, "bias-adjusted")
}

const BAND_BYTES: usize = 192 << 20;

/// Adjust one model dataset into `ctx.out_dir`.
pub fn run_bias(ctx: &mut RunContext, sim: &Arc<Dataset>, req: &BiasRequest) -> Result<Vec<OutputFile>> {
    let catalog = ctx.catalog;
    let reference = catalog.get(&req.reference).map_err(|e| invalid("reference", e.to_string()))?.dataset;
    let hist = match &req.historical {
        Some(h) => catalog.get(h).map_err(|e| invalid("historical", e.to_string()))?.dataset,
        None => sim.clone(),
    };
    let var = cf::main_variable(sim).ok_or_else(|| Error::bad(format!("'{}' has no data variable", sim.id)))?;
    let name = var.name.clone();
    let rvar = reference
        .var(&name)
        .or_else(|| cf::main_variable(&reference))
        .ok_or_else(|| invalid("reference", format!("'{}' has no data variable", reference.id)))?
        .name
        .clone();
    if hist.var(&name).is_none() {
        return Err(invalid("historical", format!("'{}' has no variable '{name}'", hist.id)));
    }
    let units = |ds: &Dataset, v: &str| {
        ds.var(v).and_then(|v| v.attr("units")).and_then(AttrValue::as_text).unwrap_or("").to_string()
    };
    if units(&reference, &rvar) != units(sim, &name) || units(&hist, &name) != units(sim, &name) {
        return Err(invalid(
            "reference",
            format!(
                "'{rvar}' of the reference is in '{}' but '{name}' of the model in '{}': give datasets in the same units",
                units(&reference, &rvar),
                units(sim, &name)
            ),
        ));
    }
    let kind = req.kind.unwrap_or(if name.starts_with("pr") { Kind::Multiplicative } else { Kind::Additive });
    let with = |time: Option<TimeParam>, v: &str| SubsetRequest {
        time,
        time_components: None,
        area: req.subset.area,
        level: None,
        variables: vec![v.to_string()],
        mask_outside: req.subset.mask_outside,
    };
    let reader = &ctx.engine.reader;
    (ctx.progress)(0.02, "selecting the calibration period")?;
    let ref_sel = select(reader, &reference, &with(Some(req.calibration.clone()), &rvar))?;
    let hist_sel = select(reader, &hist, &with(Some(req.calibration.clone()), &name))?;
    let sim_sel = select(reader, sim, &with(req.subset.time.clone(), &name))?;
    let sim_grid = Grid::of(reader, sim, &name, &sim_sel)?;
    if !Grid::of(reader, &reference, &rvar, &ref_sel)?.same(&sim_grid) {
        return run_regridded(ctx, sim, &hist, &reference, (&name, &rvar), (&sim_sel, &hist_sel, &ref_sel), req, kind);
    }
    let hist_grid = Grid::of(reader, &hist, &name, &hist_sel)?;
    if !hist_grid.same(&sim_grid) {
        return Err(invalid(
            "historical",
            format!(
                "'{}' is not on the grid of '{}' ({:?} and {:?} cells, or other coordinates)",
                hist.id, sim.id, hist_grid.shape, sim_grid.shape
            ),
        ));
    }
    let gshape = sim_grid.shape;
    let v = sim.require_var(&name)?;
    let cells: usize = gshape.iter().product();
    let band_dim = v.dims.get(1).cloned();
    let rows: Vec<usize> = band_dim.as_ref().map(|d| sim_sel.sel(d, v.shape[1]).indices()).unwrap_or_default();
    let ref_rows: Vec<usize> = band_dim
        .as_ref()
        .map(|d| ref_sel.sel(d, reference.require_var(&rvar).map_or(0, |r| r.shape[1])).indices())
        .unwrap_or_default();
    let row_cells = gshape.get(1..).map_or(1, |r| r.iter().product::<usize>());
    let tr = ref_sel.shape(reference.require_var(&rvar)?)[0];
    let th = hist_sel.shape(hist.require_var(&name)?)[0];
    if tr == 0 || th == 0 {
        return Err(invalid("calibration_period", "the reference or the model has no data in the calibration period"));
    }
    let nrows = if band_dim.is_some() { rows.len() } else { 1 };
    let per = (BAND_BYTES / ((tr + th) * row_cells * 8).max(1)).clamp(1, nrows.max(1));
    let nodes = nodes(req.nquantiles);
    let mut maps: Vec<Mapping> = Vec::with_capacity(cells);
    let mut r0 = 0;
    while r0 < nrows {
        let r1 = (r0 + per).min(nrows);
        #[allow(clippy::cast_precision_loss)]
        (ctx.progress)(0.05 + 0.4 * r0 as f64 / nrows as f64, "quantiles of the calibration period")?;
        let rv = read_band(ctx, &reference, &rvar, &ref_sel, band_dim.as_deref().map(|d| (d, &ref_rows[r0..r1])))?;
        let hv = read_band(ctx, &hist, &name, &hist_sel, band_dim.as_deref().map(|d| (d, &rows[r0..r1])))?;
        let n = (r1 - r0) * row_cells;
        let band_maps = train(&rv, &hv, (tr, th, n), &nodes, kind);
        maps.extend(band_maps);
        r0 = r1;
    }
    (ctx.progress)(0.5, "adjusting")?;
    let out = selection_file(sim, &sim_sel);
    let mut shape = vec![sim_sel.shape(v)[0]];
    shape.extend(&gshape);
    let decode = Some(cf::Decode::of(v));
    write_adjusted(
        ctx,
        sim,
        &hist,
        &reference,
        &name,
        out,
        Adjusted {
            shape,
            maps: Arc::new(maps),
            kind,
            interp: req.interp,
            decode,
            fill: f64::NAN,
            inner: placeholder(),
        },
        req,
    )
}

fn placeholder() -> Box<dyn VarSource> {
    crate::encode::netcdf::Constant::f64(&[0], vec![])
}

/// Write the model file `out` with its variable `name` adjusted by `adj`.
#[allow(clippy::too_many_arguments)]
fn write_adjusted(
    ctx: &mut RunContext,
    sim: &Arc<Dataset>,
    hist: &Dataset,
    reference: &Dataset,
    name: &str,
    mut out: crate::encode::netcdf::OutFile,
    mut adj: Adjusted,
    req: &BiasRequest,
) -> Result<Vec<OutputFile>> {
    let describe = format!(
        "empirical quantile mapping ({}, {} quantiles, {} interpolation, constant extrapolation) against {} over {}, calibrated on {}",
        if adj.kind == Kind::Additive { "additive" } else { "multiplicative" },
        req.nquantiles,
        if req.interp == Interp::Nearest { "nearest" } else { "linear" },
        reference.id,
        show_time(&req.calibration),
        hist.id
    );
    let ov = out
        .vars
        .iter_mut()
        .find(|o| o.name == name)
        .ok_or_else(|| Error::Internal("adjusted variable missing".into()))?;
    adj.inner = std::mem::replace(&mut ov.source, placeholder());
    ov.source = Box::new(adj);
    ov.dtype = DataType::F32;
    ov.attrs.retain(|a| !STORAGE_ATTRS.contains(&a.name.as_str()));
    ov.attrs.extend([
        Attribute { name: "_FillValue".into(), value: AttrValue::F32(vec![FILL]) },
        Attribute { name: "missing_value".into(), value: AttrValue::F32(vec![FILL]) },
        Attribute { name: "bias_adjustment".into(), value: AttrValue::Text(describe.clone()) },
    ]);
    out.attrs.push(Attribute { name: "bias_adjustment".into(), value: AttrValue::Text(describe) });
    out.attrs
        .push(Attribute { name: "bias_adjustment_reference".into(), value: AttrValue::Text(reference.id.clone()) });
    out.attrs.push(Attribute {
        name: "bias_adjustment_calibration_period".into(),
        value: AttrValue::Text(show_time(&req.calibration)),
    });
    clean_fill_values(sim, &mut out);
    let file = file_name(sim, name, None, "_eqm");
    (ctx.progress)(0.6, &format!("writing {file}"))?;
    Ok(vec![write_output(&ctx.engine.reader, &out, ctx.out_dir, &file, &ctx.history)?])
}

/// Bytes of calibration values the regridding path holds at most.
const REGRID_BYTES: usize = 1 << 30;

/// The reference's (rectilinear) grid of a selection, as a regridding target.
fn target_grid(ctx: &RunContext, reference: &Arc<Dataset>, rvar: &str, sel: &Selection) -> Result<LatLonGrid> {
    let coords = Grid::of(&ctx.engine.reader, reference, rvar, sel)?.coords;
    let v = reference.require_var(rvar)?;
    let is = |d: &str, f: fn(&crate::model::Variable) -> bool| reference.var(d).is_some_and(f);
    let ok =
        v.dims.len() == 3 && coords.len() == 2 && is(&v.dims[1], cf::is_latitude) && is(&v.dims[2], cf::is_longitude);
    if !ok {
        return Err(invalid(
            "reference",
            format!("'{}' is not on a latitude-longitude grid: the model can only be regridded onto one", reference.id),
        ));
    }
    let bounds = |c: &[f64]| -> Vec<[f64; 2]> {
        (0..c.len())
            .map(|i| {
                let lo = if i > 0 {
                    (c[i - 1] + c[i]) / 2.0
                } else if c.len() > 1 {
                    c[0] - (c[1] - c[0]) / 2.0
                } else {
                    c[0] - 0.5
                };
                let hi = if i + 1 < c.len() {
                    (c[i] + c[i + 1]) / 2.0
                } else if c.len() > 1 {
                    c[i] + (c[i] - c[i - 1]) / 2.0
                } else {
                    c[0] + 0.5
                };
                [lo, hi]
            })
            .collect()
    };
    Ok(LatLonGrid {
        lat_bnds: bounds(&coords[0]).into_iter().map(|[a, b]| [a.clamp(-90.0, 90.0), b.clamp(-90.0, 90.0)]).collect(),
        lon_bnds: bounds(&coords[1]),
        lat: coords[0].clone(),
        lon: coords[1].clone(),
        title: format!("the grid of {}", reference.id),
    })
}

/// Values of `ds`'s `var` at the time indices of `sel`, regridded by `plan`, (time, cell).
fn regridded_values(ctx: &RunContext, ds: &Dataset, var: &str, sel: &Selection, plan: &Plan) -> Result<Vec<f64>> {
    let v = ds.require_var(var)?;
    let dec = cf::Decode::of(v);
    let idx = sel.sel(&v.dims[0], v.shape[0]).indices();
    let mut out = Vec::new();
    for r in DimSel::from_indices(&idx).ranges() {
        let arr = ctx.engine.reader.read(ds, v, &plan.slab(&[*r]))?;
        out.extend(plan.apply(&dec.decode(&arr.data, "regridded")?));
    }
    Ok(out)
}

/// The model on another grid than the reference: regridded (bilinear) onto the
/// reference's grid, then adjusted.
#[allow(clippy::too_many_arguments)]
fn run_regridded(
    ctx: &mut RunContext,
    sim: &Arc<Dataset>,
    hist: &Arc<Dataset>,
    reference: &Arc<Dataset>,
    (name, rvar): (&str, &str),
    (sim_sel, hist_sel, ref_sel): (&Selection, &Selection, &Selection),
    req: &BiasRequest,
    kind: Kind,
) -> Result<Vec<OutputFile>> {
    (ctx.progress)(0.05, &format!("regridding weights onto the grid of {}", reference.id))?;
    let grid = target_grid(ctx, reference, rvar, ref_sel)?;
    let cells = grid.lat.len() * grid.lon.len();
    let tr = ref_sel.shape(reference.require_var(rvar)?)[0];
    let th = hist_sel.shape(hist.require_var(name)?)[0];
    if (tr + th) * cells * 8 > REGRID_BYTES {
        return Err(Error::bad(format!(
            "regridding the model's calibration period onto the reference grid needs {} MB here: give a smaller area, or regrid the model first",
            ((tr + th) * cells * 8) >> 20
        )));
    }
    let plan_of = |ds: &Dataset| -> Result<Arc<Plan>> {
        let v = ds.require_var(name)?;
        let source = Arc::new(SourceGrid::of(&ctx.engine.reader, ds, v)?);
        Ok(Arc::new(Plan::new(&ctx.engine.regrid, source, Target::LatLon(grid.clone()), Method::Bilinear, 0.5)?))
    };
    let sim_plan = plan_of(sim)?;
    let hist_plan = if Arc::ptr_eq(sim, hist) { sim_plan.clone() } else { plan_of(hist)? };
    (ctx.progress)(0.1, "quantiles of the calibration period")?;
    let rv = read_band(ctx, reference, rvar, ref_sel, None)?;
    let hv = regridded_values(ctx, hist, name, hist_sel, &hist_plan)?;
    let nodes = nodes(req.nquantiles);
    let maps = train(&rv, &hv, (tr, th, cells), &nodes, kind);
    (ctx.progress)(0.5, "adjusting")?;
    let v = sim.require_var(name)?;
    let tdim = v.dims[0].clone();
    let mut times = std::collections::BTreeMap::new();
    times.insert(tdim, sim_sel.sel(&v.dims[0], v.shape[0]).indices());
    let out = crate::regrid::output::regridded_file(&ctx.engine.reader, sim, &sim_plan, &[v], &times)?;
    let shape = vec![times.values().next().map_or(0, Vec::len), grid.lat.len(), grid.lon.len()];
    let fill = crate::regrid::field::output_fill(v);
    let adj =
        Adjusted { inner: placeholder(), decode: None, fill, shape, maps: Arc::new(maps), kind, interp: req.interp };
    write_adjusted(ctx, sim, hist, reference, name, out, adj, req)
}

fn show_time(t: &TimeParam) -> String {
    let p = |p: &Option<super::params::TimePoint>| {
        p.map(|p| format!("{:04}-{:02}-{:02}", p.dt.year, p.dt.month, p.dt.day)).unwrap_or_default()
    };
    match t {
        TimeParam::Range { start, end } => format!("{}/{}", p(start), p(end)),
        TimeParam::Instants(v) => format!("{} instants", v.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_mapping_as_xsdba() {
        assert_eq!(nodes(4), vec![0.125, 0.375, 0.625, 0.875]);
        // numpy.quantile([1, 2, 3, 4, 10], 0.375) = 2.5
        assert!((quantile7(&[1.0, 2.0, 3.0, 4.0, 10.0], 0.375) - 2.5).abs() < 1e-12);
        let mut r: Vec<f64> = (0..100).map(|i| f64::from(i) + 2.0).collect();
        let mut m: Vec<f64> = (0..100).map(f64::from).collect();
        let map = Mapping::train(&mut r, &mut m, &nodes(10), Kind::Additive);
        assert!(map.fs.iter().all(|f| (f - 2.0).abs() < 1e-9));
        assert!((map.adjust(50.0, Kind::Additive, Interp::Nearest) - 52.0).abs() < 1e-9);
        // beyond the quantiles: the first or last factor
        assert!((map.adjust(-100.0, Kind::Additive, Interp::Linear) + 98.0).abs() < 1e-9);
        let mut r: Vec<f64> = (1..=100).map(|i| f64::from(i) * 3.0).collect();
        let mut m: Vec<f64> = (1..=100).map(f64::from).collect();
        let map = Mapping::train(&mut r, &mut m, &nodes(20), Kind::Multiplicative);
        assert!((map.adjust(40.0, Kind::Multiplicative, Interp::Nearest) - 120.0).abs() < 1e-9);
        let map = Mapping { xs: vec![0.0, 1.0, 2.0], fs: vec![10.0, 20.0, 30.0] };
        assert_eq!(map.factor(0.5, Interp::Nearest), 10.0); // a tie rounds down
        assert_eq!(map.factor(0.51, Interp::Nearest), 20.0);
        assert_eq!(map.factor(1.5, Interp::Linear), 25.0);
        assert_eq!(map.factor(3.0, Interp::Nearest), 30.0);
        assert!(map.factor(f64::NAN, Interp::Nearest).is_nan());
    }
}
