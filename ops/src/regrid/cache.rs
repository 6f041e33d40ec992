//! Regridding weights kept for reuse: in memory (bounded in bytes) and as files in a
//! directory (under the server's state directory), keyed by the source grid's and the
//! target's geometry and the method. Concurrent requests for the same weights wait
//! for one computation.

use super::weights::Weights;
use crate::Result;
use sha2::Digest;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Memory and disk cache of weights.
pub struct WeightCache {
    memory: moka::sync::Cache<String, Arc<Weights>>,
    computing: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// Counters for tests and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// Found in memory.
    #[default]
    Memory,
    /// Read from the weights directory.
    Disk,
    /// Computed now.
    Computed,
}

/// The cache key of weights from a source grid to a target with a method.
pub fn key(source: &str, target: &str, method: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(source.as_bytes());
    h.update(b"|");
    h.update(target.as_bytes());
    h.update(b"|");
    h.update(method.as_bytes());
    let hex = format!("{:x}", h.finalize());
    format!("{method}-{}", &hex[..40])
}

impl WeightCache {
    /// A cache holding at most `max_bytes` of weights in memory.
    pub fn new(max_bytes: u64) -> WeightCache {
        WeightCache {
            memory: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_k: &String, v: &Arc<Weights>| u32::try_from(v.bytes()).unwrap_or(u32::MAX))
                .build(),
            computing: Mutex::new(HashMap::new()),
        }
    }

    /// The weights for `key`: from memory, from `dir`, or computed by `make` (and then
    /// kept in both).
    pub fn get_or_compute(
        &self,
        key: &str,
        dir: Option<&Path>,
        make: impl FnOnce() -> Result<Weights>,
    ) -> Result<(Arc<Weights>, Origin)> {
        if let Some(w) = self.memory.get(key) {
            return Ok((w, Origin::Memory));
        }
        let lock = {
            let mut m = self.computing.lock().map_err(|_| crate::Error::Internal("weights lock poisoned".into()))?;
            m.entry(key.to_string()).or_default().clone()
        };
        let _guard = lock.lock().map_err(|_| crate::Error::Internal("weights lock poisoned".into()))?;
        if let Some(w) = self.memory.get(key) {
            return Ok((w, Origin::Memory));
        }
        let file = dir.map(|d| d.join(format!("{key}.weights")));
        if let Some(f) = file.as_ref().filter(|f| f.is_file()) {
            match Weights::load(f) {
                Ok(w) => {
                    let w = Arc::new(w);
                    self.memory.insert(key.to_string(), w.clone());
                    self.forget(key);
                    return Ok((w, Origin::Disk));
                }
                Err(e) => {
                    tracing::warn!(file = %f.display(), error = %e, "unreadable weights file; computing again");
                    let _ = std::fs::remove_file(f);
                }
            }
        }
        let started = std::time::Instant::now();
        let w = Arc::new(make()?);
        tracing::info!(
            key,
            targets = w.n_dst,
            weights = w.nnz(),
            seconds = started.elapsed().as_secs_f64(),
            "regridding weights computed"
        );
        if let Some(f) = &file {
            if let Err(e) = w.save(f) {
                tracing::warn!(file = %f.display(), error = %e, "cannot keep regridding weights");
            }
        }
        self.memory.insert(key.to_string(), w.clone());
        self.forget(key);
        Ok((w, Origin::Computed))
    }

    fn forget(&self, key: &str) {
        if let Ok(mut m) = self.computing.lock() {
            m.remove(key);
        }
    }

    /// Drop everything held in memory.
    pub fn clear_memory(&self) {
        self.memory.invalidate_all();
        self.memory.run_pending_tasks();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_then_disk() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = WeightCache::new(1 << 20);
        let k = key("src", "dst", "bilinear");
        let make = || Ok(Weights::from_rows(2, vec![vec![(0, 0.5), (1, 0.5)]]));
        let (w1, o1) = c.get_or_compute(&k, Some(dir.path()), make).expect("compute");
        assert_eq!(o1, Origin::Computed);
        let (_, o2) = c.get_or_compute(&k, Some(dir.path()), || panic!("cached")).expect("memory");
        assert_eq!(o2, Origin::Memory);
        c.clear_memory();
        let (w3, o3) = c.get_or_compute(&k, Some(dir.path()), || panic!("on disk")).expect("disk");
        assert_eq!(o3, Origin::Disk);
        assert_eq!(*w1, *w3);
    }
}
