//! OPeNDAP DAP4: the DMR (dataset metadata) and the chunked binary data response of a
//! selection, with per-variable CRC32 checksums.
//!
//! Every NetCDF-4 type is carried as it is: all atomic types (64-bit integers, unsigned
//! types, `Char`, `String`), enumerations, opaque types, compound types (`Structure`)
//! and variable-length types (`Sequence`), in groups. Data is sent in the server's byte
//! order (little-endian here), in chunks of at most 1 MiB.

mod data;
mod dmr;

pub use data::{checksums, error_xml, write_dap, ChunkWriter};
pub use dmr::{dmr, DmrOptions};

/// The DMR with `_DAP4_Checksum_CRC32` declared for every selected variable (reads the
/// selected data once to compute them).
pub fn dmr_with_checksums(
    reader: &crate::Reader,
    ds: &Dataset,
    sel: &Selection,
    opts: DmrOptions,
    block_bytes: usize,
) -> Result<String> {
    let (_, order) = dmr(ds, sel, opts);
    let sums = checksums(reader, ds, sel, &order, block_bytes)?;
    Ok(dmr(ds, sel, DmrOptions { checksums: &sums, ..opts }).0)
}

use crate::hyperslab::DimRange;
use crate::model::{Dataset, Variable};
use crate::{Error, Result};

/// A selected variable: the index ranges of each dimension. A dimension may have several
/// ranges (a DAP4 slice set such as `[0:1,3]`), taken in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectedVar {
    pub name: String,
    pub slices: Vec<Vec<DimRange>>,
    /// Per dimension: declare it by reference to its shared dimension (true when the
    /// request did not slice it explicitly), else as an anonymous dimension.
    pub shared: Vec<bool>,
}

impl SelectedVar {
    /// The whole variable.
    pub fn full(v: &Variable) -> Self {
        SelectedVar {
            name: v.name.clone(),
            slices: v.shape.iter().map(|&n| vec![DimRange::full(n)]).collect(),
            shared: vec![true; v.shape.len()],
        }
    }

    /// The number of selected indices along each dimension.
    pub fn counts(&self) -> Vec<usize> {
        self.slices.iter().map(|s| s.iter().map(|r| r.count).sum()).collect()
    }

    /// Number of selected elements.
    pub fn len(&self) -> usize {
        self.counts().iter().product()
    }

    /// True when nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a DAP4 request selects: variables (in dataset order) and constrained shared
/// dimensions (`/time=[0:9]` in the constraint expression).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub vars: Vec<SelectedVar>,
    pub dims: Vec<(String, DimRange)>,
}

impl Selection {
    /// Every variable, whole.
    pub fn all(ds: &Dataset) -> Self {
        Selection { vars: ds.vars.iter().map(SelectedVar::full).collect(), dims: vec![] }
    }

    /// True when the request has no constraint at all.
    pub fn is_whole(&self, ds: &Dataset) -> bool {
        self.dims.is_empty()
            && self.vars.len() == ds.vars.len()
            && self.vars.iter().zip(&ds.vars).all(|(s, v)| *s == SelectedVar::full(v))
    }

    /// Put the variables in dataset order and check every range against its variable.
    pub fn validate(mut self, ds: &Dataset) -> Result<Self> {
        let pos = |n: &str| ds.vars.iter().position(|v| v.name == n).unwrap_or(usize::MAX);
        self.vars.sort_by_key(|s| pos(&s.name));
        for s in &self.vars {
            let v = ds.require_var(&s.name)?;
            if s.slices.len() != v.shape.len() {
                return Err(Error::RankMismatch {
                    variable: v.name.clone(),
                    rank: v.shape.len(),
                    given: s.slices.len(),
                });
            }
            for (d, ranges) in s.slices.iter().enumerate() {
                for r in ranges {
                    if r.count > 0 && r.last() >= v.shape[d] {
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
            }
        }
        Ok(self)
    }

    /// Estimated size in bytes of the data part of the response.
    pub fn response_size(&self, ds: &Dataset) -> u64 {
        self.vars
            .iter()
            .filter_map(|s| ds.var(&s.name).map(|v| (s, v)))
            .map(|(s, v)| {
                let elem = match v.dtype {
                    crate::DataType::Str => 64,
                    t => ds.user_type(t).map_or(t.size(), |u| u.size.max(8)),
                } as u64;
                (s.len() as u64).saturating_mul(elem).saturating_add(4)
            })
            .sum()
    }
}

/// The DAP4 name of an atomic type.
pub fn atomic_name(t: crate::DataType) -> &'static str {
    use crate::DataType as T;
    match t {
        T::I8 => "Int8",
        T::U8 => "UInt8",
        T::I16 => "Int16",
        T::U16 => "UInt16",
        T::I32 => "Int32",
        T::U32 => "UInt32",
        T::I64 => "Int64",
        T::U64 => "UInt64",
        T::F32 => "Float32",
        T::F64 => "Float64",
        T::Char => "Char",
        T::Str => "String",
        T::Enum(_) => "Enum",
        T::Opaque(_) => "Opaque",
        T::Compound(_) => "Structure",
        T::Vlen(_) => "Sequence",
    }
}
