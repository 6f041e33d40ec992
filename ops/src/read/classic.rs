//! Direct reads of NetCDF-3 (classic, 64-bit offset, CDF-5) variables: the header gives
//! each variable's offset, the values are big-endian; read with `pread`, no library
//! lock.

use super::decode::typed;
use crate::array::Data;
use crate::hyperslab::{next_index, DimRange};
use crate::model::{DataType, Variable};
use crate::netcdf3::{layout, object_layout, Layout};
use crate::object::Object;
use crate::{Error, Result};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Where a NetCDF-3 file's bytes are read from.
enum Src {
    File(std::fs::File),
    /// An object: the rows a read needs are fetched together (nearby ones coalesced).
    Object(Object),
}

/// An open NetCDF-3 file with its layout.
pub struct ClassicFile {
    src: Src,
    layout: Layout,
}

impl ClassicFile {
    /// Open a NetCDF-3 file; None for other formats.
    pub fn open(path: &Path) -> Result<Option<ClassicFile>> {
        let Some(layout) = layout(path)? else { return Ok(None) };
        Ok(Some(ClassicFile { src: Src::File(std::fs::File::open(path)?), layout }))
    }

    /// A NetCDF-3 object of object storage; None for other formats.
    pub fn open_object(obj: Object) -> Result<Option<ClassicFile>> {
        let Some(layout) = object_layout(&obj)? else { return Ok(None) };
        Ok(Some(ClassicFile { src: Src::Object(obj), layout }))
    }

    /// Read `len` bytes at each of `offsets`, calling `f` with each in order.
    fn each_at(&self, offsets: &[u64], len: usize, mut f: impl FnMut(&[u8])) -> Result<()> {
        match &self.src {
            Src::File(fd) => {
                let mut buf = vec![0u8; len];
                for &o in offsets {
                    fd.read_exact_at(&mut buf, o)?;
                    f(&buf);
                }
            }
            Src::Object(obj) => {
                // bounded batches: a read of many rows does not hold them all at once
                let per = (64usize << 20).div_ceil(len.max(1)).max(1);
                for batch in offsets.chunks(per) {
                    for b in obj.fetch_all(batch.iter().map(|&o| o..o + len as u64).collect())? {
                        f(&b);
                    }
                }
            }
        }
        Ok(())
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
            self.each_at(&[v.begin], elem as usize, |b| out.extend_from_slice(b))?;
            return typed(&out, var.dtype, false);
        }
        if v.record && n == 1 {
            // a 1-D record variable: one value per record
            let at: Vec<u64> = (0..ranges[0].count).map(|k| v.begin + ranges[0].at(k) as u64 * recsize).collect();
            self.each_at(&at, elem as usize, |b| out.extend_from_slice(b))?;
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
        let span = usize::try_from(span).map_err(|_| Error::bad("row too large"))?;
        let mut k = vec![0usize; n - 1];
        if total == 0 {
            return typed(&[], var.dtype, false);
        }
        let mut rows = Vec::new();
        loop {
            let mut idx: Vec<usize> = k.iter().enumerate().map(|(d, &i)| ranges[d].at(i)).collect();
            idx.push(last.start);
            rows.push(offset_of(&idx));
            if !next_index(&mut k, |d| ranges[d].count) {
                break;
            }
        }
        let e = elem as usize;
        self.each_at(&rows, span, |buf| {
            if last.stride == 1 {
                out.extend_from_slice(buf);
            } else {
                for j in 0..last.count {
                    let o = j * last.stride * e;
                    out.extend_from_slice(&buf[o..o + e]);
                }
            }
        })?;
        typed(&out, var.dtype, false)
    }
}
