//! Time-chunked copies: per variable, a NetCDF-4 copy of a dataset chunked for time
//! series (many steps × a small tile of cells, deflated), kept in a state directory
//! under a byte quota with least-recently-used eviction. The [`Reader`] sends a read
//! of many steps at few cells to the copy when one is present and current (same
//! dataset etag), so every protocol's point and series reads use it; the values are
//! the stored values, byte for byte. Copies are built by [`Copies::build`] (a job of
//! the server), written under a temporary name and renamed with their manifest, so a
//! crash never leaves a half copy in use, and found again at start.

use crate::catalog::dataset_from_files;
use crate::encode::netcdf::{selection_file, write_file, BlockSink, NcOptions, VarSource};
use crate::hyperslab::Hyperslab;
use crate::model::{Dataset, Variable};
use crate::read::Reader;
use crate::selection::Selection;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// A read is a series read when it spans at least this many steps...
const MIN_STEPS: usize = 8;
/// ... at no more than this many values per step.
const MAX_CELLS: usize = 4096;
/// Bytes of one row of chunks (all chunks at one time-chunk index) while building.
const ROW_BYTES: usize = 128 << 20;
/// Uncompressed bytes of one chunk of a copy.
const CHUNK_BYTES: usize = 256 << 10;

/// What is kept next to a copy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub dataset: String,
    pub etag: String,
    pub variable: String,
    /// The copy's file name in the directory.
    pub file: String,
    pub bytes: u64,
    pub chunks: Vec<usize>,
    /// Seconds the build took.
    pub seconds: f64,
}

/// A copy found or built.
struct Copy {
    manifest: Manifest,
    path: PathBuf,
    /// The copy as a dataset, opened at first use.
    dataset: OnceLock<Option<Arc<Dataset>>>,
    /// Last use (for eviction).
    used: Mutex<Instant>,
}

/// The time-chunked copies of one server.
pub struct Copies {
    dir: Option<PathBuf>,
    quota: u64,
    /// Series reads of a variable without a copy after which one is wanted (0: never).
    auto_after: u32,
    copies: RwLock<HashMap<(String, String), Arc<Copy>>>,
    demand: Mutex<HashMap<(String, String), u32>>,
    wanted: Mutex<BTreeSet<String>>,
    /// Reads answered from a copy.
    pub hits: AtomicU64,
}

impl Default for Copies {
    fn default() -> Self {
        Copies::new(None, 0, 0)
    }
}

fn key_name(dataset: &str, var: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{dataset}\n{var}").as_bytes());
    h.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The chunk shape of a copy of `v`: `steps` along time, one along other outer
/// dimensions, a square tile of the last two.
pub fn chunk_shape(v: &Variable) -> Vec<usize> {
    let elem = v.dtype.size().max(1);
    let rank = v.shape.len();
    let per_step: usize = v.shape[1..].iter().product::<usize>().max(1) * elem;
    let steps = (ROW_BYTES / per_step).clamp(1, v.shape[0].clamp(1, 4096));
    let cells = (CHUNK_BYTES / (steps * elem)).max(1);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let side = ((cells as f64).sqrt() as usize).clamp(1, 256);
    let mut c = vec![steps];
    for d in 1..rank {
        c.push(if d + 2 >= rank { side.min(v.shape[d]).max(1) } else { 1 });
    }
    c
}

/// Counts the values a build has written and stops it when cancelled.
struct Counting {
    inner: Box<dyn VarSource>,
    done: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
}

impl VarSource for Counting {
    fn blocks(&self, reader: &Reader, block_bytes: usize, put: &mut BlockSink) -> Result<()> {
        self.inner.blocks(reader, block_bytes, &mut |start, shape, data| {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::bad("the copy was cancelled"));
            }
            self.done.fetch_add(data.len() as u64, Ordering::Relaxed);
            put(start, shape, data)
        })
    }

    fn in_row_order(&self) -> bool {
        self.inner.in_row_order()
    }
}

struct Nothing;

impl VarSource for Nothing {
    fn blocks(&self, _: &Reader, _: usize, _: &mut BlockSink) -> Result<()> {
        Ok(())
    }
}

impl Copies {
    /// Copies kept in `dir` (None: none can be built) within `quota` bytes, wanted after
    /// `auto_after` series reads (0: only when asked). Copies already there are found.
    pub fn new(dir: Option<PathBuf>, quota: u64, auto_after: u32) -> Copies {
        let c = Copies {
            dir,
            quota,
            auto_after,
            copies: RwLock::default(),
            demand: Mutex::default(),
            wanted: Mutex::default(),
            hits: AtomicU64::new(0),
        };
        c.load();
        c
    }

    fn load(&self) {
        let Some(dir) = &self.dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut map = self.copies.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with("tmp-") {
                // a build that did not finish
                let _ = std::fs::remove_file(&p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let Some(m) = std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<Manifest>(&b).ok()) else {
                continue;
            };
            let path = dir.join(&m.file);
            if !path.exists() {
                let _ = std::fs::remove_file(&p);
                continue;
            }
            // the most recently used first after a restart: the file's modification time
            let age = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            let used = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            map.insert(
                (m.dataset.clone(), m.variable.clone()),
                Arc::new(Copy { manifest: m, path, dataset: OnceLock::new(), used: Mutex::new(used) }),
            );
        }
    }

    /// The manifests of the copies present.
    pub fn list(&self) -> Vec<Manifest> {
        let map = self.copies.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v: Vec<Manifest> = map.values().map(|c| c.manifest.clone()).collect();
        v.sort_by(|a, b| (&a.dataset, &a.variable).cmp(&(&b.dataset, &b.variable)));
        v
    }

    /// Bytes used by the copies.
    pub fn bytes(&self) -> u64 {
        self.copies.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().map(|c| c.manifest.bytes).sum()
    }

    /// True when `ds` has a current copy of `var`.
    pub fn has(&self, ds: &Dataset, var: &str) -> bool {
        self.current(ds, var).is_some()
    }

    fn current(&self, ds: &Dataset, var: &str) -> Option<Arc<Copy>> {
        let key = (ds.id.clone(), var.to_string());
        let c = self.copies.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned()?;
        if c.manifest.etag != ds.etag {
            // the source files changed: the copy is out of date
            self.remove(&key);
            return None;
        }
        Some(c)
    }

    fn remove(&self, key: &(String, String)) {
        let c = self.copies.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
        if let (Some(c), Some(dir)) = (c, &self.dir) {
            let _ = std::fs::remove_file(dir.join(format!("{}.json", key_name(&key.0, &key.1))));
            let _ = std::fs::remove_file(&c.path);
            tracing::info!(dataset = %key.0, variable = %key.1, "time-series copy removed");
        }
    }

    /// The copy to read `slab` of `var` from instead of `ds`, when the slab is a series
    /// (many steps, few cells) and a current copy exists; counts the demand otherwise.
    pub fn serve(&self, ds: &Dataset, var: &Variable, slab: &Hyperslab) -> Option<(Arc<Dataset>, Variable)> {
        let shape = slab.shape();
        let cells: usize = shape.iter().skip(1).product();
        if ds.id.starts_with("timeseries:")
            || var.dims.len() < 3
            || shape[0] < MIN_STEPS
            || cells > MAX_CELLS
            || !var.dtype.is_numeric()
        {
            return None;
        }
        let Some(c) = self.current(ds, &var.name) else {
            self.note(ds, var);
            return None;
        };
        let copy = c
            .dataset
            .get_or_init(|| match dataset_from_files(&format!("timeseries:{}", ds.id), std::slice::from_ref(&c.path)) {
                Ok(d) => Some(Arc::new(d)),
                Err(e) => {
                    tracing::warn!(path = %c.path.display(), error = %e, "time-series copy unreadable");
                    None
                }
            })
            .clone()?;
        let cv = copy.var(&var.name).filter(|cv| cv.shape == var.shape && cv.dtype == var.dtype)?.clone();
        let mut used = c.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if used.elapsed() > Duration::from_secs(60) {
            // remembered across restarts through the file's modification time
            let _ = std::fs::File::options().append(true).open(&c.path).and_then(|f| f.set_modified(SystemTime::now()));
        }
        *used = Instant::now();
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some((copy, cv))
    }

    fn note(&self, ds: &Dataset, var: &Variable) {
        if self.auto_after == 0 || self.dir.is_none() {
            return;
        }
        let mut d = self.demand.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = d.entry((ds.id.clone(), var.name.clone())).or_insert(0);
        *n += 1;
        if *n == self.auto_after {
            self.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(ds.id.clone());
        }
    }

    /// The datasets whose series reads passed the threshold since the last call.
    pub fn take_wanted(&self) -> Vec<String> {
        std::mem::take(&mut *self.wanted.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
            .into_iter()
            .collect()
    }

    /// The variables of `ds` a copy is made of: numeric variables of three or more
    /// dimensions, the first the time dimension.
    pub fn variables(ds: &Dataset) -> Vec<String> {
        let time_dim = crate::cf::time_coordinate(ds).and_then(|t| t.dims.first().cloned());
        crate::cf::data_variables(ds)
            .into_iter()
            .filter(|v| v.dims.len() >= 3 && v.dtype.is_numeric() && Some(&v.dims[0]) == time_dim.as_ref())
            .map(|v| v.name.clone())
            .collect()
    }

    /// Build (or rebuild) the copy of `var` of `ds`; `progress(fraction)` is called as
    /// it goes and stops the build when it fails (a cancelled job).
    pub fn build(
        &self,
        reader: &Reader,
        ds: &Arc<Dataset>,
        var: &str,
        progress: &mut dyn FnMut(f64) -> Result<()>,
    ) -> Result<Manifest> {
        let dir = self.dir.as_ref().ok_or_else(|| Error::bad("time-series copies need a state directory"))?;
        std::fs::create_dir_all(dir)?;
        let v = ds.var(var).ok_or_else(|| Error::VariableNotFound { dataset: ds.id.clone(), variable: var.into() })?;
        if let Some(c) = self.current(ds, var) {
            return Ok(c.manifest.clone());
        }
        let started = Instant::now();
        let chunks = chunk_shape(v);
        let sel = Selection::of_vars([var.to_string()]).for_file(ds)?;
        let mut out = selection_file(ds, &sel);
        let done = Arc::new(AtomicU64::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        for ov in &mut out.vars {
            if ov.name == var {
                ov.chunks = Some(chunks.clone());
                let inner = std::mem::replace(&mut ov.source, Box::new(Nothing));
                ov.source = Box::new(Counting { inner, done: done.clone(), cancel: cancel.clone() });
            }
        }
        let name = key_name(&ds.id, var);
        // unique: two builds of one copy (two jobs, two replicas) never share a file
        let unique = format!(
            "{}-{:?}-{}",
            std::process::id(),
            std::thread::current().id(),
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        )
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "");
        let tmp = dir.join(format!("tmp-{name}-{unique}.nc"));
        let opts = NcOptions {
            history: format!("time-series copy of {var} of {} (chunks {chunks:?})", ds.id),
            ..NcOptions::default()
        };
        #[allow(clippy::cast_precision_loss)]
        let total = v.shape.iter().product::<usize>().max(1) as f64;
        let written = std::thread::scope(|s| {
            let h = s.spawn(|| write_file(reader, &out, &tmp, &opts));
            while !h.is_finished() {
                std::thread::sleep(Duration::from_millis(200));
                #[allow(clippy::cast_precision_loss)]
                let f = done.load(Ordering::Relaxed) as f64 / total;
                if progress(f.min(0.99)).is_err() {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            h.join().unwrap_or_else(|_| Err(Error::Internal("the copy writer panicked".into())))
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let file = format!("{name}.nc");
        let path = dir.join(&file);
        std::fs::rename(&tmp, &path)?;
        let manifest = Manifest {
            dataset: ds.id.clone(),
            etag: ds.etag.clone(),
            variable: var.to_string(),
            file,
            bytes: std::fs::metadata(&path)?.len(),
            chunks,
            seconds: started.elapsed().as_secs_f64(),
        };
        let mtmp = dir.join(format!("tmp-{name}-{unique}.json"));
        std::fs::write(&mtmp, serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?)?;
        std::fs::rename(&mtmp, dir.join(format!("{name}.json")))?;
        let key = (ds.id.clone(), var.to_string());
        self.copies.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(
            key.clone(),
            Arc::new(Copy {
                manifest: manifest.clone(),
                path,
                dataset: OnceLock::new(),
                used: Mutex::new(Instant::now()),
            }),
        );
        self.demand.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);
        self.evict(&key);
        if manifest.bytes > self.quota {
            self.remove(&key);
            return Err(Error::TooLarge { size: manifest.bytes, limit: self.quota });
        }
        tracing::info!(dataset = %ds.id, variable = var, bytes = manifest.bytes, seconds = manifest.seconds, "time-series copy built");
        progress(1.0)?;
        Ok(manifest)
    }

    /// Remove the least recently used copies (but `keep`) until the quota holds.
    fn evict(&self, keep: &(String, String)) {
        loop {
            if self.bytes() <= self.quota {
                return;
            }
            let oldest = {
                let map = self.copies.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                map.iter()
                    .filter(|(k, _)| *k != keep)
                    .min_by_key(|(_, c)| *c.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
                    .map(|(k, _)| k.clone())
            };
            match oldest {
                Some(k) => self.remove(&k),
                None => return,
            }
        }
    }

    /// The directory of the copies.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}
