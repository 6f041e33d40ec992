//! NetCDF file responses (`.nc` NetCDF-4, `.nc3` classic) of a DAP2 or DAP4
//! constrained request, or of the whole dataset: coordinates, bounds and grid mappings
//! come along, sliced consistently; `history` gets a line.

use super::{constraint, constraint4, dap2, dap4, Kind};
use crate::http::{file::serve_file, Validators};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Response};
use cirrus_ops::encode::dap2::View;
use cirrus_ops::encode::netcdf::{write_netcdf, NcOptions};
use cirrus_ops::netcdf_io::writer::Format;
use cirrus_ops::{Dataset, Error, Result, Selection};
use std::sync::Arc;

/// The selection of a DAP2 or DAP4 query (the one DAP2 and DAP4 responses use), made
/// consistent for a file: one selection per dimension, CF companions along.
fn selection(ds: &Dataset, query: &str) -> Result<Selection> {
    let params = dap4::params(query)?;
    let sel = if query.split('&').any(|p| p.starts_with("dap4.ce=")) {
        let clauses = constraint4::parse(&params.ce).map_err(|e| Error::bad(e.0))?;
        dap4::selection(ds, &clauses)?
    } else {
        let projections = constraint::parse(query).map_err(|e| Error::bad(e.0))?;
        if projections.is_empty() {
            Selection::all(ds)
        } else {
            dap2::request(&View::for_files(ds), &projections)?.sel
        }
    };
    sel.for_file(ds)
}

/// The file name offered for download.
fn download_name(ds: &Dataset, ext: &str) -> String {
    let last = ds.id.rsplit('/').next().unwrap_or(&ds.id);
    let stem = if ds.facets.is_empty() { last.rsplit_once('.').map_or(last, |(s, _)| s) } else { last };
    format!("{stem}.{ext}")
}

/// Answer a `.nc`/`.nc3` request.
pub async fn respond(
    st: &AppState,
    ds: Arc<Dataset>,
    kind: Kind,
    query: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Response<Body> {
    match respond_inner(st, ds, kind, query, method, headers).await {
        Ok(r) => r,
        Err(e) => super::dap2_error(&e),
    }
}

async fn respond_inner(
    st: &AppState,
    ds: Arc<Dataset>,
    kind: Kind,
    query: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response<Body>> {
    let (format, ext) = if kind == Kind::Nc3 { (Format::Classic, "nc") } else { (Format::Netcdf4, "nc") };
    let subset = selection(&ds, query)?;
    let size = subset.size(&ds);
    let limit = st.config.max_response_bytes;
    if size > limit {
        return Err(Error::TooLarge { size, limit });
    }
    let key = format!("{}|{}|{kind:?}|{query}", ds.id, ds.etag);
    let stamp = cirrus_ops::clock::output_iso8601();
    let history = format!(
        "{stamp} {}: {} of {}{}",
        super::SERVER_VERSION,
        if query.is_empty() { "copy" } else { "subset" },
        ds.id,
        if query.is_empty() { String::new() } else { format!(" ({})", constraint::unescape(query)) }
    );
    let reader = st.engine.reader.clone();
    let ds2 = ds.clone();
    let (path, stamp) = st
        .responses
        .get_or_create(&key, ext, &stamp, move |path| {
            let opts = NcOptions { format, history, ..NcOptions::default() };
            write_netcdf(&reader, &ds2, &subset, path, &opts)
        })
        .await?;
    // the stamp (the file's history time) makes the strong validator name these exact bytes
    let validators = Validators::new(&ds.etag, &format!("{kind:?}?{query}|{stamp}"), ds.last_modified);
    let content_type = if format == Format::Netcdf4 { "application/x-netcdf4" } else { "application/x-netcdf" };
    let mut r = serve_file(&path, method, headers, content_type, &download_name(&ds, ext), &validators).await?;
    super::protocol_headers(r.headers_mut());
    Ok(r)
}
