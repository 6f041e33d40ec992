//! DAP4 constraint expressions: a query with `dap4.ce=...&dap4.checksum=...` goes
//! through `opendap::dap4::params` (with its repeated percent-decoding), any other input
//! is taken as the decoded `dap4.ce` itself; then `opendap::constraint4::parse` and, on
//! every fixture dataset, `opendap::dap4::selection`, the DMR, and for small selections
//! the chunked `.dap` data (reading the data).

#![no_main]

use cirrus_ops::encode::dap4::{self as enc, ChunkWriter, DmrOptions};
use cirrus_server::opendap::{constraint4, dap4};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(input) = cirrus_fuzz::text(data) else { return };
    let (ce, checksum) = if input.contains("dap4.") {
        match dap4::params(input) {
            Ok(p) => (p.ce, p.checksum),
            Err(_) => return,
        }
    } else {
        (input.to_string(), true)
    };
    let Ok(clauses) = constraint4::parse(&ce) else { return };
    let st = cirrus_fuzz::state();
    for ds in cirrus_fuzz::datasets() {
        let Ok(sel) = dap4::selection(ds, &clauses) else { continue };
        let opts = DmrOptions { little_endian: true, checksums: &[], constraint: &ce };
        let (dmr, order) = enc::dmr(ds, &sel, opts);
        if enc::response_size(&sel, ds) <= cirrus_fuzz::READ_LIMIT {
            let mut w = ChunkWriter::new(std::io::sink());
            let _ = w.dmr(&dmr);
            if enc::write_dap(&st.engine.reader, ds, &sel, &order, &mut w, checksum, 1 << 16).is_ok() {
                let _ = w.finish();
            }
        }
    }
});
