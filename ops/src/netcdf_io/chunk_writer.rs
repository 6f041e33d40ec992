//! Direct chunk writes to compressed NetCDF-4 variables. libnetcdf compresses under the
//! process-wide library lock, one chunk at a time, with zlib; here values are assembled
//! into whole chunks, shuffled and deflated (libdeflate) in parallel outside the lock,
//! and only the finished bytes are handed to HDF5 (`H5Dwrite_chunk`) under it.
//!
//! The file is defined and closed by libnetcdf first (dimensions, attributes, the
//! variables' chunking and filters, the small variables' values), then reopened here.
//! Blocks must arrive roughly in order along the first dimension: a row of chunks is
//! kept until all its values have arrived.
#![allow(unsafe_code)]

use crate::array::Data;
use crate::hyperslab::next_index;
use crate::read::chunked::{Layout, DEFLATE, SHUFFLE};
use crate::read::decode::shuffle_into;
use crate::{Error, Result};
use hdf5_sys::h5::hsize_t;
use hdf5_sys::h5d::{H5Dset_extent, H5Dwrite_chunk};
use hdf5_sys::h5p::H5P_DEFAULT;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Uncompressed bytes of finished chunks collected before they are compressed together.
const BATCH_BYTES: usize = 32 << 20;
/// Bytes of unfinished chunk rows beyond which the blocks are taken to be out of order.
const MAX_OPEN_ROWS_BYTES: usize = 1 << 30;

/// A NetCDF-4 file reopened for direct chunk writes.
pub struct DirectFile {
    file: hdf5::File,
    path: PathBuf,
}

impl DirectFile {
    /// Reopen a closed NetCDF-4 file for writing.
    pub fn open(path: &Path) -> Result<DirectFile> {
        let file = hdf5::File::open_rw(path).map_err(|e| Error::write_failed(path, "reopen", e))?;
        Ok(DirectFile { file, path: path.to_path_buf() })
    }

    /// A writer for the variable `name` (a path in groups) of `shape`, deflated at `level`.
    pub fn var(&self, name: &str, shape: &[usize], level: u8) -> Result<ChunkWriter> {
        let err = |m: String| write_error(&self.path, &format!("variable {name}: {m}"));
        let dset = self.file.dataset(&format!("/{name}")).map_err(|e| Error::write_failed(&self.path, name, e))?;
        let layout = Layout::of(&dset).ok_or_else(|| err("not chunked".into()))?;
        let ids: Vec<u32> = layout.filters.iter().map(|f| f.0).collect();
        let shuffled = match ids.as_slice() {
            [DEFLATE] => false,
            [SHUFFLE, DEFLATE] => true,
            other => return Err(err(format!("filters {other:?} are not shuffle+deflate"))),
        };
        if layout.chunk.len() != shape.len() || !layout.little || !cfg!(target_endian = "little") {
            return Err(err("unexpected layout".into()));
        }
        // unlimited dimensions start empty
        let extent: Vec<hsize_t> = shape.iter().map(|&n| n as hsize_t).collect();
        if dset.shape() != shape {
            let _g = netcdf_sys::libnetcdf_lock.lock();
            // SAFETY: valid dataset id; extent has one entry per dimension.
            if unsafe { H5Dset_extent(dset.id(), extent.as_ptr()) } < 0 {
                return Err(err("cannot set the extent".into()));
            }
        }
        Ok(ChunkWriter {
            dset,
            path: self.path.clone(),
            shape: shape.to_vec(),
            chunk: layout.chunk,
            elem: layout.elem,
            shuffled,
            level: i32::from(level.clamp(1, 12)),
            rows: BTreeMap::new(),
            open_bytes: 0,
            pending: Vec::new(),
            pending_bytes: 0,
        })
    }

    /// Close the file.
    pub fn close(self) -> Result<()> {
        let path = self.path;
        self.file.close().map_err(|e| Error::write_failed(&path, "close", e))
    }
}

fn write_error(path: &Path, message: &str) -> Error {
    Error::Write { path: path.to_path_buf(), message: message.to_string() }
}

/// The values of one row of chunks (all chunks at one index along the first dimension).
struct Row {
    bytes: Vec<u8>,
    /// Values not yet received.
    missing: usize,
}

/// Writes one variable chunk by chunk; see the module documentation.
pub struct ChunkWriter {
    dset: hdf5::Dataset,
    path: PathBuf,
    shape: Vec<usize>,
    chunk: Vec<usize>,
    elem: usize,
    shuffled: bool,
    level: i32,
    rows: BTreeMap<usize, Row>,
    open_bytes: usize,
    /// Finished chunks: (offset in elements, uncompressed bytes).
    pending: Vec<(Vec<usize>, Vec<u8>)>,
    pending_bytes: usize,
}

/// The bytes of numeric values in memory order.
fn value_bytes(data: &Data) -> Option<&[u8]> {
    fn cast<T>(v: &[T]) -> &[u8] {
        // SAFETY: plain numeric values have no padding; the slice covers the same memory.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
    }
    Some(match data {
        Data::I8(v) => cast(v),
        Data::U8(v) | Data::Char(v) => v,
        Data::I16(v) => cast(v),
        Data::U16(v) => cast(v),
        Data::I32(v) => cast(v),
        Data::U32(v) => cast(v),
        Data::I64(v) => cast(v),
        Data::U64(v) => cast(v),
        Data::F32(v) => cast(v),
        Data::F64(v) => cast(v),
        Data::Str(_) | Data::Values(_) => return None,
    })
}

/// Element strides of a C-order array of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Call `f(src, dst)` (element offsets) for each innermost run of a `count`-shaped box
/// at `src_start` in an array of `src_shape`, placed at `dst_start` in one of `dst_shape`.
fn runs(
    count: &[usize],
    src_start: &[usize],
    src_shape: &[usize],
    dst_start: &[usize],
    dst_shape: &[usize],
    mut f: impl FnMut(usize, usize),
) {
    let n = count.len();
    if n == 0 || count.contains(&0) {
        return;
    }
    let (ss, ds) = (strides(src_shape), strides(dst_shape));
    let mut idx = vec![0usize; n - 1];
    loop {
        let at = |start: &[usize], st: &[usize]| -> usize {
            (0..n).map(|d| (start[d] + if d < n - 1 { idx[d] } else { 0 }) * st[d]).sum()
        };
        f(at(src_start, &ss), at(dst_start, &ds));
        if !next_index(&mut idx, |d| count[d]) {
            return;
        }
    }
}

impl ChunkWriter {
    fn row_len(&self, r: usize) -> usize {
        let first = self.chunk[0].min(self.shape[0] - r * self.chunk[0]);
        first * self.shape[1..].iter().product::<usize>()
    }

    /// Take a block of values at `start` with `shape`.
    pub fn put(&mut self, start: &[usize], shape: &[usize], data: &Data) -> Result<()> {
        let bytes = value_bytes(data)
            .filter(|b| b.len() == shape.iter().product::<usize>() * self.elem && shape.len() == self.shape.len())
            .ok_or_else(|| write_error(&self.path, "block does not match its variable"))?;
        if shape.contains(&0) {
            return Ok(());
        }
        let c0 = self.chunk[0];
        let whole_rows = start[1..].iter().all(|&s| s == 0) && shape[1..] == self.shape[1..];
        let (first, last) = (start[0] / c0, (start[0] + shape[0] - 1) / c0);
        for r in first..=last {
            let lo = start[0].max(r * c0);
            let hi = (start[0] + shape[0]).min((r + 1) * c0).min(self.shape[0]);
            if lo >= hi {
                continue;
            }
            let len = self.row_len(r);
            let row_shape: Vec<usize> = std::iter::once(len / self.shape[1..].iter().product::<usize>().max(1))
                .chain(self.shape[1..].iter().copied())
                .collect();
            let elem = self.elem;
            if whole_rows && lo == r * c0 && hi - lo == row_shape[0] && !self.rows.contains_key(&r) {
                // the block holds this whole row: no assembly
                let inner = len / row_shape[0];
                let from = (lo - start[0]) * inner * elem;
                self.cut(r, bytes[from..from + len * elem].to_vec(), &row_shape);
                continue;
            }
            let mut opened = 0;
            let row = self.rows.entry(r).or_insert_with(|| {
                opened = len * elem;
                Row { bytes: vec![0; len * elem], missing: len }
            });
            let mut count = shape.to_vec();
            count[0] = hi - lo;
            let mut src_start = vec![0; shape.len()];
            src_start[0] = lo - start[0];
            let mut dst_start = start.to_vec();
            dst_start[0] = lo - r * c0;
            let run = count[count.len() - 1] * elem;
            let mut copied = 0;
            runs(&count, &src_start, shape, &dst_start, &row_shape, |s, d| {
                row.bytes[d * elem..d * elem + run].copy_from_slice(&bytes[s * elem..s * elem + run]);
                copied += run / elem;
            });
            row.missing = row.missing.saturating_sub(copied);
            self.open_bytes += opened;
            if row.missing == 0 {
                if let Some(row) = self.rows.remove(&r) {
                    self.open_bytes -= row.bytes.len();
                    self.cut(r, row.bytes, &row_shape);
                }
            }
        }
        if self.open_bytes > MAX_OPEN_ROWS_BYTES {
            return Err(Error::Internal("blocks arrive out of order for a direct chunk write".into()));
        }
        if self.pending_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Cut a finished row into chunks (edge chunks padded with zeros).
    fn cut(&mut self, r: usize, bytes: Vec<u8>, row_shape: &[usize]) {
        let n = self.shape.len();
        if row_shape == self.chunk.as_slice() {
            self.pending_bytes += bytes.len();
            self.pending.push((std::iter::once(r * self.chunk[0]).chain(vec![0; n - 1]).collect(), bytes));
            return;
        }
        let grid: Vec<usize> = (1..n).map(|d| self.shape[d].div_ceil(self.chunk[d])).collect();
        let chunk_len: usize = self.chunk.iter().product();
        let mut idx = vec![0usize; n - 1];
        loop {
            let mut offset = vec![r * self.chunk[0]];
            offset.extend(idx.iter().zip(&self.chunk[1..]).map(|(&i, &c)| i * c));
            let mut src_start = offset.clone();
            src_start[0] = 0;
            let count: Vec<usize> = (0..n).map(|d| self.chunk[d].min(self.shape[d] - offset[d])).collect();
            let mut out = vec![0u8; chunk_len * self.elem];
            let (elem, run) = (self.elem, count[n - 1] * self.elem);
            runs(&count, &src_start, row_shape, &vec![0; n], &self.chunk, |s, d| {
                out[d * elem..d * elem + run].copy_from_slice(&bytes[s * elem..s * elem + run]);
            });
            self.pending_bytes += out.len();
            self.pending.push((offset, out));
            // next chunk of the row
            if !next_index(&mut idx, |d| grid[d]) {
                return;
            }
        }
    }

    /// Compress the finished chunks in parallel and write them.
    fn flush(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let (elem, shuffled, level) = (self.elem, self.shuffled, self.level);
        let lvl = libdeflater::CompressionLvl::new(level).unwrap_or_default();
        // per worker: a compressor and scratch buffers for the shuffled and deflated bytes
        let done: Vec<(Vec<usize>, Vec<u8>)> = pending
            .into_par_iter()
            .map_init(
                || (libdeflater::Compressor::new(lvl), Vec::new(), Vec::new()),
                |(c, shuffled_buf, out), (offset, raw)| {
                    let input: &[u8] = if shuffled {
                        shuffled_buf.resize(raw.len(), 0);
                        shuffle_into(&raw, elem, shuffled_buf);
                        shuffled_buf
                    } else {
                        &raw
                    };
                    out.resize(c.zlib_compress_bound(input.len()), 0);
                    let n = c.zlib_compress(input, out).map_err(|e| Error::Internal(format!("deflate: {e:?}")))?;
                    Ok((offset, out[..n].to_vec()))
                },
            )
            .collect::<Result<_>>()?;
        let _g = netcdf_sys::libnetcdf_lock.lock();
        for (offset, bytes) in done {
            let off: Vec<hsize_t> = offset.iter().map(|&o| o as hsize_t).collect();
            // SAFETY: valid dataset id; one offset per dimension; `bytes` is the whole
            // filtered chunk.
            let e = unsafe {
                H5Dwrite_chunk(self.dset.id(), H5P_DEFAULT, 0, off.as_ptr(), bytes.len(), bytes.as_ptr().cast())
            };
            if e < 0 {
                return Err(write_error(&self.path, &format!("chunk at {offset:?} not written")));
            }
        }
        Ok(())
    }

    /// Write what is left; every value must have arrived.
    pub fn finish(mut self) -> Result<()> {
        if !self.rows.is_empty() {
            return Err(Error::Internal(format!("{} chunk rows were not filled", self.rows.len())));
        }
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_a_box() {
        let mut got = Vec::new();
        runs(&[2, 1, 3], &[0, 1, 0], &[2, 2, 3], &[1, 0, 2], &[3, 2, 5], |s, d| got.push((s, d)));
        // source rows 1 and 4 (index [i,1,0]), destination [1+i, 0, 2]
        assert_eq!(got, vec![(3, 12), (9, 22)]);
    }
}
