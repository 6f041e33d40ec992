//! The catalog: every NetCDF file under the data roots, grouped into datasets.
//! Files in an ESGF DRS directory are one dataset per dataset version, joined along
//! time; other files are datasets of their own, named by their relative path.

pub mod drs;
pub mod facets;
pub mod fast_header;
mod join;
mod scan;
pub mod search;
pub mod store;

use crate::cf;
use crate::model::{Dataset, SourceFile};
use crate::netcdf_io::{FileHeader, NcFile};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

pub use scan::SETTLE;
pub use store::{CatalogStore, GroupRecord, GroupWrite, HeaderCache, MemoryStore, Progress, ProgressReport, Summary};

/// File extensions recognised as NetCDF.
pub const EXTENSIONS: &[&str] = &["nc", "nc4", "nc3", "cdf", "netcdf"];

/// What is known about one file: its header and its time values.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub header: FileHeader,
    /// Values of the time coordinate, when there is one.
    pub times: Option<Vec<f64>>,
    /// Longitude/latitude box of the file's grid.
    pub bbox: Option<[f64; 4]>,
    /// Values of the other 1-D coordinate variables (latitude, longitude, levels).
    pub coords: Vec<(String, Vec<f64>)>,
    /// Where the chunks of its chunked variables are stored (files on object storage:
    /// reads then fetch chunks without reading the file's metadata again).
    pub chunk_tables: Vec<crate::read::ChunkTable>,
}

/// Largest 1-D coordinate variable whose values the index keeps.
pub const MAX_COORD_VALUES: usize = 100_000;

impl FileInfo {
    /// The compact binary form kept in a persistent index.
    pub fn encode(&self) -> crate::Result<Vec<u8>> {
        postcard::to_allocvec(self).map_err(|e| crate::Error::Internal(format!("encoding a file header: {e}")))
    }

    /// From [`FileInfo::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> crate::Result<FileInfo> {
        postcard::from_bytes(bytes).map_err(|e| crate::Error::Internal(format!("decoding a file header: {e}")))
    }
}

/// What the index keeps of one file: read directly where the format allows (pure
/// Rust, no library lock, so in parallel), else with libnetcdf.
pub fn read_file_info(path: &Path) -> crate::Result<FileInfo> {
    fast_header::read_info(path).unwrap_or_else(|| read_info(path))
}

/// What the index keeps of one file, read with libnetcdf.
pub fn read_info(path: &Path) -> crate::Result<FileInfo> {
    crate::netcdf3::check_complete(path)?;
    let file = NcFile::open(path)?;
    let header = file.header()?;
    info_from(header, &|v: &crate::Variable| {
        Ok(file.read(&v.name, v.dtype, &crate::Hyperslab::full(&v.shape).0, &[])?.to_f64())
    })
}

/// A reader of a whole numeric variable as `f64` values.
pub(crate) type ReadAll<'a, E> = dyn Fn(&crate::Variable) -> Result<Option<Vec<f64>>, E> + 'a;

/// A file's [`FileInfo`] from its header and a reader of whole numeric variables
/// (`read_all` gives the values as `f64`): its time values, 1-D coordinate values and
/// longitude/latitude box. Shared by the libnetcdf and the direct readers.
pub(crate) fn info_from<E>(header: FileHeader, read_all: &ReadAll<'_, E>) -> Result<FileInfo, E> {
    let tmp = Dataset::of_vars(header.dims.clone(), header.vars.clone());
    let time = cf::time_coordinate(&tmp).filter(|t| t.dtype.is_numeric());
    let times = match time {
        Some(t) => read_all(t)?,
        None => None,
    };
    let mut coords = Vec::new();
    for v in tmp.vars.iter().filter(|v| {
        v.dims.len() == 1
            && v.dims[0] == v.name
            && v.dtype.is_numeric()
            && v.shape[0] <= MAX_COORD_VALUES
            && time.is_none_or(|t| t.name != v.name)
    }) {
        if let Some(vals) = read_all(v)? {
            coords.push((v.name.clone(), vals));
        }
    }
    let read_cached = |v: &crate::Variable| -> Result<Option<Vec<f64>>, E> {
        match coords.iter().find(|(n, _)| *n == v.name) {
            Some((_, vals)) => Ok(Some(vals.clone())),
            None => read_all(v),
        }
    };
    let find = |pred: fn(&crate::Variable) -> bool| {
        tmp.vars
            .iter()
            .filter(|v| pred(v) && v.dtype.is_numeric() && (1..=2).contains(&v.dims.len()))
            .min_by_key(|v| v.dims.len())
    };
    let bbox = match (find(cf::is_longitude), find(cf::is_latitude)) {
        (Some(lon), Some(lat)) => match (read_cached(lon)?, read_cached(lat)?) {
            (Some(x), Some(y)) => lon_lat_box(&x, &y),
            _ => None,
        },
        _ => None,
    };
    Ok(FileInfo { header, times, bbox, coords, chunk_tables: Vec::new() })
}

/// `[W, S, E, N]` of longitude and latitude values (fill values ignored), longitudes
/// brought to -180..180; a box crossing 180 has W > E; a global one is -180..180.
fn lon_lat_box(lon: &[f64], lat: &[f64]) -> Option<[f64; 4]> {
    let valid = |v: &&f64| v.is_finite() && v.abs() < 1e4;
    let (mut s, mut n) = (f64::INFINITY, f64::NEG_INFINITY);
    for &y in lat.iter().filter(valid) {
        s = s.min(y);
        n = n.max(y);
    }
    let mut xs: Vec<f64> = lon.iter().filter(valid).map(|&x| (x + 180.0).rem_euclid(360.0) - 180.0).collect();
    if xs.is_empty() || !s.is_finite() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    // The box is the complement of the largest gap between consecutive longitudes.
    let mut gap = (xs[0] + 360.0 - xs[xs.len() - 1], xs[0], xs[xs.len() - 1]);
    for w in xs.windows(2) {
        if w[1] - w[0] > gap.0 {
            gap = (w[1] - w[0], w[1], w[0]);
        }
    }
    let spacing = 360.0 / xs.len() as f64;
    let (w, e) = if gap.0 <= 2.0 * spacing.max(1e-9) && xs.len() > 2 { (-180.0, 180.0) } else { (gap.1, gap.2) };
    Some([w, s, e, n])
}

/// A dataset made of the given files (joined along time when there are several), for
/// results of earlier processing steps that are not in the catalog.
pub fn dataset_from_files(id: &str, paths: &[PathBuf]) -> crate::Result<Dataset> {
    let mut files = Vec::with_capacity(paths.len());
    let mut infos = Vec::with_capacity(paths.len());
    for p in paths {
        let meta = std::fs::metadata(p)?;
        files.push(SourceFile {
            path: p.clone(),
            rel: p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            size: meta.len(),
            mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
        infos.push(Arc::new(read_info(p)?));
    }
    if files.is_empty() {
        return Err(crate::Error::bad(format!("'{id}' has no files")));
    }
    join::build(id, 0, files, &infos, vec![]).map(|(ds, _)| ds).map_err(crate::Error::bad)
}

/// Summary of a dataset's extent in time and space.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Extent {
    #[serde(default)]
    pub time: Option<TimeExtent>,
    /// `[W, S, E, N]` in degrees, longitudes in -180..180 (W > E when crossing 180).
    #[serde(default)]
    pub bbox: Option<[f64; 4]>,
}

/// First and last time of a dataset.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimeExtent {
    pub start: String,
    pub end: String,
    pub calendar: String,
}

/// A dataset in full (its files, variables, attributes, join) with its extent.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dataset: Arc<Dataset>,
    pub extent: Extent,
}

/// What the catalog remembers of a group of files between passes.
#[derive(Clone, Debug)]
struct GroupState {
    root: usize,
    rel: String,
    etag: String,
    ids: Vec<String>,
    unavailable: Vec<String>,
    warnings: Vec<String>,
}

/// The datasets under the data roots: a summary of each in memory (for listings and
/// searches), the rest loaded from the catalog's store when a request names one and
/// kept in a bounded cache.
#[derive(Clone)]
pub struct Catalog {
    pub roots: Vec<PathBuf>,
    pub summaries: BTreeMap<String, Summary>,
    /// Datasets whose files cannot be read: id → reason.
    pub unavailable: BTreeMap<String, String>,
    /// Problems found while scanning.
    pub warnings: Vec<String>,
    /// The facet names some dataset has, with `project` (see [`Catalog::facet_names`]).
    pub facet_keys: BTreeSet<String>,
    groups: HashMap<String, GroupState>,
    walk_warnings: Vec<String>,
    store: Arc<dyn CatalogStore>,
    details: moka::sync::Cache<String, Entry>,
    /// The dataset of a one-dataset view ([`Catalog::only`]), held by the view itself.
    pinned: Option<Entry>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::empty(&HeaderCache::default())
    }
}

impl Catalog {
    /// A catalog with no datasets over the store of `cache`.
    pub fn empty(cache: &HeaderCache) -> Catalog {
        Catalog {
            roots: vec![],
            summaries: BTreeMap::new(),
            unavailable: BTreeMap::new(),
            warnings: vec![],
            facet_keys: BTreeSet::new(),
            groups: HashMap::new(),
            walk_warnings: vec![],
            store: cache.store.clone(),
            details: cache.details.clone(),
            pinned: None,
        }
    }

    /// The catalog as the store last recorded it (no file is looked at): what a server
    /// serves from the moment it starts, while a pass checks the files.
    pub fn load(roots: &[PathBuf], cache: &HeaderCache) -> Catalog {
        let mut cat = Catalog::empty(cache);
        cat.roots = roots.to_vec();
        for rec in cache.store.groups() {
            cat.add_group(&rec, roots);
        }
        cat.refresh();
        cat
    }

    /// Scan the data roots and build the catalog, starting from what the store holds.
    pub fn build(roots: &[PathBuf], cache: &HeaderCache) -> Catalog {
        let cat = Catalog::scan(roots, cache, &Catalog::load(roots, cache), None, &mut |_| {});
        cache.progress.end();
        cat
    }

    fn add_group(&mut self, rec: &GroupRecord, roots: &[PathBuf]) {
        let Some(root) = roots.iter().position(|r| *r == rec.root) else { return };
        for s in &rec.datasets {
            let mut s = s.clone();
            s.root = root;
            self.summaries.insert(s.id.clone(), s);
        }
        for (id, why) in &rec.unavailable {
            self.unavailable.insert(id.clone(), why.clone());
        }
        let state = GroupState {
            root,
            rel: rec.rel.clone(),
            etag: rec.etag.clone(),
            ids: rec.datasets.iter().map(|s| s.id.clone()).collect(),
            unavailable: rec.unavailable.iter().map(|(id, _)| id.clone()).collect(),
            warnings: rec.warnings.clone(),
        };
        self.groups.insert(rec.key.clone(), state);
    }

    fn forget_group(&mut self, key: &str) {
        if let Some(g) = self.groups.remove(key) {
            for id in &g.ids {
                self.summaries.remove(id);
            }
            for id in &g.unavailable {
                self.unavailable.remove(id);
            }
        }
    }

    /// Facet names and warnings from the groups.
    fn refresh(&mut self) {
        self.facet_keys = search::facet_keys(self);
        let mut keys: Vec<&String> = self.groups.keys().collect();
        keys.sort();
        self.warnings = self.walk_warnings.clone();
        self.warnings.extend(keys.into_iter().flat_map(|k| self.groups[k].warnings.iter().cloned()));
    }

    /// The catalog without the datasets `hide` selects (the view of a user who may not
    /// read some roots).
    pub fn filtered(&self, hide: impl Fn(&Summary) -> bool) -> Catalog {
        Catalog {
            roots: self.roots.clone(),
            summaries: self.summaries.iter().filter(|(_, e)| !hide(e)).map(|(k, e)| (k.clone(), e.clone())).collect(),
            unavailable: self.unavailable.clone(),
            warnings: self.warnings.clone(),
            facet_keys: self.facet_keys.clone(),
            groups: HashMap::new(),
            walk_warnings: vec![],
            store: self.store.clone(),
            details: self.details.clone(),
            pinned: self.pinned.clone(),
        }
    }

    /// A view holding one dataset only (e.g. a file of a joined dataset, served alone).
    pub fn only(&self, e: Entry) -> Catalog {
        let s = Summary::of(&e);
        Catalog {
            roots: self.roots.clone(),
            summaries: std::iter::once((s.id.clone(), s)).collect(),
            unavailable: BTreeMap::new(),
            warnings: vec![],
            facet_keys: BTreeSet::new(),
            groups: HashMap::new(),
            walk_warnings: vec![],
            store: self.store.clone(),
            details: self.details.clone(),
            pinned: Some(e),
        }
    }

    /// Every dataset in full, one at a time (loaded from the store: for small catalogs
    /// and tests; listings use the summaries).
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.summaries.values().filter_map(|s| self.detail(s).ok())
    }

    /// Number of files of the datasets served.
    pub fn files(&self) -> usize {
        self.summaries.values().map(|s| s.files).sum()
    }

    /// The id under which a dataset is served, given any of the names clients use:
    /// the id itself; an ESGF instance id with its data node (`<id>|esgf.node.org`);
    /// rook's project-prefixed ids as the CDS sends them (`c3s-cmip6.<DRS id without
    /// CMIP6>`, `c3s-cmip5.…`, `c3s-cordex.…`); `latest` or no version for the newest
    /// version `v<date>`; a file or DRS directory relative to its data root.
    pub fn resolve(&self, id: &str) -> Option<&str> {
        if let Some(k) = self
            .summaries
            .get_key_value(id)
            .map(|(k, _)| k)
            .or_else(|| self.unavailable.get_key_value(id).map(|(k, _)| k))
        {
            return Some(k);
        }
        if let Some((base, _node)) = id.split_once('|') {
            return self.resolve(base);
        }
        if let Some(rest) = id.strip_prefix("c3s-") {
            let (project, tail) = rest.split_once('.')?;
            let names = [project.to_ascii_uppercase(), project.to_ascii_lowercase()];
            return names.iter().find_map(|p| self.newest(&format!("{p}.{tail}")));
        }
        if id.contains('/') {
            if let Some(ds) = self.store.dataset_of(id.trim_end_matches('/')) {
                if let Some((k, _)) = self.summaries.get_key_value(&ds) {
                    return Some(k.as_str());
                }
            }
        }
        self.newest(id)
    }

    /// The dataset `id`, or for `<stem>.latest` or a bare `<stem>` the newest version
    /// `<stem>.v<digits>`.
    pub fn newest(&self, id: &str) -> Option<&str> {
        if let Some((k, _)) = self.summaries.get_key_value(id) {
            return Some(k);
        }
        let prefix = format!("{}.", id.strip_suffix(".latest").unwrap_or(id));
        self.summaries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('.'))
            .filter_map(|(k, _)| version_of(k).map(|v| (v, k)))
            .max()
            .map(|(_, k)| k.as_str())
    }

    /// The full description of a listed dataset (from the bounded cache, else the store).
    pub fn detail(&self, s: &Summary) -> crate::Result<Entry> {
        if let Some(e) = self.pinned.as_ref().filter(|e| e.dataset.id == s.id) {
            return Ok(e.clone());
        }
        let key = format!("{}\u{0}{}", s.id, s.etag);
        if let Some(e) = self.details.get(&key) {
            return Ok(e);
        }
        let mut e = self.store.dataset(&s.id).ok_or_else(|| crate::Error::Unavailable {
            dataset: s.id.clone(),
            message: "its description is missing from the catalog index; a rescan will restore it".into(),
        })?;
        if e.dataset.root != s.root {
            Arc::make_mut(&mut e.dataset).root = s.root;
        }
        self.details.insert(format!("{}\u{0}{}", s.id, e.dataset.etag), e.clone());
        Ok(e)
    }

    /// The dataset with this id (or another name of it, see [`Catalog::resolve`]). A
    /// file of a multi-file dataset, named by its path relative to the root, is a
    /// dataset of its own: that file alone, in the dataset's time units.
    pub fn get(&self, id: &str) -> crate::Result<Entry> {
        let name = id;
        let id = self.resolve(id).unwrap_or(id);
        if let Some(s) = self.summaries.get(id) {
            let e = self.detail(s)?;
            if name != id && e.dataset.files.len() > 1 {
                if let Some(i) = e.dataset.files.iter().position(|f| f.rel == name) {
                    return Ok(join::file_entry(&e, i));
                }
            }
            return Ok(e);
        }
        if let Some(reason) = self.unavailable.get(id) {
            return Err(crate::Error::Unavailable { dataset: id.to_string(), message: reason.clone() });
        }
        Err(crate::Error::DatasetNotFound(id.to_string()))
    }

    /// True when an id (or another name, see [`Catalog::resolve`]) names a dataset
    /// (available or not).
    pub fn contains(&self, id: &str) -> bool {
        self.resolve(id).is_some()
    }

    /// A fingerprint of the files under the roots (paths, sizes, mtimes) to detect changes
    /// cheaply without reading headers.
    pub fn fingerprint(roots: &[PathBuf]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut sink = Vec::new();
        for root in roots {
            for f in list_files(root, root, &mut sink) {
                (f.rel, f.size, f.mtime).hash(&mut h);
            }
        }
        h.finish()
    }
}

/// The version of a dataset id (`….v20190619` → 20190619); None for `latest` or none.
pub fn version_of(id: &str) -> Option<u64> {
    id.rsplit('.').next()?.strip_prefix('v')?.parse().ok()
}

/// All NetCDF files under `start` (a directory under `root`, or the root), with paths
/// relative to `root`, sorted. Hidden entries are skipped.
fn list_files(root: &Path, start: &Path, warnings: &mut Vec<String>) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(start).follow_links(true).sort_by_file_name().into_iter();
    for entry in walker.filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                warnings.push(format!("{}: {e}", root.display()));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        if !EXTENSIONS.contains(&ext.as_str()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel.iter().filter_map(|c| c.to_str()).collect::<Vec<_>>().join("/");
        out.push(SourceFile {
            path: path.to_path_buf(),
            rel,
            size: meta.len(),
            mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    out
}
