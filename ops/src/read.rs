//! Reading values of a dataset's variables: hyperslabs across the files of a joined
//! dataset, in blocks of bounded size for streaming.
//!
//! Three paths, fastest first: NetCDF-3 files are read directly (the format is simple:
//! offsets from the header, big-endian values); chunked NetCDF-4 variables with deflate,
//! shuffle or fletcher32 are read chunk by chunk — the chunk's address is looked up
//! under the library lock, its bytes read and decoded outside it, in parallel — through
//! a cache of decoded chunks bounded in bytes; everything else goes through libnetcdf.

/// Direct chunk reads of NetCDF-4/HDF5 variables (public for the kernel benchmarks in
/// `ops/benches/kernels.rs`: [`chunked::ChunkedVar::decode`] is inflate + unshuffle).
mod blosc;
pub mod chunked;
mod classic;
pub mod decode;
mod object_h5;
pub mod zarr_store;
pub use object_h5::{chunk_table, ChunkTable};

use crate::array::{Array, Data};
use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{DataType, Dataset, SourceFile, Variable};
use crate::netcdf_io::NcFile;
use crate::Result;
use chunked::{ChunkLocation, ChunkedVar};
use classic::ClassicFile;
use object_h5::ObjectH5;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Identity of a file version: a changed file gets new handles and cache entries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    size: u64,
    mtime: SystemTime,
}

impl FileKey {
    fn of(f: &SourceFile) -> Arc<FileKey> {
        Arc::new(FileKey { path: f.path.clone(), size: f.size, mtime: f.mtime })
    }
}

/// A decoded chunk's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ChunkKey {
    file: Arc<FileKey>,
    var: Arc<str>,
    coords: Vec<usize>,
}

/// Counters of the decoded-chunk cache.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub bytes: u64,
    pub entries: u64,
}

/// A file of an object-storage root, its header parsed.
enum ObjectFile {
    Classic(ClassicFile),
    H5(ObjectH5),
    Zarr(zarr_store::ZarrStore),
}

/// An engine error shared by a cache's waiters, as an error of its own (same kind).
fn unshare(e: Arc<crate::Error>) -> crate::Error {
    use crate::Error;
    match &*e {
        Error::StorageUnavailable { url, message } => {
            Error::StorageUnavailable { url: url.clone(), message: message.clone() }
        }
        Error::StorageTimeout { url, message } => Error::StorageTimeout { url: url.clone(), message: message.clone() },
        Error::File { path, message } => Error::File { path: path.clone(), message: message.clone() },
        Error::Unsupported(m) => Error::Unsupported(m.clone()),
        other => Error::Internal(other.to_string()),
    }
}

/// Chunked-variable readers by file and variable name (None: read through the library).
type ChunkedVars = moka::sync::Cache<(Arc<FileKey>, Arc<str>), Option<Arc<ChunkedVar>>>;

/// How a reader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Direct reads where possible, through the chunk cache.
    Fast,
    /// Only through libnetcdf (the reference for checking the fast paths).
    Library,
}

/// Reads variables of datasets, keeping a bounded set of files open and a bounded cache
/// of decoded chunks.
pub struct Reader {
    mode: Mode,
    handles: moka::sync::Cache<Arc<FileKey>, Arc<NcFile>>,
    classic: moka::sync::Cache<Arc<FileKey>, Option<Arc<ClassicFile>>>,
    chunked: ChunkedVars,
    chunks: moka::sync::Cache<ChunkKey, Arc<Data>>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: Arc<AtomicU64>,
    /// Time-chunked copies that series reads are sent to.
    copies: Option<Arc<crate::timeseries::Copies>>,
    /// Clients of the object-storage roots, and their files with parsed headers (a
    /// failed open is not kept: the next read tries again).
    objects: Arc<crate::object::ObjectStores>,
    object_files: moka::sync::Cache<Arc<FileKey>, Arc<ObjectFile>>,
    /// The catalog index, whose file records hold the chunk tables of objects.
    index: std::sync::OnceLock<Arc<dyn crate::catalog::store::CatalogStore>>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new(1 << 30, Mode::Fast)
    }
}

fn data_bytes(d: &Data) -> u32 {
    let n = d.len() * d.dtype().size();
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Reader {
    /// A reader with a decoded-chunk cache of `cache_bytes`.
    pub fn new(cache_bytes: u64, mode: Mode) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let ev = evictions.clone();
        Reader {
            mode,
            handles: moka::sync::Cache::new(256),
            classic: moka::sync::Cache::new(1024),
            chunked: moka::sync::Cache::new(4096),
            chunks: moka::sync::Cache::builder()
                .max_capacity(cache_bytes)
                .weigher(|_k: &ChunkKey, v: &Arc<Data>| data_bytes(v).max(1))
                .eviction_listener(move |_, _, cause| {
                    if cause.was_evicted() {
                        ev.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions,
            copies: None,
            objects: Arc::default(),
            object_files: moka::sync::Cache::new(1024),
            index: std::sync::OnceLock::new(),
        }
    }

    /// Take the chunk tables of objects from `store` (the catalog index) when it has
    /// them (set once; later calls are ignored).
    pub fn set_index(&self, store: Arc<dyn crate::catalog::store::CatalogStore>) {
        let _ = self.index.set(store);
    }

    /// The reader reading the files of object-storage roots through `objects`.
    #[must_use]
    pub fn with_objects(mut self, objects: Arc<crate::object::ObjectStores>) -> Self {
        self.objects = objects;
        self
    }

    /// A file of an object-storage root, opened (its header parsed) once.
    fn object_file(&self, key: &Arc<FileKey>, file: &SourceFile) -> Result<Arc<ObjectFile>> {
        self.object_files
            .try_get_with(key.clone(), || -> Result<Arc<ObjectFile>> {
                if crate::object::is_zarr(&file.path) {
                    return Ok(Arc::new(ObjectFile::Zarr(zarr_store::ZarrStore::open(&self.objects, &file.path)?)));
                }
                let obj = self.objects.object(&file.path, file.size)?;
                if let Some(c) = ClassicFile::open_object(obj.clone())? {
                    return Ok(Arc::new(ObjectFile::Classic(c)));
                }
                Ok(Arc::new(ObjectFile::H5(ObjectH5::open(obj)?)))
            })
            .map_err(unshare)
    }

    /// Read from a file of an object-storage root: NetCDF-3 rows or HDF5 chunks by
    /// byte ranges, other HDF5 layouts through `hdf5-reader`.
    fn read_object(
        &self,
        file: &SourceFile,
        var: &Variable,
        file_shape: &[usize],
        ranges: &[DimRange],
    ) -> Result<Data> {
        let key = FileKey::of(file);
        // chunked NetCDF-4 variables: by their chunk table (usually from the index)
        if var.chunks.is_some() {
            let name: Arc<str> = Arc::from(var.name.as_str());
            if let Some(cv) = self.chunked_var(&key, &name, file, var)? {
                if let Some(d) = self.read_chunked(&cv, &key, &name, var.dtype, ranges)? {
                    return Ok(d);
                }
            }
        }
        match &*self.object_file(&key, file)? {
            ObjectFile::Classic(c) => c.read(var, file_shape, ranges),
            ObjectFile::H5(h) => h.read(var, ranges),
            ObjectFile::Zarr(z) => self.read_zarr(&key, z, var, ranges),
        }
    }

    /// Read from a Zarr store through the chunk cache: the chunks not cached are
    /// fetched together.
    fn read_zarr(
        &self,
        key: &Arc<FileKey>,
        z: &zarr_store::ZarrStore,
        var: &Variable,
        ranges: &[DimRange],
    ) -> Result<Data> {
        let chunk =
            z.chunk_shape(&var.name).ok_or_else(|| crate::Error::Internal(format!("no array '{}'", var.name)))?;
        let coords = decode::chunk_coords(ranges, chunk);
        let name: Arc<str> = Arc::from(var.name.as_str());
        let got = self.through_cache(key, &name, &coords, |want| {
            let want: Vec<Vec<usize>> = want.iter().map(|c| c.to_vec()).collect();
            Ok(Some(z.chunks(&self.objects, &var.name, &want)?))
        })?;
        let data = got.unwrap_or_default();
        let refs: Vec<&Data> = data.iter().map(|d| &**d).collect();
        Ok(decode::assemble(var.dtype, ranges, chunk, &coords, &refs))
    }

    /// The decoded chunks at `coords` of a variable of a file: those in the chunk cache,
    /// the others from `load` (given their coordinates, in order; None: a chunk is not
    /// stored, and so is the answer), then cached. Counts hits and misses.
    fn through_cache(
        &self,
        file: &Arc<FileKey>,
        var: &Arc<str>,
        coords: &[Vec<usize>],
        load: impl FnOnce(&[&[usize]]) -> Result<Option<Vec<Data>>>,
    ) -> Result<Option<Vec<Arc<Data>>>> {
        let keys: Vec<ChunkKey> =
            coords.iter().map(|c| ChunkKey { file: file.clone(), var: var.clone(), coords: c.clone() }).collect();
        let mut have: Vec<Option<Arc<Data>>> = keys.iter().map(|k| self.chunks.get(k)).collect();
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| have[i].is_none()).collect();
        self.hits.fetch_add((keys.len() - missing.len()) as u64, Ordering::Relaxed);
        self.misses.fetch_add(missing.len() as u64, Ordering::Relaxed);
        if !missing.is_empty() {
            let want: Vec<&[usize]> = missing.iter().map(|&i| coords[i].as_slice()).collect();
            let Some(loaded) = load(&want)? else { return Ok(None) };
            for (&i, d) in missing.iter().zip(loaded) {
                let d = Arc::new(d);
                self.chunks.insert(keys[i].clone(), d.clone());
                have[i] = Some(d);
            }
        }
        Ok(Some(have.into_iter().flatten().collect()))
    }

    /// The reader sending series reads to `copies` when they have the variable.
    #[must_use]
    pub fn with_copies(mut self, copies: Arc<crate::timeseries::Copies>) -> Self {
        self.copies = Some(copies);
        self
    }

    /// Counters of the chunk cache.
    pub fn stats(&self) -> CacheStats {
        self.chunks.run_pending_tasks();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            bytes: self.chunks.weighted_size(),
            entries: self.chunks.entry_count(),
        }
    }

    /// Forget every cached handle and chunk (files changed on disk are also detected
    /// by their size and mtime without this).
    pub fn clear(&self) {
        self.object_files.invalidate_all();
        self.handles.invalidate_all();
        self.classic.invalidate_all();
        self.chunked.invalidate_all();
        self.chunks.invalidate_all();
    }

    /// An open libnetcdf handle on a file of a dataset.
    pub fn open(&self, file: &SourceFile) -> Result<Arc<NcFile>> {
        if crate::object::is_object(&file.path) {
            return Err(crate::Error::Unsupported(format!(
                "{} is on object storage: libnetcdf reads only local files",
                file.path.display()
            )));
        }
        let key = FileKey::of(file);
        if let Some(h) = self.handles.get(&key) {
            return Ok(h);
        }
        let h = Arc::new(NcFile::open(&file.path)?);
        self.handles.insert(key, h.clone());
        Ok(h)
    }

    /// Read a hyperslab of a variable (joined across files when the variable spans the
    /// join dimension).
    pub fn read(&self, ds: &Dataset, var: &Variable, slab: &Hyperslab) -> Result<Array> {
        slab.check(var)?;
        if let Some((copy, cv)) = self.copies.as_ref().and_then(|c| c.serve(ds, var, slab)) {
            return self.read(&copy, &cv, slab);
        }
        let shape = slab.shape();
        if let Some(data) = coordinate(ds, var, slab) {
            return Ok(Array { shape, data });
        }
        let join = ds.join.as_ref().filter(|_| var.joined);
        let Some(join) = join else {
            let data = self.read_file(ds, &ds.files[0], var, &var.shape, &slab.0)?;
            return Ok(Array { shape, data });
        };
        let jd = var.dims.iter().position(|d| *d == join.dim).unwrap_or(0);
        let r = slab.0[jd];
        let outer: usize = shape[..jd].iter().product();
        let inner: usize = shape[jd + 1..].iter().product();
        let mut out =
            if jd == 0 { Data::with_capacity(var.dtype, slab.len()) } else { Data::zeros(var.dtype, slab.len()) };
        for (f, file) in ds.files.iter().enumerate() {
            let (lo, hi) = (join.offsets[f], join.offsets[f + 1]);
            // k-range of selected indices start + k*stride that fall in [lo, hi)
            let k0 = if r.start >= lo { 0 } else { (lo - r.start).div_ceil(r.stride) };
            let k1 = if r.start >= hi { 0 } else { (hi - r.start).div_ceil(r.stride) }.min(r.count);
            if k1 <= k0 {
                continue;
            }
            let mut local = slab.0.clone();
            local[jd] = DimRange { start: r.at(k0) - lo + join.skip[f], stride: r.stride, count: k1 - k0 };
            let mut file_shape = var.shape.clone();
            file_shape[jd] = hi - lo + join.skip[f];
            let mut piece = self.read_file(ds, file, var, &file_shape, &local)?;
            if let Some(r) = join.rebase[f].filter(|_| join.rebased.contains(&var.name)) {
                piece = crate::selection::map_values(piece, |x| r.apply(x));
            }
            if jd == 0 && out.is_empty() && k1 - k0 == r.count {
                // the whole read is in this file
                out = piece;
            } else if jd == 0 {
                out.extend_from(&piece);
            } else {
                out.scatter_runs(&piece, 0, (k1 - k0) * inner, outer, k0 * inner, r.count * inner);
            }
        }
        Ok(Array { shape, data: out })
    }

    /// Read from one file, by the fastest path that applies.
    fn read_file(
        &self,
        ds: &Dataset,
        file: &SourceFile,
        var: &Variable,
        file_shape: &[usize],
        ranges: &[DimRange],
    ) -> Result<Data> {
        if crate::object::is_object(&file.path) {
            return self.read_object(file, var, file_shape, ranges);
        }
        let fast = self.mode == Mode::Fast && var.dtype.is_atomic() && var.dtype != DataType::Str;
        if fast {
            let key = FileKey::of(file);
            let classic =
                self.classic.get_with(key.clone(), || ClassicFile::open(&file.path).ok().flatten().map(Arc::new));
            if let Some(c) = classic {
                return c.read(var, file_shape, ranges);
            }
            if var.chunks.is_some() {
                let name: Arc<str> = Arc::from(var.name.as_str());
                if let Some(cv) = self.chunked_var(&key, &name, file, var)? {
                    if let Some(d) = self.read_chunked(&cv, &key, &name, var.dtype, ranges)? {
                        return Ok(d);
                    }
                }
            }
        }
        self.open(file)?.read(&var.name, var.dtype, ranges, &ds.types)
    }

    /// The direct chunk reader of a variable in a file (None: read through the library).
    fn chunked_var(
        &self,
        key: &Arc<FileKey>,
        name: &Arc<str>,
        file: &SourceFile,
        var: &Variable,
    ) -> Result<Option<Arc<ChunkedVar>>> {
        if !crate::object::is_object(&file.path) {
            return Ok(self.chunked.get_with((key.clone(), name.clone()), || {
                ChunkedVar::open(&file.path, var).ok().flatten().map(Arc::new)
            }));
        }
        // an object's chunk table: from the index, else read from the file once (a
        // failed read is not kept)
        self.chunked
            .try_get_with((key.clone(), name.clone()), || -> Result<Option<Arc<ChunkedVar>>> {
                let indexed = self
                    .index
                    .get()
                    .and_then(|s| s.load(file))
                    .and_then(|info| info.chunk_tables.into_iter().find(|t| t.var == var.name));
                if let Some(t) = indexed {
                    let obj = self.objects.object(&file.path, file.size)?;
                    return Ok(Some(Arc::new(ChunkedVar::from_table(obj, &t, var.dtype))));
                }
                match &*self.object_file(key, file)? {
                    ObjectFile::H5(h) => Ok(h.chunked(var)?.map(Arc::new)),
                    ObjectFile::Classic(_) | ObjectFile::Zarr(_) => Ok(None),
                }
            })
            .map_err(unshare)
    }

    /// The bytes stored on disk for the chunk of `var` that `slab` covers, when they are
    /// that chunk as it is: one chunk (shape `chunk`) of one file, on the file's chunk
    /// grid, little-endian, stored with exactly `filters` and none skipped. None
    /// otherwise (coordinates kept in the index, time values re-expressed in a join,
    /// chunks straddling files, other layouts): the caller assembles the chunk.
    pub fn stored_chunk(
        &self,
        ds: &Dataset,
        var: &Variable,
        slab: &Hyperslab,
        chunk: &[usize],
        filters: &[crate::model::Filter],
    ) -> Result<Option<Vec<u8>>> {
        slab.check(var)?;
        let remote = ds.files.first().is_some_and(|f| crate::object::is_object(&f.path));
        if (self.mode != Mode::Fast && !remote) || ds.coord_values(&var.name).is_some() || slab.0.len() != chunk.len() {
            return Ok(None);
        }
        let mut local = slab.0.clone();
        let file = match ds.join.as_ref().filter(|_| var.joined) {
            None => &ds.files[0],
            Some(join) => {
                let Some(jd) = var.dims.iter().position(|d| *d == join.dim) else { return Ok(None) };
                let r = slab.0[jd];
                let (f, i) = join.locate(r.start);
                if (join.rebase[f].is_some() && join.rebased.contains(&var.name))
                    || r.start + r.count > join.offsets[f + 1]
                {
                    return Ok(None);
                }
                local[jd].start = i;
                &ds.files[f]
            }
        };
        if local.iter().zip(chunk).any(|(r, &c)| r.stride != 1 || r.start % c != 0) {
            return Ok(None);
        }
        let coords: Vec<usize> = local.iter().zip(chunk).map(|(r, &c)| r.start / c).collect();
        let key = FileKey::of(file);
        let Some(cv) = self.chunked_var(&key, &Arc::from(var.name.as_str()), file, var)? else { return Ok(None) };
        if cv.chunk != chunk || !cv.stored_as(filters) {
            return Ok(None);
        }
        match cv.locate(&coords)? {
            Some(loc) if loc.mask == 0 => Ok(Some(cv.read_raw(loc)?)),
            _ => Ok(None),
        }
    }

    /// Read through decoded chunks; None when a chunk was never written (the library
    /// then supplies fill values).
    fn read_chunked(
        &self,
        cv: &ChunkedVar,
        file: &Arc<FileKey>,
        var: &Arc<str>,
        dtype: DataType,
        ranges: &[DimRange],
    ) -> Result<Option<Data>> {
        let chunk = &cv.chunk;
        let coords = decode::chunk_coords(ranges, chunk);
        let bytes = ranges.iter().map(|r| r.count).product::<usize>() * dtype.size();
        if dtype == DataType::F32 && !cv.is_remote() && decode::whole_rows(ranges, chunk) {
            let cap = self.chunks.policy().max_capacity().unwrap_or(u64::MAX);
            if bytes as u64 > cap / 4 {
                self.misses.fetch_add(coords.len() as u64, Ordering::Relaxed);
                return direct_rows(cv, ranges, &coords);
            }
        }
        let got = self.through_cache(file, var, &coords, |want| {
            // addresses under the lock, one after the other (fast)
            let Some(locs) = cv.locate_all(want)? else { return Ok(None) };
            // bytes and decoding outside the lock, in parallel (one chunk on this thread:
            // a small request does not queue behind the pool's work for large ones)
            let decoded: Vec<Result<Data>> = if cv.is_remote() {
                // an object's chunks: fetched together (concurrent, nearby ones in one
                // request), then decoded in parallel
                let raw = cv.read_raw_many(&locs)?;
                raw.into_par_iter().zip(locs.par_iter()).map(|(r, l)| cv.decode(r, l.mask)).collect()
            } else {
                let decode = |&l: &ChunkLocation| cv.decode(cv.read_raw(l)?, l.mask);
                if locs.len() == 1 {
                    locs.iter().map(decode).collect()
                } else {
                    locs.par_iter().map(decode).collect()
                }
            };
            decoded.into_iter().collect::<Result<Vec<Data>>>().map(Some)
        })?;
        let Some(data) = got else { return Ok(None) };
        let refs: Vec<&Data> = data.iter().map(|d| &**d).collect();
        Ok(Some(decode::assemble(dtype, ranges, chunk, &coords, &refs)))
    }

    /// Read a hyperslab in consecutive blocks of at most about `max_bytes`, calling `f`
    /// with each block in row-major order. From object storage, blocks are of at least
    /// [`REMOTE_BLOCK_BYTES`] and the next one is fetched and decoded while `f` takes
    /// the current one (two blocks in memory at most).
    pub fn read_blocks(
        &self,
        ds: &Dataset,
        var: &Variable,
        slab: &Hyperslab,
        max_bytes: usize,
        mut f: impl FnMut(Array) -> Result<()>,
    ) -> Result<()> {
        slab.check(var)?;
        let remote = ds.files.first().is_some_and(|f| crate::object::is_object(&f.path));
        let max_bytes = if remote { max_bytes.max(REMOTE_BLOCK_BYTES) } else { max_bytes };
        let max_elems = (max_bytes / var.dtype.size().max(1)).max(1);
        let blocks = slab.blocks(max_elems);
        if !remote || blocks.len() < 2 {
            for block in blocks {
                f(self.read(ds, var, &block)?)?;
            }
            return Ok(());
        }
        std::thread::scope(|s| {
            let mut next = blocks.into_iter();
            let mut pending = next.next().map(|b| s.spawn(move || self.read(ds, var, &b)));
            while let Some(h) = pending.take() {
                let block = h.join().map_err(|_| crate::Error::Internal("a block read failed".into()))??;
                pending = next.next().map(|b| s.spawn(move || self.read(ds, var, &b)));
                f(block)?;
            }
            Ok(())
        })
    }
}

/// A read of float chunks larger than a quarter of the chunk cache (it would only
/// evict the cache): decoded in parallel straight into their rows of the output,
/// without the cache. The chunks span the selection but along the first dimension
/// ([`decode::whole_rows`]). None when a chunk was never written.
fn direct_rows(cv: &ChunkedVar, ranges: &[DimRange], coords: &[Vec<usize>]) -> Result<Option<Data>> {
    let Some(locs) = cv.locate_all(coords)? else { return Ok(None) };
    let (r, rows) = (ranges[0], cv.chunk[0]);
    let inner: usize = cv.chunk[1..].iter().product();
    let mut out = vec![0f32; r.count * inner];
    let mut parts = Vec::with_capacity(coords.len());
    let mut rest = out.as_mut_slice();
    for c in coords {
        let origin = c[0] * rows;
        let (lo, hi) = (r.start.max(origin) - origin, (r.start + r.count).min(origin + rows) - origin);
        let (part, tail) = rest.split_at_mut((hi - lo) * inner);
        parts.push((part, lo * inner));
        rest = tail;
    }
    parts
        .into_par_iter()
        .zip(locs.par_iter())
        .try_for_each_init(chunked::Scratch::default, |scratch, ((dst, from), l)| {
            cv.read_f32_into(*l, from, dst, scratch)
        })?;
    Ok(Some(Data::F32(out)))
}

/// Smallest block of a streamed read from object storage (decoded bytes).
pub const REMOTE_BLOCK_BYTES: usize = 8 << 20;

/// A slab of a 1-D coordinate variable from the values kept at indexing (no file).
fn coordinate(ds: &Dataset, var: &Variable, slab: &Hyperslab) -> Option<crate::Data> {
    let vals = ds.coord_values(&var.name).filter(|v| var.dims.len() == 1 && v.len() == var.shape[0])?;
    let r = slab.0[0];
    let picked: Vec<f64> = (0..r.count).map(|k| vals[r.at(k)]).collect();
    crate::Data::from_f64(var.dtype, picked)
}
