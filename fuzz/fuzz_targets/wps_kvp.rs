//! WPS key-value-pair requests (`GET /wps?...`, form-encoded `POST /wps`):
//! `wps::kvp::parse`, then for an Execute what happens before a job is recorded: the
//! process (`wps::execute::process`), its inputs as the JSON map
//! (`wps::execute::inputs_map`), their validation against the catalog
//! (`cirrus_ops::process::run::validate`) and the size of the data they would read
//! (`input_bytes`); errors are rendered as exception reports. The input is also parsed
//! as a `DataInputs` value on its own (`wps::kvp::data_inputs`).

#![no_main]

use cirrus_server::wps::kvp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(query) = cirrus_fuzz::text(data) else { return };
    match kvp::parse(query) {
        Ok(req) => cirrus_fuzz::wps::check(req),
        Err(e) => {
            let _ = e.to_xml();
        }
    }
    let _ = kvp::data_inputs(query);
});
