//! Where the catalog keeps what it learned: the header of every file read, and per
//! group of files (a DRS dataset version or a lone file) the datasets it gave — their
//! summaries for listings and their full descriptions, loaded on demand. The server
//! keeps this in SQLite (`catalog-index.sqlite`); [`MemoryStore`] keeps it in memory.

use super::{Entry, Extent, FileInfo};
use crate::model::{Dataset, SourceFile};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// What listings and searches need of a dataset; kept in memory for every dataset
/// (the rest, [`Entry`], is loaded when a request names the dataset).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub id: String,
    pub title: String,
    /// DRS facets (`project`, `source_id`, ...).
    pub facets: Vec<(String, String)>,
    /// The facets common to CMIP6, CMIP5 and CORDEX (see [`super::facets`]).
    pub common: std::collections::BTreeMap<String, String>,
    /// Variables a map can show: (name, long name).
    pub layers: Vec<(String, String)>,
    /// Names of its variables.
    pub variables: Vec<String>,
    /// The long name of its main variable.
    pub long_name: Option<String>,
    /// Number of files and their total size in bytes.
    pub files: usize,
    pub bytes: u64,
    /// Index of the data root the dataset lives under.
    pub root: usize,
    /// Path of its first file (access rules compare it with restricted roots).
    pub first_file: PathBuf,
    pub extent: Extent,
    pub etag: String,
    pub last_modified: SystemTime,
}

impl Summary {
    /// The summary of a dataset.
    pub fn of(e: &Entry) -> Summary {
        let ds = &e.dataset;
        Summary {
            id: ds.id.clone(),
            title: ds.title.clone(),
            facets: ds.facets.clone(),
            common: super::facets::of(ds),
            layers: crate::render::layer::map_variables(ds)
                .iter()
                .map(|v| {
                    let title = v.attr("long_name").and_then(crate::AttrValue::as_text).unwrap_or(&v.name);
                    (v.name.clone(), title.to_string())
                })
                .collect(),
            variables: ds.vars.iter().map(|v| v.name.clone()).collect(),
            long_name: crate::cf::main_variable(ds)
                .and_then(|v| v.attr("long_name"))
                .and_then(crate::AttrValue::as_text)
                .map(str::to_string),
            files: ds.files.len(),
            bytes: ds.files.iter().map(|f| f.size).sum(),
            root: ds.root,
            first_file: ds.files.first().map(|f| f.path.clone()).unwrap_or_default(),
            extent: e.extent.clone(),
            etag: ds.etag.clone(),
            last_modified: ds.last_modified,
        }
    }

    /// A DRS facet value.
    pub fn facet(&self, name: &str) -> Option<&str> {
        self.facets.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a scan made of one group of files, kept so that an unchanged group is not
/// read again.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupRecord {
    /// The group's key (a DRS dataset id with its file stem, or a file's path).
    pub key: String,
    /// The data root it is under.
    pub root: PathBuf,
    /// Validator of its files (paths, sizes, mtimes).
    pub etag: String,
    /// Path of its first file relative to the root.
    pub rel: String,
    /// The datasets it gave (one, or one per file when the files cannot be joined).
    pub datasets: Vec<Summary>,
    /// Datasets that could not be made: id → reason.
    pub unavailable: Vec<(String, String)>,
    /// Problems found while making them.
    pub warnings: Vec<String>,
    /// Paths of its files and directories relative to the root, naming its dataset
    /// (a path is another name of a multi-file dataset).
    pub paths: Vec<(String, String)>,
}

/// The stored form of a dataset's full description.
#[derive(Serialize)]
struct DetailRef<'a> {
    dataset: &'a Dataset,
    extent: &'a Extent,
}

#[derive(Deserialize)]
struct Detail {
    dataset: Dataset,
    extent: Extent,
}

/// The compact binary form of a dataset's description.
pub fn encode_entry(e: &Entry) -> crate::Result<Vec<u8>> {
    postcard::to_allocvec(&DetailRef { dataset: &e.dataset, extent: &e.extent })
        .map_err(|err| crate::Error::Internal(format!("encoding dataset {}: {err}", e.dataset.id)))
}

/// From [`encode_entry`]'s bytes.
pub fn decode_entry(bytes: &[u8]) -> crate::Result<Entry> {
    let d: Detail =
        postcard::from_bytes(bytes).map_err(|e| crate::Error::Internal(format!("decoding a dataset: {e}")))?;
    Ok(Entry { dataset: Arc::new(d.dataset), extent: d.extent })
}

/// What a pass writes for one group: its record, its datasets, the headers it read.
#[derive(Clone, Default)]
pub struct GroupWrite {
    pub record: GroupRecord,
    pub datasets: Vec<Entry>,
    pub files: Vec<(SourceFile, Arc<FileInfo>)>,
}

/// A [`GroupWrite`] as the rows of a database: what the SQL stores insert.
pub struct GroupRows {
    pub key: String,
    /// The encoded [`GroupRecord`] ([`decode_group`]).
    pub record: Vec<u8>,
    /// (dataset id, [`encode_entry`] bytes).
    pub details: Vec<(String, Vec<u8>)>,
    /// (path relative to the root, dataset id).
    pub paths: Vec<(String, String)>,
    pub files: Vec<FileRow>,
}

/// A file header as a database row.
pub struct FileRow {
    pub path: String,
    pub size: i64,
    pub mtime_ns: i64,
    /// [`FileInfo::encode`] bytes.
    pub info: Vec<u8>,
}

impl FileRow {
    /// The key columns of `file` (path, size, mtime in ns).
    pub fn key(file: &SourceFile) -> (String, i64, i64) {
        let mtime = file.mtime.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (
            file.path.to_string_lossy().into_owned(),
            i64::try_from(file.size).unwrap_or(i64::MAX),
            i64::try_from(mtime).unwrap_or(i64::MAX),
        )
    }
}

impl GroupWrite {
    /// The rows to insert (what does not encode is left out, with a warning).
    pub fn rows(&self) -> GroupRows {
        let warn = |what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(group = %self.record.key, error = %e, "catalog index: encoding {what} failed");
        };
        GroupRows {
            key: self.record.key.clone(),
            record: encode_group(&self.record).unwrap_or_else(|e| {
                warn("the group", &e);
                Vec::new()
            }),
            details: self
                .datasets
                .iter()
                .filter_map(|e| {
                    encode_entry(e).map_err(|err| warn("a dataset", &err)).ok().map(|b| (e.dataset.id.clone(), b))
                })
                .collect(),
            paths: self.record.paths.clone(),
            files: self
                .files
                .iter()
                .filter_map(|(f, info)| {
                    let bytes = info.encode().map_err(|e| warn("a header", &e)).ok()?;
                    let (path, size, mtime_ns) = FileRow::key(f);
                    Some(FileRow { path, size, mtime_ns, info: bytes })
                })
                .collect(),
        }
    }
}

/// Version of the stored file header encoding ([`FileInfo::encode`]): a persistent
/// index reads the files of rows of another version again.
pub const HEADER_FORMAT: i32 = 5;

/// Version of the stored group and dataset encoding ([`encode_group`]): groups of
/// another version are made again.
pub const GROUP_FORMAT: i32 = 3;

/// The compact binary form of a group record.
pub fn encode_group(g: &GroupRecord) -> crate::Result<Vec<u8>> {
    postcard::to_allocvec(g).map_err(|e| crate::Error::Internal(format!("encoding group {}: {e}", g.key)))
}

/// From [`encode_group`]'s bytes.
pub fn decode_group(bytes: &[u8]) -> crate::Result<GroupRecord> {
    postcard::from_bytes(bytes).map_err(|e| crate::Error::Internal(format!("decoding a group: {e}")))
}

/// A persistent catalog index: file headers, and per group of files the datasets it
/// gave. A group is written with the headers read for it, atomically (a server killed
/// mid-scan keeps whole groups).
pub trait CatalogStore: Send + Sync {
    /// The header of `file` if indexed with this size and mtime.
    fn load(&self, file: &SourceFile) -> Option<FileInfo>;
    /// Forget the headers of files under `roots` that are not in `live`.
    fn retain(&self, roots: &[PathBuf], live: &[&SourceFile]);
    /// Every group recorded.
    fn groups(&self) -> Vec<GroupRecord>;
    /// Record groups, in one transaction: each with the full descriptions of its
    /// datasets (replacing the group's earlier record and datasets) and the headers
    /// read for it.
    fn put_groups(&self, groups: &[GroupWrite]);
    /// Forget a group and its datasets.
    fn remove_group(&self, key: &str);
    /// The full description of a dataset.
    fn dataset(&self, id: &str) -> Option<Entry>;
    /// The dataset a path relative to a root names.
    fn dataset_of(&self, path: &str) -> Option<String>;
    /// True when several servers share this index (replicas): one of them indexes at a
    /// time, the others follow.
    fn shared(&self) -> bool {
        false
    }
    /// True when this server indexes (it holds the indexer's lock, or the index is its
    /// own); false for a follower.
    fn try_lead(&self) -> bool {
        true
    }
    /// Run `pass` while no other server indexes (waiting for the one that does).
    fn exclusive(&self, pass: &mut dyn FnMut()) {
        pass();
    }
    /// Record that a full pass over the data roots finished (followers serve the index
    /// as complete from then on).
    fn record_pass(&self) {}
    /// True once some server finished a full pass over this index.
    fn first_pass_done(&self) -> bool {
        true
    }
    /// Tell followers that the index changed.
    fn notify_change(&self) {}
    /// Wait until another server changed the index, at most `timeout`; true if it did.
    fn wait_change(&self, timeout: std::time::Duration) -> bool {
        std::thread::sleep(timeout);
        false
    }
}

/// A [`CatalogStore`] in memory (tests, and servers without a state directory).
#[derive(Default)]
pub struct MemoryStore {
    files: Mutex<HashMap<(PathBuf, u64, SystemTime), Arc<FileInfo>>>,
    groups: Mutex<MemoryGroups>,
}

/// The groups of a [`MemoryStore`], with their datasets and paths by name.
#[derive(Default)]
struct MemoryGroups {
    by_key: HashMap<String, (GroupRecord, Vec<Entry>)>,
    /// dataset id → group key
    datasets: HashMap<String, String>,
    /// path → dataset id
    paths: HashMap<String, String>,
}

impl MemoryGroups {
    fn remove(&mut self, key: &str) {
        if let Some((g, ds)) = self.by_key.remove(key) {
            for e in ds {
                self.datasets.remove(&e.dataset.id);
            }
            for (p, _) in g.paths {
                self.paths.remove(&p);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CatalogStore for MemoryStore {
    fn load(&self, file: &SourceFile) -> Option<FileInfo> {
        lock(&self.files).get(&(file.path.clone(), file.size, file.mtime)).map(|i| (**i).clone())
    }
    fn retain(&self, roots: &[PathBuf], live: &[&SourceFile]) {
        let keep: std::collections::HashSet<_> = live.iter().map(|f| (f.path.clone(), f.size, f.mtime)).collect();
        lock(&self.files).retain(|k, _| !roots.iter().any(|r| k.0.starts_with(r)) || keep.contains(k));
    }
    fn groups(&self) -> Vec<GroupRecord> {
        lock(&self.groups).by_key.values().map(|(g, _)| g.clone()).collect()
    }
    fn put_groups(&self, groups: &[GroupWrite]) {
        let mut files = lock(&self.files);
        let mut recorded = lock(&self.groups);
        for g in groups {
            for (f, info) in &g.files {
                files.insert((f.path.clone(), f.size, f.mtime), info.clone());
            }
            let key = &g.record.key;
            recorded.remove(key);
            for e in &g.datasets {
                recorded.datasets.insert(e.dataset.id.clone(), key.clone());
            }
            for (p, id) in &g.record.paths {
                recorded.paths.insert(p.clone(), id.clone());
            }
            recorded.by_key.insert(key.clone(), (g.record.clone(), g.datasets.clone()));
        }
    }
    fn remove_group(&self, key: &str) {
        lock(&self.groups).remove(key);
    }
    fn dataset(&self, id: &str) -> Option<Entry> {
        let g = lock(&self.groups);
        let (_, ds) = g.by_key.get(g.datasets.get(id)?)?;
        ds.iter().find(|e| e.dataset.id == id).cloned()
    }
    fn dataset_of(&self, path: &str) -> Option<String> {
        lock(&self.groups).paths.get(path).cloned()
    }
}

/// How far indexing is: files seen and done in the current pass, its rate.
#[derive(Default)]
pub struct Progress {
    /// A pass is running.
    pub running: AtomicBool,
    /// The first pass since start has finished.
    pub ready: AtomicBool,
    /// Files found by the current (or last) pass, and done (reused or read).
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    /// Files whose headers were read from disk in this pass.
    pub files_read: AtomicU64,
    /// Passes finished since start.
    pub passes: AtomicU64,
    started: Mutex<Option<Instant>>,
    /// Seconds the last finished pass took.
    last_seconds: Mutex<Option<f64>>,
    /// Files of groups left for a later pass because they were being written.
    pub waiting: Mutex<Vec<String>>,
}

/// A report of [`Progress`].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProgressReport {
    pub running: bool,
    pub ready: bool,
    pub files_total: u64,
    pub files_done: u64,
    pub files_read: u64,
    /// Files done per second in the current pass.
    pub rate: f64,
    /// Seconds left at that rate.
    pub eta_seconds: Option<f64>,
    pub passes: u64,
    pub last_pass_seconds: Option<f64>,
    pub waiting: Vec<String>,
}

impl Progress {
    pub(super) fn begin(&self) {
        self.running.store(true, Ordering::SeqCst);
        self.files_total.store(0, Ordering::Relaxed);
        self.files_done.store(0, Ordering::Relaxed);
        self.files_read.store(0, Ordering::Relaxed);
        *lock(&self.started) = Some(Instant::now());
    }

    /// The pass is over (its result is served).
    pub fn end(&self) {
        let took = lock(&self.started).map(|s| s.elapsed().as_secs_f64());
        *lock(&self.last_seconds) = took;
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.running.store(false, Ordering::SeqCst);
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Where indexing stands.
    pub fn report(&self) -> ProgressReport {
        let running = self.running.load(Ordering::SeqCst);
        let total = self.files_total.load(Ordering::Relaxed);
        let done = self.files_done.load(Ordering::Relaxed);
        let secs = lock(&self.started).map_or(0.0, |s| s.elapsed().as_secs_f64());
        let rate = if running && secs > 0.0 { done as f64 / secs } else { 0.0 };
        let eta = (running && rate > 0.0).then(|| total.saturating_sub(done) as f64 / rate);
        ProgressReport {
            running,
            ready: self.ready.load(Ordering::SeqCst),
            files_total: total,
            files_done: done,
            files_read: self.files_read.load(Ordering::Relaxed),
            rate,
            eta_seconds: eta,
            passes: self.passes.load(Ordering::Relaxed),
            last_pass_seconds: *lock(&self.last_seconds),
            waiting: lock(&self.waiting).clone(),
        }
    }
}

/// The catalog's store with counters and progress: what scans read headers through.
pub struct HeaderCache {
    pub store: Arc<dyn CatalogStore>,
    /// Files read from disk, and headers taken from the store, since start.
    pub opened: AtomicU64,
    pub indexed: AtomicU64,
    pub progress: Progress,
    /// Full dataset descriptions recently used (bounded), by id and etag.
    pub(super) details: moka::sync::Cache<String, Entry>,
    /// Clients of the object-storage roots (their files are listed and read there).
    pub objects: Arc<crate::object::ObjectStores>,
}

impl Default for HeaderCache {
    fn default() -> Self {
        HeaderCache::with_store(Arc::new(MemoryStore::default()))
    }
}

/// Bytes of dataset descriptions kept in memory by default.
pub const DETAILS_BYTES: u64 = 64 << 20;

impl HeaderCache {
    /// A cache backed by a store, keeping [`DETAILS_BYTES`] of dataset descriptions.
    pub fn with_store(store: Arc<dyn CatalogStore>) -> HeaderCache {
        HeaderCache::new(store, DETAILS_BYTES)
    }

    /// A cache backed by a store, keeping about `details_bytes` of dataset descriptions.
    pub fn new(store: Arc<dyn CatalogStore>, details_bytes: u64) -> HeaderCache {
        let details = moka::sync::Cache::builder()
            .max_capacity(details_bytes)
            .weigher(|_: &String, e: &Entry| u32::try_from(weight(&e.dataset)).unwrap_or(u32::MAX))
            .build();
        HeaderCache {
            store,
            opened: AtomicU64::new(0),
            indexed: AtomicU64::new(0),
            progress: Progress::default(),
            details,
            objects: Arc::default(),
        }
    }

    /// The cache reading the files of object-storage roots through `objects`.
    #[must_use]
    pub fn with_objects(mut self, objects: Arc<crate::object::ObjectStores>) -> HeaderCache {
        self.objects = objects;
        self
    }

    /// The header of `file`: from the store, else read (`true`: read, not yet stored).
    pub(super) fn get_or_read(&self, file: &SourceFile) -> crate::Result<(Arc<FileInfo>, bool)> {
        if let Some(info) = self.store.load(file) {
            self.indexed.fetch_add(1, Ordering::Relaxed);
            return Ok((Arc::new(info), false));
        }
        let info = if crate::object::is_zarr(&file.path) {
            crate::read::zarr_store::info(&self.objects, &file.path)?
        } else if crate::object::is_object(&file.path) {
            super::fast_header::read_object_info(&self.objects.object(&file.path, file.size)?)?
        } else {
            super::read_file_info(&file.path)?
        };
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.progress.files_read.fetch_add(1, Ordering::Relaxed);
        Ok((Arc::new(info), true))
    }

    /// The headers of `files` as [`Self::get_or_read`] gives them, `threads` at a time.
    pub(super) fn read_many(&self, files: &[SourceFile], threads: usize) -> super::scan::Read {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let out = Mutex::new(std::collections::HashMap::with_capacity(files.len()));
        std::thread::scope(|s| {
            for _ in 0..threads.clamp(1, files.len().max(1)) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.get_or_read(f)))
                        .unwrap_or_else(|_| Err(crate::Error::Internal("reading the header failed".into())));
                    lock(&out).insert(f.path.clone(), got);
                });
            }
        });
        out.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// About the bytes a dataset description takes in memory.
fn weight(ds: &Dataset) -> usize {
    let attrs = |a: &[crate::Attribute]| a.iter().map(|x| 64 + x.name.len() + 32).sum::<usize>();
    512 + ds.files.iter().map(|f| 96 + 2 * f.rel.len()).sum::<usize>()
        + ds.vars.iter().map(|v| 256 + attrs(&v.attrs)).sum::<usize>()
        + attrs(&ds.attrs)
        + ds.join.as_ref().map_or(0, |j| 48 * j.offsets.len())
        + ds.coords.iter().map(|(n, v)| 48 + n.len() + 8 * v.len()).sum::<usize>()
}
