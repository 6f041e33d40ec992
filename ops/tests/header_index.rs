//! The catalog index keeps what serving needs in its binary form, exactly: a catalog
//! loaded back from the index (a restart) equals the one built by reading the files,
//! and a pass over unchanged files reads none of them.

use cirrus_ops::catalog::store::{decode_entry, decode_group};
use cirrus_ops::catalog::{CatalogStore, Entry, FileInfo, GroupRecord, GroupWrite};
use cirrus_ops::model::SourceFile;
use cirrus_ops::{Catalog, HeaderCache};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A group's encoded record, and its datasets' encoded descriptions by id.
type Encoded = (Vec<u8>, Vec<(String, Vec<u8>)>);

/// An index in memory holding encoded bytes, as the SQLite one does.
#[derive(Default)]
struct Bytes {
    files: Mutex<HashMap<PathBuf, Vec<u8>>>,
    groups: Mutex<HashMap<String, Encoded>>,
    loads: Mutex<usize>,
}

impl CatalogStore for Bytes {
    fn load(&self, file: &SourceFile) -> Option<FileInfo> {
        let b = self.files.lock().expect("rows").get(&file.path).cloned()?;
        *self.loads.lock().expect("loads") += 1;
        Some(FileInfo::decode(&b).expect("decodes"))
    }
    fn retain(&self, _: &[PathBuf], live: &[&SourceFile]) {
        let keep: Vec<&PathBuf> = live.iter().map(|f| &f.path).collect();
        self.files.lock().expect("rows").retain(|p, _| keep.contains(&p));
    }
    fn groups(&self) -> Vec<GroupRecord> {
        let g = self.groups.lock().expect("groups");
        g.values().map(|(r, _)| decode_group(r).expect("group decodes")).collect()
    }
    fn put_groups(&self, groups: &[GroupWrite]) {
        for g in groups {
            // the rows the SQL stores write; every round trip is exact
            let rows = g.rows();
            assert_eq!(decode_group(&rows.record).expect("group decodes"), g.record);
            assert_eq!(rows.details.len(), g.datasets.len());
            for ((_, b), e) in rows.details.iter().zip(&g.datasets) {
                let back = decode_entry(b).expect("decodes");
                assert_eq!(format!("{:?}", back), format!("{e:?}"), "{}", e.dataset.id);
            }
            assert_eq!(rows.files.len(), g.files.len());
            for (row, (file, info)) in rows.files.iter().zip(&g.files) {
                let back = FileInfo::decode(&row.info).expect("decodes");
                assert_eq!(format!("{back:?}"), format!("{info:?}"), "{}", file.rel);
                self.files.lock().expect("rows").insert(file.path.clone(), row.info.clone());
            }
            self.groups.lock().expect("groups").insert(g.record.key.clone(), (rows.record, rows.details));
        }
    }
    fn remove_group(&self, key: &str) {
        self.groups.lock().expect("groups").remove(key);
    }
    fn dataset(&self, id: &str) -> Option<Entry> {
        let g = self.groups.lock().expect("groups");
        g.values().flat_map(|(_, d)| d).find(|(i, _)| i == id).map(|(_, b)| decode_entry(b).expect("decodes"))
    }
    fn dataset_of(&self, path: &str) -> Option<String> {
        self.groups().into_iter().flat_map(|g| g.paths).find(|(p, _)| p == path).map(|(_, id)| id)
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

fn described(c: &Catalog) -> Vec<String> {
    c.entries().map(|e| format!("{:?} {:?}", e.dataset, e.extent)).collect()
}

#[test]
fn catalog_from_the_index_equals_catalog_from_the_files() {
    let roots = roots();
    let store = Arc::new(Bytes::default());
    let first = Catalog::build(&roots, &HeaderCache::with_store(store.clone()));
    let files = first.files();
    assert!(files > 20, "{files} files");
    // a restart: the catalog as the index holds it, before any file is looked at
    let cache = HeaderCache::with_store(store.clone());
    let loaded = Catalog::load(&roots, &cache);
    assert_eq!(loaded.summaries, first.summaries);
    assert_eq!(loaded.unavailable, first.unavailable);
    assert_eq!(described(&loaded), described(&first));
    // then a pass over the unchanged files: nothing is read, not even from the index
    let second = Catalog::scan(&roots, &cache, &loaded, None, &mut |_| {});
    assert_eq!(cache.opened.load(Ordering::Relaxed), 0);
    assert_eq!(cache.progress.report().files_read, 0);
    assert_eq!(*store.loads.lock().expect("loads"), 0);
    assert_eq!(described(&first), described(&second));
    assert_eq!(first.unavailable, second.unavailable);
    assert_eq!(first.warnings, second.warnings);
    // a new store with the file headers only: the datasets are made again from them
    let headers_only = Arc::new(Bytes::default());
    *headers_only.files.lock().expect("files") = store.files.lock().expect("files").clone();
    let cache = HeaderCache::with_store(headers_only.clone());
    let third = Catalog::build(&roots, &cache);
    assert_eq!(cache.opened.load(Ordering::Relaxed), 0);
    assert!(*headers_only.loads.lock().expect("loads") >= files);
    assert_eq!(described(&first), described(&third));
}
