//! OGC API - Environmental Data Retrieval 1.1 at `/edr`: one collection per dataset
//! (its id the dataset id), listed in pages from the catalog index, each answering
//! `position`, `radius`, `area`, `cube`, `trajectory`, `corridor` and `locations`
//! queries in CoverageJSON, GeoJSON, CSV or NetCDF. Queries are parsed and resolved by
//! [`cirrus_ops::edr`]; this module finds the collection in the caller's view, checks
//! the size, and answers errors as problem JSON (400, 404, 413).

use crate::access::Access;
// errors are problem JSON (RFC 9457), the error format of OGC API - EDR
use crate::http::status_problem as problem;
use crate::http::{base_url, file::serve_file, Validators};
use crate::state::State;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use cirrus_ops::catalog::Summary;
use cirrus_ops::edr::encode::{parameter, Answer};
use cirrus_ops::edr::{Format, Plan, Query, QueryType};
use cirrus_ops::{Catalog, Dataset, Error};
use serde_json::{json, Map, Value};
use std::sync::Arc;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const CRS84_WKT: &str = "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433],AXIS[\"Longitude\",EAST],AXIS[\"Latitude\",NORTH]]";
/// Collections per page of `/edr/collections` unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Largest CoverageJSON/GeoJSON/CSV document (bytes, estimated at 12 per value): a
/// larger answer is refused with 413 (NetCDF output is bounded by max_response_bytes).
const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

fn json_response(v: &Value, mime: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r
}

/// Query parameters as (name, value) pairs, percent-decoded, names lower-case.
fn pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned())).collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `GET /edr`: the landing page.
pub async fn landing(StateX(st): StateX<State>, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    json_response(
        &json!({
            "title": format!("{} EDR", st.config.provider),
            "description": "OGC API - Environmental Data Retrieval over the CMIP and CORDEX datasets served by cirrus",
            "links": [
                {"rel": "self", "href": format!("{base}/edr"), "type": "application/json", "title": "this document"},
                {"rel": "conformance", "href": format!("{base}/edr/conformance"), "type": "application/json", "title": "Conformance"},
                {"rel": "data", "href": format!("{base}/edr/collections"), "type": "application/json", "title": "Collections"},
            ]
        }),
        "application/json",
    )
}

/// `GET /edr/conformance`.
pub async fn conformance() -> Response<Body> {
    json_response(
        &json!({"conformsTo": [
            "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
            "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/core",
            "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/collections",
            "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/json",
            "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/covjson",
            "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/queries",
        ]}),
        "application/json",
    )
}

/// An extent time (as the index stores it) as an EDR instant.
fn instant(s: &str) -> String {
    cirrus_ops::process::params::TimePoint::parse(s)
        .map_or_else(|_| s.to_string(), |p| cirrus_ops::edr::plan::iso(&p.dt))
}

fn data_queries(base: &str, id: &str) -> Value {
    let formats: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
    let q: Map<String, Value> = QueryType::ALL
        .iter()
        .map(|q| {
            let mut variables = json!({
                "title": format!("{} query", q.name()),
                "query_type": q.name(),
                "output_formats": formats,
                "default_output_format": "CoverageJSON",
                "crs_details": [{"crs": "CRS84", "wkt": CRS84_WKT}],
            });
            match q {
                QueryType::Radius => variables["within_units"] = json!(["km", "m", "mi", "nmi"]),
                QueryType::Corridor => {
                    variables["width_units"] = json!(["km", "m", "mi", "nmi"]);
                }
                _ => {}
            }
            let link = json!({"href": format!("{base}/edr/collections/{id}/{}", q.name()), "rel": "data",
                "title": format!("{} query", q.name()), "variables": variables});
            (q.name().to_string(), json!({"link": link}))
        })
        .collect();
    Value::Object(q)
}

/// A collection from what the catalog keeps in memory (listings).
fn summary_collection(s: &Summary, base: &str) -> Value {
    let id = &s.id;
    let mut extent = Map::new();
    let bbox = s.extent.bbox.map(|[w, so, e, n]| if w <= e { [w, so, e, n] } else { [-180.0, so, 180.0, n] });
    extent.insert("spatial".into(), json!({"bbox": [bbox.unwrap_or([-180.0, -90.0, 180.0, 90.0])], "crs": CRS84}));
    if let Some(t) = &s.extent.time {
        extent.insert(
            "temporal".into(),
            json!({"interval": [[instant(&t.start), instant(&t.end)]], "trs": cirrus_ops::edr::encode::calendar_uri(&t.calendar), "calendar": t.calendar}),
        );
    }
    let params: Map<String, Value> = s
        .layers
        .iter()
        .map(|(name, long)| {
            (
                name.clone(),
                json!({"type": "Parameter", "id": name, "description": {"en": long},
                "observedProperty": {"label": {"en": long}}}),
            )
        })
        .collect();
    json!({
        "id": id,
        "title": s.title,
        "description": s.long_name.clone().unwrap_or_else(|| s.title.clone()),
        "keywords": s.facets.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        "links": [
            {"rel": "self", "href": format!("{base}/edr/collections/{id}"), "type": "application/json"},
            {"rel": "alternate", "href": format!("{base}/opendap/{id}.html"), "type": "text/html", "title": "OPeNDAP"},
            {"rel": "alternate", "href": format!("{base}/zarr/{id}"), "type": "application/vnd+zarr", "title": "Zarr v2"},
        ],
        "extent": Value::Object(extent),
        "data_queries": data_queries(base, id),
        "crs": ["CRS84"],
        "output_formats": Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "parameter_names": Value::Object(params),
    })
}

/// A collection with what only the dataset's description has: units, levels.
fn full_collection(s: &Summary, ds: &Dataset, reader: &cirrus_ops::Reader, base: &str) -> Value {
    let mut c = summary_collection(s, base);
    let params: Map<String, Value> = s
        .layers
        .iter()
        .map(|(name, _)| {
            let mut p = parameter(ds, name);
            p["id"] = json!(name);
            (name.clone(), p)
        })
        .collect();
    c["parameter_names"] = Value::Object(params);
    if let Some(z) = cirrus_ops::process::select::level_coordinate(ds) {
        if let Ok(zs) = cirrus_ops::process::select::values(reader, ds, z) {
            let lo = zs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = zs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let units = z.attr("units").and_then(cirrus_ops::AttrValue::as_text).unwrap_or("");
            c["extent"]["vertical"] = json!({"interval": [[lo, hi]], "values": zs, "vrs": format!("{}: {units}", z.name), "name": z.name, "units": units});
        }
    }
    c
}

/// `GET /edr/collections`: one page of collections (`limit`, `offset`).
pub async fn collections(
    StateX(st): StateX<State>,
    access: Access,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let p = pairs(query.as_deref().unwrap_or(""));
    let number = |k: &str, default: usize| -> Result<usize, String> {
        get(&p, k).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{k}={v} is not a whole number")))
    };
    let (limit, offset) = match (number("limit", DEFAULT_LIMIT), number("offset", 0)) {
        (Ok(l), Ok(o)) => (l.clamp(1, MAX_LIMIT), o),
        (Err(e), _) | (_, Err(e)) => return problem(StatusCode::BAD_REQUEST, &e),
    };
    let catalog = access.catalog.clone();
    // datasets without a gridded variable have nothing to query
    let queryable = || catalog.summaries.values().filter(|s| !s.layers.is_empty());
    let page: Vec<Value> = queryable().skip(offset).take(limit).map(|s| summary_collection(s, &base)).collect();
    let total = queryable().count();
    let mut links = vec![
        json!({"rel": "self", "href": format!("{base}/edr/collections?limit={limit}&offset={offset}"), "type": "application/json"}),
    ];
    if offset + page.len() < total {
        links.push(json!({"rel": "next", "href": format!("{base}/edr/collections?limit={limit}&offset={}", offset + limit), "type": "application/json"}));
    }
    if offset > 0 {
        links.push(json!({"rel": "prev", "href": format!("{base}/edr/collections?limit={limit}&offset={}", offset.saturating_sub(limit)), "type": "application/json"}));
    }
    json_response(
        &json!({"links": links, "collections": page, "numberMatched": total, "numberReturned": page.len()}),
        "application/json",
    )
}

/// What a path below `/edr/collections/` names.
enum Target<'p> {
    Collection(&'p str),
    Query(&'p str, QueryType),
    Location(&'p str, &'p str),
}

/// The collection id and the rest of a path: the longest leading part that names a
/// dataset of `catalog`.
fn target<'p>(catalog: &Catalog, path: &'p str) -> Option<Target<'p>> {
    let path = path.trim_matches('/');
    let (id, rest) = crate::zarr::split(catalog, path)?;
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => Some(Target::Collection(id)),
        (Some("locations"), Some(loc), None) => Some(Target::Location(id, loc)),
        (Some(q), None, _) => QueryType::parse(q).map(|q| Target::Query(id, q)),
        _ => None,
    }
}

/// The configured named locations (a GeoJSON FeatureCollection), re-read on each use.
fn locations(st: &State) -> Result<Vec<Value>, String> {
    let Some(path) = &st.config.edr_locations else { return Ok(vec![]) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not GeoJSON: {e}", path.display()))?;
    Ok(v["features"].as_array().cloned().unwrap_or_default())
}

fn location_id(f: &Value) -> Option<String> {
    let id = f.get("id").or_else(|| f["properties"].get("id")).or_else(|| f["properties"].get("name"))?;
    Some(id.as_str().map_or_else(|| id.to_string(), str::to_string))
}

/// `GET /edr/collections/{id}[/{query}|/locations[/{loc}]]`.
pub async fn collection_path(
    StateX(st): StateX<State>,
    access: Access,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let catalog = access.catalog.clone();
    let Some(t) = target(&catalog, &path) else {
        let all = st.catalog_all();
        if let Some(status) =
            crate::zarr::split(&all, &path).and_then(|(id, _)| st.hidden_status(id, access.user.as_deref()))
        {
            st.metrics.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return crate::observe::refuse_hidden(crate::protocol::Protocol::Edr, &uri, status);
        }
        if crate::zarr::split(&catalog, &path).is_some() {
            let qs: Vec<&str> = QueryType::ALL.iter().map(|q| q.name()).collect();
            return problem(
                StatusCode::NOT_FOUND,
                &format!("no such query in '{path}': the queries are {}", qs.join(", ")),
            );
        }
        return problem(StatusCode::NOT_FOUND, &format!("no collection in '{path}' (GET /edr/collections lists them)"));
    };
    let p = pairs(query.as_deref().unwrap_or(""));
    let (id, kind, coords) = match t {
        Target::Collection(id) => {
            let Some(s) = catalog.summaries.get(id).cloned() else {
                return problem(StatusCode::NOT_FOUND, &format!("collection '{id}' is unavailable"));
            };
            let engine = st.engine.clone();
            let made = tokio::task::spawn_blocking(move || {
                catalog.detail(&s).map(|e| full_collection(&s, &e.dataset, &engine.reader, &base))
            })
            .await;
            return match made {
                Ok(Ok(v)) => json_response(&v, "application/json"),
                Ok(Err(e)) => problem(crate::protocol::status_of(&e), &e.to_string()),
                Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("worker failed: {e}")),
            };
        }
        Target::Query(id, QueryType::Locations) => {
            let locs = match locations(&st) {
                Ok(l) => l,
                Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e),
            };
            let features: Vec<Value> = locs
                .iter()
                .filter_map(|f| {
                    let lid = location_id(f)?;
                    Some(json!({"type": "Feature", "id": lid, "geometry": f["geometry"],
                        "properties": {"name": f["properties"].get("name").cloned().unwrap_or(json!(lid)),
                            "edrqueryendpoint": format!("{base}/edr/collections/{id}/locations/{lid}")}}))
                })
                .collect();
            return json_response(&json!({"type": "FeatureCollection", "features": features}), "application/geo+json");
        }
        Target::Query(id, kind) => (id, kind, None),
        Target::Location(id, loc) => {
            let locs = match locations(&st) {
                Ok(l) => l,
                Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e),
            };
            let Some(f) = locs.iter().find(|f| location_id(f).as_deref() == Some(loc)) else {
                return problem(
                    StatusCode::NOT_FOUND,
                    &format!("no location '{loc}' (GET /edr/collections/{id}/locations lists them)"),
                );
            };
            let shape = match cirrus_ops::edr::geometry::from_geojson(&f["geometry"]) {
                Ok(s) => s,
                Err(e) => {
                    return problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("location '{loc}': {e}"));
                }
            };
            (id, QueryType::Locations, Some(shape))
        }
    };
    let q = match Query::parse(kind, &p, coords) {
        Ok(q) => q,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Ok(entry) = catalog.get(id) else {
        return problem(StatusCode::NOT_FOUND, &format!("collection '{id}' is unavailable"));
    };
    let ds = entry.dataset.clone();
    match answer(&st, ds, &q, query.as_deref().unwrap_or(""), &method, &headers).await {
        Ok(r) => r,
        Err(e) => problem(crate::protocol::status_of(&e), &e.to_string()),
    }
}

async fn answer(
    st: &State,
    ds: Arc<Dataset>,
    q: &Query,
    query: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response<Body>, Error> {
    let engine = st.engine.clone();
    let limit = st.config.max_response_bytes;
    let (ds2, q2) = (ds.clone(), q.clone());
    let netcdf = q.format == Format::NetCdf;
    let (plan, sel) = tokio::task::spawn_blocking(move || -> Result<_, Error> {
        let plan = Plan::new(&engine.reader, &ds2, &q2)?;
        let sel = if netcdf { Some(plan.selection(&engine.reader, &ds2)?.for_file(&ds2)?) } else { None };
        Ok((plan, sel))
    })
    .await
    .map_err(|e| Error::Internal(format!("worker failed: {e}")))??;
    if let Some(sel) = sel {
        let size = sel.size(&ds);
        if size > limit {
            return Err(Error::TooLarge { size, limit });
        }
        let key = format!("edr|{}|{}|{query}", ds.id, ds.etag);
        let stamp = cirrus_ops::clock::output_iso8601();
        let asked = percent_encoding::percent_decode_str(&query.replace('+', " ")).decode_utf8_lossy().into_owned();
        let history = format!("{stamp} cirrus EDR: {asked} of {}", ds.id);
        let reader = st.engine.reader.clone();
        let ds2 = ds.clone();
        let (path, stamp) = st
            .responses
            .get_or_create(&key, "nc", &stamp, move |path| {
                let opts = cirrus_ops::encode::netcdf::NcOptions { history, ..Default::default() };
                cirrus_ops::encode::netcdf::write_netcdf(&reader, &ds2, &sel, path, &opts)
            })
            .await?;
        let validators = Validators::new(&ds.etag, &format!("edr?{query}|{stamp}"), ds.last_modified);
        let name = format!("{}.nc", ds.id.rsplit('/').next().unwrap_or(&ds.id));
        return Ok(serve_file(&path, method, headers, Format::NetCdf.media_type(), &name, &validators).await?);
    }
    let size = plan.values_count().saturating_mul(12);
    let cap = limit.min(MAX_DOCUMENT_BYTES);
    if size > cap {
        return Err(Error::TooLarge { size, limit: cap });
    }
    let engine = st.engine.clone();
    let format = q.format;
    let doc = tokio::task::spawn_blocking(move || -> Result<String, Error> {
        let values =
            plan.params.iter().map(|p| plan.values(&engine.reader, &ds, p)).collect::<Result<Vec<_>, Error>>()?;
        let a = Answer { ds: &ds, plan: &plan, values };
        Ok(match format {
            Format::CoverageJson => a.coverage_json(),
            Format::GeoJson => a.geojson(),
            _ => a.csv(),
        })
    })
    .await
    .map_err(|e| Error::Internal(format!("worker failed: {e}")))??;
    let mut r = Response::new(Body::from(doc));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.media_type()));
    Ok(r)
}
