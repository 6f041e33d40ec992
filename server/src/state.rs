//! What a request can use: the configuration, the engine (readers, caches, regridding,
//! rendering), the catalog and its per-user views, the job runner, metrics, usage and
//! limits, and the protocol front-ends' own caches. Built once at start-up and handed to
//! every handler; no process-wide static holds any of it.

use crate::config::Config;
use cirrus_ops::{Catalog, Engine, EngineConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// State of a running server.
pub struct AppState {
    pub config: Config,
    /// The data roots actually served (the configured ones, or the samples).
    pub roots: Vec<PathBuf>,
    catalog: RwLock<Arc<Catalog>>,
    /// Readers, chunk cache, regridding weights, the map renderer, checksums.
    pub engine: Arc<Engine>,
    /// API keys and their users.
    pub keys: crate::keys::KeyStore,
    /// Turns on the CPU for producers of large responses (one per core).
    pub turns: Arc<tokio::sync::Semaphore>,
    /// When the CDS job records were last swept.
    pub cds_swept: Mutex<Option<Instant>>,
    /// Generated files (NetCDF subsets) kept for reuse.
    pub responses: crate::response_cache::ResponseCache,
    /// Processing jobs and their workers.
    pub runner: Arc<crate::jobs::runner::Runner>,
    pub metrics: crate::metrics::Metrics,
    pub usage: crate::usage::Usage,
    pub limiter: crate::limits::RateLimiter,
    /// Metadata documents (DDS, DAS, DMR, capabilities) by dataset version and request.
    pub docs: Memo<bytes::Bytes>,
    /// Drawn maps and tiles by dataset version and request.
    pub maps: Memo<Arc<cirrus_ops::render::Drawn>>,
    /// Catalog views of callers who may not read some roots, by the roots hidden.
    views: Mutex<HashMap<Vec<PathBuf>, Arc<Catalog>>>,
    /// Set once a stop was asked for: /ready answers 503.
    pub stopping: AtomicBool,
}

/// A bounded in-memory cache (weighed in bytes) that counts its hits and misses.
pub struct Memo<V> {
    cache: moka::sync::Cache<String, V>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<V: Clone + Send + Sync + 'static> Memo<V> {
    /// A cache of about `capacity` bytes; `weigh` gives the size of a value.
    pub fn new(capacity: u64, weigh: fn(&V) -> usize) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .weigher(move |k: &String, v: &V| u32::try_from(k.len() + weigh(v)).unwrap_or(u32::MAX))
            .build();
        Memo { cache, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// The value under `key` (counted as a hit or a miss).
    pub fn get(&self, key: &str) -> Option<V> {
        let v = self.cache.get(key);
        let counter = if v.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        v
    }

    /// Keep a value.
    pub fn insert(&self, key: String, v: V) {
        self.cache.insert(key, v);
    }

    /// (hits, misses).
    pub fn stats(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

/// Shared handle on the state.
pub type State = Arc<AppState>;

impl AppState {
    /// Build the state and the first catalog.
    pub fn new(config: Config, roots: Vec<PathBuf>) -> std::io::Result<AppState> {
        // restrictions compare canonical paths: the roots must be canonical too
        let roots: Vec<PathBuf> = roots.into_iter().map(|r| r.canonicalize().unwrap_or(r)).collect();
        let mut engine = Engine::new(&EngineConfig {
            chunk_cache_bytes: config.chunk_cache_bytes,
            weights_dir: Some(config.state.join("cache").join("regrid-weights")),
            ..EngineConfig::default()
        });
        let index_path = config.state.join("catalog-index.sqlite");
        let index = crate::catalog_index::SqliteIndex::open(&index_path).map_err(|e| {
            std::io::Error::other(format!("cannot open the catalog index {}: {e}", index_path.display()))
        })?;
        engine.headers = cirrus_ops::HeaderCache::with_store(Arc::new(index));
        let engine = Arc::new(engine);
        let started = std::time::Instant::now();
        let catalog = Catalog::build(&roots, &engine.headers);
        tracing::info!(
            datasets = catalog.entries.len(),
            unavailable = catalog.unavailable.len(),
            files_opened = engine.headers.opened.load(std::sync::atomic::Ordering::Relaxed),
            files_from_index = engine.headers.indexed.load(std::sync::atomic::Ordering::Relaxed),
            seconds = started.elapsed().as_secs_f64(),
            "catalog built"
        );
        let responses = crate::response_cache::ResponseCache::new(
            config.state.join("cache").join("responses"),
            config.cache_bytes,
        )?;
        let store = crate::jobs::open(&config.jobs, config.workers)
            .map_err(|e| std::io::Error::other(format!("cannot open the job store: {e}")))?;
        std::fs::create_dir_all(&config.results_dir).map_err(|e| {
            std::io::Error::other(format!("cannot create results directory {}: {e}", config.results_dir.display()))
        })?;
        let mut runner = crate::jobs::runner::Runner::new(store, config.workers, config.results_dir.clone());
        runner.lease = Duration::from_secs(config.job_lease);
        let runner = Arc::new(runner);
        let limiter = crate::limits::RateLimiter::new(config.rate_limit, config.rate_burst);
        let docs = Memo::new(64 << 20, bytes::Bytes::len);
        let maps = Memo::new(64 << 20, |d: &Arc<cirrus_ops::render::Drawn>| d.png.len());
        let keys = crate::keys::KeyStore::new(&config);
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(AppState {
            config,
            roots,
            catalog: RwLock::new(Arc::new(catalog)),
            engine,
            keys,
            turns: Arc::new(tokio::sync::Semaphore::new(cores)),
            cds_swept: Mutex::new(None),
            responses,
            runner,
            metrics: crate::metrics::Metrics::default(),
            usage: crate::usage::Usage::default(),
            limiter,
            docs,
            maps,
            views: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
        })
    }

    /// Where job results are written.
    pub fn results_dir(&self) -> PathBuf {
        self.config.results_dir.clone()
    }

    /// Every dataset, restricted or not (for metrics and access decisions only).
    pub fn catalog_all(&self) -> Arc<Catalog> {
        self.catalog.read().map_or_else(|p| p.into_inner().clone(), |c| c.clone())
    }

    /// The catalog as `user` (None: anonymous) may see it.
    pub fn catalog_for(&self, user: Option<&str>) -> Arc<Catalog> {
        let all = self.catalog_all();
        if self.config.restrict.is_empty() {
            return all;
        }
        let hidden = crate::access::hidden_roots(&self.config.restrict, user);
        if hidden.is_empty() {
            return all;
        }
        let mut views = self.views.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        views
            .entry(hidden.clone())
            .or_insert_with(|| {
                Arc::new(
                    all.filtered(|e| {
                        e.dataset.files.first().is_some_and(|f| crate::access::is_hidden(&f.path, &hidden))
                    }),
                )
            })
            .clone()
    }

    /// For a dataset `user` cannot see but that exists: 401 (anonymous) or 403.
    pub fn hidden_status(&self, id: &str, user: Option<&str>) -> Option<axum::http::StatusCode> {
        if self.config.restrict.is_empty() || self.catalog_for(user).contains(id) {
            return None;
        }
        self.catalog_all().contains(id).then_some(if user.is_some() {
            axum::http::StatusCode::FORBIDDEN
        } else {
            axum::http::StatusCode::UNAUTHORIZED
        })
    }

    /// A metadata document from the cache, or made by `make` and cached. The key must
    /// name the dataset version (its etag) so that changed files are never served stale.
    pub fn cached_doc<E>(&self, key: String, make: impl FnOnce() -> Result<String, E>) -> Result<bytes::Bytes, E> {
        if let Some(d) = self.docs.get(&key) {
            return Ok(d);
        }
        let doc = bytes::Bytes::from(make()?);
        self.docs.insert(key, doc.clone());
        Ok(doc)
    }

    /// Scan the data roots again and swap in the new catalog.
    pub fn rescan(&self) -> Arc<Catalog> {
        let cat = Arc::new(Catalog::build(&self.roots, &self.engine.headers));
        tracing::info!(datasets = cat.entries.len(), unavailable = cat.unavailable.len(), "catalog rebuilt");
        match self.catalog.write() {
            Ok(mut c) => *c = cat.clone(),
            Err(p) => *p.into_inner() = cat.clone(),
        }
        self.views.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        cat
    }
}

/// Rebuild the catalog whenever the files under the roots change (checked every
/// `interval` seconds by their paths, sizes and mtimes).
pub fn spawn_watch(state: State) {
    let interval = state.config.rescan_interval;
    if interval == 0 {
        return;
    }
    tokio::spawn(async move {
        let roots = state.roots.clone();
        let mut last = tokio::task::spawn_blocking(move || Catalog::fingerprint(&roots)).await.ok();
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            let roots = state.roots.clone();
            let now = tokio::task::spawn_blocking(move || Catalog::fingerprint(&roots)).await.ok();
            if now != last {
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || s.rescan()).await;
                last = now;
            }
        }
    });
}
