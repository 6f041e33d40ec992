//! DAP4 responses: translate `dap4.ce` into an `ops` selection and answer with the DMR,
//! the chunked data, the dataset services document or the request form.

use super::constraint4::{self, Clause, Slice};
use super::{protocol_headers, Kind};
use crate::http::{stream, Validators};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use cirrus_ops::encode::dap4::{self as enc, ChunkWriter, DimSel, DmrOptions, Selection, VarSel};
use cirrus_ops::encode::text::xml_escape;
use cirrus_ops::{Dataset, DimRange, Error, Result, Variable};
use std::sync::Arc;

const BLOCK_BYTES: usize = 4 << 20;
const DMR_TYPE: &str = "application/vnd.opendap.dap4.dataset-metadata+xml; charset=utf-8";

/// A DAP4 request on one dataset.
pub struct Request<'a> {
    pub state: &'a AppState,
    pub dataset: Arc<Dataset>,
    pub kind: Kind,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// The request URL without query, for links.
    pub url: String,
    /// A HEAD request: answer with the headers only.
    pub head: bool,
}

/// The DAP4 query parameters.
#[derive(Debug, Default)]
pub struct Params {
    pub ce: String,
    pub checksum: bool,
}

/// Read `dap4.ce` and `dap4.checksum` from a URL query (checksums are on unless
/// `dap4.checksum=false`, as libnetcdf expects).
pub fn params(query: &str) -> Result<Params> {
    let mut p = Params { ce: String::new(), checksum: true };
    for pair in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = super::constraint::unescape(v);
        match super::constraint::unescape(k).as_str() {
            "dap4.ce" => p.ce = decode_ce(v),
            "dap4.checksum" => {
                p.checksum = match v.to_ascii_lowercase().as_str() {
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
                    other => return Err(Error::bad(format!("dap4.checksum must be true or false, not '{other}'"))),
                }
            }
            _ => {}
        }
    }
    Ok(p)
}

/// Undo extra rounds of percent-encoding: libnetcdf 4.9.0 encodes the constraint of a
/// URL two more times (`[` arrives as `%25255b`). A constraint never needs `%` itself
/// except in escaped names, so decode while only encoded syntax remains.
fn decode_ce(mut ce: String) -> String {
    for _ in 0..3 {
        let lower = ce.to_ascii_lowercase();
        let encoded_syntax = ["%5b", "%5d", "%3b", "%25"].iter().any(|e| lower.contains(e));
        if ce.contains('[') || !encoded_syntax {
            break;
        }
        ce = super::constraint::unescape(&ce);
    }
    ce
}

fn range(v: &Variable, d: usize, s: &Slice) -> Result<DimRange> {
    let stop = s.stop.unwrap_or_else(|| v.shape[d].saturating_sub(1));
    if v.shape[d] == 0 {
        return Err(Error::bad(format!("dimension '{}' of '{}' is empty", v.dims[d], v.name)));
    }
    DimRange::from_inclusive(v, d, s.start, s.stride, stop)
}

/// Translate constraint clauses into a selection of the dataset: shared-dimension
/// constraints (`/time=[0:9]`) become the selection's shared dimensions, explicit slices
/// a variable's own (declared as anonymous dimensions, as THREDDS answers); `[]` or no
/// slice keeps the shared dimension. Variables in dataset order.
pub fn selection(ds: &Dataset, clauses: &[Clause]) -> Result<Selection> {
    let mut sel = Selection::default();
    for c in clauses {
        if let Clause::Dim { path, slice } = c {
            let dim =
                ds.dim(path).ok_or_else(|| Error::bad(format!("no dimension '{path}' in dataset '{}'", ds.id)))?;
            let probe = Variable {
                name: path.clone(),
                dtype: cirrus_ops::DataType::I32,
                dims: vec![path.clone()],
                shape: vec![dim.len],
                attrs: vec![],
                chunks: None,
                filters: Vec::new(),
                joined: false,
            };
            sel.dims.insert(path.clone(), DimSel::Range(range(&probe, 0, slice)?));
        }
    }
    let mut any = false;
    for c in clauses {
        let Clause::Var { path, slices } = c else { continue };
        any = true;
        let v = ds.require_var(path)?;
        if !slices.is_empty() && slices.len() != v.shape.len() {
            return Err(Error::RankMismatch { variable: v.name.clone(), rank: v.shape.len(), given: slices.len() });
        }
        let mut own = Vec::with_capacity(v.shape.len());
        for d in 0..v.shape.len() {
            own.push(match slices.get(d) {
                Some(set) if !set.is_empty() => {
                    let runs = set.iter().map(|s| range(v, d, s)).collect::<Result<Vec<_>>>()?;
                    Some(if runs.len() == 1 { DimSel::Range(runs[0]) } else { DimSel::Runs(runs) })
                }
                _ => None,
            });
        }
        let vs = VarSel { name: v.name.clone(), own };
        match sel.vars.iter_mut().find(|s| s.name == vs.name) {
            Some(old) => *old = vs,
            None => sel.vars.push(vs),
        }
    }
    if !any {
        sel.vars = ds.vars.iter().map(|v| VarSel::shared(&v.name)).collect();
    }
    let pos = |n: &str| ds.vars.iter().position(|v| v.name == n).unwrap_or(usize::MAX);
    sel.vars.sort_by_key(|s| pos(&s.name));
    sel.validate(ds)
}

/// A DAP4 error response.
pub fn dap4_error(e: &Error) -> Response<Body> {
    let status = super::status_of(e);
    if status.is_server_error() {
        tracing::error!(error = %e, "request failed");
    }
    dap4_error_with(status, &e.to_string())
}

/// A DAP4 error response with an explicit status.
pub fn dap4_error_with(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(enc::error_xml(status.as_u16(), message)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.opendap.dap4.error+xml; charset=utf-8"),
    );
    protocol_headers(r.headers_mut());
    r
}

/// Answer a DAP4 request.
pub async fn respond(req: Request<'_>) -> Response<Body> {
    match respond_inner(req).await {
        Ok(r) => r,
        Err(e) => dap4_error(&e),
    }
}

fn xml_response(body: String, content_type: &'static str, v: &Validators) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    protocol_headers(r.headers_mut());
    r.headers_mut().insert("xdap", HeaderValue::from_static("4.0"));
    v.apply(r.headers_mut());
    r
}

/// Responses up to this size declare their checksums (`_DAP4_Checksum_CRC32`) in the
/// DMR they start with, which needs the data read twice; larger ones only append them.
const DECLARED_CHECKSUMS_BYTES: u64 = 256 << 20;

async fn respond_inner(req: Request<'_>) -> Result<Response<Body>> {
    let ds = req.dataset.clone();
    let validators = Validators::weak(&ds.etag, &format!("{:?}?{}", req.kind, req.query), ds.last_modified);
    let params = params(req.query)?;
    let clauses = constraint4::parse(&params.ce).map_err(|e| Error::bad(e.0))?;
    let sel = selection(&ds, &clauses)?;
    if validators.not_modified(req.headers) {
        return Ok(validators.not_modified_response());
    }
    match req.kind {
        Kind::Dmr => {
            let dmr = if params.checksum && !params.ce.is_empty() && req.query.contains("dap4.checksum") {
                // Declared checksums need the data: computed by reading it once.
                let (reader, ds2, sel2) = (req.state.engine.reader.clone(), ds.clone(), sel.clone());
                let ce = params.ce.clone();
                tokio::task::spawn_blocking(move || {
                    enc::dmr_with_checksums(
                        &reader,
                        &ds2,
                        &sel2,
                        DmrOptions { constraint: &ce, ..DmrOptions::default() },
                        BLOCK_BYTES,
                    )
                })
                .await
                .map_err(|e| Error::Internal(e.to_string()))??
            } else {
                let key = format!("dmr|{}|{}|{}", ds.id, ds.etag, req.query);
                let doc = req.state.cached_doc(key, || -> Result<String> {
                    Ok(enc::dmr(&ds, &sel, DmrOptions { constraint: &params.ce, ..DmrOptions::default() }).0)
                })?;
                String::from_utf8_lossy(&doc).into_owned()
            };
            Ok(xml_response(dmr, DMR_TYPE, &validators))
        }
        Kind::Dsr => Ok(xml_response(
            dsr(&req.url, &ds),
            "application/vnd.opendap.dap4.dataset-services+xml; charset=utf-8",
            &validators,
        )),
        Kind::DmrHtml => Ok(super::html::form4(&ds)),
        Kind::Dap => {
            let size = enc::response_size(&sel, &ds);
            let limit = req.state.config.max_response_bytes;
            if size > limit {
                return Err(Error::TooLarge { size, limit });
            }
            let reader = req.state.engine.reader.clone();
            let checksum = params.checksum;
            let ce = params.ce.clone();
            let body = if req.head {
                Body::empty()
            } else {
                stream(req.state.turns.clone(), size, move |w| {
                    let opts =
                        DmrOptions { little_endian: cfg!(target_endian = "little"), checksums: &[], constraint: &ce };
                    let (mut dmr, order) = enc::dmr(&ds, &sel, opts);
                    if checksum && size <= DECLARED_CHECKSUMS_BYTES {
                        // Declared in the DMR too: libnetcdf >= 4.9.3 expects checksums in
                        // the data only when the DMR declares them (costs a first read).
                        dmr = enc::dmr_with_checksums(&reader, &ds, &sel, opts, BLOCK_BYTES)?;
                    }
                    let mut cw = ChunkWriter::new(w);
                    cw.dmr(&dmr)?;
                    match enc::write_dap(&reader, &ds, &sel, &order, &mut cw, checksum, BLOCK_BYTES) {
                        Ok(()) => {
                            cw.finish()?;
                            Ok(())
                        }
                        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::Io(e)),
                        Err(e) => {
                            tracing::error!(error = %e, "DAP4 response failed mid-stream");
                            cw.fail(super::status_of(&e).as_u16(), &e.to_string())?;
                            Ok(())
                        }
                    }
                })
                .await?
            };
            let mut r = Response::new(body);
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.opendap.dap4.data"));
            protocol_headers(h);
            h.insert("xdap", HeaderValue::from_static("4.0"));
            validators.apply(h);
            Ok(r)
        }
        _ => Err(Error::Internal("not a DAP4 response".into())),
    }
}

/// The dataset services response: what can be asked of this dataset.
fn dsr(url: &str, ds: &Dataset) -> String {
    let base = url.trim_end_matches(".dsr.xml").trim_end_matches(".dsr");
    let link = |role: &str, title: &str, suffix: &str, t: &str| {
        format!(
            "    <Service title=\"{title}\" role=\"http://services.opendap.org/dap4/{role}\">\n        <link type=\"{t}\" href=\"{}{suffix}\"/>\n    </Service>\n",
            xml_escape(base)
        )
    };
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DatasetServices xmlns=\"http://xml.opendap.org/ns/DAP/4.0/dataset-services#\" xml:base=\"{}\">\n    <DapVersion>4.0</DapVersion>\n    <ServerSoftwareVersion>{}</ServerSoftwareVersion>\n",
        xml_escape(base),
        super::SERVER_VERSION
    );
    x.push_str(&link(
        "dataset-metadata",
        "DAP4 Dataset Metadata Response",
        ".dmr",
        "application/vnd.opendap.dap4.dataset-metadata+xml",
    ));
    x.push_str(&link("data", "DAP4 Data Response", ".dap", "application/vnd.opendap.dap4.data"));
    x.push_str(&link(
        "dataset-services",
        "DAP4 Dataset Services Response",
        ".dsr",
        "application/vnd.opendap.dap4.dataset-services+xml",
    ));
    x.push_str(&link("data-request-form", "DAP4 Data Request Form", ".dmr.html", "text/html"));
    x.push_str(&link("dap2-dds", "DAP2 DDS", ".dds", "text/plain"));
    x.push_str(&link("dap2-das", "DAP2 DAS", ".das", "text/plain"));
    x.push_str(&link("dap2-data", "DAP2 Data", ".dods", "application/octet-stream"));
    let _ = ds;
    x.push_str("</DatasetServices>\n");
    x
}
