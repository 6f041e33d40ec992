//! File headers survive the catalog index's binary form exactly: a catalog built from
//! headers taken back from the index equals the one built by reading the files.

use cirrus_ops::catalog::{FileInfo, HeaderStore};
use cirrus_ops::model::SourceFile;
use cirrus_ops::{Catalog, HeaderCache};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// An index in memory holding the encoded bytes, as the SQLite one does.
#[derive(Default)]
struct Bytes {
    rows: Mutex<HashMap<PathBuf, Vec<u8>>>,
    loads: Mutex<usize>,
}

impl HeaderStore for Bytes {
    fn load(&self, file: &SourceFile) -> Option<FileInfo> {
        let b = self.rows.lock().expect("rows").get(&file.path).cloned()?;
        *self.loads.lock().expect("loads") += 1;
        Some(FileInfo::decode(&b).expect("decodes"))
    }
    fn save(&self, file: &SourceFile, info: &FileInfo) {
        let b = info.encode().expect("encodes");
        // the round trip is exact
        assert_eq!(format!("{:?}", FileInfo::decode(&b).expect("decodes")), format!("{info:?}"), "{}", file.rel);
        self.rows.lock().expect("rows").insert(file.path.clone(), b);
    }
    fn retain(&self, _: &[PathBuf], live: &[SourceFile]) {
        let keep: Vec<&PathBuf> = live.iter().map(|f| &f.path).collect();
        self.rows.lock().expect("rows").retain(|p, _| keep.contains(&p));
    }
}

fn roots() -> Vec<PathBuf> {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    let peer = base.join("peer-suites");
    let mut r = vec![base.join("esgf")];
    if peer.is_dir() {
        r.push(peer);
    }
    r
}

fn summary(c: &Catalog) -> Vec<String> {
    c.entries.values().map(|e| format!("{:?} {:?}", e.dataset, e.extent)).collect()
}

#[test]
fn catalog_from_the_index_equals_catalog_from_the_files() {
    let roots = roots();
    let store = Arc::new(Bytes::default());
    let first = Catalog::build(&roots, &HeaderCache::with_store(store.clone()));
    let files: usize = first.entries.values().map(|e| e.dataset.files.len()).sum();
    assert!(files > 20, "{files} files");
    // a new cache (a restart): every header comes from the index, none is read
    let cache = HeaderCache::with_store(store.clone());
    let second = Catalog::build(&roots, &cache);
    assert_eq!(cache.opened.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(*store.loads.lock().expect("loads") >= files);
    assert_eq!(summary(&first), summary(&second));
    assert_eq!(first.unavailable, second.unavailable);
}
