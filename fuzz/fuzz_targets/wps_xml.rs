//! WPS XML requests (`POST /wps`, WPS 1.0.0 and 2.0): `wps::xml::parse`, then for an
//! Execute the same checks as before a job is recorded (see `wps_kvp`).

#![no_main]

use cirrus_server::wps::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(body) = cirrus_fuzz::text(data) else { return };
    match xml::parse(body.trim_start_matches('\u{feff}')) {
        Ok(req) => cirrus_fuzz::wps::check(req),
        Err(e) => {
            let _ = e.to_xml();
        }
    }
});
