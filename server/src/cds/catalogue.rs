//! The catalogue API (no key needed): messages, the collections with their request
//! vocabulary (the words of the datasets served, how they map to DRS facets), the CDS
//! form and constraints documents.

use super::{api_base, blocking, collection as lookup, json_response, vocabulary, CdsError};
use crate::access::Access;
use crate::state::{AppState, State};
use axum::body::Body;
use axum::extract::{Path, State as StateX};
use axum::http::{HeaderMap, Response, StatusCode};
use cirrus_capabilities::cds::{collections as all_collections, rule_descriptions, Collection};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::time::SystemTime;

fn respond(r: Result<Response<Body>, CdsError>) -> Response<Body> {
    r.unwrap_or_else(|e| e.response())
}

/// `GET /catalogue/v1/messages`.
pub async fn messages() -> Response<Body> {
    json_response(StatusCode::OK, &json!({"messages": []}))
}

fn iso(t: SystemTime) -> String {
    crate::http::iso8601(t)
}

fn doc(st: &AppState, access: &Access, c: &Collection, api: &str, full: bool) -> Value {
    let items = vocabulary::items(access, c);
    let (time, bbox, modified) = vocabulary::extent(&items);
    // no visible data: no publication time (not "now", which differs per request and server)
    let published = items.iter().map(|i| i.dataset.last_modified).min();
    let interval = time.map_or(json!([null, null]), |(a, b)| json!([format!("{a}Z"), format!("{b}Z")]));
    let base = format!("{api}/catalogue/v1/collections/{}", c.id);
    let mut d = json!({
        "type": "Collection",
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "keywords": c.keywords,
        "license": "various",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [interval]}},
        "published": published.map(iso),
        "updated": modified.or(published).map(iso),
        "links": [
            {"href": base, "rel": "self", "type": "application/json"},
            {"href": format!("{api}/retrieve/v1/processes/{}", c.id), "rel": "retrieve", "type": "application/json"},
            {"href": format!("{base}/form.json"), "rel": "form", "type": "application/json"},
            {"href": format!("{base}/constraints.json"), "rel": "constraints", "type": "application/json"},
        ],
        "cirrus:datasets": items.len(),
    });
    if full {
        let summaries: Map<String, Value> =
            vocabulary::summaries(st, c, &items).into_iter().map(|(k, w)| (k, json!(w))).collect();
        let rules = rule_descriptions();
        let keys: Vec<Value> = c
            .keys
            .iter()
            .map(|k| {
                json!({"name": k.name, "label": k.label, "required": k.required, "drs_facet": k.facet, "part": k.part,
                       "table": k.table, "rule": k.rule, "rule_description": serde_json::to_value(k.rule).ok().and_then(|r| r.as_str().and_then(|r| rules.get(r).cloned()))})
            })
            .collect();
        d["summaries"] = Value::Object(summaries);
        d["cirrus:vocabulary"] = json!({
            "keys": keys, "level": c.level, "index": c.index, "time_keys": c.time_keys, "formats": c.formats,
            "default_format": c.default_format, "area": "[North, West, South, East] in degrees"
        });
    }
    d
}

/// `GET /catalogue/v1/collections` (and `/datasets`).
pub async fn collections(StateX(st): StateX<State>, access: Access, headers: HeaderMap) -> Response<Body> {
    let api = api_base(&st, &headers);
    respond(
        async {
            let st2 = st.clone();
            let api2 = api.clone();
            let docs = blocking(move || {
                Ok(all_collections().iter().map(|c| doc(&st2, &access, c, &api2, false)).collect::<Vec<_>>())
            })
            .await?;
            let n = docs.len();
            Ok(json_response(
                StatusCode::OK,
                &json!({"collections": docs, "numberMatched": n, "numberReturned": n,
                        "links": [{"href": format!("{api}/catalogue/v1/collections"), "rel": "self"}]}),
            ))
        }
        .await,
    )
}

/// The collection with its vocabulary.
async fn collection_doc(st: &State, access: Access, id: &str, headers: &HeaderMap) -> Result<Value, CdsError> {
    let c = lookup(id)?;
    let api = api_base(st, headers);
    let st2 = st.clone();
    blocking(move || Ok(doc(&st2, &access, c, &api, true))).await
}

/// `GET /catalogue/v1/collections/{id}`.
pub async fn collection(
    StateX(st): StateX<State>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    respond(collection_doc(&st, access, &id, &headers).await.map(|d| json_response(StatusCode::OK, &d)))
}

/// `GET /catalogue/v1/collections/{id}/form.json`: the CDS download form.
pub async fn form(StateX(st): StateX<State>, access: Access, Path(id): Path<String>) -> Response<Body> {
    respond(
        async {
            let c = lookup(&id)?;
            let st2 = st.clone();
            let widgets = blocking(move || {
                let items = vocabulary::items(&access, c);
                let mut w: Vec<Value> = vocabulary::summaries(&st2, c, &items)
                    .into_iter()
                    .map(|(name, values)| {
                        let label = c.key(&name).map_or_else(|| name.clone(), |k| k.label.clone());
                        let labels: Map<String, Value> = values.iter().map(|v| (v.clone(), json!(v))).collect();
                        json!({"name": name, "label": label, "type": "StringListWidget",
                               "required": c.key(&name).is_some_and(|k| k.required),
                               "details": {"values": values, "labels": labels}})
                    })
                    .collect();
                if c.time_keys.iter().any(|k| k == "date") {
                    w.push(json!({"name": "date", "label": "Date", "type": "DateRangeWidget", "required": false}));
                }
                w.push(json!({"name": "area", "label": "Area", "type": "GeographicExtentWidget", "required": false,
                              "details": {"default": [90, -180, -90, 180]}}));
                w.push(json!({"name": "format", "label": "Format", "type": "StringChoiceWidget", "required": true,
                              "details": {"values": c.formats, "default": [c.default_format]}}));
                Ok(w)
            })
            .await?;
            Ok(json_response(StatusCode::OK, &Value::Array(widgets)))
        }
        .await,
    )
}

/// `GET /catalogue/v1/collections/{id}/constraints.json`: the valid combinations (one
/// per dataset).
pub async fn constraints(access: Access, Path(id): Path<String>) -> Response<Body> {
    respond(
        async {
            let c = lookup(&id)?;
            let list = blocking(move || {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for it in vocabulary::items(&access, c) {
                    let combo: Map<String, Value> =
                        c.keys.iter().zip(&it.words).map(|(k, w)| (k.name.clone(), json!([w]))).collect();
                    if seen.insert(Value::Object(combo.clone()).to_string()) {
                        out.push(Value::Object(combo));
                    }
                }
                Ok(out)
            })
            .await?;
            Ok(json_response(StatusCode::OK, &Value::Array(list)))
        }
        .await,
    )
}
