//! A consistent subset of a dataset: one index range per dimension, the requested
//! variables and the CF companions they need (coordinate variables, auxiliary
//! coordinates, bounds, grid mappings, cell measures, formula terms), all sliced alike.

use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{AttrValue, Dataset, Variable};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// Which variables and which index range of each dimension a subset holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subset {
    /// Range per dimension; dimensions not listed are whole.
    pub dims: BTreeMap<String, DimRange>,
    /// Variable names, in dataset order.
    pub vars: Vec<String>,
    /// The variables asked for by name (empty for the whole dataset).
    pub requested: Vec<String>,
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
        Subset { dims: BTreeMap::new(), vars: ds.vars.iter().map(|v| v.name.clone()).collect(), requested: vec![] }
    }

    /// The subset holding the requested variables with their slabs, plus their CF
    /// companions. Fails when two requests slice a dimension differently.
    pub fn of(ds: &Dataset, requests: &[(String, Hyperslab)]) -> Result<Subset> {
        if requests.is_empty() {
            return Ok(Subset::all(ds));
        }
        let mut dims: BTreeMap<String, DimRange> = BTreeMap::new();
        let mut wanted: Vec<String> = Vec::new();
        for (name, slab) in requests {
            let v = ds.require_var(name)?;
            slab.check(v)?;
            for (d, r) in v.dims.iter().zip(&slab.0) {
                match dims.get(d) {
                    Some(old) if old != r => {
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
                        dims.insert(d.clone(), *r);
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
        Ok(Subset { dims, vars: wanted, requested })
    }

    /// The range of a dimension of length `len`.
    pub fn range(&self, dim: &str, len: usize) -> DimRange {
        self.dims.get(dim).copied().unwrap_or_else(|| DimRange::full(len))
    }

    /// The slab of a variable.
    pub fn slab(&self, v: &Variable) -> Hyperslab {
        Hyperslab(v.dims.iter().zip(&v.shape).map(|(d, &n)| self.range(d, n)).collect())
    }

    /// Estimated size in bytes of the selected values.
    pub fn size(&self, ds: &Dataset) -> u64 {
        self.vars
            .iter()
            .filter_map(|n| ds.var(n))
            .map(|v| (self.slab(v).len() as u64).saturating_mul(v.dtype.size() as u64))
            .fold(0u64, u64::saturating_add)
    }
}
