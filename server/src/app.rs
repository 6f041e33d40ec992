//! Application state shared by all protocol front-ends, and the router.

use crate::config::Config;
use crate::{datasets, opendap};
use axum::routing::{get, post};
use axum::Router;
use cirrus_ops::{Catalog, HeaderCache, Reader};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
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
        let store = crate::jobs::sqlite::SqliteStore::open(&config.state.join("jobs.db"))
            .map_err(|e| std::io::Error::other(format!("cannot open the job store: {e}")))?;
        let runner =
            Arc::new(crate::jobs::runner::Runner::new(Arc::new(store), config.workers, config.state.join("results")));
        let reader = Arc::new(Reader::new(config.chunk_cache_bytes, cirrus_ops::read::Mode::Fast));
        Ok(AppState {
            config,
            roots,
            catalog: RwLock::new(Arc::new(catalog)),
            headers,
            reader,
            responses,
            runner,
        })
    }

    /// Where job results are written.
    pub fn results_dir(&self) -> PathBuf {
        self.config.state.join("results")
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().map_or_else(|p| p.into_inner().clone(), |c| c.clone())
    }

    /// Scan the data roots again and swap in the new catalog.
    pub fn rescan(&self) -> Arc<Catalog> {
        let cat = Arc::new(Catalog::build(&self.roots, &self.headers));
        tracing::info!(datasets = cat.entries.len(), unavailable = cat.unavailable.len(), "catalog rebuilt");
        match self.catalog.write() {
            Ok(mut c) => *c = cat.clone(),
            Err(p) => *p.into_inner() = cat.clone(),
        }
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

/// The HTTP routes of every protocol.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/", get(datasets::landing))
        .route("/datasets", get(datasets::list))
        .route("/datasets/{*id}", get(datasets::one))
        .route("/catalog.xml", get(datasets::thredds_catalog))
        .route("/admin/rescan", post(datasets::rescan))
        .route("/health", get(|| async { "ok" }))
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
        .route("/wps", get(crate::wps::get).post(crate::wps::post))
        .route("/wps/status/{file}", get(crate::wps::status))
        .with_state(state)
}
