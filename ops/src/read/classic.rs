//! Direct reads of NetCDF-3 (classic, 64-bit offset, CDF-5) variables: the header gives
//! each variable's offset, the values are big-endian; read with `pread`, no library
//! lock.

use super::decode::typed;
use crate::array::Data;
use crate::hyperslab::{next_index, DimRange};
use crate::model::{DataType, Variable};
use crate::netcdf3::{layout, Layout};
use crate::{Error, Result};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// An open NetCDF-3 file with its layout.
pub struct ClassicFile {
    fd: std::fs::File,
    layout: Layout,
}

impl ClassicFile {
    /// Open a NetCDF-3 file; None for other formats.
    pub fn open(path: &Path) -> Result<Option<ClassicFile>> {
        let Some(layout) = layout(path)? else { return Ok(None) };
        Ok(Some(ClassicFile { fd: std::fs::File::open(path)?, layout }))
    }

    /// Read a strided hyperslab of `var` (its shape in this file: record variables have
    /// this file's record count as first length).
    pub fn read(&self, var: &Variable, shape: &[usize], ranges: &[DimRange]) -> Result<Data> {
        let v = self
            .layout
            .vars
            .iter()
            .find(|l| l.name == var.name)
            .ok_or_else(|| Error::Internal(format!("{} not in the NetCDF-3 header", var.name)))?;
        if !var.dtype.is_atomic() || var.dtype == DataType::Str {
            return Err(Error::Internal("no direct read of this type".into()));
        }
        let elem = var.dtype.size() as u64;
        let n = ranges.len();
        // element strides within one record (or the whole variable)
        let inner_dims = if v.record { &shape[1..] } else { shape };
        let per_record: u64 = inner_dims.iter().map(|&d| d as u64).product::<u64>().max(1);
        let recsize = if self.layout.vars.iter().filter(|l| l.record).count() == 1 {
            per_record * elem
        } else {
            self.layout.recsize
        };
        let mut strides = vec![1u64; n];
        for d in (0..n.saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1] as u64;
        }
        let total: usize = ranges.iter().map(|r| r.count).product();
        let mut out = Vec::with_capacity(total * elem as usize);
        if n == 0 {
            let mut b = vec![0u8; elem as usize];
            self.fd.read_exact_at(&mut b, v.begin)?;
            return typed(&b, var.dtype, false);
        }
        if v.record && n == 1 {
            // a 1-D record variable: one value per record
            let mut b = vec![0u8; elem as usize];
            for k in 0..ranges[0].count {
                self.fd.read_exact_at(&mut b, v.begin + ranges[0].at(k) as u64 * recsize)?;
                out.extend_from_slice(&b);
            }
            return typed(&out, var.dtype, false);
        }
        let offset_of = |idx: &[usize]| -> u64 {
            if v.record {
                let rest: u64 = (1..n).map(|d| idx[d] as u64 * strides[d]).sum();
                v.begin + idx[0] as u64 * recsize + rest * elem
            } else {
                v.begin + (0..n).map(|d| idx[d] as u64 * strides[d]).sum::<u64>() * elem
            }
        };
        let last = ranges[n - 1];
        let span = ((last.count.saturating_sub(1)) * last.stride + 1) as u64 * elem;
        let mut buf = vec![0u8; usize::try_from(span).map_err(|_| Error::bad("row too large"))?];
        let mut k = vec![0usize; n - 1];
        if total == 0 {
            return typed(&[], var.dtype, false);
        }
        loop {
            let mut idx: Vec<usize> = k.iter().enumerate().map(|(d, &i)| ranges[d].at(i)).collect();
            idx.push(last.start);
            self.fd.read_exact_at(&mut buf, offset_of(&idx))?;
            if last.stride == 1 {
                out.extend_from_slice(&buf);
            } else {
                for j in 0..last.count {
                    let o = j * last.stride * elem as usize;
                    out.extend_from_slice(&buf[o..o + elem as usize]);
                }
            }
            if !next_index(&mut k, |d| ranges[d].count) {
                return typed(&out, var.dtype, false);
            }
        }
    }
}
