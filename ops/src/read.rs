//! Reading values of a dataset's variables: hyperslabs across the files of a joined
//! dataset, in blocks of bounded size for streaming. Open file handles are cached.

use crate::array::{Array, Data};
use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{Dataset, SourceFile, Variable};
use crate::netcdf_io::NcFile;
use crate::Result;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// Identity of a file version: a changed file gets a new handle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    size: u64,
    mtime: SystemTime,
}

/// Reads variables of datasets, keeping a bounded set of files open.
pub struct Reader {
    handles: moka::sync::Cache<FileKey, Arc<NcFile>>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new(256)
    }
}

impl Reader {
    /// A reader keeping at most `max_open` files open.
    pub fn new(max_open: u64) -> Self {
        Reader { handles: moka::sync::Cache::new(max_open) }
    }

    /// An open handle on a file of a dataset.
    pub fn open(&self, file: &SourceFile) -> Result<Arc<NcFile>> {
        let key = FileKey { path: file.path.clone(), size: file.size, mtime: file.mtime };
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
        let shape = slab.shape();
        let join = ds.join.as_ref().filter(|_| var.joined);
        let Some(join) = join else {
            let data = self.open(&ds.files[0])?.read(&var.name, var.dtype, &slab.0, &ds.types)?;
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
            let piece = self.open(file)?.read(&var.name, var.dtype, &local, &ds.types)?;
            if jd == 0 {
                out.extend_from(&piece);
            } else {
                out.scatter_runs(&piece, (k1 - k0) * inner, outer, k0 * inner, r.count * inner);
            }
        }
        Ok(Array { shape, data: out })
    }

    /// Read a hyperslab in consecutive blocks of at most about `max_bytes`, calling `f`
    /// with each block in row-major order.
    pub fn read_blocks(
        &self,
        ds: &Dataset,
        var: &Variable,
        slab: &Hyperslab,
        max_bytes: usize,
        mut f: impl FnMut(Array) -> Result<()>,
    ) -> Result<()> {
        slab.check(var)?;
        let max_elems = (max_bytes / var.dtype.size().max(1)).max(1);
        for block in slab.blocks(max_elems) {
            f(self.read(ds, var, &block)?)?;
        }
        Ok(())
    }
}
