//! Applying weights to the data of a variable: a [`Plan`] (source grid, target,
//! weights and the window of the source they use), decoding of stored values
//! (packing, fill values) and [`RegridVar`], the streamed values of a regridded
//! variable for the NetCDF writer: blocks of 2-D slices are read and regridded on a
//! worker thread (in parallel) while the previous block is being written.

use super::source::SourceGrid;
use super::target::Target;
use super::weights::{Weights, Window};
use super::{cache, Method};
use crate::array::Data;
pub use crate::cf::Decode;
use crate::encode::netcdf::{BlockSink, VarSource};
use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{AttrValue, DataType, Dataset, Variable};
use crate::read::Reader;
use crate::{Error, Result};
use rayon::prelude::*;
use std::sync::Arc;

/// The fill value written for missing results of a variable (its own float fill
/// value, else 1e20).
pub fn output_fill(v: &Variable) -> f64 {
    let f = v.attr("_FillValue").or_else(|| v.attr("missing_value")).and_then(AttrValue::as_f64);
    match (f, v.dtype) {
        (Some(x), DataType::F32 | DataType::F64) if x.is_finite() && v.attr("scale_factor").is_none() => x,
        _ => 1e20,
    }
}

/// The type of regridded values of a variable (double stays double, all else float).
pub fn output_type(v: &Variable) -> DataType {
    if v.dtype == DataType::F64 && v.attr("scale_factor").is_none() {
        DataType::F64
    } else {
        DataType::F32
    }
}

/// Values as the output type, NaN as `fill`.
pub fn typed(vals: Vec<f64>, t: DataType, fill: f64) -> Data {
    #[allow(clippy::cast_possible_truncation)]
    match t {
        DataType::F64 => Data::F64(vals.into_iter().map(|x| if x.is_nan() { fill } else { x }).collect()),
        _ => {
            let f = fill as f32;
            Data::F32(vals.into_iter().map(|x| if x.is_nan() { f } else { x as f32 }).collect())
        }
    }
}

/// Everything needed to regrid slices of a variable.
pub struct Plan {
    pub source: Arc<SourceGrid>,
    pub target: Target,
    pub method: Method,
    pub threshold: f64,
    /// Where the weights came from (memory, disk, computed).
    pub origin: cache::Origin,
    /// The window of the source grid the weights use, and the weights indexed in it.
    pub window: Window,
    pub weights: Arc<Weights>,
}

impl Plan {
    /// Weights from the regridder's cache (computed when missing).
    pub fn new(
        regridder: &super::Regridder,
        source: Arc<SourceGrid>,
        target: Target,
        method: Method,
        threshold: f64,
    ) -> Result<Plan> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(Error::bad(format!("adaptive_masking_threshold {threshold} must lie within 0..1")));
        }
        if method == Method::Conservative && matches!(target, Target::Projected(_)) {
            return Err(Error::bad("conservative regridding needs a regular latitude-longitude target grid"));
        }
        if target.len() > 400_000_000 {
            return Err(Error::TooManyCells { what: "a target", count: target.len() as u64, limit: 400_000_000 });
        }
        let key = cache::key(&source.fingerprint, &target.fingerprint(), method.name());
        let dir = regridder.weights_dir.as_deref();
        let (full, origin) = regridder.weights.get_or_compute(&key, dir, || compute(&source, &target, method))?;
        let (window, local) = full.windowed(source.nx);
        Ok(Plan { source, target, method, threshold, origin, window, weights: Arc::new(local) })
    }

    /// A plan with given weights (over the whole source grid).
    pub fn with_weights(source: Arc<SourceGrid>, target: Target, method: Method, threshold: f64, w: &Weights) -> Plan {
        let (window, local) = w.windowed(source.nx);
        Plan { source, target, method, threshold, origin: cache::Origin::Computed, window, weights: Arc::new(local) }
    }

    /// Number of values of one source window slice.
    pub fn window_len(&self) -> usize {
        self.window.ny * self.window.nx
    }

    /// Regrid slices of window values (`n` slices back to back) into target values.
    pub fn apply(&self, vals: &[f64]) -> Vec<f64> {
        let (wl, nd) = (self.window_len(), self.weights.n_dst);
        let n = vals.len() / wl.max(1);
        let mut out = vec![0.0; n * nd];
        out.par_chunks_mut(nd.max(1)).zip(vals.par_chunks(wl.max(1))).for_each(|(o, v)| {
            self.weights.apply(v, self.threshold, o);
        });
        out
    }

    /// The hyperslab of `var` holding the window for the outer indices given as runs.
    pub fn slab(&self, outer: &[DimRange]) -> Hyperslab {
        let mut r = outer.to_vec();
        r.push(DimRange { start: self.window.y0, stride: 1, count: self.window.ny });
        r.push(DimRange { start: self.window.x0, stride: 1, count: self.window.nx });
        Hyperslab(r)
    }
}

/// Compute weights of a method onto a target.
pub fn compute(source: &SourceGrid, target: &Target, method: Method) -> Result<Weights> {
    match (method, target) {
        (_, Target::Native(w)) => {
            let rows = (0..w.ny * w.nx)
                .map(|t| {
                    let k = (w.y0 + t / w.nx) * source.nx + w.x0 + t % w.nx;
                    vec![(u32::try_from(k).unwrap_or(u32::MAX), 1.0)]
                })
                .collect();
            Ok(Weights::from_rows(source.len(), rows))
        }
        (Method::Conservative, Target::LatLon(g)) => super::conservative::conservative_weights(source, g),
        (Method::Conservative, _) => Err(Error::bad("conservative regridding needs a latitude-longitude target")),
        (m, t) => Ok(super::bilinear::point_weights(source, &t.points()?, m)),
    }
}

/// Consecutive runs (stride 1) of a list of indices, with their offsets in the list.
pub fn runs(idx: &[usize]) -> Vec<(usize, DimRange)> {
    let mut out: Vec<(usize, DimRange)> = Vec::new();
    for (k, &i) in idx.iter().enumerate() {
        if let Some((_, r)) = out.last_mut() {
            if r.start + r.count == i {
                r.count += 1;
                continue;
            }
        }
        out.push((k, DimRange::index(i)));
    }
    out
}

/// One block of output: start and shape in the output variable, and the source
/// hyperslab to read.
#[derive(Clone, Debug)]
pub struct Block {
    pub start: Vec<usize>,
    pub shape: Vec<usize>,
    pub outer: Vec<DimRange>,
}

/// Blocks covering the outer (non-horizontal) selection, row-major, each holding at
/// most `max_slices` slices (the first outer dimension is split).
pub fn blocks(outer: &[Vec<usize>], max_slices: usize, ny: usize, nx: usize) -> Vec<Block> {
    let per_dim: Vec<Vec<(usize, DimRange)>> = outer.iter().map(|v| runs(v)).collect();
    let mut combos: Vec<(Vec<usize>, Vec<DimRange>)> = vec![(vec![], vec![])];
    for (d, dim_runs) in per_dim.iter().enumerate() {
        let mut next = Vec::new();
        for (s, r) in &combos {
            for &(off, run) in dim_runs {
                // split runs of the first dimension; later dimensions whole
                let inner: usize =
                    per_dim[d + 1..].iter().map(|v| v.iter().map(|x| x.1.count).sum::<usize>()).product();
                let step = if d == 0 { (max_slices / inner.max(1)).max(1) } else { run.count };
                let mut k = 0;
                while k < run.count {
                    let c = step.min(run.count - k);
                    let mut s2 = s.clone();
                    s2.push(off + k);
                    let mut r2 = r.clone();
                    r2.push(DimRange { start: run.start + k, stride: 1, count: c });
                    next.push((s2, r2));
                    k += c;
                }
            }
        }
        combos = next;
    }
    combos
        .into_iter()
        .map(|(mut start, outer)| {
            let mut shape: Vec<usize> = outer.iter().map(|r| r.count).collect();
            start.extend([0, 0]);
            shape.extend([ny, nx]);
            Block { start, shape, outer }
        })
        .collect()
}

/// The regridded values of a variable, streamed for the NetCDF writer.
pub struct RegridVar {
    pub ds: Arc<Dataset>,
    pub var: String,
    pub plan: Arc<Plan>,
    /// Selected indices of each outer (non-horizontal) dimension.
    pub outer: Vec<Vec<usize>>,
    pub dtype: DataType,
    pub fill: f64,
}

impl RegridVar {
    /// Read and regrid one block.
    pub fn compute(&self, reader: &Reader, block: &Block) -> Result<Data> {
        let v = self.ds.require_var(&self.var)?;
        let dec = Decode::of(v);
        let arr = reader.read(&self.ds, v, &self.plan.slab(&block.outer))?;
        let vals = dec.decode(&arr.data, "regridded")?;
        Ok(typed(self.plan.apply(&vals), self.dtype, self.fill))
    }

    /// The blocks of the output, each of at most about `block_bytes` of work.
    pub fn blocks(&self, block_bytes: usize) -> Vec<Block> {
        let (ny, nx) = self.plan.target.shape();
        let per_slice = (self.plan.window_len() + ny * nx) * 8;
        let max_slices = (block_bytes.max(per_slice) / per_slice.max(1)).max(1);
        blocks(&self.outer, max_slices, ny, nx)
    }
}

impl VarSource for RegridVar {
    fn in_row_order(&self) -> bool {
        true
    }

    fn blocks(&self, reader: &Reader, block_bytes: usize, put: &mut BlockSink) -> Result<()> {
        // regrid ahead on a worker while the writer compresses and writes
        let list = RegridVar::blocks(self, block_bytes.max(32 << 20));
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(usize, Data)>>(1);
            let list2 = &list;
            s.spawn(move || {
                for (k, b) in list2.iter().enumerate() {
                    let r = self.compute(reader, b).map(|d| (k, d));
                    let stop = r.is_err();
                    if tx.send(r).is_err() || stop {
                        break;
                    }
                }
            });
            for msg in rx {
                let (k, data) = msg?;
                put(&list[k].start, &list[k].shape, data)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_outer_selection() {
        let b = blocks(&[vec![0, 1, 2, 5, 6], vec![3, 4]], 4, 2, 3);
        let starts: Vec<Vec<usize>> = b.iter().map(|x| x.start.clone()).collect();
        assert_eq!(starts, vec![vec![0, 0, 0, 0], vec![2, 0, 0, 0], vec![3, 0, 0, 0]]);
        assert_eq!(b[0].shape, vec![2, 2, 2, 3]);
        assert_eq!(
            b[2].outer,
            vec![DimRange { start: 5, stride: 1, count: 2 }, DimRange { start: 3, stride: 1, count: 2 }]
        );
        let total: usize = b.iter().map(|x| x.shape[0] * x.shape[1]).sum();
        assert_eq!(total, 10);
        let d = Decode {
            scale: 1.0,
            offset: 0.0,
            missing: vec![1e20],
            valid_min: f64::NEG_INFINITY,
            valid_max: f64::INFINITY,
        };
        let v = d.decode(&Data::F32(vec![1.0, 1e20, f32::NAN]), "regridded").expect("decode");
        assert_eq!(v[0], 1.0);
        assert!(v[1].is_nan() && v[2].is_nan());
        let d = Decode {
            scale: 0.5,
            offset: 10.0,
            missing: vec![-1.0],
            valid_min: f64::NEG_INFINITY,
            valid_max: f64::INFINITY,
        };
        let v = d.decode(&Data::I16(vec![4, -1]), "regridded").expect("decode");
        assert_eq!(v[0], 12.0);
        assert!(v[1].is_nan());
    }
}
