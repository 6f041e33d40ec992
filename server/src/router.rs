//! The HTTP routes of every protocol, and the service with its middleware. The router
//! depends on the handlers, the handlers on the state; nothing points back here.

use crate::state::State;
use crate::{datasets, opendap};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::Ordering;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `GET /ready`: 200 once the first indexing pass is done, the job store answers and the server
/// is not stopping; 503 with the reason otherwise (load balancers stop sending).
async fn ready(axum::extract::State(st): axum::extract::State<State>) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    if st.stopping.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping\n".into());
    }
    let p = st.engine.headers.progress.report();
    if !p.ready && !p.running && p.passes == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, "indexing: waiting for the indexing replica's first pass\n".into());
    }
    if !p.ready {
        let eta = p.eta_seconds.map_or_else(String::new, |s| format!(", about {s:.0} s left"));
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("indexing: {} of {} files ({:.0} files/s{eta})\n", p.files_done, p.files_total, p.rate),
        );
    }
    let s = st.clone();
    match tokio::task::spawn_blocking(move || s.runner.store.count_by_status()).await {
        Ok(Ok(_)) => (StatusCode::OK, format!("ready: {} datasets\n", st.catalog_all().summaries.len())),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("job store unavailable: {e}\n")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("internal error: {e}\n")),
    }
}

/// Any other path: 404 in the format of the protocol the path belongs to.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    let p = crate::protocol::Protocol::of(uri.path());
    crate::protocol::error(p, &uri, axum::http::StatusCode::NOT_FOUND, &format!("no such resource: {}", uri.path()))
}

/// What gzip applies to (when the client asks): documents and DAP streams, not files
/// that are already compressed or are downloaded with Range and Content-Length.
fn compressible() -> impl tower_http::compression::Predicate {
    use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
    DefaultPredicate::new()
        .and(NotForContentType::new("application/x-netcdf"))
        .and(NotForContentType::new("application/zip"))
        .and(NotForContentType::new("application/gzip"))
        .and(NotForContentType::new("application/x-tar"))
        .and(NotForContentType::new("application/x-hdf"))
        .and(|_, _, _: &axum::http::HeaderMap, ext: &axum::http::Extensions| {
            ext.get::<crate::http::Uncompressed>().is_none()
        })
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods(tower_http::cors::Any)
        .allow_headers(tower_http::cors::Any)
        .expose_headers(tower_http::cors::Any);
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AllowOrigin::any())
    } else {
        layer.allow_origin(AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok())))
    }
}

/// The whole service: every route behind the middleware (caller, limits, access log),
/// CORS and compression. What the binary serves and the in-process tests call.
pub fn app(state: State) -> Router {
    router(state.clone())
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest).compress_when(compressible()))
        .layer(cors(&state.config.cors_origins))
        .layer(axum::middleware::from_fn_with_state(state, crate::observe::middleware))
}

/// The HTTP routes of every protocol.
pub fn router(state: State) -> Router {
    let router = Router::new()
        .route("/", get(crate::web::root))
        .route("/datasets", get(datasets::list))
        .route("/datasets/{*id}", get(datasets::one))
        .route("/catalog.xml", get(datasets::thredds_catalog))
        .route("/thredds/catalog.xml", get(|a| datasets::thredds_tree(a, None)))
        .route("/thredds/catalog/{*path}", get(|a, p| datasets::thredds_tree(a, Some(p))))
        .route("/admin/rescan", post(datasets::rescan))
        .route("/admin/catalog", get(datasets::catalog_state))
        .route("/admin/timeseries", get(crate::timeseries::list))
        .route("/admin/timeseries/{*id}", post(crate::timeseries::build))
        .route("/files/{*path}", get(datasets::file_download))
        .route("/esg-search/search", get(crate::esgf::search))
        .route("/esg-search/search/", get(crate::esgf::search))
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
        .route("/coverage/{*path}", get(crate::coverage::handle))
        .route("/wms", get(crate::wms::get))
        .route("/wms/{*id}", get(crate::wms::get_dataset))
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
        .route("/edr", get(crate::edr::landing))
        .route("/edr/", get(crate::edr::landing))
        .route("/edr/conformance", get(crate::edr::conformance))
        .route("/edr/collections", get(crate::edr::collections))
        .route("/edr/collections/{*path}", get(crate::edr::collection_path));
    // the Zarr stores, each under its route
    let router = crate::zarr::STORES.into_iter().fold(router, |r, store| {
        let path = format!("/{}/{{*path}}", crate::zarr::route(store.0, store.1));
        r.route(&path, get(move |s, a, p, u, h| crate::zarr::respond(s, a, p, u, h, store)))
    });
    router.fallback(not_found).with_state(state)
}
