//! HTML pages of the OPeNDAP front-end: the dataset request form (`.html`), the
//! description page (`.info`) and the list of datasets.

use super::protocol_headers;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response};
use cirrus_ops::encode::dap2::{dap2_type, dap_dims, View};
use cirrus_ops::encode::text::html_escape as esc;
use cirrus_ops::{AttrValue, Catalog};
use std::fmt::Write;

fn page(title: &str, body: &str) -> Response<Body> {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}}code,pre{{background:#f4f4f4}}\
input[type=text]{{width:10em}}</style></head><body>{body}</body></html>\n",
        esc(title)
    );
    let mut r = Response::new(Body::from(html));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    protocol_headers(r.headers_mut());
    r
}

fn attr_text(v: &AttrValue) -> String {
    match v {
        AttrValue::Text(s) => s.clone(),
        AttrValue::Str(v) => v.join(", "),
        other => other
            .as_f64s()
            .unwrap_or_default()
            .iter()
            .map(|x| cirrus_ops::encode::text::f64_str(*x))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The request form of a dataset: pick variables and index ranges, get a URL.
pub fn form(view: &View) -> Response<Body> {
    let ds = view.ds;
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>OPeNDAP dataset access form</h1><p><b>{}</b><br>{}</p>\
<p>Data URL: <input id=\"url\" type=\"text\" style=\"width:60em\" readonly></p>\
<p><button onclick=\"go('ascii')\">Get ASCII</button> <button onclick=\"go('dods')\">Get binary (.dods)</button> \
<a href=\"{id}.dds\">DDS</a> · <a href=\"{id}.das\">DAS</a> · <a href=\"{id}.info\">info</a></p><table><tr><th></th><th>variable</th><th>type and shape</th><th>indices start:stride:stop</th></tr>",
        esc(&ds.id),
        esc(&ds.title),
        id = esc(ds.id.rsplit('/').next().unwrap_or(&ds.id))
    );
    for (i, n) in view.nodes.iter().enumerate() {
        let v = n.var();
        let (dims, shape) = dap_dims(v);
        let t = dap2_type(v.dtype).map_or("", |t| t.name());
        let shape_txt: String = dims.iter().zip(shape).map(|(d, n)| format!("[{} = {n}]", esc(d))).collect();
        let inputs: String = shape
            .iter()
            .enumerate()
            .map(|(d, n)| format!("<input type=\"text\" id=\"r{i}_{d}\" value=\"0:1:{}\">", n.saturating_sub(1)))
            .collect();
        let _ = write!(
            b,
            "<tr><td><input type=\"checkbox\" id=\"c{i}\" data-name=\"{}\" data-rank=\"{}\" onchange=\"upd()\"></td><td>{}</td><td>{t} {shape_txt}</td><td>{inputs}</td></tr>",
            esc(&cirrus_ops::encode::dap2::escape_name(&v.name)),
            shape.len(),
            esc(&v.name)
        );
    }
    b.push_str("</table>");
    if !view.omitted.is_empty() {
        let names: Vec<String> =
            view.omitted.iter().map(|v| format!("{} ({})", esc(&v.name), v.dtype.cdl_name())).collect();
        let _ = write!(b, "<p>Not available through DAP2 (use DAP4): {}</p>", names.join(", "));
    }
    b.push_str(
        "<script>const base=location.href.replace(/\\.html(\\?.*)?$/,'').replace(/\\?.*$/,'');\
function ce(){const p=[];document.querySelectorAll('input[type=checkbox]').forEach(c=>{if(!c.checked)return;\
const i=c.id.slice(1);let s=c.dataset.name;for(let d=0;d<+c.dataset.rank;d++){s+='['+document.getElementById('r'+i+'_'+d).value+']'}p.push(s)});return p.join(',')}\
function upd(){document.getElementById('url').value=base+'.dods?'+ce()}\
function go(k){location.href=base+'.'+k+'?'+ce()}upd();</script>",
    );
    page(&ds.id, &b)
}

/// The description of a dataset: global attributes and variables with theirs.
pub fn info(view: &View) -> Response<Body> {
    let ds = view.ds;
    let mut b = format!("<h1>{}</h1><p>{}</p><h2>Global attributes</h2><table>", esc(&ds.id), esc(&ds.title));
    for a in &ds.attrs {
        let _ = write!(b, "<tr><th>{}</th><td><pre>{}</pre></td></tr>", esc(&a.name), esc(&attr_text(&a.value)));
    }
    b.push_str("</table><h2>Variables</h2>");
    for v in &ds.vars {
        let dims: Vec<String> = v.dims.iter().zip(&v.shape).map(|(d, n)| format!("{d} = {n}")).collect();
        let _ = write!(b, "<h3>{} {}({})</h3><table>", v.dtype.cdl_name(), esc(&v.name), esc(&dims.join(", ")));
        for a in &v.attrs {
            let _ = write!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(&a.name), esc(&attr_text(&a.value)));
        }
        b.push_str("</table>");
    }
    if !ds.files.is_empty() {
        b.push_str("<h2>Files</h2><ul>");
        for f in &ds.files {
            let _ = write!(b, "<li>{} ({} bytes)</li>", esc(&f.rel), f.size);
        }
        b.push_str("</ul>");
    }
    page(&ds.id, &b)
}

/// The list of datasets with links to their forms.
pub fn index(catalog: &Catalog) -> Response<Body> {
    let mut b = String::from("<h1>OPeNDAP datasets</h1><ul>");
    for (id, s) in &catalog.summaries {
        let _ = write!(b, "<li><a href=\"/opendap/{}.html\">{}</a> — {}</li>", esc(id), esc(id), esc(&s.title));
    }
    b.push_str("</ul>");
    page("OPeNDAP datasets", &b)
}

/// The DAP4 request form: pick variables and slices, get a `.dap` (or `.nc`) URL.
pub fn form4(ds: &cirrus_ops::Dataset) -> Response<Body> {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>OPeNDAP DAP4 dataset access form</h1><p><b>{}</b><br>{}</p>\
<p>Data URL: <input id=\"url\" type=\"text\" style=\"width:60em\" readonly></p>\
<p><button onclick=\"go('dap')\">Get DAP4 data (.dap)</button> <button onclick=\"go('dmr')\">Get DMR</button></p>\
<table><tr><th></th><th>variable</th><th>type and shape</th><th>slices start:stride:stop</th></tr>",
        esc(&ds.id),
        esc(&ds.title)
    );
    for (i, v) in ds.vars.iter().enumerate() {
        let shape_txt: String = v.dims.iter().zip(&v.shape).map(|(d, n)| format!("[{} = {n}]", esc(d))).collect();
        let inputs: String = v
            .shape
            .iter()
            .enumerate()
            .map(|(d, n)| format!("<input type=\"text\" id=\"r{i}_{d}\" value=\"0:1:{}\">", n.saturating_sub(1)))
            .collect();
        let _ = write!(
            b,
            "<tr><td><input type=\"checkbox\" id=\"c{i}\" data-name=\"{}\" data-rank=\"{}\" onchange=\"upd()\"></td><td>{}</td><td>{} {shape_txt}</td><td>{inputs}</td></tr>",
            esc(&format!("/{}", v.name)),
            v.shape.len(),
            esc(&v.name),
            v.dtype.cdl_name()
        );
    }
    b.push_str(
        "</table><script>const base=location.href.replace(/\\.dmr\\.html(\\?.*)?$/,'');\
function ce(){const p=[];document.querySelectorAll('input[type=checkbox]').forEach(c=>{if(!c.checked)return;\
const i=c.id.slice(1);let s=c.dataset.name;for(let d=0;d<+c.dataset.rank;d++){s+='['+document.getElementById('r'+i+'_'+d).value+']'}p.push(s)});return p.join(';')}\
function upd(){const c=ce();document.getElementById('url').value=base+'.dap'+(c?'?dap4.ce='+encodeURIComponent(c):'')}\
function go(k){const c=ce();location.href=base+'.'+k+(c?'?dap4.ce='+encodeURIComponent(c):'')}upd();</script>",
    );
    page(&ds.id, &b)
}
