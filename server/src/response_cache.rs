//! A size-bounded directory of generated response files (NetCDF subsets, later job
//! outputs), keyed by dataset version and request, so that repeated downloads and
//! resumed (Range) downloads reuse one file. Oldest files are evicted first.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Generated files under `dir`, at most `max_bytes` in total.
pub struct ResponseCache {
    dir: PathBuf,
    max_bytes: u64,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The extension of the file that holds a cached file's stamp.
const STAMP: &str = "stamp";

fn file_key(key: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    format!("{:016x}{:08x}", h.finish(), crc32fast::hash(key.as_bytes()))
}

impl ResponseCache {
    /// Open (and create) the cache directory, removing unfinished files.
    pub fn new(dir: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        for e in std::fs::read_dir(&dir)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "partial") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(ResponseCache { dir, max_bytes, locks: Mutex::new(HashMap::new()) })
    }

    /// The file for `key` and the stamp it was made with: made by `make` (on a blocking
    /// thread) with `stamp` if it is not cached. The stamp (e.g. the time written into the
    /// file's `history`) is kept next to the file so that validators derived from it
    /// identify the exact bytes. Concurrent requests for the same key wait for one another.
    pub async fn get_or_create<F>(
        &self,
        key: &str,
        ext: &str,
        stamp: &str,
        make: F,
    ) -> cirrus_ops::Result<(PathBuf, String)>
    where
        F: FnOnce(&Path) -> cirrus_ops::Result<()> + Send + 'static,
    {
        let name = format!("{}.{ext}", file_key(key));
        let path = self.dir.join(&name);
        let stamp_path = self.dir.join(format!("{name}.{STAMP}"));
        let lock = {
            let mut locks = self.locks.lock().map_err(|_| cirrus_ops::Error::Internal("cache lock poisoned".into()))?;
            locks.entry(name.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if path.is_file() {
            if let Ok(kept) = std::fs::read_to_string(&stamp_path) {
                let _ =
                    std::fs::File::options().append(true).open(&path).and_then(|f| f.set_modified(SystemTime::now()));
                return Ok((path, kept));
            }
        }
        let tmp = self.dir.join(format!("{name}.partial"));
        let tmp2 = tmp.clone();
        let made = tokio::task::spawn_blocking(move || make(&tmp2))
            .await
            .map_err(|e| cirrus_ops::Error::Internal(format!("worker failed: {e}")))?;
        if let Err(e) = made {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::write(&stamp_path, stamp)?;
        std::fs::rename(&tmp, &path)?;
        self.evict(&path);
        if let Ok(mut locks) = self.locks.lock() {
            locks.remove(&name);
        }
        Ok((path, stamp.to_string()))
    }

    /// Bytes of the files kept.
    pub fn bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }

    /// Delete the least recently used files until the total fits, keeping `keep`.
    fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                let stamp = e.path().extension().is_some_and(|x| x == STAMP);
                (m.is_file() && !stamp).then(|| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, size, p) in files {
            if total <= self.max_bytes {
                break;
            }
            if p != keep && std::fs::remove_file(&p).is_ok() {
                let mut stamp = p.into_os_string();
                stamp.push(format!(".{STAMP}"));
                let _ = std::fs::remove_file(stamp);
                total -= size;
            }
        }
    }
}
