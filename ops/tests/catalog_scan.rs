//! Incremental indexing passes on a copy of real DRS data: only new or changed files
//! are read, removed ones leave their dataset, a pass over one subtree leaves the
//! rest alone, and a file still being written waits for a later pass.

use cirrus_ops::{Catalog, HeaderCache};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

const HADGEM: &str = "cmip5/output1/MOHC/HadGEM2-ES/rcp85/mon/atmos/Amon/r1i1p1/latest/tas";
const HADGEM_ID: &str = "cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas";
const MIROC: &str = "CMIP6/ScenarioMIP/MIROC/MIROC6/ssp119/r1i1p1f1/day/tas/gn/v20191016";

fn esgf() -> PathBuf {
    std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from)
        .join("esgf")
}

fn copy_dir(rel: &str, root: &Path) -> Vec<PathBuf> {
    let (from, to) = (esgf().join(rel), root.join(rel));
    std::fs::create_dir_all(&to).expect("mkdir");
    let mut out = vec![];
    for f in std::fs::read_dir(&from).expect("dir") {
        let f = f.expect("entry").path();
        let dest = to.join(f.file_name().expect("name"));
        std::fs::copy(&f, &dest).expect("copy");
        out.push(dest);
    }
    out.sort();
    out
}

/// Files old enough not to be taken for files being written.
fn age(paths: &[PathBuf]) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for p in paths {
        std::fs::File::options().write(true).open(p).and_then(|f| f.set_modified(old)).expect("mtime");
    }
}

fn pass(root: &Path, cache: &HeaderCache, prev: &Catalog, scope: Option<&str>) -> (Catalog, u64) {
    let before = cache.opened.load(Ordering::Relaxed);
    let cat = Catalog::scan(&[root.to_path_buf()], cache, prev, scope, &mut |_| {});
    (cat, cache.opened.load(Ordering::Relaxed) - before)
}

#[test]
fn passes_read_only_what_changed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().canonicalize().expect("canonical");
    let files = copy_dir(HADGEM, &root);
    assert_eq!(files.len(), 13);
    age(&files);
    let cache = HeaderCache::default();
    let (cat, read) = pass(&root, &cache, &Catalog::empty(&cache), None);
    assert_eq!(read, 13);
    assert_eq!(cat.summaries[HADGEM_ID].files, 13);
    let steps = |c: &Catalog| c.get(HADGEM_ID).expect("dataset").dataset.dim("time").expect("time").len;
    let all_steps = steps(&cat);

    // nothing changed: nothing read
    let (cat, read) = pass(&root, &cache, &cat, None);
    assert_eq!(read, 0);
    assert_eq!(cache.progress.report().files_done, 13);

    // one file removed: the dataset is joined again from the index, nothing read
    std::fs::remove_file(&files[12]).expect("rm");
    let (cat, read) = pass(&root, &cache, &cat, None);
    assert_eq!(read, 0);
    assert_eq!(cat.summaries[HADGEM_ID].files, 12);
    assert!(steps(&cat) < all_steps);
    // its path no longer names the dataset's file
    let gone = format!("{HADGEM}/{}", files[12].file_name().and_then(|n| n.to_str()).expect("name"));
    assert!(cat.get(&gone).is_err());
    let kept = format!("{HADGEM}/{}", files[0].file_name().and_then(|n| n.to_str()).expect("name"));
    assert_eq!(cat.get(&kept).expect("a file of the dataset").dataset.files.len(), 1);
    assert_eq!(cat.resolve(HADGEM), Some(HADGEM_ID), "the DRS directory names the dataset");

    // one file changed (new mtime): only it is read
    std::fs::copy(esgf().join(HADGEM).join(files[3].file_name().expect("name")), &files[3]).expect("copy");
    age(&files[3..4]);
    let (cat, read) = pass(&root, &cache, &cat, None);
    assert_eq!(read, 1);

    // a new dataset in another subtree, indexed by a pass over that subtree only
    let miroc = copy_dir(MIROC, &root);
    age(&miroc);
    let (cat, read) = pass(&root, &cache, &cat, Some("CMIP6/ScenarioMIP/MIROC"));
    assert_eq!(read, miroc.len() as u64);
    assert_eq!(cat.summaries.len(), 2, "{:?}", cat.summaries.keys().collect::<Vec<_>>());
    assert_eq!(cache.progress.report().files_total, miroc.len() as u64, "the pass walked the subtree only");
    // a subtree pass does not drop datasets outside it
    std::fs::remove_dir_all(root.join("CMIP6")).expect("rm");
    let (cat, _) = pass(&root, &cache, &cat, Some("cmip5"));
    assert_eq!(cat.summaries.len(), 2);
    let (cat, _) = pass(&root, &cache, &cat, None);
    assert_eq!(cat.summaries.keys().collect::<Vec<_>>(), vec![HADGEM_ID]);
}

#[test]
fn a_file_being_written_waits() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().canonicalize().expect("canonical");
    let files = copy_dir(MIROC, &root);
    // still growing while the pass looks at it twice
    let growing = files[0].clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        for _ in 0..8 {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut f = std::fs::File::options().append(true).open(&growing).expect("open");
            f.write_all(&[0u8; 16]).expect("append");
        }
    });
    let cache = HeaderCache::default();
    let (cat, read) = pass(&root, &cache, &Catalog::empty(&cache), None);
    writer.join().expect("writer");
    assert_eq!(read, 0);
    assert!(cat.summaries.is_empty() && cat.unavailable.is_empty());
    let waiting = cache.progress.report().waiting;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    // settled: the next pass reads it
    std::thread::sleep(cirrus_ops::catalog::SETTLE);
    let (cat, read) = pass(&root, &cache, &cat, None);
    assert_eq!(read, files.len() as u64);
    assert_eq!(cat.summaries.len() + cat.unavailable.len(), 1);
    assert!(cache.progress.report().waiting.is_empty());
}

#[test]
fn a_lone_file_shadowed_by_another_roots_is_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().canonicalize().expect("canonical");
    let src = esgf().join(HADGEM);
    let first = std::fs::read_dir(&src).expect("dir").map(|f| f.expect("entry").path()).min().expect("a file");
    let (a, b) = (base.join("a"), base.join("b"));
    let mut copies = vec![];
    for root in [&a, &b] {
        std::fs::create_dir_all(root).expect("mkdir");
        let dest = root.join("tas.nc");
        std::fs::copy(&first, &dest).expect("copy");
        copies.push(dest);
    }
    age(&copies);
    let cache = HeaderCache::default();
    let cat = Catalog::scan(&[a.clone(), b.clone()], &cache, &Catalog::empty(&cache), None, &mut |_| {});
    assert!(cat.summaries.contains_key("tas.nc"), "{:?}", cat.summaries.keys().collect::<Vec<_>>());
    let w: Vec<&String> = cat.warnings.iter().filter(|w| w.starts_with("tas.nc: two data roots")).collect();
    assert_eq!(w.len(), 1, "{:?}", cat.warnings);
    assert!(w[0].contains(&a.join("tas.nc").display().to_string()), "{}", w[0]);
}
