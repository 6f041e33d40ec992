//! The catalog: every NetCDF file under the data roots, grouped into datasets.
//! Files in an ESGF DRS directory are one dataset per dataset version, joined along
//! time; other files are datasets of their own, named by their relative path.

pub mod drs;
mod join;
pub mod search;

use crate::cf;
use crate::model::{Dataset, SourceFile};
use crate::netcdf_io::{FileHeader, NcFile};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// File extensions recognised as NetCDF.
pub const EXTENSIONS: &[&str] = &["nc", "nc4", "nc3", "cdf", "netcdf"];

/// What is known about one file: its header and its time values.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub header: FileHeader,
    /// Values of the time coordinate, when there is one.
    pub times: Option<Vec<f64>>,
    /// Longitude/latitude box of the file's grid.
    pub bbox: Option<[f64; 4]>,
}

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

/// A persistent index of file headers (the catalog index): what a scan read, kept
/// across restarts so that a restart or a rescan opens only new or changed files.
pub trait HeaderStore: Send + Sync {
    /// The header of `file` if indexed with this size and mtime.
    fn load(&self, file: &SourceFile) -> Option<FileInfo>;
    /// Index the header of `file`.
    fn save(&self, file: &SourceFile, info: &FileInfo);
    /// Forget files under `roots` that are not in `live` (removed or changed).
    fn retain(&self, roots: &[PathBuf], live: &[SourceFile]);
}

/// Headers of files already read, keyed by path, size and mtime, so that a rescan only
/// opens new or changed files; backed by a [`HeaderStore`] when one is given.
#[derive(Default)]
pub struct HeaderCache {
    entries: Mutex<HashMap<(PathBuf, u64, SystemTime), Arc<FileInfo>>>,
    store: Option<Arc<dyn HeaderStore>>,
    /// Files read from disk, and headers taken from the store, since start.
    pub opened: std::sync::atomic::AtomicU64,
    pub indexed: std::sync::atomic::AtomicU64,
}

impl HeaderCache {
    /// A cache backed by a persistent store.
    pub fn with_store(store: Arc<dyn HeaderStore>) -> HeaderCache {
        HeaderCache { store: Some(store), ..HeaderCache::default() }
    }

    fn get_or_read(&self, file: &SourceFile) -> crate::Result<Arc<FileInfo>> {
        use std::sync::atomic::Ordering;
        let key = (file.path.clone(), file.size, file.mtime);
        if let Some(info) =
            self.entries.lock().map_err(|_| crate::Error::Internal("header cache poisoned".into()))?.get(&key)
        {
            return Ok(info.clone());
        }
        let info = match self.store.as_ref().and_then(|s| s.load(file)) {
            Some(info) => {
                self.indexed.fetch_add(1, Ordering::Relaxed);
                Arc::new(info)
            }
            None => {
                let info = Arc::new(read_info(&file.path)?);
                self.opened.fetch_add(1, Ordering::Relaxed);
                if let Some(s) = &self.store {
                    s.save(file, &info);
                }
                info
            }
        };
        if let Ok(mut e) = self.entries.lock() {
            e.insert(key, info.clone());
        }
        Ok(info)
    }

    /// Drop entries of files that are no longer present.
    fn retain(&self, roots: &[PathBuf], live: &[SourceFile]) {
        let keep: std::collections::HashSet<_> = live.iter().map(|f| (f.path.clone(), f.size, f.mtime)).collect();
        if let Ok(mut e) = self.entries.lock() {
            e.retain(|k, _| keep.contains(k));
        }
        if let Some(s) = &self.store {
            s.retain(roots, live);
        }
    }
}

fn read_info(path: &Path) -> crate::Result<FileInfo> {
    crate::netcdf3::check_complete(path)?;
    let file = NcFile::open(path)?;
    let header = file.header()?;
    let tmp = Dataset {
        id: String::new(),
        title: String::new(),
        facets: vec![],
        root: 0,
        files: vec![],
        dims: header.dims.clone(),
        vars: header.vars.clone(),
        attrs: vec![],
        groups: vec![],
        types: vec![],
        join: None,
        warnings: vec![],
        etag: String::new(),
        last_modified: SystemTime::UNIX_EPOCH,
    };
    let read_all = |v: &crate::Variable| -> crate::Result<Option<Vec<f64>>> {
        Ok(file.read(&v.name, v.dtype, &crate::Hyperslab::full(&v.shape).0, &[])?.to_f64())
    };
    let times = match cf::time_coordinate(&tmp) {
        Some(t) if t.dtype.is_numeric() => read_all(t)?,
        _ => None,
    };
    let find = |pred: fn(&crate::Variable) -> bool| {
        tmp.vars
            .iter()
            .filter(|v| pred(v) && v.dtype.is_numeric() && (1..=2).contains(&v.dims.len()))
            .min_by_key(|v| v.dims.len())
    };
    let bbox = match (find(cf::is_longitude), find(cf::is_latitude)) {
        (Some(lon), Some(lat)) => match (read_all(lon)?, read_all(lat)?) {
            (Some(x), Some(y)) => lon_lat_box(&x, &y),
            _ => None,
        },
        _ => None,
    };
    Ok(FileInfo { header, times, bbox })
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
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Extent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeExtent>,
    /// `[W, S, E, N]` in degrees, longitudes in -180..180 (W > E when crossing 180).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
}

/// First and last time of a dataset.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimeExtent {
    pub start: String,
    pub end: String,
    pub calendar: String,
}

/// A dataset in the catalog with its extent.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dataset: Arc<Dataset>,
    pub extent: Extent,
}

/// All datasets under the data roots.
#[derive(Default)]
pub struct Catalog {
    pub roots: Vec<PathBuf>,
    pub entries: BTreeMap<String, Entry>,
    /// Datasets whose files cannot be read: id → reason.
    pub unavailable: BTreeMap<String, String>,
    /// Problems found while scanning.
    pub warnings: Vec<String>,
    /// The files and directories of multi-file (DRS) datasets, relative to their root
    /// → the dataset id (a path is another name of its dataset).
    pub paths: HashMap<String, String>,
    /// The facet names some dataset has, with `project` (see [`Catalog::facet_names`]).
    pub facet_keys: std::collections::BTreeSet<String>,
}

impl Catalog {
    /// The catalog without the datasets `hide` selects (the view of a user who may not
    /// read some roots).
    pub fn filtered(&self, hide: impl Fn(&Entry) -> bool) -> Catalog {
        Catalog {
            roots: self.roots.clone(),
            entries: self.entries.iter().filter(|(_, e)| !hide(e)).map(|(k, e)| (k.clone(), e.clone())).collect(),
            unavailable: self.unavailable.clone(),
            warnings: self.warnings.clone(),
            facet_keys: self.facet_keys.clone(),
            paths: self
                .paths
                .iter()
                .filter(|(_, id)| self.entries.get(*id).is_some_and(|e| !hide(e)))
                .map(|(p, id)| (p.clone(), id.clone()))
                .collect(),
        }
    }

    /// Scan the data roots and build the catalog (reusing cached headers).
    pub fn build(roots: &[PathBuf], cache: &HeaderCache) -> Catalog {
        let mut cat = Catalog { roots: roots.to_vec(), ..Catalog::default() };
        let mut all_files = Vec::new();
        // group key → (root, files, drs match)
        let mut groups: BTreeMap<String, (usize, Vec<SourceFile>, Option<drs::DrsMatch>)> = BTreeMap::new();
        for (ri, root) in roots.iter().enumerate() {
            for file in list_files(root, &mut cat.warnings) {
                all_files.push(file.clone());
                let rel = Path::new(&file.rel);
                let dirs: Vec<&str> =
                    rel.parent().map(|p| p.iter().filter_map(|c| c.to_str()).collect()).unwrap_or_default();
                let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                match drs::match_dir(&dirs) {
                    Some(m) => {
                        let (stem, standard) = drs::file_stem(name, m.filename_parts);
                        if standard {
                            let key = format!("{}\u{0}{stem}", m.id);
                            groups.entry(key).or_insert_with(|| (ri, vec![], Some(m))).1.push(file);
                        } else {
                            groups.insert(file.rel.clone(), (ri, vec![file], None));
                        }
                    }
                    None => {
                        groups.insert(file.rel.clone(), (ri, vec![file], None));
                    }
                }
            }
        }
        // A DRS directory with several standard stems: the largest group takes the id.
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, (_, _, m)) in &groups {
            if let Some(m) = m {
                by_id.entry(m.id.clone()).or_default().push(key.clone());
            }
        }
        for keys in by_id.values().filter(|k| k.len() > 1) {
            let main = keys.iter().max_by_key(|k| groups[*k].1.len()).cloned().unwrap_or_default();
            for k in keys.iter().filter(|k| **k != main) {
                if let Some((ri, files, _)) = groups.remove(k) {
                    for f in files {
                        groups.insert(f.rel.clone(), (ri, vec![f], None));
                    }
                }
            }
        }
        for (_, (root, files, m)) in groups {
            let id = m.as_ref().map_or_else(|| files[0].rel.clone(), |m| m.id.clone());
            // A bug on one odd file must not take the catalog (and the server) down.
            let added = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cat.add_group(root, files, m, cache)));
            if added.is_err() {
                tracing::error!(dataset = %id, "internal error while cataloging; dataset left out");
                cat.unavailable.insert(id, "internal error while reading its metadata".into());
            }
        }
        cache.retain(roots, &all_files);
        cat.facet_keys = search::facet_keys(&cat);
        for (id, e) in &cat.entries {
            for f in e.dataset.files.iter().filter(|f| f.rel != *id) {
                cat.paths.insert(f.rel.clone(), id.clone());
                if let Some(dir) = Path::new(&f.rel).parent().and_then(Path::to_str).filter(|d| !d.is_empty()) {
                    cat.paths.entry(dir.to_string()).or_insert_with(|| id.clone());
                }
            }
        }
        cat
    }

    fn add_group(&mut self, root: usize, files: Vec<SourceFile>, m: Option<drs::DrsMatch>, cache: &HeaderCache) {
        let id = m.as_ref().map_or_else(|| files[0].rel.clone(), |m| m.id.clone());
        let mut infos = Vec::with_capacity(files.len());
        for f in &files {
            match cache.get_or_read(f) {
                Ok(i) => infos.push(i),
                Err(e) => {
                    tracing::error!(dataset = %id, file = %f.path.display(), error = %e, "unreadable file");
                    self.warnings.push(format!("{}: {e}", f.rel));
                    self.unavailable.insert(id, format!("file {} cannot be read: {e}", f.rel));
                    return;
                }
            }
        }
        let facets = m.map(|m| m.facets).unwrap_or_default();
        match join::build(&id, root, files.clone(), &infos, facets.clone()) {
            Ok((ds, extent)) => {
                for w in &ds.warnings {
                    tracing::warn!(dataset = %id, "{w}");
                }
                self.entries.insert(id, Entry { dataset: Arc::new(ds), extent });
            }
            Err(reason) if files.len() > 1 => {
                // Files that cannot be joined are served one by one.
                tracing::warn!(dataset = %id, "{reason}; serving its files as separate datasets");
                self.warnings.push(format!("{id}: {reason}; its files are served as separate datasets"));
                for (f, info) in files.into_iter().zip(infos) {
                    let fid = f.rel.clone();
                    match join::build(&fid, root, vec![f], &[info], vec![]) {
                        Ok((ds, extent)) => {
                            self.entries.insert(fid, Entry { dataset: Arc::new(ds), extent });
                        }
                        Err(e) => {
                            self.unavailable.insert(fid, e);
                        }
                    }
                }
            }
            Err(reason) => {
                self.unavailable.insert(id, reason);
            }
        }
    }

    /// The id under which a dataset is served, given any of the names clients use:
    /// the id itself; an ESGF instance id with its data node (`<id>|esgf.node.org`);
    /// rook's project-prefixed ids as the CDS sends them (`c3s-cmip6.<DRS id without
    /// CMIP6>`, `c3s-cmip5.…`, `c3s-cordex.…`); `latest` or no version for the newest
    /// version `v<date>`; a file or DRS directory relative to its data root.
    pub fn resolve(&self, id: &str) -> Option<&str> {
        if let Some(k) = self
            .entries
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
        if let Some(k) = self.paths.get(id.trim_end_matches('/')) {
            return Some(k.as_str());
        }
        self.newest(id)
    }

    /// The dataset `id`, or for `<stem>.latest` or a bare `<stem>` the newest version
    /// `<stem>.v<digits>`.
    pub fn newest(&self, id: &str) -> Option<&str> {
        if let Some((k, _)) = self.entries.get_key_value(id) {
            return Some(k);
        }
        let prefix = format!("{}.", id.strip_suffix(".latest").unwrap_or(id));
        self.entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('.'))
            .filter_map(|(k, _)| version_of(k).map(|v| (v, k)))
            .max()
            .map(|(_, k)| k.as_str())
    }

    /// The dataset with this id (or another name of it, see [`Catalog::resolve`]). A
    /// file of a multi-file dataset, named by its path relative to the root, is a
    /// dataset of its own: that file alone, in the dataset's time units.
    pub fn get(&self, id: &str) -> crate::Result<Entry> {
        let name = id;
        let id = self.resolve(id).unwrap_or(id);
        if let Some(e) = self.entries.get(id) {
            if name != id && e.dataset.files.len() > 1 {
                if let Some(i) = e.dataset.files.iter().position(|f| f.rel == name) {
                    return Ok(join::file_entry(e, i));
                }
            }
            return Ok(e.clone());
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
            for f in list_files(root, &mut sink) {
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

/// All NetCDF files under a root, sorted by relative path. Hidden entries are skipped.
fn list_files(root: &Path, warnings: &mut Vec<String>) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name().into_iter();
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
