//! OGC API - EDR queries: `<collection id>/<query>?<parameters>`. The path is split on
//! the fixture catalog, the parameters parsed (`cirrus_ops::edr::Query::parse`: WKT
//! `coords`, `datetime`, `z`, `bbox`, distances, `f`), resolved to cells
//! (`edr::Plan::new`), and for answers of up to 65536 values read and encoded as
//! CoverageJSON, GeoJSON and CSV.

#![no_main]

use cirrus_ops::edr::encode::Answer;
use cirrus_ops::edr::{Plan, Query, QueryType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(text) = cirrus_fuzz::text(data) else { return };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned())).collect();
    // the parsers alone, whatever the path
    let _ = cirrus_ops::edr::geometry::parse(query);
    let _ = cirrus_ops::edr::query::datetime(query);
    let _ = cirrus_ops::edr::query::z(query);
    let state = cirrus_fuzz::state();
    let cat = state.catalog_all();
    let Some((id, rest)) = cirrus_server::zarr::split(&cat, path) else { return };
    let Some(kind) = QueryType::parse(rest) else { return };
    let Ok(q) = Query::parse(kind, &pairs, None) else { return };
    let Ok(entry) = cat.get(id) else { return };
    let ds = &entry.dataset;
    let reader = &state.engine.reader;
    let Ok(plan) = Plan::new(reader, ds, &q) else { return };
    let _ = plan.selection(reader, ds).and_then(|s| s.for_file(ds));
    if plan.values_count() > 65536 {
        return;
    }
    let Ok(values) = plan.params.iter().map(|p| plan.values(reader, ds, p)).collect::<Result<Vec<_>, _>>() else {
        return;
    };
    let a = Answer { ds, plan: &plan, values };
    let _ = (a.coverage_json(), a.geojson(), a.csv());
});
