//! The dataset catalog over HTTP: `/datasets` (JSON, paged, with facet constraints,
//! words and facet counts), `/datasets/{id}`, the THREDDS client catalog
//! `/catalog.xml`, `GET /admin/catalog` and `POST /admin/rescan`.

use crate::access::Access;
use crate::http::base_url;
use crate::http::problem;
use crate::state::State;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::Json;
use cirrus_ops::catalog::search::{Query, MAX_LIMIT};
use cirrus_ops::catalog::{Entry, Summary};

/// What a search found, without its page.
struct Found {
    total: usize,
    counts: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>>,
}
use cirrus_ops::encode::text::xml_escape as xesc;
use serde_json::{json, Value};
use std::fmt::Write;

/// A dataset in a listing: its summary, with its files and warnings when its full
/// description is at hand.
fn summary(s: &Summary, e: Option<&Entry>, base: &str) -> Value {
    let mut v = json!({
        "id": s.id,
        "title": s.title,
        "variables": s.variables,
        "opendap": format!("{base}/opendap/{}", s.id),
    });
    if let Some(e) = e {
        v["files"] = json!(e.dataset.files.iter().map(|f| f.rel.clone()).collect::<Vec<_>>());
        if !e.dataset.warnings.is_empty() {
            v["warnings"] = json!(e.dataset.warnings);
        }
    }
    if let Some(t) = &s.extent.time {
        v["time"] = json!(t);
    }
    if let Some(b) = s.extent.bbox {
        v["bbox"] = json!(b);
    }
    if !s.facets.is_empty() {
        v["facets"] = s.facets.iter().map(|(k, val)| (k.clone(), json!(val))).collect::<serde_json::Map<_, _>>().into();
    }
    v
}

/// `GET /`: what this server offers.
pub async fn landing(StateX(st): StateX<State>, access: Access, headers: HeaderMap) -> Json<Value> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let mut doc = json!({
        "title": "cirrus",
        "description": "Climate model data near storage: OPeNDAP (DAP2, DAP4), NetCDF subsets, OGC WPS and OGC API - Processes",
        "version": env!("CARGO_PKG_VERSION"),
        "datasets": access.catalog.summaries.len(),
        "links": [
            {"rel": "self", "href": format!("{base}/"), "type": "application/json", "title": "this document"},
            {"rel": "data", "href": format!("{base}/datasets"), "type": "application/json", "title": "datasets"},
            {"rel": "alternate", "href": format!("{base}/catalog.xml"), "type": "application/xml", "title": "THREDDS catalog"},
            {"rel": "service", "href": format!("{base}/opendap/"), "type": "text/html", "title": "OPeNDAP"},
            {"rel": "service", "href": format!("{base}/wps?service=WPS&request=GetCapabilities"), "type": "application/xml", "title": "OGC WPS"},
        ]
    });
    if let Some(links) = doc["links"].as_array_mut() {
        links.extend(crate::ogcapi::landing_links(&base));
    }
    Json(doc)
}

/// Datasets per page of `/datasets` when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 1000;

/// The parameters of `/datasets` besides facet constraints.
const LIST_PARAMS: [&str; 4] = ["limit", "offset", "q", "facets"];

/// Parse the query of a listing: `limit`, `offset`, `q` (words), `facets` (names to
/// count, `*` for all) and facet constraints `name=value[,value...]` (repeatable).
pub fn list_query(cat: &cirrus_ops::Catalog, raw: &str) -> Result<Query, String> {
    let names = cat.facet_names();
    let mut q = Query { limit: DEFAULT_LIMIT, ..Query::default() };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let number = |what: &str| {
            v.trim().parse::<usize>().map_err(|_| format!("{what} must be a non-negative integer, not '{v}'"))
        };
        match k.as_ref() {
            "limit" => {
                q.limit = number("limit")?;
                if q.limit == 0 {
                    return Err("limit must be at least 1".into());
                }
            }
            "offset" => q.offset = number("offset")?,
            "q" => q.words.extend(v.split_whitespace().map(str::to_lowercase)),
            "facets" => {
                for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    if name == "*" {
                        q.counts.extend(names.iter().cloned());
                    } else if names.contains(name) {
                        q.counts.push(name.to_string());
                    } else {
                        return Err(format!("unknown facet '{name}' in facets; the facets are {}", join(names)));
                    }
                }
            }
            key if names.contains(key) => q.add_facet(key, &v),
            other => {
                return Err(format!(
                    "unknown parameter '{other}': use {} or a facet ({})",
                    LIST_PARAMS.join(", "),
                    join(names)
                ))
            }
        }
    }
    q.counts.sort();
    q.counts.dedup();
    Ok(q)
}

/// The facet names for a message.
pub(crate) fn join(names: &std::collections::BTreeSet<String>) -> String {
    if names.is_empty() {
        "none here".into()
    } else {
        names.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// `GET /datasets`: one page of the datasets matching the facet constraints and words,
/// in id order, with the total, a `next` link and the facet counts asked for.
pub async fn list(
    StateX(st): StateX<State>,
    access: Access,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let cat = access.catalog.clone();
    let raw = raw.unwrap_or_default();
    let q = match list_query(&cat, &raw) {
        Ok(q) => q,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "Bad listing parameters", &e),
    };
    let limit = q.limit.min(MAX_LIMIT);
    let (b, c, query) = (base.clone(), cat.clone(), q.clone());
    // the page's full descriptions come from the catalog index: off the async threads
    let page = tokio::task::spawn_blocking(move || {
        let found = c.search(&query);
        let datasets: Vec<Value> = found.page.iter().map(|s| summary(s, c.detail(s).ok().as_ref(), &b)).collect();
        (found.total, found.counts, datasets)
    })
    .await;
    let Ok((total, counts, datasets)) = page else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "Listing failed", "the search stopped unexpectedly");
    };
    let found = Found { total, counts };
    let unavailable: Vec<Value> = cat.unavailable.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect();
    let mut doc = json!({
        "total": found.total,
        "offset": q.offset,
        "limit": limit,
        "datasets": datasets,
        "unavailable": unavailable,
    });
    let page_link = |offset: usize| {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .filter(|(k, _)| k != "offset" && k != "limit")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.push(("limit".into(), limit.to_string()));
        pairs.push(("offset".into(), offset.to_string()));
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        format!("{base}/datasets?{query}")
    };
    let mut links = vec![json!({"rel": "self", "href": page_link(q.offset), "type": "application/json"})];
    if q.offset + limit < found.total {
        let next = page_link(q.offset + limit);
        doc["next"] = json!(next);
        links.push(json!({"rel": "next", "href": next, "type": "application/json"}));
    }
    if q.offset > 0 {
        links.push(
            json!({"rel": "prev", "href": page_link(q.offset.saturating_sub(limit)), "type": "application/json"}),
        );
    }
    doc["links"] = json!(links);
    if !q.counts.is_empty() {
        doc["facets"] = json!(found.counts);
    }
    Json(doc).into_response_body()
}

/// `GET /datasets/{id}`: the summary plus dimensions and attributes.
pub async fn one(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let cat = access.catalog.clone();
    let e = match cat.get(&id) {
        Ok(e) => e,
        Err(err) => {
            let status = crate::opendap::status_of(&err);
            return problem(
                status,
                if status == StatusCode::NOT_FOUND { "Dataset not found" } else { "Dataset unavailable" },
                &err.to_string(),
            );
        }
    };
    let ds = &e.dataset;
    let mut v = summary(&Summary::of(&e), Some(&e), &base);
    v["dimensions"] = json!(ds.dims);
    v["attributes"] =
        ds.attrs.iter().map(|a| (a.name.clone(), json!(a.value))).collect::<serde_json::Map<_, _>>().into();
    v["variables"] = ds
        .vars
        .iter()
        .map(|var| {
            json!({
                "name": var.name,
                "type": var.dtype.cdl_name(),
                "dimensions": var.dims,
                "shape": var.shape,
                "attributes": var.attrs.iter().map(|a| (a.name.clone(), json!(a.value))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect::<Vec<_>>()
        .into();
    Json(v).into_response_body()
}

trait IntoBody {
    fn into_response_body(self) -> Response<Body>;
}

impl IntoBody for Json<Value> {
    fn into_response_body(self) -> Response<Body> {
        let mut r = Response::new(Body::from(self.0.to_string()));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }
}

const THREDDS_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<catalog xmlns=\"http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0\" \
xmlns:xlink=\"http://www.w3.org/1999/xlink\" name=\"cirrus\" version=\"1.0.1\">\n  <service name=\"odap\" serviceType=\"OPENDAP\" base=\"/opendap/\"/>\n";

fn thredds_dataset(x: &mut String, ds: &Summary) {
    let size = ds.bytes;
    let _ = write!(
        x,
        "    <dataset name=\"{}\" ID=\"{}\" urlPath=\"{}\">\n      <dataSize units=\"bytes\">{size}</dataSize>\n      <date type=\"modified\">{}</date>\n",
        xesc(&ds.title),
        xesc(&ds.id),
        xesc(&ds.id),
        crate::http::iso8601(ds.last_modified)
    );
    if let Some(t) = &ds.extent.time {
        let _ = writeln!(
            x,
            "      <timeCoverage><start>{}</start><end>{}</end></timeCoverage>",
            xesc(&t.start),
            xesc(&t.end)
        );
    }
    x.push_str("    </dataset>\n");
}

fn xml_response(x: String) -> Response<Body> {
    let mut r = Response::new(Body::from(x));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
    r
}

/// `GET /catalog.xml`: a THREDDS client catalog (InvCatalog 1.0.1) of every dataset in
/// one document, with an OPeNDAP service, for siphon and other THREDDS-aware tools
/// (`/thredds/catalog.xml` is the same as a hierarchy, for archives).
pub async fn thredds_catalog(access: Access) -> Response<Body> {
    let cat = access.catalog.clone();
    let mut x = String::from(THREDDS_HEAD);
    x.push_str("  <dataset name=\"cirrus datasets\" ID=\"cirrus\">\n    <metadata inherited=\"true\">\n      <serviceName>odap</serviceName>\n      <dataType>Grid</dataType>\n    </metadata>\n");
    for e in cat.summaries.values() {
        thredds_dataset(&mut x, e);
    }
    x.push_str("  </dataset>\n</catalog>\n");
    xml_response(x)
}

/// Characters escaped in a path segment of a catalog reference.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'/').add(b'<').add(b'>').add(b'?');

/// The levels of a dataset in the catalog hierarchy: the DRS facets of its id, or the
/// directories of its path.
fn levels(ds: &Summary) -> Vec<&str> {
    if ds.facets.is_empty() {
        ds.id.split('/').collect()
    } else {
        ds.id.split('.').collect()
    }
}

/// `GET /thredds/catalog.xml` and `/thredds/catalog/<level>/.../catalog.xml`: the
/// catalog as a hierarchy by DRS level (`CMIP6/ScenarioMIP/INM/...`; other files by
/// directory): each document lists the datasets of its level and a `catalogRef` per
/// level below, so that no document holds the whole archive. siphon follows the
/// references (`TDSCatalog(url).catalog_refs[name].follow()`).
pub async fn thredds_tree(access: Access, path: Option<Path<String>>) -> Response<Body> {
    let path = path.map_or_else(|| "catalog.xml".to_string(), |Path(p)| p);
    let Some(prefix) = path.strip_suffix("catalog.xml").map(|p| p.trim_end_matches('/')) else {
        return problem(StatusCode::NOT_FOUND, "Not found", "THREDDS catalogs end with catalog.xml");
    };
    let prefix: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
    let cat = access.catalog.clone();
    let mut refs: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let mut here: Vec<&Summary> = Vec::new();
    for e in cat.summaries.values() {
        let parts = levels(e);
        if parts.len() <= prefix.len() || parts[..prefix.len()] != prefix[..] {
            continue;
        }
        if parts.len() == prefix.len() + 1 {
            here.push(e);
        } else {
            refs.insert(parts[prefix.len()]);
        }
    }
    if refs.is_empty() && here.is_empty() && !prefix.is_empty() {
        return problem(
            StatusCode::NOT_FOUND,
            "Catalog not found",
            &format!("no datasets under '{}'", prefix.join("/")),
        );
    }
    let name = if prefix.is_empty() { "cirrus".to_string() } else { prefix.join("/") };
    let mut x = String::from(THREDDS_HEAD);
    let _ = write!(x, "  <dataset name=\"{}\" ID=\"{}\">\n    <metadata inherited=\"true\">\n      <serviceName>odap</serviceName>\n      <dataType>Grid</dataType>\n    </metadata>\n", xesc(&name), xesc(&name));
    // the root document is /thredds/catalog.xml, the others /thredds/catalog/<levels>/catalog.xml
    let up = if prefix.is_empty() { "catalog/" } else { "" };
    for r in &refs {
        let _ = writeln!(
            x,
            "    <catalogRef xlink:href=\"{up}{}/catalog.xml\" xlink:title=\"{}\" name=\"{}\"/>",
            xesc(&percent_encoding::utf8_percent_encode(r, SEGMENT).to_string()),
            xesc(r),
            xesc(r)
        );
    }
    for e in here {
        thredds_dataset(&mut x, e);
    }
    x.push_str("  </dataset>\n</catalog>\n");
    xml_response(x)
}

/// `GET /files/{path}`: a source file as it is on disk (HTTP download, with `Range`,
/// `ETag` and `Last-Modified`), named by its path relative to its data root — the
/// `HTTPServer` URL of ESGF file records. Only files of datasets the caller may read.
pub async fn file_download(
    StateX(st): StateX<State>,
    access: Access,
    Path(path): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response<Body> {
    // the dataset holding the file (not the file as a dataset of its own)
    let cat = &access.catalog;
    let found = cat.resolve(&path).and_then(|id| cat.summaries.get(id)).and_then(|s| {
        let e = cat.detail(s).ok()?;
        let f = e.dataset.files.iter().find(|f| f.rel == path)?.clone();
        Some((f, e.dataset.etag.clone()))
    });
    let Some((file, etag)) = found else {
        return problem(StatusCode::NOT_FOUND, "File not found", &format!("no served file '{path}'"));
    };
    let name = file.rel.rsplit('/').next().unwrap_or(&file.rel).to_string();
    let validators = crate::http::Validators::new(&etag, &file.rel, file.mtime);
    let served = if cirrus_ops::object::is_object(&file.path) {
        match st.engine.headers.objects.object(&file.path, file.size) {
            Ok(obj) => {
                crate::http::file::serve_object(obj, &method, &headers, "application/x-netcdf", &name, &validators)
                    .await
            }
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    } else {
        crate::http::file::serve_file(&file.path, &method, &headers, "application/x-netcdf", &name, &validators).await
    };
    match served {
        Ok(r) => r,
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "File unreadable", &format!("{}: {e}", file.rel)),
    }
}

/// `GET /admin/catalog`: the state of the whole catalog (every root, restricted ones
/// included): datasets and files served, the datasets that are unavailable with the
/// reason, and the warnings of the last scan (files that could not be joined, and why).
pub async fn catalog_state(StateX(st): StateX<State>) -> Json<Value> {
    let cat = st.catalog_all();
    let headers = &st.engine.headers;
    Json(json!({
        "datasets": cat.summaries.len(),
        "files": cat.files(),
        "files_opened": headers.opened.load(std::sync::atomic::Ordering::Relaxed),
        "files_from_index": headers.indexed.load(std::sync::atomic::Ordering::Relaxed),
        "unavailable": cat.unavailable,
        "warnings": cat.warnings,
        "index": headers.progress.report(),
        "missing_objects": headers.objects.missing(),
    }))
}

/// `POST /admin/rescan[?path=<subtree>]`: an indexing pass now, over every root or
/// over one subtree (a DRS directory relative to the roots, what a publication step
/// names); answers when it is done.
pub async fn rescan(StateX(st): StateX<State>, RawQuery(raw): RawQuery) -> Response<Body> {
    let mut scope = None;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "path" => scope = Some(v.into_owned()),
            other => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "Bad rescan",
                    &format!("unknown parameter '{other}': use path"),
                )
            }
        }
    }
    if let Some(p) = &scope {
        let rel = std::path::Path::new(p.trim_matches('/'));
        let safe = rel.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe || p.trim_matches('/').is_empty() {
            return problem(
                StatusCode::BAD_REQUEST,
                "Bad rescan",
                &format!("path must be a directory or file relative to the data roots, not '{p}'"),
            );
        }
        let here = |r: &std::path::PathBuf| cirrus_ops::object::is_object(r) || r.join(rel).exists();
        if !st.roots.iter().any(here) {
            return problem(StatusCode::NOT_FOUND, "Not found", &format!("no '{p}' under the data roots"));
        }
    }
    let s = st.clone();
    let sc = scope.clone();
    let Ok(cat) = tokio::task::spawn_blocking(move || s.index(sc.as_deref())).await else {
        return problem(StatusCode::INTERNAL_SERVER_ERROR, "Rescan failed", "the indexing pass stopped unexpectedly");
    };
    let p = st.engine.headers.progress.report();
    Json(json!({
        "datasets": cat.summaries.len(),
        "unavailable": cat.unavailable.len(),
        "warnings": cat.warnings,
        "path": scope,
        "files": p.files_total,
        "files_read": p.files_read,
        "waiting": p.waiting,
        "seconds": p.last_pass_seconds,
    }))
    .into_response_body()
}
