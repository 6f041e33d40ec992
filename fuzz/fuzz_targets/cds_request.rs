//! CDS API requests: the JSON body of `POST .../processes/{id}/execution` and
//! `.../constraints` (`cds::retrieve::request_inputs`, `{"inputs": {...}}`) or of the
//! legacy `POST /v2/resources/{name}` (the request object itself); then, for each CDS
//! collection, `cds::vocabulary::constraints` and `cds::vocabulary::resolve` over the
//! fixture catalog, and the subset inputs a request resolves to are validated and
//! sized as a job's would be.

#![no_main]

use cirrus_server::cds::{retrieve, vocabulary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let request: Map<String, Value> = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(m)) if !m.contains_key("inputs") => m,
        _ => match retrieve::request_inputs(data) {
            Ok(m) => m,
            Err(e) => {
                let _ = e.response();
                return;
            }
        },
    };
    let st = cirrus_fuzz::state();
    let access = cirrus_fuzz::anonymous();
    for c in cirrus_capabilities::cds::collections() {
        if let Err(e) = vocabulary::constraints(st, &access, c, &request) {
            let _ = e.response();
        }
        match vocabulary::resolve(st, &access, c, &request) {
            Ok(r) => cirrus_fuzz::ops::check("subset", &r.inputs),
            Err(e) => {
                let _ = e.response();
            }
        }
    }
});
