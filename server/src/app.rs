//! Application state shared by all protocol front-ends, and the router.

use crate::config::Config;
use crate::{datasets, opendap};
use axum::routing::{get, post};
use axum::Router;
use cirrus_ops::{Catalog, HeaderCache, Reader};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// State of a running server.
pub struct AppState {
    pub config: Config,
    /// The data roots actually served (the configured ones, or the samples).
    pub roots: Vec<PathBuf>,
    catalog: RwLock<Arc<Catalog>>,
    headers: HeaderCache,
    pub reader: Arc<Reader>,
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
    pub maps: Memo<Arc<crate::wms::Drawn>>,
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
        let headers = HeaderCache::default();
        let catalog = Catalog::build(&roots, &headers);
        tracing::info!(datasets = catalog.entries.len(), unavailable = catalog.unavailable.len(), "catalog built");
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
        let reader = Arc::new(Reader::new(config.chunk_cache_bytes, cirrus_ops::read::Mode::Fast));
        let limiter = crate::limits::RateLimiter::new(config.rate_limit, config.rate_burst);
        let docs = Memo::new(64 << 20, bytes::Bytes::len);
        let maps = Memo::new(64 << 20, |d: &Arc<crate::wms::Drawn>| d.png.len());
        Ok(AppState {
            config,
            roots,
            catalog: RwLock::new(Arc::new(catalog)),
            headers,
            reader,
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

    /// The catalog as the caller of the current request may see it (without the
    /// datasets of roots restricted to other users; outside a request, without any
    /// restricted dataset).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog_for(crate::access::current_user().as_deref())
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
        if self.config.restrict.is_empty() || self.catalog_for(user).entries.contains_key(id) {
            return None;
        }
        self.catalog_all().entries.contains_key(id).then_some(if user.is_some() {
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
        let cat = Arc::new(Catalog::build(&self.roots, &self.headers));
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

/// `GET /ready`: 200 when the catalog is loaded, the job store answers and the server
/// is not stopping; 503 with the reason otherwise (load balancers stop sending).
async fn ready(axum::extract::State(st): axum::extract::State<State>) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    if st.stopping.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping\n".into());
    }
    let s = st.clone();
    match tokio::task::spawn_blocking(move || s.runner.store.count_by_status()).await {
        Ok(Ok(_)) => (StatusCode::OK, format!("ready: {} datasets\n", st.catalog_all().entries.len())),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("job store unavailable: {e}\n")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("internal error: {e}\n")),
    }
}

/// Any other path: 404 in the format of the protocol the path belongs to.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    let p = crate::protocol::Protocol::of(uri.path());
    crate::protocol::error(p, &uri, axum::http::StatusCode::NOT_FOUND, &format!("no such resource: {}", uri.path()))
}

/// The HTTP routes of every protocol.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/", get(crate::web::root))
        .route("/datasets", get(datasets::list))
        .route("/datasets/{*id}", get(datasets::one))
        .route("/catalog.xml", get(datasets::thredds_catalog))
        .route("/admin/rescan", post(datasets::rescan))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(crate::metrics::handler))
        .route("/admin/usage", get(crate::usage::report))
        .route("/opendap", get(opendap::index))
        .route("/opendap/", get(opendap::index))
        .route("/opendap/{*path}", get(opendap::handle))
        .route("/results/{job}/{file}", get(crate::processing::result_file))
        .route("/conformance", get(crate::ogcapi::conformance))
        .route("/processes", get(crate::ogcapi::list))
        .route("/processes/{id}", get(crate::ogcapi::one))
        .route("/processes/{id}/execution", post(crate::ogcapi::execute))
        .route("/jobs", get(crate::ogcapi::jobs))
        .route("/jobs/{id}", get(crate::ogcapi::job).delete(crate::ogcapi::dismiss))
        .route("/jobs/{id}/results", get(crate::ogcapi::job_results))
        .nest("/api", crate::cds::router())
        .merge(crate::coverage::routes(&state))
        .route("/wms", get(crate::wms::get))
        .route("/tiles/{*path}", get(crate::tiles::get))
        .route("/web/datasets.json", get(crate::web::datasets))
        .route("/web/{file}", get(crate::web::asset))
        .route("/stac", get(crate::stac::landing))
        .route("/stac/conformance", get(crate::stac::conformance))
        .route("/stac/collections", get(crate::stac::collections))
        .route("/stac/collections/{id}", get(crate::stac::one_collection))
        .route("/stac/collections/{id}/items", get(crate::stac::collection_items))
        .route("/stac/collections/{id}/items/{*item}", get(crate::stac::one_item))
        .route("/stac/search", get(crate::stac::search_get).post(crate::stac::search_post))
        .route("/wps", get(crate::wps::get).post(crate::wps::post))
        .route("/wps/status/{file}", get(crate::wps::status))
        .fallback(not_found)
        .with_state(state)
}
