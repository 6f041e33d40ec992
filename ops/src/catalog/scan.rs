//! One indexing pass: a stat walk of the data roots (or of one subtree), files grouped
//! into datasets; a group whose files are unchanged keeps what the previous pass made
//! of it, the others are read (headers from the index where the file is unchanged),
//! joined and recorded in the store, one group at a time.

use super::store::{GroupRecord, GroupWrite, HeaderCache, Summary};
use super::{drs, join, list_files, Catalog, Entry, FileInfo, GroupState};
use crate::model::SourceFile;
use crate::object::{is_object, ObjectStores};
use std::collections::{btree_map, BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Files modified less than this long ago are looked at twice, this far apart; those
/// that changed in between are still being written and wait for a later pass.
pub const SETTLE: Duration = Duration::from_secs(1);

/// How often a running pass shows what it has so far (at least).
const PUBLISH_EVERY: Duration = Duration::from_secs(2);

/// When a running pass shows what it has: every [`PUBLISH_EVERY`], or less often when
/// showing takes long (a large catalog), so that it costs at most a twentieth of the
/// pass.
struct Publishing {
    last: Instant,
    took: Duration,
}

impl Default for Publishing {
    fn default() -> Self {
        Publishing { last: Instant::now(), took: Duration::ZERO }
    }
}

impl Publishing {
    fn maybe(&mut self, next: &mut Catalog, publish: &mut dyn FnMut(&Catalog)) {
        if self.last.elapsed() < PUBLISH_EVERY.max(self.took * 20) {
            return;
        }
        let t = Instant::now();
        next.refresh();
        publish(next);
        self.took = t.elapsed();
        self.last = Instant::now();
    }
}

/// Files of one dataset-to-be.
struct Group {
    root: usize,
    files: Vec<SourceFile>,
    drs: Option<drs::DrsMatch>,
}

/// The files under `roots` (only under `scope`, a path relative to the roots, when
/// given) grouped into datasets: a DRS directory's files with one standard stem are a
/// group (the largest such group takes the DRS id), every other file is its own.
/// Also the roots that could not be listed (object storage down): their datasets are
/// kept as they are, not dropped.
fn group_files(
    roots: &[PathBuf],
    scope: Option<&str>,
    objects: &ObjectStores,
    warnings: &mut Vec<String>,
) -> (BTreeMap<String, Group>, HashSet<usize>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut failed = HashSet::new();
    for (ri, root) in roots.iter().enumerate() {
        let start = scope.map_or_else(|| root.clone(), |s| root.join(s));
        let files = if is_object(root) {
            match objects.list(root, &start) {
                Ok(files) => files,
                Err(e) => {
                    tracing::warn!(root = %root.display(), error = %e, "cannot list the data root");
                    warnings.push(format!("{}: {e}", root.display()));
                    failed.insert(ri);
                    continue;
                }
            }
        } else if scope.is_some() && !start.exists() {
            continue;
        } else {
            list_files(root, &start, warnings)
        };
        for file in files {
            let rel = Path::new(&file.rel);
            let dirs = drs::dir_components(root, rel);
            let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // a file of its own; another root's file at the same path has its id, and
            // only one is served
            let mut insert_lone = |groups: &mut BTreeMap<String, Group>, file: SourceFile| {
                let group = Group { root: ri, files: vec![file], drs: None };
                match groups.entry(group.files[0].rel.clone()) {
                    btree_map::Entry::Vacant(e) => {
                        e.insert(group);
                    }
                    btree_map::Entry::Occupied(mut e) => {
                        let old = e.insert(group);
                        let w = format!(
                            "{}: two data roots have a file at this path ({} and {}); only the second is served",
                            e.key(),
                            old.files[0].path.display(),
                            e.get().files[0].path.display()
                        );
                        tracing::warn!("{w}");
                        warnings.push(w);
                    }
                }
            };
            match drs::match_dir(&dirs) {
                Some(m) => {
                    let (stem, standard) = drs::file_stem(name, m.filename_parts);
                    if standard {
                        let key = format!("{}\u{1f}{stem}", m.id);
                        groups
                            .entry(key)
                            .or_insert_with(|| Group { root: ri, files: vec![], drs: Some(m) })
                            .files
                            .push(file);
                    } else {
                        insert_lone(&mut groups, file);
                    }
                }
                None => insert_lone(&mut groups, file),
            }
        }
    }
    // A DRS directory with several standard stems: the largest group takes the id.
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, g) in &groups {
        if let Some(m) = &g.drs {
            by_id.entry(m.id.clone()).or_default().push(key.clone());
        }
    }
    for keys in by_id.values().filter(|k| k.len() > 1) {
        let main = keys.iter().max_by_key(|k| groups[*k].files.len()).cloned().unwrap_or_default();
        for k in keys.iter().filter(|k| **k != main) {
            if let Some(g) = groups.remove(k) {
                for f in g.files {
                    groups.insert(f.rel.clone(), Group { root: g.root, files: vec![f], drs: None });
                }
            }
        }
    }
    (groups, failed)
}

/// A validator of a group's files (paths, sizes, mtimes).
fn group_etag(files: &[SourceFile]) -> String {
    join::validator(files).0
}

/// Headers read ahead for a batch of groups, by path (`true`: read from the file, not
/// yet in the store).
pub(super) type Read = HashMap<PathBuf, crate::Result<(Arc<FileInfo>, bool)>>;

/// What a group gives: its datasets, or why not (headers from `read`, else `cache`).
fn make_group(key: &str, root: &Path, g: &Group, cache: &HeaderCache, read: &mut Read) -> GroupWrite {
    let id = g.drs.as_ref().map_or_else(|| g.files[0].rel.clone(), |m| m.id.clone());
    let mut rec = GroupRecord {
        key: key.to_string(),
        root: root.to_path_buf(),
        etag: group_etag(&g.files),
        rel: g.files[0].rel.clone(),
        ..GroupRecord::default()
    };
    let mut entries = Vec::new();
    let mut infos = Vec::with_capacity(g.files.len());
    let mut fresh = Vec::new();
    for f in &g.files {
        match read.remove(&f.path).unwrap_or_else(|| cache.get_or_read(f)) {
            Ok((i, read)) => {
                if read {
                    fresh.push((f.clone(), i.clone()));
                }
                infos.push(i);
            }
            Err(e) => {
                tracing::error!(dataset = %id, file = %f.path.display(), error = %e, "unreadable file");
                rec.warnings.push(format!("{}: {e}", f.rel));
                rec.unavailable.push((id, format!("file {} cannot be read: {e}", f.rel)));
                return GroupWrite { record: rec, datasets: entries, files: fresh };
            }
        }
    }
    let facets = g.drs.as_ref().map(|m| m.facets.clone()).unwrap_or_default();
    let several = g.files.len() > 1;
    match join::build(&id, g.root, g.files.clone(), &infos, facets) {
        Ok((ds, extent)) => {
            for w in &ds.warnings {
                tracing::warn!(dataset = %id, "{w}");
            }
            entries.push(Entry { dataset: std::sync::Arc::new(ds), extent });
        }
        Err(reason) if several => {
            // Files that cannot be joined are served one by one.
            tracing::warn!(dataset = %id, "{reason}; serving its files as separate datasets");
            rec.warnings.push(format!("{id}: {reason}; its files are served as separate datasets"));
            for (f, info) in g.files.iter().cloned().zip(infos) {
                let fid = f.rel.clone();
                match join::build(&fid, g.root, vec![f], &[info], vec![]) {
                    Ok((ds, extent)) => entries.push(Entry { dataset: std::sync::Arc::new(ds), extent }),
                    Err(e) => rec.unavailable.push((fid, e)),
                }
            }
        }
        Err(reason) => rec.unavailable.push((id, reason)),
    }
    for e in &entries {
        let ds = &e.dataset;
        for f in ds.files.iter().filter(|f| f.rel != ds.id) {
            rec.paths.push((f.rel.clone(), ds.id.clone()));
            if let Some(dir) = Path::new(&f.rel).parent().and_then(Path::to_str).filter(|d| !d.is_empty()) {
                if !rec.paths.iter().any(|(p, _)| p == dir) {
                    rec.paths.push((dir.to_string(), ds.id.clone()));
                }
            }
        }
    }
    rec.datasets = entries.iter().map(Summary::of).collect();
    GroupWrite { record: rec, datasets: entries, files: fresh }
}

/// Files of `groups` modified within [`SETTLE`] that changed when looked at again
/// [`SETTLE`] later (still being written).
fn being_written(groups: &[(&String, &Group)]) -> HashSet<PathBuf> {
    let now = SystemTime::now();
    let young = |f: &&SourceFile| now.duration_since(f.mtime).map_or(true, |age| age < SETTLE);
    // objects appear whole: only local files can be caught half written
    let fresh: Vec<&SourceFile> =
        groups.iter().flat_map(|(_, g)| g.files.iter().filter(young)).filter(|f| !is_object(&f.path)).collect();
    if fresh.is_empty() {
        return HashSet::new();
    }
    std::thread::sleep(SETTLE);
    fresh
        .into_iter()
        .filter(|f| {
            std::fs::metadata(&f.path).map_or(true, |m| m.len() != f.size || m.modified().ok() != Some(f.mtime))
        })
        .map(|f| f.path.clone())
        .collect()
}

impl Catalog {
    /// One indexing pass over the roots (or the subtree `scope` of each root), starting
    /// from `prev`: unchanged groups keep their datasets, changed ones are read again,
    /// groups gone are dropped. `publish` is shown the catalog so far every few seconds.
    /// The caller ends the pass ([`super::Progress::end`]) once it serves the result, so
    /// that no one is told the pass is done while an older catalog is served.
    pub fn scan(
        roots: &[PathBuf],
        cache: &HeaderCache,
        prev: &Catalog,
        scope: Option<&str>,
        publish: &mut dyn FnMut(&Catalog),
    ) -> Catalog {
        let progress = &cache.progress;
        progress.begin();
        let mut walk_warnings = Vec::new();
        let scope = scope.map(|s| s.trim_matches('/')).filter(|s| !s.is_empty());
        let (groups, unlisted) = group_files(roots, scope, &cache.objects, &mut walk_warnings);
        progress.files_total.store(groups.values().map(|g| g.files.len() as u64).sum(), Ordering::Relaxed);
        let mut next = prev.clone();
        next.roots = roots.to_vec();
        let in_scope = |g: &GroupState| {
            roots.get(g.root).is_some() && scope.is_none_or(|s| g.rel.starts_with(&format!("{s}/")) || g.rel == s)
        };
        // Groups gone (in scope) are dropped.
        let gone: Vec<String> = prev
            .groups
            .iter()
            .filter(|(k, g)| in_scope(g) && !unlisted.contains(&g.root) && !groups.contains_key(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            next.forget_group(k);
            cache.store.remove_group(k);
        }
        let changed: Vec<(&String, &Group)> = groups
            .iter()
            .filter(|(k, g)| prev.groups.get(*k).is_none_or(|old| old.etag != group_etag(&g.files)))
            .collect();
        let busy = being_written(&changed);
        let changed_keys: HashSet<String> = changed.iter().map(|(k, _)| (*k).clone()).collect();
        let mut waiting = Vec::new();
        let keys: Vec<&String> = groups.keys().collect();
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        // The files of a batch's changed groups are read in parallel while the previous
        // batch is joined and recorded.
        let todo = |batch: &[&String]| -> Vec<SourceFile> {
            batch
                .iter()
                .filter(|k| changed_keys.contains(**k))
                .filter_map(|k| groups.get(*k))
                .filter(|g| !g.files.iter().any(|f| busy.contains(&f.path)))
                .flat_map(|g| g.files.iter().cloned())
                .collect()
        };
        let mut publishing = Publishing::default();
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Read>(1);
            let (keys, todo) = (&keys, &todo);
            s.spawn(move || {
                for batch in keys.chunks(BATCH) {
                    let files = todo(batch);
                    // reads from object storage wait on the network, not the CPU
                    let n =
                        if files.iter().any(|f| is_object(&f.path)) { threads.max(OBJECT_THREADS) } else { threads };
                    if tx.send(cache.read_many(&files, n)).is_err() {
                        break;
                    }
                }
            });
            for (batch, mut read) in keys.chunks(BATCH).zip(rx) {
                let mut writes = Vec::new();
                for key in batch {
                    let g = &groups[*key];
                    let n = g.files.len() as u64;
                    if let Some(w) =
                        self::one_group(key, g, &changed_keys, &busy, roots, cache, &mut read, &mut waiting)
                    {
                        next.forget_group(key);
                        next.add_group(&w.record, roots);
                        writes.push(w);
                    }
                    progress.files_done.fetch_add(n, Ordering::Relaxed);
                }
                cache.store.put_groups(&writes);
                publishing.maybe(&mut next, publish);
            }
        });
        let live: Vec<&SourceFile> = groups.values().flat_map(|g| &g.files).collect();
        let listed = roots.iter().enumerate().filter(|(i, _)| !unlisted.contains(i)).map(|(_, r)| r);
        match scope {
            None => cache.store.retain(&listed.cloned().collect::<Vec<_>>(), &live),
            Some(s) => cache.store.retain(&listed.map(|r| r.join(s)).collect::<Vec<_>>(), &live),
        }
        if scope.is_none() {
            next.walk_warnings = walk_warnings;
        }
        next.refresh();
        *progress.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = waiting;
        next
    }
}

/// Headers of objects read at once (each mostly waits for its range requests).
const OBJECT_THREADS: usize = 16;

/// Groups whose headers are read ahead together.
const BATCH: usize = 256;

/// Keep, defer or make one group of a pass: what to record for it, if anything.
#[allow(clippy::too_many_arguments)]
fn one_group(
    key: &str,
    g: &Group,
    changed: &HashSet<String>,
    busy: &HashSet<PathBuf>,
    roots: &[PathBuf],
    cache: &HeaderCache,
    read: &mut Read,
    waiting: &mut Vec<String>,
) -> Option<GroupWrite> {
    if !changed.contains(key) {
        return None;
    }
    if let Some(f) = g.files.iter().find(|f| busy.contains(&f.path)) {
        tracing::info!(file = %f.path.display(), "being written; left for the next pass");
        waiting.push(f.rel.clone());
        return None;
    }
    let root = roots[g.root].clone();
    let id = g.drs.as_ref().map_or_else(|| g.files[0].rel.clone(), |m| m.id.clone());
    // A bug on one odd file must not take the catalog (and the server) down.
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make_group(key, &root, g, cache, read)));
    Some(made.unwrap_or_else(|_| {
        tracing::error!(dataset = %id, "internal error while cataloging; dataset left out");
        let record = GroupRecord {
            key: key.to_string(),
            root: root.clone(),
            unavailable: vec![(id, "internal error while reading its metadata".into())],
            ..GroupRecord::default()
        };
        GroupWrite { record, ..GroupWrite::default() }
    }))
}
