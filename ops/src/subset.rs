//! A consistent subset of a dataset: one index range per dimension, the requested
//! variables and the CF companions they need (coordinate variables, auxiliary
//! coordinates, bounds, grid mappings, cell measures, formula terms), all sliced alike.

use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{AttrValue, Dataset, Variable};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// The indices selected along one dimension, in output order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DimSel {
    Range(DimRange),
    /// Any indices (e.g. the months of a `time_components` filter, or the two sides of
    /// an area crossing the longitude seam).
    List(Vec<usize>),
}

impl DimSel {
    /// Number of indices selected.
    pub fn count(&self) -> usize {
        match self {
            DimSel::Range(r) => r.count,
            DimSel::List(v) => v.len(),
        }
    }

    /// The selection as maximal strided runs, each with its offset in the output.
    pub fn runs(&self) -> Vec<(usize, DimRange)> {
        match self {
            DimSel::Range(r) => vec![(0, *r)],
            DimSel::List(v) => {
                let mut out: Vec<(usize, DimRange)> = Vec::new();
                for (k, &i) in v.iter().enumerate() {
                    if let Some((_, r)) = out.last_mut() {
                        let next = r.start + r.count * r.stride;
                        if r.count == 1 && i > r.start {
                            r.stride = i - r.start;
                            r.count = 2;
                            continue;
                        }
                        if i == next {
                            r.count += 1;
                            continue;
                        }
                    }
                    out.push((k, DimRange { start: i, stride: 1, count: 1 }));
                }
                out
            }
        }
    }
}

/// A piece of a variable's selection that is one hyperslab: where it goes in the output
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
    fn apply(&self, x: f64) -> f64 {
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

/// Which variables and which indices of each dimension a subset holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Subset {
    /// Selection per dimension; dimensions not listed are whole.
    pub dims: BTreeMap<String, DimSel>,
    /// Variable names, in dataset order.
    pub vars: Vec<String>,
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

impl Subset {
    /// The whole dataset.
    pub fn all(ds: &Dataset) -> Subset {
        Subset {
            dims: BTreeMap::new(),
            vars: ds.vars.iter().map(|v| v.name.clone()).collect(),
            requested: vec![],
            maps: BTreeMap::new(),
            mask: None,
        }
    }

    /// The subset holding the requested variables with their slabs, plus their CF
    /// companions. Fails when two requests slice a dimension differently.
    pub fn of(ds: &Dataset, requests: &[(String, Hyperslab)]) -> Result<Subset> {
        if requests.is_empty() {
            return Ok(Subset::all(ds));
        }
        let mut dims: BTreeMap<String, DimSel> = BTreeMap::new();
        let mut wanted: Vec<String> = Vec::new();
        for (name, slab) in requests {
            let v = ds.require_var(name)?;
            slab.check(v)?;
            for (d, r) in v.dims.iter().zip(&slab.0) {
                match dims.get(d) {
                    Some(DimSel::Range(old)) if old != r => {
                        return Err(Error::bad(format!(
                            "dimension '{d}' is selected differently by two variables ([{}:{}:{}] and [{}:{}:{}]); a NetCDF file needs one selection per dimension",
                            old.start,
                            old.stride,
                            old.last(),
                            r.start,
                            r.stride,
                            r.last()
                        )))
                    }
                    _ => {
                        dims.insert(d.clone(), DimSel::Range(*r));
                    }
                }
            }
            wanted.push(v.name.clone());
        }
        // Companions, transitively (a coordinate's bounds, ...).
        let requested = wanted.clone();
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
        Ok(Subset { dims, vars: wanted, requested, maps: BTreeMap::new(), mask: None })
    }

    /// The selection of a dimension of length `len`.
    pub fn sel(&self, dim: &str, len: usize) -> DimSel {
        self.dims.get(dim).cloned().unwrap_or_else(|| DimSel::Range(DimRange::full(len)))
    }

    /// The output shape of a variable.
    pub fn shape(&self, v: &Variable) -> Vec<usize> {
        v.dims.iter().zip(&v.shape).map(|(d, &n)| self.sel(d, n).count()).collect()
    }

    /// The single hyperslab of a variable, when every dimension is a range.
    pub fn slab(&self, v: &Variable) -> Option<Hyperslab> {
        v.dims
            .iter()
            .zip(&v.shape)
            .map(|(d, &n)| match self.sel(d, n) {
                DimSel::Range(r) => Some(r),
                DimSel::List(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Hyperslab)
    }

    /// The hyperslabs to read for a variable, with their places in the output (one per
    /// combination of runs of its dimensions), in output order.
    pub fn pieces(&self, v: &Variable) -> Vec<Piece> {
        let runs: Vec<Vec<(usize, DimRange)>> =
            v.dims.iter().zip(&v.shape).map(|(d, &n)| self.sel(d, n).runs()).collect();
        let mut out = vec![Piece { out_start: vec![], slab: Hyperslab(vec![]) }];
        for dim_runs in &runs {
            let mut next = Vec::with_capacity(out.len() * dim_runs.len());
            for p in &out {
                for (off, r) in dim_runs {
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

    /// Estimated size in bytes of the selected values.
    pub fn size(&self, ds: &Dataset) -> u64 {
        self.vars
            .iter()
            .filter_map(|n| ds.var(n))
            .map(|v| (self.shape(v).iter().product::<usize>() as u64).saturating_mul(v.dtype.size() as u64))
            .fold(0u64, u64::saturating_add)
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
        let l = DimSel::List(vec![10, 11, 12, 0, 1, 5, 7, 9]);
        assert_eq!(
            l.runs(),
            vec![
                (0, DimRange { start: 10, stride: 1, count: 3 }),
                (3, DimRange { start: 0, stride: 1, count: 2 }),
                (5, DimRange { start: 5, stride: 2, count: 3 }),
            ]
        );
        assert_eq!(DimSel::List(vec![3]).runs(), vec![(0, DimRange::index(3))]);
        assert!(DimSel::List(vec![]).runs().is_empty());
    }
}
