//! The one request model of the engine: which variables, and which indices of each
//! dimension, a request selects. Every protocol translates into a [`Selection`]: DAP2
//! projections and DAP4 constraints (each variable may be sliced on its own), `.nc`
//! downloads, coverages, GeoTIFF, WMS and processes (coordinates resolved to indices by
//! `process::select`). Encoders consume it as a stream of hyperslabs in output order
//! ([`Selection::read_blocks`]) or as pieces placed anywhere in the output
//! ([`Selection::pieces`]). [`Selection::for_file`] gives the consistent form a NetCDF
//! file needs: one selection per dimension, with the CF companions of the variables.

use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{AttrValue, Dataset, Variable};
use crate::read::Reader;
use crate::{Array, Error, Result};
use std::collections::BTreeMap;

/// The indices selected along one dimension, in output order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DimSel {
    Range(DimRange),
    /// Several strided runs taken in the order given (a DAP4 slice set `[0:1,3]`, the
    /// months of a `time_components` filter, the two sides of an area crossing the
    /// longitude seam).
    Runs(Vec<DimRange>),
}

impl DimSel {
    /// The indices given, as one range when evenly spaced, else as maximal runs.
    pub fn from_indices(indices: &[usize]) -> DimSel {
        match indices {
            [one] => DimSel::Range(DimRange::index(*one)),
            [a, b, ..] if b > a && indices.windows(2).all(|w| w[1] == w[0] + (b - a)) => {
                DimSel::Range(DimRange { start: *a, stride: b - a, count: indices.len() })
            }
            _ => {
                let mut runs: Vec<DimRange> = Vec::new();
                for &i in indices {
                    if let Some(r) = runs.last_mut() {
                        if r.count == 1 && i > r.start {
                            r.stride = i - r.start;
                            r.count = 2;
                            continue;
                        }
                        if i == r.start + r.count * r.stride {
                            r.count += 1;
                            continue;
                        }
                    }
                    runs.push(DimRange::index(i));
                }
                DimSel::Runs(runs)
            }
        }
    }

    /// Number of indices selected.
    pub fn count(&self) -> usize {
        match self {
            DimSel::Range(r) => r.count,
            DimSel::Runs(v) => v.iter().map(|r| r.count).sum(),
        }
    }

    /// The strided runs, in output order.
    pub fn ranges(&self) -> &[DimRange] {
        match self {
            DimSel::Range(r) => std::slice::from_ref(r),
            DimSel::Runs(v) => v,
        }
    }

    /// The runs, each with its offset in the output.
    pub fn runs(&self) -> Vec<(usize, DimRange)> {
        let mut off = 0;
        self.ranges()
            .iter()
            .map(|r| {
                let o = off;
                off += r.count;
                (o, *r)
            })
            .collect()
    }

    /// Every index selected, in output order.
    pub fn indices(&self) -> Vec<usize> {
        self.ranges().iter().flat_map(|r| (0..r.count).map(move |k| r.at(k))).collect()
    }

    /// The single range, when there is one.
    pub fn range(&self) -> Option<DimRange> {
        match self.ranges() {
            [r] => Some(*r),
            _ => None,
        }
    }

    /// Check the indices against a dimension of `v`.
    fn check(&self, v: &Variable, d: usize) -> Result<()> {
        for r in self.ranges() {
            if r.count > 0 && (r.last() >= v.shape[d] || r.stride == 0) {
                return Err(Error::IndexOutOfRange {
                    variable: v.name.clone(),
                    dim: v.dims[d].clone(),
                    start: r.start,
                    stride: r.stride,
                    stop: r.last(),
                    size: v.shape[d],
                });
            }
        }
        Ok(())
    }
}

/// One selected variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarSel {
    pub name: String,
    /// Per dimension (in the file's shape), the variable's own selection; `None` (or a
    /// missing entry) follows the dimension's shared selection ([`Selection::dims`]).
    pub own: Vec<Option<DimSel>>,
}

impl VarSel {
    /// A variable following the shared selection of every dimension.
    pub fn shared(name: impl Into<String>) -> VarSel {
        VarSel { name: name.into(), own: vec![] }
    }

    /// A variable sliced on its own along every dimension.
    pub fn slab(name: impl Into<String>, slab: &Hyperslab) -> VarSel {
        VarSel { name: name.into(), own: slab.0.iter().map(|r| Some(DimSel::Range(*r))).collect() }
    }

    /// True when dimension `d` follows the shared selection.
    pub fn is_shared(&self, d: usize) -> bool {
        self.own.get(d).is_none_or(Option::is_none)
    }
}

/// A piece of a variable/// A piece of a variable's selection that is one hyperslab: where it goes in the output
/// and what to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub out_start: Vec<usize>,
    pub slab: Hyperslab,
}

/// A change of the values of a variable in the output.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueMap {
    /// Longitudes re-expressed in the frame starting at `west` (`-180` or `0`): each
    /// value moves by a multiple of 360 into `[west, west + 360)`.
    LonFrame { west: f64 },
}

impl ValueMap {
    /// The value as the output holds it.
    pub fn apply(&self, x: f64) -> f64 {
        match self {
            ValueMap::LonFrame { west } => {
                if !x.is_finite() || x.abs() > 1e10 {
                    x
                } else {
                    west + (x - west).rem_euclid(360.0)
                }
            }
        }
    }
}

/// Points outside an area on a 2-D (curvilinear or rotated) grid, set to the fill value
/// in the variables that span both grid dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    /// The grid dimensions (y, x).
    pub dims: [String; 2],
    /// Output shape of the two dimensions.
    pub shape: [usize; 2],
    /// True inside the area, row-major over `shape`.
    pub inside: Vec<bool>,
    /// The variables masked, with the fill value used.
    pub fills: BTreeMap<String, f64>,
}

/// Which variables, and which indices of each dimension, a request selects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// Shared selection per dimension; dimensions not listed are whole.
    pub dims: BTreeMap<String, DimSel>,
    /// The selected variables in output order. A protocol may select a variable twice
    /// with different indices (DAP2 `time,tas.time[0:1]`); a file selection
    /// ([`Selection::for_file`]) has each once, in dataset order, without own slices.
    pub vars: Vec<VarSel>,
    /// The variables asked for by name (empty for the whole dataset).
    pub requested: Vec<String>,
    /// Value changes per variable (longitudes re-expressed in the request's frame).
    pub maps: BTreeMap<String, ValueMap>,
    /// Points masked outside a curvilinear area.
    pub mask: Option<Mask>,
}

/// Names a variable's attributes point to (`coordinates`, `bounds`, `grid_mapping`, ...).
fn references(v: &Variable) -> Vec<String> {
    let mut out = Vec::new();
    let text = |k: &str| v.attr(k).and_then(AttrValue::as_text).map(str::to_string);
    for key in ["coordinates", "bounds", "climatology", "ancillary_variables"] {
        if let Some(s) = text(key) {
            out.extend(s.split_whitespace().map(str::to_string));
        }
    }
    for key in ["grid_mapping", "cell_measures", "formula_terms"] {
        if let Some(s) = text(key) {
            // "crs" or "crs: lat lon", "area: areacella", "a: a_bnds b: b ps: ps"
            out.extend(s.split_whitespace().filter(|w| !w.ends_with(':')).map(str::to_string));
        }
    }
    out
}

impl Selection {
    /// The whole dataset.
    pub fn all(ds: &Dataset) -> Selection {
        Selection::of_vars(ds.vars.iter().map(|v| v.name.clone()))
    }

    /// These variables (in the order given) on the whole of every dimension.
    pub fn of_vars(names: impl IntoIterator<Item = String>) -> Selection {
        Selection { vars: names.into_iter().map(VarSel::shared).collect(), ..Selection::default() }
    }

    /// One variable sliced by one hyperslab (a map, a pixel, a series).
    pub fn of_slab(v: &Variable, slab: &Hyperslab) -> Result<Selection> {
        slab.check(v)?;
        Ok(Selection { vars: vec![VarSel::slab(&v.name, slab)], ..Selection::default() })
    }

    /// The consistent selection a NetCDF file needs: every variable's own slices become
    /// the shared selection of their dimensions (an error when two variables slice a
    /// dimension differently), the CF companions of the variables come along
    /// (transitively: coordinates, `coordinates`, bounds, grid mappings, cell
    /// measures, formula terms), each variable once, in dataset order.
    pub fn for_file(&self, ds: &Dataset) -> Result<Selection> {
        let mut dims = self.dims.clone();
        let mut fixed: BTreeMap<String, (String, DimSel)> = BTreeMap::new();
        let mut wanted: Vec<String> = Vec::new();
        for vs in &self.vars {
            let v = ds.require_var(&vs.name)?;
            for (d, sel) in self.var_dims(vs, v)?.into_iter().enumerate() {
                let dim = &v.dims[d];
                match fixed.get(dim) {
                    Some((other, old)) if *old != sel => {
                        return Err(Error::bad(format!(
                            "dimension '{dim}' is selected differently for '{other}' ({}) and for '{}' ({}); a NetCDF file needs one selection per dimension",
                            show(old),
                            v.name,
                            show(&sel)
                        )))
                    }
                    Some(_) => {}
                    None => {
                        fixed.insert(dim.clone(), (v.name.clone(), sel.clone()));
                        dims.insert(dim.clone(), sel);
                    }
                }
            }
            if !wanted.contains(&v.name) {
                wanted.push(v.name.clone());
            }
        }
        let requested = if self.requested.is_empty() && self.vars.len() < ds.vars.len() {
            wanted.clone()
        } else {
            self.requested.clone()
        };
        let mut i = 0;
        while i < wanted.len() {
            let v = ds.require_var(&wanted[i])?;
            let mut more: Vec<String> =
                v.dims.iter().filter(|d| ds.var(d).is_some_and(Variable::is_coordinate)).cloned().collect();
            more.extend(references(v).into_iter().filter(|n| ds.var(n).is_some()));
            for m in more {
                if !wanted.contains(&m) {
                    wanted.push(m);
                }
            }
            i += 1;
        }
        let order = |n: &String| ds.vars.iter().position(|v| v.name == *n).unwrap_or(usize::MAX);
        wanted.sort_by_key(order);
        Ok(Selection {
            dims,
            vars: wanted.into_iter().map(VarSel::shared).collect(),
            requested,
            maps: self.maps.clone(),
            mask: self.mask.clone(),
        })
    }

    /// The variables requested by name together with their companions, whole (what
    /// a process starts from before selecting by coordinates).
    pub fn of(ds: &Dataset, names: &[String]) -> Result<Selection> {
        if names.is_empty() {
            return Ok(Selection::all(ds));
        }
        let requested: Vec<String> =
            names.iter().map(|n| ds.require_var(n).map(|v| v.name.clone())).collect::<Result<_>>()?;
        Selection { requested, ..Selection::of_vars(names.iter().cloned()) }.for_file(ds)
    }

    /// The selected variable names, in output order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|v| v.name.as_str())
    }

    /// True when `name` is selected.
    pub fn contains(&self, name: &str) -> bool {
        self.vars.iter().any(|v| v.name == name)
    }

    /// The shared selection of a dimension of length `len`.
    pub fn sel(&self, dim: &str, len: usize) -> DimSel {
        self.dims.get(dim).cloned().unwrap_or_else(|| DimSel::Range(DimRange::full(len)))
    }

    /// The selection of each dimension of a selected variable (its own slices, else
    /// the shared ones), checked against its shape.
    pub fn var_dims(&self, vs: &VarSel, v: &Variable) -> Result<Vec<DimSel>> {
        if vs.own.len() > v.shape.len() {
            return Err(Error::RankMismatch { variable: v.name.clone(), rank: v.shape.len(), given: vs.own.len() });
        }
        let mut out = Vec::with_capacity(v.shape.len());
        for (d, (dim, &n)) in v.dims.iter().zip(&v.shape).enumerate() {
            let sel = match vs.own.get(d) {
                Some(Some(s)) => s.clone(),
                _ => self.sel(dim, n),
            };
            sel.check(v, d)?;
            out.push(sel);
        }
        Ok(out)
    }

    /// Check every selected variable and its indices against the dataset.
    pub fn validate(self, ds: &Dataset) -> Result<Selection> {
        for vs in &self.vars {
            self.var_dims(vs, ds.require_var(&vs.name)?)?;
        }
        Ok(self)
    }

    /// The output shape of a variable on the shared selection.
    pub fn shape(&self, v: &Variable) -> Vec<usize> {
        v.dims.iter().zip(&v.shape).map(|(d, &n)| self.sel(d, n).count()).collect()
    }

    /// The single hyperslab of a variable on the shared selection, when every
    /// dimension is one range.
    pub fn slab(&self, v: &Variable) -> Option<Hyperslab> {
        v.dims.iter().zip(&v.shape).map(|(d, &n)| self.sel(d, n).range()).collect::<Option<Vec<_>>>().map(Hyperslab)
    }

    /// The hyperslabs to read for a variable on the shared selection, with their places
    /// in the output (one per combination of runs of its dimensions).
    pub fn pieces(&self, v: &Variable) -> Vec<Piece> {
        let sels: Vec<DimSel> = v.dims.iter().zip(&v.shape).map(|(d, &n)| self.sel(d, n)).collect();
        pieces(&sels)
    }

    /// Read the values of a selected variable in row-major output order, in blocks of
    /// about `block_bytes`, passing each to `f`. Memory stays bounded by the block size
    /// whatever the selection.
    pub fn read_blocks(
        &self,
        reader: &Reader,
        ds: &Dataset,
        vs: &VarSel,
        block_bytes: usize,
        f: &mut dyn FnMut(Array) -> Result<()>,
    ) -> Result<()> {
        let v = ds.require_var(&vs.name)?;
        let sels = self.var_dims(vs, v)?;
        for_each_slab(&sels, &mut |slab| reader.read_blocks(ds, v, &slab, block_bytes, &mut *f))
    }

    /// Read the values of a selected variable as one array in output order (for small
    /// selections: a map, a pixel; large ones stream with [`Selection::read_blocks`]).
    pub fn read(&self, reader: &Reader, ds: &Dataset, vs: &VarSel) -> Result<Array> {
        let v = ds.require_var(&vs.name)?;
        let sels = self.var_dims(vs, v)?;
        let shape: Vec<usize> = sels.iter().map(DimSel::count).collect();
        if let Some(ranges) = sels.iter().map(DimSel::range).collect::<Option<Vec<_>>>() {
            return reader.read(ds, v, &Hyperslab(ranges));
        }
        let mut data = crate::Data::with_capacity(v.dtype, shape.iter().product());
        for_each_slab(&sels, &mut |slab| {
            data.extend_from(&reader.read(ds, v, &slab)?.data);
            Ok(())
        })?;
        Ok(Array { shape, data })
    }

    /// Estimated size in bytes of the selected values.
    pub fn size(&self, ds: &Dataset) -> u64 {
        self.vars
            .iter()
            .filter_map(|vs| ds.var(&vs.name).map(|v| (vs, v)))
            .map(|(vs, v)| {
                let n: usize = self.var_dims(vs, v).map_or(0, |s| s.iter().map(DimSel::count).product());
                (n as u64).saturating_mul(v.dtype.size() as u64)
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Apply the value maps and the mask of `var` to a block of its output at `start`
    /// with `shape` (dimension names `dims`).
    pub fn transform(&self, var: &Variable, start: &[usize], shape: &[usize], data: crate::Data) -> crate::Data {
        let mut data = data;
        if let Some(m) = self.maps.get(&var.name) {
            data = map_values(data, |x| m.apply(x));
        }
        if let Some(mask) = &self.mask {
            if let Some(&fill) = mask.fills.get(&var.name) {
                let pos = |n: &str| var.dims.iter().position(|d| d == n);
                if let (Some(yd), Some(xd)) = (pos(&mask.dims[0]), pos(&mask.dims[1])) {
                    let n = shape.len();
                    let mut strides = vec![1usize; n];
                    for i in (0..n.saturating_sub(1)).rev() {
                        strides[i] = strides[i + 1] * shape[i + 1];
                    }
                    let outside = |k: usize| {
                        let y = start[yd] + (k / strides[yd]) % shape[yd];
                        let x = start[xd] + (k / strides[xd]) % shape[xd];
                        !mask.inside[y * mask.shape[1] + x]
                    };
                    data = mask_values(data, fill, outside);
                }
            }
        }
        data
    }

    /// The attributes of a variable in the output (a masked variable without a fill
    /// value gets one).
    pub fn attrs(&self, v: &Variable) -> Vec<crate::Attribute> {
        let mut attrs = v.attrs.clone();
        if let Some(&fill) = self.mask.as_ref().and_then(|m| m.fills.get(&v.name)) {
            if v.attr("_FillValue").is_none() && v.attr("missing_value").is_none() {
                attrs.push(crate::Attribute { name: "_FillValue".into(), value: crate::array::attr_of(v.dtype, fill) });
            }
        }
        attrs
    }
}

/// `[start:stride:last]` of a selection, for messages.
fn show(s: &DimSel) -> String {
    let r: Vec<String> = s.ranges().iter().map(|r| format!("[{}:{}:{}]", r.start, r.stride, r.last())).collect();
    r.join(",")
}

/// One hyperslab per combination of runs of the dimensions, with its output offset.
pub fn pieces(sels: &[DimSel]) -> Vec<Piece> {
    let mut out = vec![Piece { out_start: vec![], slab: Hyperslab(vec![]) }];
    for sel in sels {
        let runs = sel.runs();
        let mut next = Vec::with_capacity(out.len() * runs.len());
        for p in &out {
            for (off, r) in &runs {
                let mut q = p.clone();
                q.out_start.push(*off);
                q.slab.0.push(*r);
                next.push(q);
            }
        }
        out = next;
    }
    out
}

/// Call `f` with hyperslabs covering the selection in row-major output order, each
/// one contiguous in the output: dimensions after the innermost one with several runs
/// are taken whole, that one run by run, the ones before it index by index.
pub fn for_each_slab(sels: &[DimSel], f: &mut dyn FnMut(Hyperslab) -> Result<()>) -> Result<()> {
    if sels.iter().any(|s| s.count() == 0) {
        return Ok(());
    }
    let Some(k) = sels.iter().rposition(|s| s.ranges().len() > 1) else {
        let ranges: Option<Vec<DimRange>> = sels.iter().map(DimSel::range).collect();
        return f(Hyperslab(ranges.unwrap_or_default()));
    };
    let outer: Vec<Vec<usize>> = if k == 0 { vec![] } else { sels[..k].iter().map(DimSel::indices).collect() };
    let tail: Vec<DimRange> = sels[k + 1..].iter().filter_map(DimSel::range).collect();
    let mut odo = vec![0usize; k];
    loop {
        for r in sels[k].ranges() {
            let mut ranges: Vec<DimRange> =
                odo.iter().enumerate().map(|(d, &i)| DimRange::index(outer[d][i])).collect();
            ranges.push(*r);
            ranges.extend_from_slice(&tail);
            f(Hyperslab(ranges))?;
        }
        // advance the outer indices, last dimension fastest
        let mut d = k;
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            odo[d] += 1;
            if odo[d] < outer[d].len() {
                break;
            }
            odo[d] = 0;
        }
    }
}

/// Apply `f` to every value of a numeric array (integers are converted back with
/// rounding).
pub fn map_values(d: crate::Data, f: impl Fn(f64) -> f64) -> crate::Data {
    use crate::Data as D;
    #[allow(clippy::cast_possible_truncation)]
    match d {
        D::F32(v) => D::F32(v.into_iter().map(|x| f(f64::from(x)) as f32).collect()),
        D::F64(v) => D::F64(v.into_iter().map(&f).collect()),
        D::I32(v) => D::I32(v.into_iter().map(|x| f(f64::from(x)).round() as i32).collect()),
        D::I16(v) => D::I16(v.into_iter().map(|x| f(f64::from(x)).round() as i16).collect()),
        #[allow(clippy::cast_precision_loss)]
        D::I64(v) => D::I64(v.into_iter().map(|x| f(x as f64).round() as i64).collect()),
        #[allow(clippy::cast_sign_loss)]
        D::U32(v) => D::U32(v.into_iter().map(|x| f(f64::from(x)).round() as u32).collect()),
        other => other,
    }
}

/// Set the values where `outside(k)` to `fill`.
fn mask_values(d: crate::Data, fill: f64, outside: impl Fn(usize) -> bool) -> crate::Data {
    use crate::Data as D;
    fn go<T: Copy>(mut v: Vec<T>, fill: T, outside: &dyn Fn(usize) -> bool) -> Vec<T> {
        for (k, x) in v.iter_mut().enumerate() {
            if outside(k) {
                *x = fill;
            }
        }
        v
    }
    #[allow(clippy::cast_possible_truncation)]
    match d {
        D::F32(v) => D::F32(go(v, fill as f32, &outside)),
        D::F64(v) => D::F64(go(v, fill, &outside)),
        D::I8(v) => D::I8(go(v, fill as i8, &outside)),
        D::U8(v) => D::U8(go(v, fill as u8, &outside)),
        D::I16(v) => D::I16(go(v, fill as i16, &outside)),
        D::U16(v) => D::U16(go(v, fill as u16, &outside)),
        D::I32(v) => D::I32(go(v, fill as i32, &outside)),
        D::U32(v) => D::U32(go(v, fill as u32, &outside)),
        D::I64(v) => D::I64(go(v, fill as i64, &outside)),
        D::U64(v) => D::U64(go(v, fill as u64, &outside)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_lists() {
        let l = DimSel::from_indices(&[10, 11, 12, 0, 1, 5, 7, 9]);
        assert_eq!(
            l.runs(),
            vec![
                (0, DimRange { start: 10, stride: 1, count: 3 }),
                (3, DimRange { start: 0, stride: 1, count: 2 }),
                (5, DimRange { start: 5, stride: 2, count: 3 }),
            ]
        );
        assert_eq!(DimSel::from_indices(&[3]).runs(), vec![(0, DimRange::index(3))]);
        assert!(DimSel::from_indices(&[]).runs().is_empty());
        assert_eq!(DimSel::from_indices(&[2, 4, 6]), DimSel::Range(DimRange { start: 2, stride: 2, count: 3 }));
        assert_eq!(l.indices(), vec![10, 11, 12, 0, 1, 5, 7, 9]);
    }

    #[test]
    fn slabs_in_output_order() {
        // [0:1] x [3, 0:1] x [0:2]: dims after the last multi-run dimension are whole
        let sels = [
            DimSel::Range(DimRange { start: 0, stride: 1, count: 2 }),
            DimSel::Runs(vec![DimRange::index(3), DimRange { start: 0, stride: 1, count: 2 }]),
            DimSel::Range(DimRange::full(3)),
        ];
        let mut got = Vec::new();
        for_each_slab(&sels, &mut |s| {
            got.push(s.0.iter().map(|r| (r.start, r.count)).collect::<Vec<_>>());
            Ok(())
        })
        .expect("slabs");
        assert_eq!(
            got,
            vec![
                vec![(0, 1), (3, 1), (0, 3)],
                vec![(0, 1), (0, 2), (0, 3)],
                vec![(1, 1), (3, 1), (0, 3)],
                vec![(1, 1), (0, 2), (0, 3)],
            ]
        );
        // one range per dimension: one slab; an empty dimension: none
        let mut n = 0;
        for_each_slab(&[DimSel::Range(DimRange::full(4))], &mut |_| {
            n += 1;
            Ok(())
        })
        .expect("slab");
        assert_eq!(n, 1);
        for_each_slab(&[DimSel::Runs(vec![])], &mut |_| panic!("nothing to read")).expect("empty");
    }
}
