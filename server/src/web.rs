//! The web page at `/` (content-negotiated with the JSON landing page): a dataset
//! browser with facet search, dataset details and endpoints, a map preview driven by
//! the WMS and a subset form that runs an OGC API - Processes job. The page is a
//! bundle built from `web/` (Leaflet, bundled at build time: no CDN), embedded in the
//! binary at compile time.

pub mod facets;

use crate::access::Access;
use crate::http::base_url;
use crate::state::State;
use crate::wms::url_name;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

const INDEX_HTML: &str = include_str!("../../web/dist/index.html");
const APP_JS: &str = include_str!("../../web/dist/app.js");
const APP_CSS: &str = include_str!("../../web/dist/app.css");

/// True when the client prefers HTML: `?f=html`, or an Accept header that names
/// `text/html` (or XHTML) at least as high as JSON. `*/*` alone gets JSON.
pub fn wants_html(headers: &HeaderMap, query: Option<&str>) -> bool {
    if let Some(f) = query.and_then(|q| q.split('&').find_map(|p| p.strip_prefix("f="))) {
        return f.eq_ignore_ascii_case("html") || f.eq_ignore_ascii_case("text/html");
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    let (mut html, mut json) = (0.0f64, 0.0f64);
    for part in accept.split(',') {
        let mut it = part.split(';');
        let mime = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f64>().ok())).unwrap_or(1.0);
        match mime.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" | "application/geo+json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html >= json
}

/// `GET /`: the web page for browsers, the JSON landing page (with links to the WMS,
/// STAC and this page) otherwise.
pub async fn root(
    state: StateX<State>,
    access: Access,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let mut r = if wants_html(&headers, query.as_deref()) {
        page()
    } else {
        let base = base_url(state.config.public_url.as_deref(), &headers);
        let axum::Json(mut doc) = crate::datasets::landing(state, access, headers).await;
        if let Some(links) = doc["links"].as_array_mut() {
            links.extend([
                json!({"rel": "alternate", "href": format!("{base}/?f=html"), "type": "text/html", "title": "web page"}),
                json!({"rel": "service", "href": format!("{base}/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0"), "type": "text/xml", "title": "OGC WMS"}),
                json!({"rel": "data", "href": format!("{base}/stac"), "type": "application/json", "title": "STAC API"}),
            ]);
        }
        axum::Json(doc).into_response()
    };
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

fn page() -> Response<Body> {
    let mut r = Response::new(Body::from(INDEX_HTML));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /web/{file}`: the bundle (`app.js`, `app.css`), with a strong ETag.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response<Body> {
    let (body, mime) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "index.html" => return page(),
        _ => {
            let mut r = Response::new(Body::from(format!("no file '{file}'")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        }
    };
    let etag = format!("\"{:08x}-{}\"", crc32fast::hash(body.as_bytes()), body.len());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(&etag[1..etag.len() - 1]))
    {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        return r;
    }
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// `GET /web/datasets.json`: what the page lists: every dataset with its common facets
/// (project, experiment, model, variable, frequency, domain), map layers, extent and
/// endpoints, and the values of each facet.
pub async fn datasets(StateX(st): StateX<State>, access: Access, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let catalog = access.catalog.clone();
    let mut values: std::collections::BTreeMap<&str, std::collections::BTreeMap<String, usize>> =
        facets::SEARCH.iter().map(|k| (*k, std::collections::BTreeMap::new())).collect();
    let list: Vec<Value> = catalog
        .entries
        .values()
        .map(|e| {
            let ds = &e.dataset;
            let f = facets::of(ds);
            for (k, v) in &f {
                if let Some(m) = values.get_mut(k) {
                    *m.entry(v.clone()).or_default() += 1;
                }
            }
            let layers: Vec<Value> = cirrus_ops::render::layer::map_variables(ds)
                .iter()
                .map(|v| {
                    let title = v.attr("long_name").and_then(cirrus_ops::AttrValue::as_text).unwrap_or(&v.name);
                    json!({"name": format!("{}/{}", ds.id, v.name), "variable": v.name, "title": title})
                })
                .collect();
            let size: u64 = ds.files.iter().map(|f| f.size).sum();
            json!({
                "id": ds.id, "title": ds.title, "facets": f, "layers": layers,
                "time": e.extent.time, "bbox": e.extent.bbox,
                "files": ds.files.iter().map(|f| json!({"name": f.rel, "size": f.size})).collect::<Vec<_>>(),
                "size": size,
                "stac": format!("{base}/stac/collections/{}/items/{}", crate::stac::collection_id(e), ds.id),
                "opendap": format!("{base}/opendap/{}", ds.id),
                "netcdf": format!("{base}/opendap/{}.nc", ds.id),
                "coverage": cirrus_ops::render::layer::map_variables(ds).iter().map(|v| format!("{base}/coverage/{}/{}.tif", url_name(&ds.id), url_name(&v.name))).collect::<Vec<_>>(),
            })
        })
        .collect();
    let body = json!({
        "datasets": list,
        "facets": facets::SEARCH,
        "values": values,
        "base": base,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn negotiation() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        assert!(wants_html(&accept(browser), None));
        assert!(!wants_html(&accept("*/*"), None));
        assert!(!wants_html(&accept("application/json"), None));
        assert!(!wants_html(&accept("application/json, text/html;q=0.5"), None));
        assert!(!wants_html(&HeaderMap::new(), None));
        assert!(wants_html(&HeaderMap::new(), Some("f=html")));
        assert!(!wants_html(&accept(browser), Some("f=json")));
    }
}
