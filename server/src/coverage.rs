//! Direct downloads of coverages, without a job: `GET /coverage/{dataset id}/{variable}.tif`
//! (GeoTIFF, `cog=true` for a Cloud-Optimized GeoTIFF) and `.nc` (CF NetCDF-4), with
//! `time` (an instant or `start/end`), `bbox` (W,S,E,N degrees), `level`, `crs` (EPSG
//! code or PROJ string; default: the data's own grid), `resolution` or
//! `width`/`height`, `method` (nearest|bilinear). The work is in `cirrus_ops::regrid`;
//! files are kept in the response cache. Errors are problem+json (400, 404, 413).

use crate::access::Access;
use crate::http::status_problem as problem;
use crate::http::{file::serve_file, Validators};
use crate::state::{AppState, State};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State as StateX};
use axum::http::{HeaderMap, Method, Response, StatusCode};
use cirrus_ops::regrid::coverage::{Coverage, CoverageRequest, Format};
use cirrus_ops::Error;

/// Coverages larger than this are refused (413) whatever the response limit: they are
/// work for a job (the `reproject` and `regrid` processes).
const MAX_COVERAGE_BYTES: u64 = 2 << 30;

fn error_response(e: &Error) -> Response<Body> {
    // the variable is part of the coverage's path: a missing one is a missing resource
    let status = match e {
        Error::VariableNotFound { .. } => StatusCode::NOT_FOUND,
        _ => crate::protocol::status_of(e),
    };
    problem(status, &e.to_string())
}

/// Query parameters as (name, value) pairs, percent-decoded.
fn pairs(query: &str) -> Vec<(String, String)> {
    let dec = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k).to_ascii_lowercase(), dec(v)),
            None => (dec(p).to_ascii_lowercase(), String::new()),
        })
        .collect()
}

/// `GET /coverage/{dataset id}/{variable}.{tif|nc}`.
pub async fn handle(
    StateX(st): StateX<State>,
    access: Access,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response<Body> {
    match respond(&st, &access, &path, query.as_deref().unwrap_or(""), &method, &headers).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn respond(
    st: &AppState,
    access: &Access,
    path: &str,
    query: &str,
    method: &Method,
    headers: &HeaderMap,
) -> cirrus_ops::Result<Response<Body>> {
    let (id, file) = path
        .rsplit_once('/')
        .ok_or_else(|| Error::bad(format!("'{path}' is not {{dataset id}}/{{variable}}.tif or .nc")))?;
    let (var, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| Error::bad(format!("'{file}' has no extension: ask for {file}.tif or {file}.nc")))?;
    let format = Format::from_extension(ext)
        .ok_or_else(|| Error::bad(format!("'.{ext}' is not a coverage format: use .tif (GeoTIFF) or .nc (NetCDF)")))?;
    let ds = access.catalog.get(id)?.dataset.clone();
    ds.require_var(var)?;
    let req = CoverageRequest::from_query(&pairs(query))?;
    let reader = st.engine.reader.clone();
    let (ds2, var2) = (ds.clone(), var.to_string());
    let cov = tokio::task::spawn_blocking(move || Coverage::prepare(&reader, ds2, &var2, &req, format))
        .await
        .map_err(|e| Error::Internal(format!("worker failed: {e}")))??;
    let limit = st.config.max_response_bytes.min(MAX_COVERAGE_BYTES);
    if cov.bytes > limit {
        return Err(Error::TooLarge { size: cov.bytes, limit });
    }
    let key = format!("coverage|{}|{}|{file}|{query}", ds.id, ds.etag);
    let stamp = cirrus_ops::clock::output_iso8601();
    let history = format!(
        "{stamp} cirrus/{}: coverage {file} of {}{}",
        env!("CARGO_PKG_VERSION"),
        ds.id,
        if query.is_empty() { String::new() } else { format!(" ({query})") }
    );
    let engine = st.engine.clone();
    let ext = if format == Format::GeoTiff { "tif" } else { "nc" };
    let (out, stamp) = st
        .responses
        .get_or_create(&key, ext, &stamp, move |p| {
            let r = cov.write(&engine, p, &history);
            // a CRS GeoTIFF cannot hold (rotated pole) is also in the file's metadata
            let _ = std::fs::remove_file(format!("{}.aux.xml", p.display()));
            r
        })
        .await?;
    // the stamp (the file's history time) makes the strong validator name these exact bytes
    let validators = Validators::new(&ds.etag, &format!("coverage|{file}|{query}|{stamp}"), ds.last_modified);
    let content_type = match format {
        Format::GeoTiff => "image/tiff; application=geotiff",
        Format::NetCdf => "application/x-netcdf",
    };
    let last = ds.id.rsplit('/').next().unwrap_or(&ds.id);
    let name = format!("{var}_{}.{ext}", last.strip_suffix(".nc").unwrap_or(last));
    let mut r = serve_file(&out, method, headers, content_type, &name, &validators).await?;
    validators.apply(r.headers_mut());
    Ok(r)
}
