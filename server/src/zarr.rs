//! Zarr over HTTP: every dataset as a Zarr v2 store with consolidated metadata at
//! `/zarr/<dataset id>/` and as a Zarr v3 store at `/zarr3/<dataset id>/` (the source's
//! chunks and codecs), and as the same two stores with large uncompressed chunks at
//! `/zarr-uncompressed/<id>/` and `/zarr3-uncompressed/<id>/`. Keys are
//! parsed by [`cirrus_ops::zarr::key`], documents and chunks made by
//! [`cirrus_ops::zarr::Store`]; this module finds the dataset (in the caller's view),
//! adds validators and answers absent keys with 404, as Zarr clients expect.

use crate::access::Access;
use crate::http::Validators;
use crate::ogcapi::status_problem as problem;
use crate::state::State;
use axum::body::Body;
use axum::extract::{Path, State as StateX};
use axum::http::{HeaderMap, Response, StatusCode, Uri};
use cirrus_ops::zarr::{self, Format, Key, KeyError, Layout, Store};
use cirrus_ops::Catalog;

/// The dataset id and the store key of a path: the longest leading part that names a
/// dataset of `catalog`, and what follows it.
pub fn split<'p>(catalog: &Catalog, path: &'p str) -> Option<(&'p str, &'p str)> {
    let path = path.trim_start_matches('/');
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| i)
        .chain(std::iter::once(path.len()))
        .rev()
        .find(|&i| catalog.contains(&path[..i]))
        .map(|i| (&path[..i], path.get(i + 1..).unwrap_or("")))
}

/// Why a key got no answer.
enum Failure {
    Key(KeyError),
    Engine(cirrus_ops::Error),
}

impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Self {
        Failure::Key(e)
    }
}

impl From<cirrus_ops::Error> for Failure {
    fn from(e: cirrus_ops::Error) -> Self {
        Failure::Engine(e)
    }
}

fn key_error(e: KeyError) -> Response<Body> {
    match e {
        KeyError::Bad(m) => problem(StatusCode::BAD_REQUEST, &m),
        KeyError::Missing(m) => problem(StatusCode::NOT_FOUND, &m),
    }
}

/// The route of a store of `format` and `layout` (`zarr`, `zarr3-uncompressed`).
pub fn route(format: Format, layout: Layout) -> &'static str {
    match (format, layout) {
        (Format::V2, Layout::Stored) => "zarr",
        (Format::V3, Layout::Stored) => "zarr3",
        (Format::V2, Layout::Uncompressed) => "zarr-uncompressed",
        (Format::V3, Layout::Uncompressed) => "zarr3-uncompressed",
    }
}

/// Every store a dataset is served as, each under its [`route`].
pub const STORES: [(Format, Layout); 4] = [
    (Format::V2, Layout::Stored),
    (Format::V3, Layout::Stored),
    (Format::V2, Layout::Uncompressed),
    (Format::V3, Layout::Uncompressed),
];

/// The store of a route's first path part (`zarr3` is the v3 store of stored chunks).
pub fn store_of(first: &str) -> Option<(Format, Layout)> {
    STORES.into_iter().find(|&(f, l)| route(f, l) == first)
}

/// `GET|HEAD /<route>/{*path}` of each of the [`STORES`].
pub async fn respond(
    StateX(st): StateX<State>,
    access: Access,
    Path(path): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    (format, layout): (Format, Layout),
) -> Response<Body> {
    let catalog = access.catalog.clone();
    let Some((id, key)) = split(&catalog, &path) else {
        // a dataset hidden from this caller (the store path names it only with its key)
        let all = st.catalog_all();
        if let Some(status) = split(&all, &path).and_then(|(id, _)| st.hidden_status(id, access.user.as_deref())) {
            st.metrics.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return crate::observe::refuse_hidden(crate::protocol::Protocol::Zarr, &uri, status);
        }
        return problem(StatusCode::NOT_FOUND, &format!("no dataset in '{path}'"));
    };
    let key = match zarr::key::parse(format, key) {
        Ok(k) => k,
        Err(e) => return key_error(e),
    };
    // validators differ between the stores (the same key holds other bytes in each)
    let (id, key_text) = (id.to_string(), format!("{}/{path}", route(format, layout)));
    let engine = st.engine.clone();
    let made = tokio::task::spawn_blocking(move || -> Result<(bytes::Bytes, bool, Validators), Failure> {
        let entry = catalog.get(&id)?;
        let ds = &entry.dataset;
        let store = Store { ds, format, layout };
        // documents may be sent gzip-encoded (weak validators), chunks never are
        let validators = match key {
            Key::Chunk(..) => Validators::new(&ds.etag, &key_text, ds.last_modified),
            _ => Validators::weak(&ds.etag, &key_text, ds.last_modified),
        };
        match &key {
            Key::Chunk(var, index) => {
                let (v, slab) = store.chunk_slab(var, index)?;
                Ok((store.chunk(&engine.reader, v, &slab)?, false, validators))
            }
            k => Ok((zarr::to_text(&store.document(k)?).into_bytes().into(), true, validators)),
        }
    })
    .await;
    let (bytes, json, validators) = match made {
        Ok(Ok(m)) => m,
        Ok(Err(Failure::Key(e))) => return key_error(e),
        Ok(Err(Failure::Engine(e))) => return problem(crate::protocol::status_of(&e), &e.to_string()),
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("worker failed: {e}")),
    };
    if validators.not_modified(&headers) {
        return validators.not_modified_response();
    }
    let mime = if json { "application/json" } else { "application/octet-stream" };
    let mut r = crate::http::file::bytes_with_ranges(bytes, mime, &validators, &headers);
    if !json {
        r.extensions_mut().insert(crate::http::Uncompressed);
    }
    r
}

/// The dataset part of a store path, for usage reports (without the catalog: what
/// precedes the last part that parses as a key of the store).
pub fn dataset_part(path: &str, format: Format) -> &str {
    let path = path.trim_matches('/');
    path.match_indices('/')
        .map(|(i, _)| i)
        .rev()
        .find(|&i| zarr::key::parse(format, &path[i + 1..]).is_ok())
        .map_or(path, |i| &path[..i])
}
