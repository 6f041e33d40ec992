//! The web page at `/` (content-negotiated with the JSON landing page): a dataset
//! browser with facet search, dataset details and endpoints, a map preview driven by
//! the WMS and a subset form that runs an OGC API - Processes job. The page is a
//! bundle built from `web/` (Leaflet, bundled at build time: no CDN), embedded in the
//! binary at compile time.

use crate::access::Access;
use crate::http::base_url;
use crate::state::State;
use crate::wms::url_name;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use cirrus_ops::catalog::{facets, Summary};
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

/// Datasets per page of `/web/datasets.json` by default, and at most.
const PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// `GET /web/datasets.json`: one page of the datasets the web page lists, searched on
/// the server: `q` (words in the id, title, facets or layer titles), a filter per
/// common facet (`project=CMIP6&model=...`), `id` (one dataset), `limit` (default 50,
/// at most 500) and `offset`. Each dataset comes with its common facets, map layers, extent, files and
/// endpoints; `values` counts, per facet, the datasets that pass the other filters
/// (faceted search: a value no such dataset has counts 0). Facet values match
/// without regard to case; a facet given twice takes the last value.
pub async fn datasets(
    StateX(st): StateX<State>,
    access: Access,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let catalog = access.catalog.clone();
    let q = match web_query(&raw.unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => {
            let body = json!({"type": "about:blank", "title": "Bad search", "status": 400, "detail": e});
            let mut r = Response::new(Body::from(body.to_string()));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
            return r;
        }
    };
    let page = tokio::task::spawn_blocking(move || {
        let (matched, values) = web_search(&catalog, &q);
        let list: Vec<Value> =
            matched.iter().skip(q.offset).take(q.limit).map(|s| web_item(&catalog, s, &base)).collect();
        json!({
            "datasets": list,
            "total": matched.len(),
            "all": catalog.summaries.len(),
            "offset": q.offset,
            "limit": q.limit,
            "facets": facets::SEARCH,
            "values": values,
            "base": base,
            "version": env!("CARGO_PKG_VERSION"),
        })
    })
    .await;
    let Ok(body) = page else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the search stopped unexpectedly").into_response();
    };
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A search of the web page.
#[derive(Debug, Default)]
pub struct WebQuery {
    /// Lower-case words that must all occur.
    pub words: Vec<String>,
    /// One value per common facet.
    pub filters: Vec<(String, String)>,
    pub limit: usize,
    pub offset: usize,
    /// One dataset only.
    pub only: Option<String>,
}

/// Parse the query of `/web/datasets.json`.
pub fn web_query(raw: &str) -> Result<WebQuery, String> {
    let mut q = WebQuery { limit: PAGE, ..WebQuery::default() };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let number = || v.trim().parse::<usize>().map_err(|_| format!("{k} must be a non-negative integer, not '{v}'"));
        match k.as_ref() {
            "q" => q.words.extend(v.split_whitespace().map(str::to_lowercase)),
            "limit" => match number()? {
                0 => return Err("limit must be at least 1".to_string()),
                n => q.limit = n.min(MAX_PAGE),
            },
            "id" => q.only = Some(v.into_owned()),
            "offset" => q.offset = number()?,
            f if facets::SEARCH.contains(&f) => {
                // one value per facet: the last one given
                q.filters.retain(|(k, _)| k != f);
                if !v.is_empty() {
                    q.filters.push((f.to_string(), v.into_owned()));
                }
            }
            other => {
                return Err(format!(
                    "unknown parameter '{other}': use q, id, limit, offset or {}",
                    facets::SEARCH.join(", ")
                ))
            }
        }
    }
    Ok(q)
}

/// Facet value counts of a web search: facet → value → datasets.
pub type Counts = std::collections::BTreeMap<&'static str, std::collections::BTreeMap<String, usize>>;

/// The datasets matching a web search, and per facet the counts of the datasets that
/// pass the words and every other filter.
pub fn web_search<'c>(catalog: &'c cirrus_ops::Catalog, q: &WebQuery) -> (Vec<&'c Summary>, Counts) {
    let mut values: Counts = facets::SEARCH.iter().map(|k| (*k, std::collections::BTreeMap::new())).collect();
    let mut matched = Vec::new();
    for s in catalog.summaries.values().filter(|s| q.only.as_ref().is_none_or(|id| s.id == *id)) {
        let fails: Vec<&str> = q
            .filters
            .iter()
            .filter(|(k, v)| !s.common.get(k).is_some_and(|x| x.eq_ignore_ascii_case(v)))
            .map(|(k, _)| k.as_str())
            .collect();
        let text_ok = q.words.is_empty() || {
            let hay = std::iter::once(s.id.as_str())
                .chain([s.title.as_str()])
                .chain(s.common.values().map(String::as_str))
                .chain(s.layers.iter().map(|(_, t)| t.as_str()))
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            q.words.iter().all(|w| hay.contains(w.as_str()))
        };
        for (k, counts) in &mut values {
            if let Some(v) = s.common.get(*k) {
                let counted = text_ok && (fails.is_empty() || fails == [*k]);
                *counts.entry(v.clone()).or_default() += usize::from(counted);
            }
        }
        if text_ok && fails.is_empty() {
            matched.push(s);
        }
    }
    (matched, values)
}

/// A dataset as the web page lists it.
fn web_item(catalog: &cirrus_ops::Catalog, s: &Summary, base: &str) -> Value {
    let id = &s.id;
    let layers: Vec<Value> =
        s.layers.iter().map(|(v, title)| json!({"name": format!("{id}/{v}"), "variable": v, "title": title})).collect();
    let files: Vec<Value> = catalog
        .detail(s)
        .map_or_else(|_| vec![], |e| e.dataset.files.iter().map(|f| json!({"name": f.rel, "size": f.size})).collect());
    json!({
        "id": id, "title": s.title, "facets": s.common, "layers": layers,
        "time": s.extent.time, "bbox": s.extent.bbox,
        "files": files,
        "size": s.bytes,
        "stac": format!("{base}/stac/collections/{}/items/{id}", crate::stac::collection_id(s)),
        "opendap": format!("{base}/opendap/{id}"),
        "netcdf": format!("{base}/opendap/{id}.nc"),
        "zarr": format!("{base}/zarr/{id}"),
        "zarr_uncompressed": format!("{base}/zarr-uncompressed/{id}"),
        "coverage": s.layers.iter().map(|(v, _)| format!("{base}/coverage/{}/{}.tif", url_name(id), url_name(v))).collect::<Vec<_>>(),
    })
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
