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

pub use crate::selection::{DimSel, Selection, VarSel};

use crate::model::Dataset;
use crate::Result;

/// True when the request has no constraint at all (every variable, whole, in dataset
/// order: the DMR then declares everything).
pub fn is_whole(sel: &Selection, ds: &Dataset) -> bool {
    sel.dims.is_empty()
        && sel.vars.len() == ds.vars.len()
        && sel.vars.iter().zip(&ds.vars).all(|(s, v)| s.name == v.name && (0..v.dims.len()).all(|d| s.is_shared(d)))
}

/// Estimated size in bytes of the data part of the response.
pub fn response_size(sel: &Selection, ds: &Dataset) -> u64 {
    sel.vars
        .iter()
        .filter_map(|s| ds.var(&s.name).map(|v| (s, v)))
        .map(|(s, v)| {
            let elem = match v.dtype {
                crate::DataType::Str => 64,
                t => ds.user_type(t).map_or(t.size(), |u| u.size.max(8)),
            } as u64;
            let n: usize = sel.var_dims(s, v).map_or(0, |d| d.iter().map(DimSel::count).product());
            (n as u64).saturating_mul(elem).saturating_add(4)
        })
        .sum()
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
