//! DAP2 responses: translate the constraint expression into the engine's request (a
//! `Selection` and its grouping into Arrays, Grids and Structures) and answer with the
//! DDS, DAS, data, ASCII or HTML encoders.

use super::constraint::{self, Projection};
use super::{dap2_error, html, protocol_headers, Kind};
use crate::http::{stream, Validators};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response};
use cirrus_ops::encode::dap2::{self as enc, dap_dims, Item, Node, View};
use cirrus_ops::{Dataset, DimRange, Error, Hyperslab, Result, Variable};
use std::sync::Arc;

/// Block size for reading while streaming.
const BLOCK_BYTES: usize = 4 << 20;

/// A DAP2 request on one dataset.
pub struct Request<'a> {
    pub state: &'a AppState,
    pub dataset: Arc<Dataset>,
    pub kind: Kind,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// A HEAD request: answer with the headers only.
    pub head: bool,
}

/// The slab of a variable's DAP2 shape from index specifications (fewer indices than
/// dimensions select the remaining dimensions whole).
pub(super) fn slab(var: &Variable, indices: &[constraint::Index]) -> Result<Hyperslab> {
    let (dims, shape) = dap_dims(var);
    if indices.len() > dims.len() {
        return Err(Error::RankMismatch { variable: var.name.clone(), rank: dims.len(), given: indices.len() });
    }
    let dv = Variable { dims: dims.to_vec(), shape: shape.to_vec(), ..var.clone() };
    let mut ranges = Vec::with_capacity(dims.len());
    for (d, &n) in shape.iter().enumerate() {
        ranges.push(match indices.get(d) {
            Some(i) => DimRange::from_inclusive(&dv, d, i.start, i.stride, i.stop)?,
            None => DimRange::full(n),
        });
    }
    Ok(Hyperslab(ranges))
}

/// Translate parsed projections into the engine's request (its selection, and the
/// projected variables grouping it).
pub fn request(view: &View, projections: &[Projection]) -> Result<enc::Request> {
    if projections.is_empty() {
        return enc::Request::all(view);
    }
    let mut items: Vec<Item> = Vec::new();
    for p in projections {
        // A dotted name may itself be a variable name ("a.b").
        let joined: String = p.path.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(".");
        let (top, member) = if p.path.len() > 1 && view.node(&joined).is_ok() {
            let last = p.path.last().map(|c| c.indices.clone()).unwrap_or_default();
            (constraint::Component { name: joined, indices: last }, None)
        } else {
            match p.path.as_slice() {
                [a] => (a.clone(), None),
                [a, b] => {
                    if !a.indices.is_empty() {
                        return Err(Error::bad(format!(
                            "'{}' is a Grid: give indices on its member, not on the Grid itself",
                            a.name
                        )));
                    }
                    (a.clone(), Some(b.clone()))
                }
                _ => return Err(Error::bad(format!("'{joined}' names no variable: only Grids have members here"))),
            }
        };
        let node = view.node(&top.name)?;
        items.push(match member {
            None => Item::Whole { var: node.var().name.clone(), slab: slab(node.var(), &top.indices)? },
            Some(m) => {
                let mvar = match node {
                    Node::Grid { array, maps } => std::iter::once(*array)
                        .chain(maps.iter().copied())
                        .find(|v| v.name == m.name || v.name.replace('/', "_") == m.name),
                    Node::Array(v) => Some(*v).filter(|v| v.name == m.name),
                }
                .ok_or_else(|| Error::bad(format!("'{}' has no member '{}'", top.name, m.name)))?;
                Item::Members {
                    grid: node.var().name.clone(),
                    members: vec![(mvar.name.clone(), slab(mvar, &m.indices)?)],
                }
            }
        });
    }
    enc::Request::new(view, &items)
}

fn text_response(body: impl Into<Body>, description: &'static str, v: &Validators) -> Response<Body> {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("content-description", HeaderValue::from_static(description));
    protocol_headers(h);
    v.apply(h);
    r
}

/// Answer a DAP2 request.
pub async fn respond(req: Request<'_>) -> Response<Body> {
    match respond_inner(req).await {
        Ok(r) => r,
        Err(e) => dap2_error(&e),
    }
}

async fn respond_inner(req: Request<'_>) -> Result<Response<Body>> {
    let ds = req.dataset.clone();
    let validators = Validators::weak(&ds.etag, &format!("{:?}?{}", req.kind, req.query), ds.last_modified);
    if let Kind::Dds | Kind::Das = req.kind {
        // metadata documents come from the cache, keyed by dataset version and request
        let key = format!("dap2|{:?}|{}|{}|{}", req.kind, ds.id, ds.etag, req.query);
        let doc = req.state.cached_doc(key, || {
            let projections = constraint::parse(req.query).map_err(|e| Error::bad(e.0))?;
            let view = View::new(&ds);
            let request = request(&view, &projections)?;
            if req.kind == Kind::Dds {
                enc::dds(&view, &request)
            } else {
                Ok(enc::das(&view))
            }
        })?;
        if validators.not_modified(req.headers) {
            return Ok(validators.not_modified_response());
        }
        let description = if req.kind == Kind::Dds { "dods_dds" } else { "dods_das" };
        return Ok(text_response(doc, description, &validators));
    }
    let projections = constraint::parse(req.query).map_err(|e| Error::bad(e.0))?;
    let view = View::new(&ds);
    let request = request(&view, &projections)?;
    if validators.not_modified(req.headers) {
        return Ok(validators.not_modified_response());
    }
    match req.kind {
        Kind::Html => Ok(html::form(&view)),
        Kind::Info => Ok(html::info(&view)),
        // (.dds and .das are answered above, from the metadata cache)
        Kind::Dds
        | Kind::Das
        | Kind::Ver
        | Kind::Dmr
        | Kind::DmrHtml
        | Kind::Dap
        | Kind::Dsr
        | Kind::Nc
        | Kind::Nc3 => Err(Error::Internal("not a DAP2 response".into())),
        Kind::Dods | Kind::Ascii => {
            let size = enc::response_size(&view, &request)?;
            let limit = req.state.config.max_response_bytes;
            if size > limit {
                return Err(Error::TooLarge { size, limit });
            }
            enc::dds(&view, &request)?; // validate before streaming
            let reader = req.state.engine.reader.clone();
            let kind = req.kind;
            let body = if req.head {
                Body::empty()
            } else {
                stream(req.state.turns.clone(), size, move |w| {
                    let view = View::new(&ds);
                    if kind == Kind::Dods {
                        enc::write_dods(&reader, &view, &request, w, BLOCK_BYTES)
                    } else {
                        enc::write_ascii(&reader, &view, &request, w, BLOCK_BYTES)
                    }
                })
                .await?
            };
            let mut r = Response::new(body);
            let h = r.headers_mut();
            if kind == Kind::Dods {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                h.insert("content-description", HeaderValue::from_static("dods_data"));
            } else {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                h.insert("content-description", HeaderValue::from_static("dods_ascii"));
            }
            protocol_headers(h);
            validators.apply(h);
            Ok(r)
        }
    }
}
