//! The ESGF search API (`/esg-search/search`), the subset its clients use
//! (`esgf-pyclient`, intake-esgf's Solr path, `wget` scripts' searches): `type=Dataset`
//! and `type=File`, facet constraints, `query`, `latest`, `replica`, `start`/`end`,
//! `offset`/`limit`, `facets=` counts, `distrib=false`, answered as
//! `application/solr+json` from the catalog. Records carry their access URLs in ESGF's
//! `url|mime|service` form: OPeNDAP and HTTP download.

use crate::access::Access;
use crate::http::base_url;
use crate::state::State;
use axum::body::Body;
use axum::extract::{RawQuery, State as StateX};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use cirrus_ops::catalog::search::{facet, tally, Query, MAX_LIMIT};
use cirrus_ops::catalog::version_of;
use cirrus_ops::catalog::Summary;
use cirrus_ops::model::{Dataset, SourceFile};
use cirrus_ops::Catalog;
use serde_json::{json, Map, Value};

/// Records per page when the request gives no `limit` (as ESGF's index nodes).
const DEFAULT_LIMIT: usize = 10;

/// Parameters of the search that are not facet constraints.
const SYSTEM: [&str; 14] = [
    "format",
    "type",
    "limit",
    "offset",
    "distrib",
    "shards",
    "replica",
    "latest",
    "fields",
    "facets",
    "query",
    "start",
    "end",
    "dataset_id",
];

/// A parsed search request.
#[derive(Debug, Default)]
pub struct Search {
    pub files: bool,
    pub query: Query,
    pub latest: Option<bool>,
    pub replica: Option<bool>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// `dataset_id` (files) or `id`/`instance_id` constraints, without `|data-node`.
    pub ids: Vec<String>,
}

fn flag(k: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{k} must be true or false, not '{v}'")),
    }
}

/// Parse the query string of a search.
pub fn parse(cat: &Catalog, raw: &str) -> Result<Search, String> {
    let names = cat.facet_names();
    let mut s = Search { query: Query { limit: DEFAULT_LIMIT, ..Query::default() }, ..Search::default() };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = v.trim();
        let number =
            |what: &str| v.parse::<usize>().map_err(|_| format!("{what} must be a non-negative integer, not '{v}'"));
        match k.as_ref() {
            "format" if v.is_empty() || v == "application/solr+json" || v == "json" => {}
            "format" => return Err(format!("format '{v}' is not offered; use format=application/solr+json")),
            "type" => match v {
                "Dataset" | "" => s.files = false,
                "File" => s.files = true,
                other => return Err(format!("type '{other}' is not offered; use type=Dataset or type=File")),
            },
            "limit" => s.query.limit = number("limit")?.min(MAX_LIMIT),
            "offset" => s.query.offset = number("offset")?,
            "distrib" => {
                flag("distrib", v)?;
            }
            "shards" | "fields" => {}
            "replica" => s.replica = Some(flag("replica", v)?),
            "latest" => s.latest = Some(flag("latest", v)?),
            "facets" => {
                for n in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    if n == "*" {
                        s.query.counts.extend(names.iter().cloned());
                    } else {
                        // ESGF answers unknown facets with no values: so do we
                        s.query.counts.push(n.to_string());
                    }
                }
            }
            "query" => s.query.words.extend(v.split_whitespace().filter(|w| *w != "*").map(str::to_lowercase)),
            "start" => s.start = Some(v.to_string()).filter(|x| !x.is_empty()),
            "end" => s.end = Some(v.to_string()).filter(|x| !x.is_empty()),
            "dataset_id" | "id" | "instance_id" | "master_id" => {
                s.ids.extend(v.split(',').map(|x| x.trim().split('|').next().unwrap_or("").to_string()))
            }
            key if names.contains(key) => s.query.add_facet(key, v),
            other => {
                return Err(format!(
                    "unknown search parameter '{other}': use {} or a facet ({})",
                    SYSTEM.join(", "),
                    crate::datasets::join(names)
                ))
            }
        }
    }
    s.query.counts.sort();
    s.query.counts.dedup();
    Ok(s)
}

/// The id without its version (ESGF's `master_id`).
fn master_id(id: &str) -> &str {
    match version_of(id) {
        Some(_) => id.rsplit_once('.').map_or(id, |(m, _)| m),
        None => id,
    }
}

/// Whether a dataset is the newest version of its master id (an id without a version,
/// e.g. a `latest` directory, is).
fn is_latest(cat: &Catalog, id: &str) -> bool {
    cat.newest(master_id(id)) == Some(id)
}

fn in_time(e: &Summary, start: Option<&str>, end: Option<&str>) -> bool {
    let Some(t) = &e.extent.time else {
        return start.is_none() && end.is_none();
    };
    // ISO dates compare as text (4-digit years)
    start.is_none_or(|s| t.end.as_str() >= s) && end.is_none_or(|x| t.start.as_str() <= x)
}

/// `GET /esg-search/search`.
pub async fn search(
    StateX(st): StateX<State>,
    access: Access,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response<Body> {
    let base = base_url(st.config.public_url.as_deref(), &headers);
    let raw = raw.unwrap_or_default();
    let cat = access.catalog.clone();
    let s = match parse(&cat, &raw) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let node = base.split("://").nth(1).unwrap_or(&base).split('/').next().unwrap_or("").to_string();
    let id_set: Vec<&str> = s.ids.iter().map(|i| cat.resolve(i).unwrap_or(i)).collect();
    let datasets = cat.summaries.values().filter(|e| {
        let id = e.id.as_str();
        s.query.matches(e)
            && s.latest.is_none_or(|l| is_latest(&cat, id) == l)
            && s.replica != Some(true)
            && in_time(e, s.start.as_deref(), s.end.as_deref())
            && (id_set.is_empty() || id_set.contains(&id))
    });
    let mut counts = s.query.new_counts();
    let mut total = 0usize;
    let mut docs = Vec::new();
    let limit = s.query.limit;
    let offset = s.query.offset;
    for e in datasets {
        let latest = is_latest(&cat, &e.id);
        // a record per file (of which the page's are described) or per dataset
        let n = if s.files { e.files } else { 1 };
        if total + n > offset && docs.len() < limit {
            if !s.files {
                docs.push(dataset_doc(e, &base, &node, latest));
            } else if let Ok(d) = cat.detail(e) {
                for (i, f) in d.dataset.files.iter().enumerate() {
                    if total + i >= offset && docs.len() < limit {
                        docs.push(file_doc(e, &d.dataset, f, &base, &node, latest));
                    }
                }
            }
        }
        total += n;
        for _ in 0..n {
            tally(&mut counts, e);
        }
    }
    let facet_fields: Map<String, Value> = counts
        .into_iter()
        .map(|(k, values)| {
            let mut flat = Vec::with_capacity(values.len() * 2);
            let mut sorted: Vec<(String, usize)> = values.into_iter().collect();
            sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (v, n) in sorted {
                flat.push(json!(v));
                flat.push(json!(n));
            }
            (k, Value::Array(flat))
        })
        .collect();
    let params: Map<String, Value> =
        form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), json!(v))).collect();
    let body = json!({
        "responseHeader": {"status": 0, "QTime": 0, "params": params},
        "response": {"numFound": total, "start": s.query.offset, "maxScore": 1.0, "docs": docs},
        "facet_counts": {
            "facet_queries": {},
            "facet_fields": facet_fields,
            "facet_ranges": {},
            "facet_intervals": {},
            "facet_heatmaps": {},
        },
    });
    let mut r = Response::new(Body::from(body.to_string()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

fn iso(t: &str) -> String {
    if t.ends_with('Z') {
        t.to_string()
    } else {
        format!("{t}Z")
    }
}

/// The fields every record has: facets (as lists, as ESGF sends them), nodes, flags.
fn common(e: &Summary, node: &str, is_latest: bool) -> Map<String, Value> {
    let ds = e;
    let mut m = Map::new();
    for (k, v) in &ds.facets {
        m.insert(k.clone(), json!([v]));
    }
    if let Some(p) = facet(e, "project") {
        m.insert("project".into(), json!([p]));
    }
    m.insert("data_node".into(), json!(node));
    m.insert("index_node".into(), json!(node));
    m.insert("latest".into(), json!(is_latest));
    m.insert("replica".into(), json!(false));
    m.insert("retracted".into(), json!(false));
    m.insert("score".into(), json!(1.0));
    if let Some(v) = version_of(&ds.id) {
        m.insert("version".into(), json!(v.to_string()));
    }
    if let Some(t) = &e.extent.time {
        m.insert("datetime_start".into(), json!(iso(&t.start)));
        m.insert("datetime_stop".into(), json!(iso(&t.end)));
    }
    if let Some([w, s, east, n]) = e.extent.bbox {
        m.insert("west_degrees".into(), json!(w));
        m.insert("south_degrees".into(), json!(s));
        m.insert("east_degrees".into(), json!(east));
        m.insert("north_degrees".into(), json!(n));
    }
    m
}

fn dataset_doc(e: &Summary, base: &str, node: &str, is_latest: bool) -> Value {
    let ds = e;
    let mut m = common(e, node, is_latest);
    m.insert("id".into(), json!(format!("{}|{node}", ds.id)));
    m.insert("instance_id".into(), json!(ds.id));
    m.insert("master_id".into(), json!(master_id(&ds.id)));
    m.insert("type".into(), json!("Dataset"));
    m.insert("title".into(), json!(ds.title));
    m.insert("number_of_files".into(), json!(ds.files));
    m.insert("size".into(), json!(ds.bytes));
    m.insert("variable".into(), json!(ds.variables));
    m.insert("access".into(), json!(["OPENDAP", "HTTPServer", "THREDDS"]));
    m.insert(
        "url".into(),
        json!([
            format!("{base}/catalog.xml#{}|application/xml+thredds|THREDDS", ds.id),
            format!("{base}/opendap/{}.html|application/opendap-html|OPENDAP", ds.id),
        ]),
    );
    Value::Object(m)
}

fn file_doc(e: &Summary, ds: &Dataset, f: &SourceFile, base: &str, node: &str, is_latest: bool) -> Value {
    let name = f.rel.rsplit('/').next().unwrap_or(&f.rel);
    let mut m = common(e, node, is_latest);
    let instance = format!("{}.{name}", ds.id);
    m.insert("id".into(), json!(format!("{instance}|{node}")));
    m.insert("instance_id".into(), json!(instance));
    m.insert("master_id".into(), json!(format!("{}.{name}", master_id(&ds.id))));
    m.insert("dataset_id".into(), json!(format!("{}|{node}", ds.id)));
    m.insert("type".into(), json!("File"));
    m.insert("title".into(), json!(name));
    m.insert("size".into(), json!(f.size));
    m.insert("timestamp".into(), json!(crate::http::iso8601(f.mtime)));
    // a single-file dataset is its own OPeNDAP dataset; a file of a joined one is
    // served alone at its path
    let dap = if ds.files.len() == 1 { ds.id.as_str() } else { f.rel.as_str() };
    m.insert(
        "url".into(),
        json!([
            format!("{base}/files/{}|application/netcdf|HTTPServer", f.rel),
            format!("{base}/opendap/{dap}.html|application/opendap-html|OPENDAP"),
        ]),
    );
    Value::Object(m)
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("{message}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}
