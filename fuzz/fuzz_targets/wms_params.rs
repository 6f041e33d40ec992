//! WMS requests (`GET /wms?...`): `wms::Params::parse`, `wms::Version::of`,
//! `wms::MapRequest::parse` (GetMap and GetFeatureInfo parameters) and
//! `wms::style::parse`/`look` (STYLES, COLORSCALERANGE, NUMCOLORBANDS, ...) on every
//! input; then the whole handler `wms::get` (GetMap, GetFeatureInfo with I/J,
//! GetLegendGraphic, GetMetadata, TIME and ELEVATION) for images of at most
//! `MAX_PIXELS`, so that drawing stays fast. GetCapabilities is left out (it takes no
//! parameters worth fuzzing and lists every layer).

#![no_main]

use axum::extract::{RawQuery, State as StateX};
use axum::http::HeaderMap;
use cirrus_server::wms::{self, style, MapRequest, Params, Version};
use libfuzzer_sys::fuzz_target;

const MAX_PIXELS: usize = 1 << 16;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(query) = cirrus_fuzz::text(data) else { return };
    let p = Params::parse(query);
    let version = Version::of(&p);
    let _ = MapRequest::parse(&p, version);
    if let Ok(choice) = style::parse(p.get("STYLES").or_else(|| p.get("STYLE"))) {
        let _ = style::look(&p, choice, [0, 0, 0, 0]);
    }
    let request = p.get("REQUEST").unwrap_or("GetCapabilities").to_ascii_lowercase();
    if matches!(request.as_str(), "getcapabilities" | "capabilities") {
        return;
    }
    let side = |name: &str| p.size(name).ok().flatten().unwrap_or(0);
    if side("WIDTH").saturating_mul(side("HEIGHT")) > MAX_PIXELS {
        return;
    }
    let st = cirrus_fuzz::state().clone();
    let response =
        cirrus_fuzz::runtime().block_on(wms::get(StateX(st), cirrus_fuzz::anonymous(), RawQuery(Some(query.to_string())), HeaderMap::new()));
    let _ = response.status();
});
