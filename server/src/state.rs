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
    /// Dataset bounding boxes in the projected map CRSs (WMS capabilities).
    pub projected_boxes: BoxCache,
    /// Catalog views of callers who may not read some roots, by the roots hidden.
    views: Mutex<HashMap<Vec<PathBuf>, Arc<Catalog>>>,
    /// Set once a stop was asked for: /ready answers 503.
    pub stopping: AtomicBool,
    /// Held by the indexing pass running (one at a time).
    indexing: Mutex<()>,
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

/// A longitude/latitude box in each projected map CRS: (CRS, axis order, box).
pub type Projected = Arc<Vec<(String, cirrus_capabilities::palettes::AxisOrder, [f64; 4])>>;

/// Projected boxes already computed, by longitude/latitude box (datasets on one grid
/// share theirs).
pub type BoxCache = moka::sync::Cache<[u64; 4], Projected>;

/// Clients of the `s3://` roots among `roots`, each tried with one listing: wrong
/// credentials, a missing bucket or an unreachable endpoint stop the start with the
/// reason (never the secret).
pub fn object_stores(
    roots: &[PathBuf],
    options: &cirrus_ops::object::S3Options,
) -> anyhow::Result<cirrus_ops::object::ObjectStores> {
    let stores =
        cirrus_ops::object::ObjectStores::new(roots, options).map_err(|e| anyhow::anyhow!("object storage: {e}"))?;
    stores.check(roots).map_err(|e| anyhow::anyhow!("cannot read the object-storage data root: {e}"))?;
    Ok(stores)
}

/// Shared handle on the state.
pub type State = Arc<AppState>;

impl AppState {
    /// Build the state and the first catalog.
    /// (The clients of `s3://` roots are tried first: see [`object_stores`].)
    pub fn new(config: Config, roots: Vec<PathBuf>) -> std::io::Result<AppState> {
        // restrictions compare canonical paths: the roots must be canonical too
        let roots: Vec<PathBuf> = roots.into_iter().map(|r| r.canonicalize().unwrap_or(r)).collect();
        let store = crate::jobs::open(&config.jobs, config.workers)
            .map_err(|e| std::io::Error::other(format!("cannot open the job store: {e}")))?;
        let objects = Arc::new(object_stores(&roots, &config.s3).map_err(std::io::Error::other)?);
        let mut engine = Engine::new(&EngineConfig {
            objects: objects.clone(),
            chunk_cache_bytes: config.chunk_cache_bytes,
            weights_dir: Some(config.state.join("cache").join("regrid-weights")),
            timeseries_dir: Some(config.state.join("timeseries")),
            timeseries_bytes: config.timeseries_bytes,
            timeseries_after: config.timeseries_after,
            ..EngineConfig::default()
        });
        engine.headers =
            cirrus_ops::HeaderCache::new(open_index(&config)?, config.catalog_cache_bytes).with_objects(objects);
        engine.reader.set_index(engine.headers.store.clone());
        let engine = Arc::new(engine);
        let started = std::time::Instant::now();
        // served at once from the index; a pass (spawn_indexer, or index) checks the files
        let catalog = Catalog::load(&roots, &engine.headers);
        tracing::info!(
            datasets = catalog.summaries.len(),
            unavailable = catalog.unavailable.len(),
            seconds = started.elapsed().as_secs_f64(),
            "catalog loaded from the index"
        );
        let responses = crate::response_cache::ResponseCache::new(
            config.state.join("cache").join("responses"),
            config.cache_bytes,
        )?;
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
            projected_boxes: moka::sync::Cache::new(4096),
            stopping: AtomicBool::new(false),
            indexing: Mutex::new(()),
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
            .or_insert_with(|| Arc::new(all.filtered(|s| crate::access::is_hidden(&s.first_file, &hidden))))
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

    fn publish(&self, cat: Arc<Catalog>) {
        match self.catalog.write() {
            Ok(mut c) => *c = cat,
            Err(p) => *p.into_inner() = cat,
        }
        self.views.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// One indexing pass over the data roots, or over the subtree `scope` (a path
    /// relative to the roots): new and changed files are read, removed ones dropped,
    /// and the catalog is swapped in (what it has so far every few seconds, so that
    /// datasets appear as they are indexed). Passes run one at a time.
    pub fn index(&self, scope: Option<&str>) -> Arc<Catalog> {
        let _one = self.indexing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = self.engine.headers.store.clone();
        let mut done = None;
        // replicas: one pass at a time over the shared index, from what it holds now
        store.exclusive(&mut || done = Some(self.pass(scope)));
        if scope.is_none() && done.is_some() {
            store.record_pass();
        }
        store.notify_change();
        done.unwrap_or_else(|| self.catalog_all())
    }

    fn pass(&self, scope: Option<&str>) -> Arc<Catalog> {
        let headers = &self.engine.headers;
        let started = Instant::now();
        let opened = headers.opened.load(Ordering::Relaxed);
        let prev =
            if headers.store.shared() { Arc::new(Catalog::load(&self.roots, headers)) } else { self.catalog_all() };
        let cat = Arc::new(Catalog::scan(&self.roots, headers, &prev, scope, &mut |c| {
            let p = headers.progress.report();
            tracing::info!(
                files_done = p.files_done,
                files_total = p.files_total,
                rate = p.rate.round(),
                eta_seconds = p.eta_seconds.map(f64::round),
                datasets = c.summaries.len(),
                "indexing"
            );
            self.publish(Arc::new(c.clone()));
            headers.store.notify_change();
        }));
        self.publish(cat.clone());
        headers.progress.end();
        tracing::info!(
            datasets = cat.summaries.len(),
            unavailable = cat.unavailable.len(),
            files = headers.progress.files_total.load(Ordering::Relaxed),
            files_read = headers.opened.load(Ordering::Relaxed) - opened,
            scope = scope.unwrap_or(""),
            seconds = started.elapsed().as_secs_f64(),
            "catalog indexed"
        );
        cat
    }

    /// A full pass (see [`AppState::index`]).
    pub fn rescan(&self) -> Arc<Catalog> {
        self.index(None)
    }

    /// A follower's catalog: what the shared index holds now (ready once the indexing
    /// replica finished a first pass).
    pub fn reload(&self) {
        let cat = Arc::new(Catalog::load(&self.roots, &self.engine.headers));
        tracing::info!(datasets = cat.summaries.len(), "catalog reloaded from the shared index");
        self.publish(cat);
        if self.engine.headers.store.first_pass_done() {
            self.engine.headers.progress.ready.store(true, Ordering::SeqCst);
        }
    }
}

/// The catalog index `--catalog-index` names: SQLite in the state directory, or
/// PostgreSQL shared by replicas.
fn open_index(config: &Config) -> std::io::Result<Arc<dyn cirrus_ops::catalog::CatalogStore>> {
    if crate::pg::is_url(&config.catalog_index) {
        let pg = crate::catalog_index_pg::PgIndex::open(&config.catalog_index)
            .map_err(|e| std::io::Error::other(format!("cannot open the catalog index: {e}")))?;
        return Ok(Arc::new(pg));
    }
    let path = config.state.join("catalog-index.sqlite");
    let index = crate::catalog_index::SqliteIndex::open(&path)
        .map_err(|e| std::io::Error::other(format!("cannot open the catalog index {}: {e}", path.display())))?;
    Ok(Arc::new(index))
}

/// Index in the background: a first pass at start (the server answers meanwhile, from
/// the index), again soon for files that were being written, then every
/// `rescan_interval` seconds (0: never; `POST /admin/rescan` always works). With an
/// index shared by replicas, the replica holding the indexer's lock does the passes;
/// every replica reloads the catalog when another one changed the index (a follower
/// takes over when the indexer's connection ends).
pub fn spawn_indexer(state: State) {
    tokio::spawn(async move {
        let interval = state.config.rescan_interval;
        let shared = state.engine.headers.store.shared();
        let mut next_pass = Some(Instant::now());
        let mut loaded = false;
        loop {
            let s = state.clone();
            let lead = tokio::task::spawn_blocking(move || s.engine.headers.store.try_lead()).await.unwrap_or(false);
            if lead && next_pass.is_some_and(|t| Instant::now() >= t) {
                if loaded && shared {
                    tracing::info!("this replica indexes the shared catalog");
                }
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || s.index(None)).await;
                let waiting = !state.engine.headers.progress.report().waiting.is_empty();
                next_pass = if waiting {
                    Some(Instant::now() + 2 * cirrus_ops::catalog::SETTLE)
                } else {
                    (interval > 0).then(|| Instant::now() + Duration::from_secs(interval))
                };
            } else if !lead && !loaded {
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || s.reload()).await;
            }
            loaded = true;
            if !shared {
                match next_pass {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => return,
                }
                continue;
            }
            // replicas: wake when another one changed the index, or when a pass is due
            let wait = next_pass
                .map_or(Duration::from_secs(10), |t| t.saturating_duration_since(Instant::now()))
                .min(Duration::from_secs(10));
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if s.engine.headers.store.wait_change(wait) {
                    s.reload();
                }
            })
            .await;
        }
    });
}
