//! A STAC API (1.0: core, collections, OGC API - Features items, item search) at
//! `/stac`: one collection per project and experiment (`CMIP6.ssp245`,
//! `cordex.rcp85`), one item per dataset with the `datacube` extension (dimensions and
//! variables) and assets for OPeNDAP, the NetCDF download, the Cloud-Optimized GeoTIFF
//! export of each variable and a WMS thumbnail. Times are RFC 3339 (dates that exist
//! only in the dataset's calendar, like 2015-02-30 in 360_day, are moved to the last day
//! of their month); the calendar's own dates are kept under `cirrus:`.

use crate::access::Access;
use crate::http::base_url;
use crate::state::State;
use crate::wms::url_name;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use cirrus_ops::catalog::{facets, Entry, Summary};
use cirrus_ops::cf::{Calendar, DateTime};
use cirrus_ops::geo::RotatedPole;
use cirrus_ops::render::layer::{horizontal_dims, map_variables};
use cirrus_ops::render::time as rtime;
use cirrus_ops::{AttrValue, Catalog, Engine};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const STAC_VERSION: &str = "1.1.0";
const DATACUBE: &str = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json";
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

fn conforms() -> Value {
    json!([
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "https://api.stacspec.org/v1.0.0/item-search",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
    ])
}

fn json_response(status: StatusCode, v: &Value, mime: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r
}

fn ok(v: &Value) -> Response<Body> {
    json_response(StatusCode::OK, v, "application/json")
}

fn geo(v: &Value) -> Response<Body> {
    json_response(StatusCode::OK, v, "application/geo+json")
}

fn error(status: StatusCode, code: &str, description: &str) -> Response<Body> {
    json_response(status, &json!({"code": code, "description": description}), "application/json")
}

/// The collection of a dataset: `<project>.<experiment>`.
pub fn collection_id(e: &Summary) -> String {
    let f = &e.common;
    match (f.get("project"), f.get("experiment")) {
        (Some(p), Some(x)) => format!("{p}.{x}"),
        (Some(p), None) => p.clone(),
        _ => "other".to_string(),
    }
}

/// A calendar date as a valid RFC 3339 UTC time (day clamped to the Gregorian month).
fn rfc3339(s: &str) -> Option<String> {
    let d = DateTime::parse(s).ok()?;
    if !(1..=9999).contains(&d.year) {
        return None;
    }
    let day = d.day.min(Calendar::ProlepticGregorian.days_in_month(d.year, d.month));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let sec = d.second.floor() as u32;
    Some(format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", d.year, d.month, day, d.hour, d.minute, sec.min(59)))
}

/// `[W, S, E, N]` of a dataset, longitudes -180..180 (global when it crosses 180).
fn bbox(extent: &cirrus_ops::catalog::Extent) -> Option<[f64; 4]> {
    extent.bbox.map(|[w, s, e2, n]| if w <= e2 { [w, s, e2, n] } else { [-180.0, s, 180.0, n] })
}

fn polygon([w, s, e, n]: [f64; 4]) -> Value {
    json!({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]})
}

fn text<'a>(v: &'a cirrus_ops::Variable, k: &str) -> Option<&'a str> {
    v.attr(k).and_then(AttrValue::as_text)
}

/// Spatial and other dimensions of the datacube.
fn cube(engine: &Engine, e: &Entry) -> (Map<String, Value>, Map<String, Value>) {
    let reader = &*engine.reader;
    let ds = &e.dataset;
    let mut dims = Map::new();
    let mut vars = Map::new();
    let data = cirrus_ops::cf::data_variables(ds);
    let used: std::collections::BTreeSet<&str> = data.iter().flat_map(|v| v.dims.iter().map(String::as_str)).collect();
    let time = cirrus_ops::cf::time_coordinate(ds);
    let level = cirrus_ops::process::select::level_coordinate(ds);
    let horizontal = horizontal_dims(ds);
    // one layer gives the decoded time axis (cached, shared with the WMS)
    let layer = map_variables(ds).first().and_then(|v| engine.renderer.layer(reader, ds, &v.name).ok());
    let rotated = data
        .iter()
        .filter_map(|v| text(v, "grid_mapping"))
        .filter_map(|m| ds.var(m.split(':').next().unwrap_or(m).trim()))
        .find_map(RotatedPole::from_mapping);
    for d in &ds.dims {
        if !used.contains(d.name.as_str()) {
            continue;
        }
        let coord = ds.var(&d.name).filter(|v| v.is_coordinate());
        #[allow(clippy::cast_precision_loss)]
        let index_extent = json!([0, d.len.saturating_sub(1)]);
        let values = || coord.and_then(|c| cirrus_ops::process::select::values(reader, ds, c).ok());
        let extent_of = |vals: &[f64]| {
            let lo = vals.iter().copied().filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
            if lo <= hi {
                json!([lo, hi])
            } else {
                json!([0, 0])
            }
        };
        let desc = coord.and_then(|c| text(c, "long_name").or_else(|| text(c, "standard_name"))).unwrap_or(&d.name);
        let dim = if time.is_some_and(|t| t.dims.first() == Some(&d.name)) {
            let mut t = json!({"type": "temporal", "extent": [
                e.extent.time.as_ref().and_then(|t| rfc3339(&t.start)),
                e.extent.time.as_ref().and_then(|t| rfc3339(&t.end))]});
            if let Some(axis) = layer.as_ref().and_then(|l| l.time.as_ref()) {
                t["step"] = json!(rtime::regular_period(axis));
                t["description"] =
                    json!(format!("time, {} calendar, {} steps", axis.units.calendar, axis.values.len()));
            }
            t
        } else if level.is_some_and(|z| z.dims.first() == Some(&d.name)) {
            let vals = values().unwrap_or_default();
            let mut z = json!({"type": "spatial", "axis": "z", "extent": extent_of(&vals), "values": vals, "description": desc});
            if let Some(u) = coord.and_then(|c| text(c, "units")) {
                z["unit"] = json!(u);
            }
            z
        } else if let Some((yd, xd)) = horizontal.as_ref().filter(|(y, x)| *y == d.name || *x == d.name) {
            let axis = if *xd == d.name { "x" } else { "y" };
            let _ = yd;
            let geographic = coord.is_some_and(|c| cirrus_ops::cf::is_latitude(c) || cirrus_ops::cf::is_longitude(c));
            let mut s = json!({"type": "spatial", "axis": axis, "description": desc});
            match (coord, geographic, rotated) {
                (Some(_), true, _) => {
                    s["extent"] = extent_of(&values().unwrap_or_default());
                    s["reference_system"] = json!(4326);
                }
                (Some(_), false, Some(pole)) => {
                    s["extent"] = extent_of(&values().unwrap_or_default());
                    s["reference_system"] = gdal::spatial_ref::SpatialRef::from_proj4(&pole.proj4())
                        .and_then(|sr| sr.to_projjson())
                        .ok()
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_else(|| json!(pole.proj4()));
                }
                _ => {
                    // a curvilinear grid: index axes, the 2-D latitude/longitude are auxiliary variables
                    s["extent"] = index_extent.clone();
                    s["description"] = json!(format!("{desc} (grid index; see the auxiliary latitude/longitude)"));
                }
            }
            s
        } else {
            json!({"type": "other", "extent": index_extent, "description": desc})
        };
        dims.insert(d.name.clone(), dim);
    }
    let aux = cirrus_ops::cf::auxiliary_names(ds);
    for v in ds.vars.iter().filter(|v| !v.dims.is_empty() && v.dims.iter().all(|d| dims.contains_key(d))) {
        let is_data = data.iter().any(|d| d.name == v.name);
        if !is_data && (v.is_coordinate() || !aux.contains(&v.name)) {
            continue;
        }
        let mut x = json!({"dimensions": v.dims, "type": if is_data { "data" } else { "auxiliary" }});
        if let Some(u) = text(v, "units") {
            x["unit"] = json!(u);
        }
        if let Some(d) = text(v, "long_name").or_else(|| text(v, "standard_name")) {
            x["description"] = json!(d);
        }
        vars.insert(v.name.clone(), x);
    }
    (dims, vars)
}

/// The item of a dataset.
pub fn item(engine: &Engine, e: &Entry, base: &str) -> Value {
    let ds = &e.dataset;
    let f = facets::of(ds);
    let cid = collection_id(&Summary::of(e));
    let self_href = format!("{base}/stac/collections/{cid}/items/{}", ds.id);
    let b = bbox(&e.extent);
    let (start, end) = match &e.extent.time {
        Some(t) => (rfc3339(&t.start), rfc3339(&t.end)),
        None => (None, None),
    };
    let mut props = json!({
        "title": ds.title,
        "datetime": Value::Null,
        "updated": crate::http::iso8601(ds.last_modified),
        "cirrus:facets": f,
    });
    if let (Some(s), Some(en)) = (&start, &end) {
        props["start_datetime"] = json!(s);
        props["end_datetime"] = json!(en);
    } else {
        props["datetime"] = json!(crate::http::iso8601(ds.last_modified));
    }
    if let Some(t) = &e.extent.time {
        props["cirrus:calendar"] = json!(t.calendar);
        props["cirrus:time_start"] = json!(t.start);
        props["cirrus:time_end"] = json!(t.end);
    }
    let (dims, vars) = cube(engine, e);
    props["cube:dimensions"] = Value::Object(dims);
    props["cube:variables"] = Value::Object(vars);
    let mut assets = Map::new();
    assets.insert(
        "opendap".into(),
        json!({"href": format!("{base}/opendap/{}", ds.id), "type": "text/html", "title": "OPeNDAP (DAP2/DAP4; append .dds, .das, .dmr)", "roles": ["data"]}),
    );
    assets.insert(
        "zarr".into(),
        json!({"href": format!("{base}/zarr/{}", ds.id), "type": "application/vnd+zarr", "title": "Zarr v2 store with consolidated metadata (xr.open_zarr(href)); Zarr v3 at /zarr3/", "roles": ["data"]}),
    );
    assets.insert(
        "zarr-uncompressed".into(),
        json!({"href": format!("{base}/zarr-uncompressed/{}", ds.id), "type": "application/vnd+zarr", "title": "The same Zarr v2 store with large uncompressed chunks (fastest next to the server); v3 at /zarr3-uncompressed/", "roles": ["data"]}),
    );
    let size: u64 = ds.files.iter().map(|f| f.size).sum();
    assets.insert(
        "netcdf".into(),
        json!({"href": format!("{base}/opendap/{}.nc", ds.id), "type": "application/netcdf", "title": "NetCDF-4 download of the whole dataset", "roles": ["data"], "cirrus:source_bytes": size}),
    );
    let map_vars = map_variables(ds);
    for v in &map_vars {
        assets.insert(
            format!("cog-{}", v.name),
            json!({"href": format!("{base}/coverage/{}/{}.tif", url_name(&ds.id), url_name(&v.name)),
                   "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                   "title": format!("{} as a Cloud-Optimized GeoTIFF", v.name), "roles": ["data"]}),
        );
    }
    let mut links = vec![
        json!({"rel": "self", "href": self_href, "type": "application/geo+json"}),
        json!({"rel": "parent", "href": format!("{base}/stac/collections/{cid}"), "type": "application/json"}),
        json!({"rel": "collection", "href": format!("{base}/stac/collections/{cid}"), "type": "application/json"}),
        json!({"rel": "root", "href": format!("{base}/stac"), "type": "application/json"}),
        json!({"rel": "alternate", "href": format!("{base}/#/dataset/{}", ds.id), "type": "text/html", "title": "web page"}),
        json!({"rel": "describedby", "href": format!("{base}/datasets/{}", ds.id), "type": "application/json", "title": "dataset metadata"}),
    ];
    if let (Some(v), Some([w, s, e2, n])) = (map_vars.first(), b) {
        let layer = format!("{}/{}", ds.id, v.name);
        let h = (256.0 * (n - s) / (e2 - w).max(1e-9)).clamp(32.0, 512.0).round();
        let thumb = format!(
            "{base}/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS={}&STYLES=&CRS=CRS:84&BBOX={w},{s},{e2},{n}&WIDTH=256&HEIGHT={h}&FORMAT=image/png",
            url_name(&layer)
        );
        assets.insert(
            "thumbnail".into(),
            json!({"href": thumb, "type": "image/png", "title": "map", "roles": ["thumbnail"]}),
        );
        links.push(json!({"rel": "wms", "href": format!("{base}/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"), "type": "application/xml",
            "title": "WMS", "cirrus:wms_layers": map_vars.iter().map(|v| format!("{}/{}", ds.id, v.name)).collect::<Vec<_>>()}));
        links.push(json!({"rel": "xyz", "href": format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.png", url_name(&layer)), "type": "image/png", "title": "XYZ tiles"}));
    }
    let mut item = json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [DATACUBE],
        "id": ds.id,
        "collection": cid,
        "geometry": b.map_or(Value::Null, polygon),
        "properties": props,
        "links": links,
        "assets": assets,
    });
    if let Some(b) = b {
        item["bbox"] = json!(b);
    }
    item
}

fn union_bbox(boxes: impl Iterator<Item = [f64; 4]>) -> [f64; 4] {
    let mut u = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for b in boxes {
        u = [u[0].min(b[0]), u[1].min(b[1]), u[2].max(b[2]), u[3].max(b[3])];
    }
    if u[0] > u[2] {
        [-180.0, -90.0, 180.0, 90.0]
    } else {
        u
    }
}

/// The collections: id → entries.
fn groups(catalog: &Catalog) -> BTreeMap<String, Vec<&Summary>> {
    let mut g: BTreeMap<String, Vec<&Summary>> = BTreeMap::new();
    for e in catalog.summaries.values() {
        g.entry(collection_id(e)).or_default().push(e);
    }
    g
}

fn collection(cid: &str, entries: &[&Summary], base: &str, provider: &str) -> Value {
    let bb = union_bbox(entries.iter().filter_map(|e| bbox(&e.extent)));
    let starts: Vec<String> =
        entries.iter().filter_map(|e| e.extent.time.as_ref().and_then(|t| rfc3339(&t.start))).collect();
    let ends: Vec<String> =
        entries.iter().filter_map(|e| e.extent.time.as_ref().and_then(|t| rfc3339(&t.end))).collect();
    let mut summaries: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for e in entries {
        for (k, v) in &e.common {
            summaries.entry(k.as_str()).or_default().insert(v.clone());
        }
    }
    let (project, experiment) = cid.split_once('.').unwrap_or((cid, ""));
    json!({
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": cid,
        "title": if experiment.is_empty() { project.to_string() } else { format!("{project} {experiment}") },
        "description": format!("{} datasets of project {project}{} served by cirrus", entries.len(),
            if experiment.is_empty() { String::new() } else { format!(", experiment {experiment}") }),
        "keywords": ["climate", project, experiment],
        "license": "various",
        "providers": [{"name": provider, "roles": ["host", "processor"], "url": base}],
        "extent": {
            "spatial": {"bbox": [bb]},
            "temporal": {"interval": [[starts.iter().min(), ends.iter().max()]]}
        },
        "summaries": summaries.into_iter().map(|(k, v)| (format!("cirrus:{k}"), json!(v))).collect::<Map<String, Value>>(),
        "links": [
            {"rel": "self", "href": format!("{base}/stac/collections/{cid}"), "type": "application/json"},
            {"rel": "parent", "href": format!("{base}/stac"), "type": "application/json"},
            {"rel": "root", "href": format!("{base}/stac"), "type": "application/json"},
            {"rel": "items", "href": format!("{base}/stac/collections/{cid}/items"), "type": "application/geo+json"}
        ]
    })
}

/// `GET /stac`: the landing page (a catalog).
pub async fn landing(StateX(st): StateX<State>, access: Access, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let catalog = access.catalog.clone();
    let mut links = vec![
        json!({"rel": "self", "href": format!("{base}/stac"), "type": "application/json"}),
        json!({"rel": "root", "href": format!("{base}/stac"), "type": "application/json"}),
        json!({"rel": "conformance", "href": format!("{base}/stac/conformance"), "type": "application/json"}),
        json!({"rel": "data", "href": format!("{base}/stac/collections"), "type": "application/json"}),
        json!({"rel": "search", "href": format!("{base}/stac/search"), "type": "application/geo+json", "method": "GET"}),
        json!({"rel": "search", "href": format!("{base}/stac/search"), "type": "application/geo+json", "method": "POST"}),
    ];
    for cid in groups(&catalog).keys() {
        links.push(json!({"rel": "child", "href": format!("{base}/stac/collections/{cid}"), "type": "application/json", "title": cid}));
    }
    ok(&json!({
        "type": "Catalog", "stac_version": STAC_VERSION, "id": "cirrus", "title": "cirrus",
        "description": "CMIP and CORDEX datasets served by cirrus: OPeNDAP, NetCDF subsets, WMS maps, GeoTIFF",
        "conformsTo": conforms(), "links": links
    }))
}

/// `GET /stac/conformance`.
pub async fn conformance() -> Response<Body> {
    ok(&json!({"conformsTo": conforms()}))
}

/// `GET /stac/collections`.
pub async fn collections(StateX(st): StateX<State>, access: Access, headers: HeaderMap) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let catalog = access.catalog.clone();
    let cs: Vec<Value> =
        groups(&catalog).iter().map(|(cid, es)| collection(cid, es, &base, &st.config.provider)).collect();
    ok(&json!({"collections": cs, "links": [
        {"rel": "self", "href": format!("{base}/stac/collections"), "type": "application/json"},
        {"rel": "root", "href": format!("{base}/stac"), "type": "application/json"}]}))
}

/// `GET /stac/collections/{id}`.
pub async fn one_collection(
    StateX(st): StateX<State>,
    access: Access,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let catalog = access.catalog.clone();
    match groups(&catalog).get(&cid) {
        Some(es) => ok(&collection(&cid, es, &base, &st.config.provider)),
        None => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no collection '{cid}' (GET /stac/collections lists them)"),
        ),
    }
}

/// What a search or an item listing asks for.
#[derive(Default, Debug)]
struct Filter {
    collections: Option<Vec<String>>,
    ids: Option<Vec<String>>,
    bbox: Option<[f64; 4]>,
    /// RFC 3339 start and end (None: open).
    interval: Option<(Option<String>, Option<String>)>,
    limit: usize,
    offset: usize,
}

fn parse_datetime(s: &str) -> Result<(Option<String>, Option<String>), String> {
    let one = |p: &str| -> Result<Option<String>, String> {
        let p = p.trim();
        if p.is_empty() || p == ".." {
            return Ok(None);
        }
        rfc3339(p).map(Some).ok_or_else(|| format!("'{p}' is not an RFC 3339 date-time"))
    };
    match s.split_once('/') {
        Some((a, b)) => Ok((one(a)?, one(b)?)),
        None => {
            let t = one(s)?;
            Ok((t.clone(), t))
        }
    }
}

impl Filter {
    fn from_query(q: &str) -> Result<Filter, String> {
        let mut f = Filter { limit: DEFAULT_LIMIT, ..Filter::default() };
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned();
            let list = || v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>();
            match k {
                "collections" => f.collections = Some(list()),
                "ids" => f.ids = Some(list()),
                "bbox" => {
                    let n: Vec<f64> = v
                        .split(',')
                        .map(|s| s.trim().replace(' ', "+").parse::<f64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| format!("bbox={v} is not numbers"))?;
                    f.bbox = Some(match n[..] {
                        [a, b, c, d] => [a, b, c, d],
                        [a, b, _, c, d, _] => [a, b, c, d],
                        _ => return Err(format!("bbox={v} must have 4 (or 6) numbers")),
                    });
                }
                "datetime" => f.interval = Some(parse_datetime(&v)?),
                "limit" => {
                    f.limit = v.parse::<usize>().map_err(|_| format!("limit={v} is not a number"))?.clamp(1, MAX_LIMIT)
                }
                "offset" | "token" => f.offset = v.parse().map_err(|_| format!("{k}={v} is not a number"))?,
                _ => {}
            }
        }
        Ok(f)
    }

    fn from_json(v: &Value) -> Result<Filter, String> {
        let mut f = Filter { limit: DEFAULT_LIMIT, ..Filter::default() };
        let strings = |k: &str| {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        };
        f.collections = strings("collections");
        f.ids = strings("ids");
        if let Some(b) = v.get("bbox").and_then(Value::as_array) {
            let n: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
            f.bbox = Some(match n[..] {
                [a, b, c, d] => [a, b, c, d],
                [a, b, _, c, d, _] => [a, b, c, d],
                _ => return Err("bbox must have 4 (or 6) numbers".into()),
            });
        }
        if let Some(d) = v.get("datetime").and_then(Value::as_str) {
            f.interval = Some(parse_datetime(d)?);
        }
        if let Some(l) = v.get("limit").and_then(Value::as_u64) {
            f.limit = usize::try_from(l).unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT);
        }
        if let Some(o) =
            v.get("token").or_else(|| v.get("offset")).and_then(|t| t.as_u64().or_else(|| t.as_str()?.parse().ok()))
        {
            f.offset = usize::try_from(o).unwrap_or(0);
        }
        Ok(f)
    }

    fn matches(&self, e: &Summary) -> bool {
        if let Some(c) = &self.collections {
            if !c.contains(&collection_id(e)) {
                return false;
            }
        }
        if let Some(ids) = &self.ids {
            if !ids.contains(&e.id) {
                return false;
            }
        }
        if let Some([w, s, east, n]) = self.bbox {
            let Some([bw, bs, be, bn]) = bbox(&e.extent) else { return false };
            if bs > n || bn < s || bw > east || be < w {
                return false;
            }
        }
        if let Some((a, b)) = &self.interval {
            let Some(t) = &e.extent.time else { return false };
            let (Some(ts), Some(te)) = (rfc3339(&t.start), rfc3339(&t.end)) else { return false };
            if a.as_ref().is_some_and(|a| te < *a) || b.as_ref().is_some_and(|b| ts > *b) {
                return false;
            }
        }
        true
    }
}

/// An ItemCollection of the entries matching a filter, with paging links.
async fn items(st: &State, access: &Access, f: Filter, base: String, here: String, extra: &str) -> Response<Body> {
    let catalog = access.catalog.clone();
    let engine = st.engine.clone();
    let page = tokio::task::spawn_blocking(move || {
        let matched: Vec<&Summary> = catalog.summaries.values().filter(|e| f.matches(e)).collect();
        let features: Vec<Value> = matched
            .iter()
            .skip(f.offset)
            .take(f.limit)
            .filter_map(|s| catalog.detail(s).ok())
            .map(|e| item(&engine, &e, &base))
            .collect();
        (matched.len(), features, f.offset, f.limit)
    })
    .await;
    let Ok((matched, features, offset, limit)) = page else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "the search failed");
    };
    let sep = if here.contains('?') { '&' } else { '?' };
    let mut links = vec![json!({"rel": "self", "href": here, "type": "application/geo+json"})];
    if offset + features.len() < matched {
        links.push(json!({"rel": "next", "href": format!("{here}{sep}{extra}limit={limit}&token={}", offset + limit), "type": "application/geo+json"}));
    }
    geo(&json!({
        "type": "FeatureCollection", "features": features,
        "numberMatched": matched, "numberReturned": features.len(), "links": links
    }))
}

/// `GET /stac/collections/{id}/items`.
pub async fn collection_items(
    StateX(st): StateX<State>,
    access: Access,
    Path(cid): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    if !groups(&access.catalog).contains_key(&cid) {
        return error(StatusCode::NOT_FOUND, "NotFound", &format!("no collection '{cid}'"));
    }
    let q = q.unwrap_or_default();
    let mut f = match Filter::from_query(&q) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidParameterValue", &e),
    };
    f.collections = Some(vec![cid.clone()]);
    let kept: Vec<&str> =
        q.split('&').filter(|p| !p.starts_with("limit=") && !p.starts_with("token=") && !p.is_empty()).collect();
    let extra = if kept.is_empty() { String::new() } else { format!("{}&", kept.join("&")) };
    items(&st, &access, f, base.clone(), format!("{base}/stac/collections/{cid}/items"), &extra).await
}

/// `GET /stac/collections/{id}/items/{item}` (item ids may contain `/`).
pub async fn one_item(
    StateX(st): StateX<State>,
    access: Access,
    Path((cid, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let catalog = access.catalog.clone();
    match catalog.summaries.get(&id) {
        Some(e) if collection_id(e) == cid => {
            let engine = st.engine.clone();
            let catalog = catalog.clone();
            let v = tokio::task::spawn_blocking(move || {
                catalog.summaries.get(&id).and_then(|s| catalog.detail(s).ok()).map(|e| item(&engine, &e, &base))
            })
            .await;
            match v {
                Ok(Some(v)) => geo(&v),
                _ => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "the item could not be made"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "NotFound", &format!("no item '{id}' in collection '{cid}'")),
    }
}

/// `GET /stac/search`.
pub async fn search_get(
    StateX(st): StateX<State>,
    access: Access,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let q = q.unwrap_or_default();
    match Filter::from_query(&q) {
        Ok(f) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|p| !p.starts_with("limit=") && !p.starts_with("token=") && !p.is_empty())
                .collect();
            let extra = if kept.is_empty() { String::new() } else { format!("{}&", kept.join("&")) };
            items(&st, &access, f, base.clone(), format!("{base}/stac/search"), &extra).await
        }
        Err(e) => error(StatusCode::BAD_REQUEST, "InvalidParameterValue", &e),
    }
}

/// `POST /stac/search` (JSON body).
pub async fn search_post(StateX(st): StateX<State>, access: Access, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let v: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return error(StatusCode::BAD_REQUEST, "InvalidParameterValue", &format!("the body is not JSON: {e}"))
            }
        }
    };
    match Filter::from_json(&v) {
        Ok(f) => items(&st, &access, f, base.clone(), format!("{base}/stac/search"), "").await,
        Err(e) => error(StatusCode::BAD_REQUEST, "InvalidParameterValue", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_filters() {
        assert_eq!(rfc3339("2015-02-30T00:00:00").as_deref(), Some("2015-02-28T00:00:00Z"));
        assert_eq!(rfc3339("2016-02-30T12:00:00").as_deref(), Some("2016-02-29T12:00:00Z"));
        assert_eq!(parse_datetime("2015-01-01/..").expect("ok"), (Some("2015-01-01T00:00:00Z".into()), None));
        assert!(parse_datetime("yesterday").is_err());
        let f = Filter::from_query("bbox=-10,30,40,70&collections=a,b&limit=5").expect("filter");
        assert_eq!(f.bbox, Some([-10.0, 30.0, 40.0, 70.0]));
        assert_eq!(f.collections, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(f.limit, 5);
        assert!(Filter::from_query("bbox=1,2").is_err());
        let j = Filter::from_json(&json!({"bbox": [0, 0, 1, 1], "datetime": "2020-01-01T00:00:00Z", "limit": 3}))
            .expect("json");
        assert_eq!(j.limit, 3);
    }
}
