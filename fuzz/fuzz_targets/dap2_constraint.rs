//! DAP2 constraint expressions (the query of `.dds`/`.dods`/`.ascii` requests):
//! `opendap::constraint::parse`, then, on every fixture dataset, the translation into
//! the engine request (`opendap::dap2::request`), the DDS, the response size, and for small
//! selections the `.dods` and `.ascii` encodings (reading the data).

#![no_main]

use cirrus_ops::encode::dap2::{self as enc, View};
use cirrus_server::opendap::{constraint, dap2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(query) = cirrus_fuzz::text(data) else { return };
    let Ok(projections) = constraint::parse(query) else { return };
    let st = cirrus_fuzz::state();
    for ds in cirrus_fuzz::datasets() {
        let view = View::new(ds);
        let Ok(req) = dap2::request(&view, &projections) else { continue };
        if enc::dds(&view, &req).is_err() {
            continue;
        }
        let Ok(size) = enc::response_size(&view, &req) else { continue };
        if size <= cirrus_fuzz::READ_LIMIT {
            let _ = enc::write_dods(&st.engine.reader, &view, &req, &mut std::io::sink(), 1 << 16);
            let _ = enc::write_ascii(&st.engine.reader, &view, &req, &mut std::io::sink(), 1 << 16);
        }
    }
});
