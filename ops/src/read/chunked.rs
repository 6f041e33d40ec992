//! Direct reads of chunked NetCDF-4/HDF5 variables: the chunk's file address and size
//! come from a table of the variable's chunk index (read once by `hdf5-reader`, or kept
//! in the catalog index for objects), or from libhdf5 under the library lock when that
//! table cannot be read; the compressed bytes are read with `pread` (or fetched) and
//! decoded (deflate, shuffle, fletcher32) without any lock, in parallel.
#![allow(unsafe_code)]

use super::decode::{typed, unshuffle};
use super::object_h5::{chunk_table, ChunkTable};
use crate::array::Data;
use crate::model::{DataType, Filter};
use crate::object::Object;
use crate::{Error, Result};
use hdf5_sys::h5::{haddr_t, hsize_t, HADDR_UNDEF};
use hdf5_sys::h5d::{H5Dget_chunk_info_by_coord, H5Dget_create_plist, H5Dget_type};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::{H5Pclose, H5Pget_chunk, H5Pget_filter2, H5Pget_nfilters};
use hdf5_sys::h5t::{H5T_order_t, H5Tclose, H5Tget_order, H5Tget_size};
use std::collections::HashMap;
use std::ffi::c_uint;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const DEFLATE: c_uint = 1;
pub(crate) const SHUFFLE: c_uint = 2;
pub(crate) const FLETCHER32: c_uint = 3;

/// Where a variable's chunks are found: in a table read once from the file's chunk
/// index, or asked of libhdf5 (local files whose index `hdf5-reader` cannot read).
enum ChunkIndex {
    Library { _file: hdf5::File, dset: hdf5::Dataset },
    Table(HashMap<Vec<usize>, ChunkLocation>),
}

/// Where the stored chunk bytes are read from.
enum Stored {
    File(std::fs::File),
    Object(Object),
}

/// A chunked variable whose chunks cirrus decodes itself.
pub struct ChunkedVar {
    index: ChunkIndex,
    stored: Stored,
    /// Chunk shape.
    pub chunk: Vec<usize>,
    /// Filters in the order they were applied when writing: (id, parameters).
    filters: Vec<(c_uint, Vec<c_uint>)>,
    elem: usize,
    little: bool,
    dtype: DataType,
}

/// Where a chunk is stored.
#[derive(Clone, Copy, Debug)]
pub struct ChunkLocation {
    pub addr: u64,
    pub size: u64,
    /// Bit i set: filter i was skipped for this chunk.
    pub mask: u32,
}

/// How a chunked HDF5 dataset is stored: chunk shape, filters, element size and order.
pub(crate) struct Layout {
    pub chunk: Vec<usize>,
    /// Filters in the order they are applied when writing: (id, parameters).
    pub filters: Vec<(c_uint, Vec<c_uint>)>,
    pub elem: usize,
    pub little: bool,
}

impl Layout {
    /// The layout of a dataset; None when it is not chunked.
    pub fn of(dset: &hdf5::Dataset) -> Option<Layout> {
        let _g = netcdf_sys::libnetcdf_lock.lock();
        let id: hid_t = dset.id();
        // SAFETY: valid dataset id; every handle opened here is closed below.
        unsafe {
            let plist = H5Dget_create_plist(id);
            if plist < 0 {
                return None;
            }
            let rank = dset.ndim();
            let mut dims = vec![0 as hsize_t; rank.max(1)];
            let got = H5Pget_chunk(plist, i32::try_from(rank).unwrap_or(0), dims.as_mut_ptr());
            let mut filters = Vec::new();
            for i in 0..H5Pget_nfilters(plist).max(0) {
                let mut flags: c_uint = 0;
                let mut n: usize = 8;
                let mut cd = [0 as c_uint; 8];
                let mut config: c_uint = 0;
                let fid = H5Pget_filter2(
                    plist,
                    c_uint::try_from(i).unwrap_or(0),
                    &mut flags,
                    &mut n,
                    cd.as_mut_ptr(),
                    0,
                    std::ptr::null_mut(),
                    &mut config,
                );
                let fid = c_uint::try_from(fid).unwrap_or(c_uint::MAX);
                filters.push((fid, cd[..n.min(8)].to_vec()));
            }
            H5Pclose(plist);
            let t = H5Dget_type(id);
            let elem = H5Tget_size(t);
            let little = H5Tget_order(t) == H5T_order_t::H5T_ORDER_LE;
            H5Tclose(t);
            if got != i32::try_from(rank).unwrap_or(-1) || rank == 0 {
                return None;
            }
            let chunk = dims[..rank].iter().map(|&d| usize::try_from(d).unwrap_or(1).max(1)).collect();
            Some(Layout { chunk, filters, elem, little })
        }
    }
}

impl ChunkedVar {
    /// Open a variable of a local file for direct chunk reads: its chunk table read by
    /// `hdf5-reader` (no lock), else its chunks located by libhdf5. None when it is not
    /// chunked, has a filter cirrus does not decode, or a type read through the library.
    pub fn open(path: &Path, var: &crate::model::Variable) -> Result<Option<ChunkedVar>> {
        if !var.dtype.is_atomic() || var.dtype == DataType::Str {
            return Ok(None);
        }
        if let Some(table) = local_table(path, var) {
            let fd = std::fs::File::open(path)?;
            return Ok(Some(ChunkedVar::with_table(Stored::File(fd), &table, var.dtype)));
        }
        ChunkedVar::open_library(path, &var.name, var.dtype)
    }

    /// Open a variable with its chunks located by libhdf5.
    fn open_library(path: &Path, var: &str, dtype: DataType) -> Result<Option<ChunkedVar>> {
        let file = match hdf5::File::open(path) {
            Ok(f) => f,
            Err(_) => return Ok(None),
        };
        let dset = match file.dataset(&format!("/{var}")) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        };
        let Some(layout) = Layout::of(&dset) else {
            return Ok(None);
        };
        let supported = layout.filters.iter().all(|(id, _)| matches!(*id, DEFLATE | SHUFFLE | FLETCHER32));
        if !supported || layout.elem != dtype.size() {
            return Ok(None);
        }
        let fd = std::fs::File::open(path)?;
        Ok(Some(ChunkedVar {
            index: ChunkIndex::Library { _file: file, dset },
            stored: Stored::File(fd),
            chunk: layout.chunk,
            filters: layout.filters,
            elem: layout.elem,
            little: layout.little,
            dtype,
        }))
    }

    /// A variable of an object, its chunks where `table` says.
    pub(crate) fn from_table(obj: Object, table: &ChunkTable, dtype: DataType) -> ChunkedVar {
        ChunkedVar::with_table(Stored::Object(obj), table, dtype)
    }

    fn with_table(stored: Stored, table: &ChunkTable, dtype: DataType) -> ChunkedVar {
        ChunkedVar {
            index: ChunkIndex::Table(table.locations()),
            stored,
            chunk: table.chunk.iter().map(|&c| c as usize).collect(),
            filters: table.filters.clone(),
            elem: usize::from(table.elem),
            little: table.little,
            dtype,
        }
    }

    /// True when the chunks are fetched from object storage.
    pub fn is_remote(&self) -> bool {
        matches!(self.stored, Stored::Object(_))
    }

    /// True when the stored chunks are little-endian values with exactly the filters
    /// `filters` (shuffle by the element size): their bytes are then valid chunks for
    /// those codecs as they are.
    pub fn stored_as(&self, filters: &[Filter]) -> bool {
        let same = self.filters.len() == filters.len()
            && self.filters.iter().zip(filters).all(|((id, cd), f)| {
                Filter::from_id(*id) == *f && (*id != SHUFFLE || cd.first().is_none_or(|&s| s as usize == self.elem))
            });
        same && (self.little || self.elem == 1)
    }

    /// Where the chunk at chunk-grid coordinates `coords` is stored (None: never written).
    pub fn locate(&self, coords: &[usize]) -> Result<Option<ChunkLocation>> {
        let dset = match &self.index {
            ChunkIndex::Table(t) => return Ok(t.get(coords).copied()),
            ChunkIndex::Library { dset, .. } => dset,
        };
        let offset: Vec<hsize_t> = coords.iter().zip(&self.chunk).map(|(&c, &s)| (c * s) as hsize_t).collect();
        let mut mask: c_uint = 0;
        let mut addr: haddr_t = 0;
        let mut size: hsize_t = 0;
        let _g = netcdf_sys::libnetcdf_lock.lock();
        // SAFETY: valid dataset id, offset has one entry per dimension, valid out-pointers.
        let err = unsafe { H5Dget_chunk_info_by_coord(dset.id(), offset.as_ptr(), &mut mask, &mut addr, &mut size) };
        if err < 0 {
            return Err(Error::Internal(format!("cannot locate chunk {coords:?}")));
        }
        Ok((addr != HADDR_UNDEF && size > 0).then_some(ChunkLocation { addr, size, mask }))
    }

    /// Where each of the chunks at `coords` is stored; None when one was never written.
    pub fn locate_all<C: AsRef<[usize]>>(&self, coords: &[C]) -> Result<Option<Vec<ChunkLocation>>> {
        let mut locs = Vec::with_capacity(coords.len());
        for c in coords {
            match self.locate(c.as_ref())? {
                Some(l) => locs.push(l),
                None => return Ok(None),
            }
        }
        Ok(Some(locs))
    }

    /// Read the stored bytes of a chunk (no lock).
    pub fn read_raw(&self, loc: ChunkLocation) -> Result<Vec<u8>> {
        match &self.stored {
            Stored::File(fd) => {
                let n = usize::try_from(loc.size).map_err(|_| Error::Internal("chunk too large".into()))?;
                let mut buf = vec![0u8; n];
                fd.read_exact_at(&mut buf, loc.addr)?;
                Ok(buf)
            }
            Stored::Object(o) => Ok(o.fetch(loc.addr..loc.addr + loc.size)?.to_vec()),
        }
    }

    /// The stored bytes of several chunks: from object storage in concurrent
    /// requests (nearby chunks in one), from a local file one after the other.
    pub fn read_raw_many(&self, locs: &[ChunkLocation]) -> Result<Vec<Vec<u8>>> {
        match &self.stored {
            Stored::File(_) => locs.iter().map(|&l| self.read_raw(l)).collect(),
            Stored::Object(o) => Ok(o
                .fetch_all(locs.iter().map(|l| l.addr..l.addr + l.size).collect())?
                .into_iter()
                .map(|b| b.to_vec())
                .collect()),
        }
    }

    /// Decode stored chunk bytes into values (no lock; may run in parallel).
    pub fn decode(&self, raw: Vec<u8>, mask: u32) -> Result<Data> {
        let n: usize = self.chunk.iter().product();
        let expect = n * self.elem;
        let mut bytes = raw;
        for (i, (id, cd)) in self.filters.iter().enumerate().rev() {
            if mask & (1 << i) != 0 {
                continue;
            }
            if i == 0 && *id == SHUFFLE && self.dtype == DataType::F32 && self.little && bytes.len() == expect {
                // the last step to undo: straight into the values, in one pass
                return Ok(Data::F32(super::decode::unshuffle_f32(&bytes)));
            }
            bytes = match *id {
                FLETCHER32 => {
                    let keep = bytes.len().saturating_sub(4);
                    bytes.truncate(keep);
                    bytes
                }
                SHUFFLE => unshuffle(&bytes, cd.first().map_or(self.elem, |&s| s as usize)),
                DEFLATE => {
                    let mut out = Vec::new();
                    let got = inflate_into(&bytes, expect + 64, &mut out)?;
                    out.truncate(got);
                    out
                }
                other => return Err(Error::Internal(format!("filter {other} not supported"))),
            };
        }
        if bytes.len() < expect {
            return Err(Error::Internal(format!("chunk holds {} bytes, {expect} expected", bytes.len())));
        }
        bytes.truncate(expect);
        typed(&bytes, self.dtype, self.little)
    }
}

/// Buffers a reader keeps from chunk to chunk: the stored bytes, the inflated bytes.
#[derive(Default)]
pub struct Scratch {
    raw: Vec<u8>,
    plain: Vec<u8>,
}

impl ChunkedVar {
    /// Values `from..from + out.len()` of the chunk at `loc`, into `out`: for chunks of
    /// little-endian floats stored deflated (after a shuffle or not), read and decoded
    /// in `scratch` without allocating; any other chunk through [`ChunkedVar::decode`].
    pub fn read_f32_into(&self, loc: ChunkLocation, from: usize, out: &mut [f32], scratch: &mut Scratch) -> Result<()> {
        let n: usize = self.chunk.iter().product();
        let shuffle4 = |cd: &[c_uint]| cd.first().is_none_or(|&s| s == 4);
        let shuffled = match self.filters.as_slice() {
            [(SHUFFLE, cd), (DEFLATE, _)] if shuffle4(cd) => Some(true),
            [(DEFLATE, _)] => Some(false),
            _ => None,
        };
        let (Some(shuffled), Stored::File(fd), true) =
            (shuffled, &self.stored, self.dtype == DataType::F32 && self.little && loc.mask == 0)
        else {
            return match self.decode(self.read_raw(loc)?, loc.mask)? {
                Data::F32(v) if v.len() >= from + out.len() => {
                    out.copy_from_slice(&v[from..from + out.len()]);
                    Ok(())
                }
                _ => Err(Error::Internal("a float chunk decoded to other values".into())),
            };
        };
        let size = usize::try_from(loc.size).map_err(|_| Error::Internal("chunk too large".into()))?;
        if scratch.raw.len() < size {
            scratch.raw.resize(size, 0);
        }
        fd.read_exact_at(&mut scratch.raw[..size], loc.addr)?;
        let expect = n * 4;
        let got = inflate_into(&scratch.raw[..size], expect + 64, &mut scratch.plain)?;
        if got < expect || from + out.len() > n {
            return Err(Error::Internal(format!("chunk holds {got} bytes, {expect} expected")));
        }
        let bytes = &scratch.plain[..expect];
        if shuffled {
            super::decode::unshuffle_f32_into(bytes, from, out);
        } else {
            for (o, c) in out.iter_mut().zip(bytes[from * 4..].chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Ok(())
    }
}

/// The chunk table of a variable of a local HDF5 file, read by `hdf5-reader`; None when
/// the variable is not chunked as cirrus decodes it, or the file's metadata is not read
/// that way (libhdf5 then locates the chunks).
fn local_table(path: &Path, var: &crate::model::Variable) -> Option<ChunkTable> {
    let file = std::fs::File::open(path).ok()?;
    let storage: hdf5_reader::storage::DynStorage =
        std::sync::Arc::new(hdf5_reader::FileStorage::from_file(file).ok()?);
    let options = hdf5_reader::OpenOptions { chunk_cache_bytes: 0, ..hdf5_reader::OpenOptions::default() };
    let read = || {
        let h5 = hdf5_reader::Hdf5File::from_storage_with_options(storage, options).ok()?;
        let ds = h5.dataset(&format!("/{}", var.name)).ok()?;
        chunk_table(&h5, &ds, var).ok().flatten()
    };
    // a parser panic on a malformed file leaves the library to decide
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).ok().flatten()
}

/// Inflate a zlib stream of at most `cap` bytes into `out`, a buffer kept from chunk to
/// chunk (zeroed only where it grows); the number of bytes written.
fn inflate_into(bytes: &[u8], cap: usize, out: &mut Vec<u8>) -> Result<usize> {
    if out.len() < cap {
        out.resize(cap, 0);
    }
    libdeflater::Decompressor::new()
        .zlib_decompress(bytes, &mut out[..cap])
        .map_err(|e| Error::Internal(format!("corrupt deflate chunk: {e:?}")))
}
