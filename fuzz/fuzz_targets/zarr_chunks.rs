//! Stored Zarr chunks decoded through the codecs of `read::zarr_store` (Blosc through
//! c-blosc, zlib, gzip, zstd, with or without shuffle) whatever their bytes: an error,
//! never a panic or an out-of-bounds access.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, raw)) = data.split_first() else { return };
    let compressor = ["blosc", "zlib", "gzip", "zstd"][usize::from(pick % 4)];
    let filters = if pick & 4 != 0 { json!([{"id": "shuffle", "elementsize": 4}]) } else { json!(null) };
    let n = usize::from(pick >> 3) + 1;
    let zarray = json!({"shape": [n * 3], "chunks": [n], "dtype": "<f4", "order": "C",
                        "compressor": {"id": compressor}, "filters": filters, "fill_value": 0});
    let _ = cirrus_ops::read::zarr_store::decode_v2_chunk(&zarray, raw);
});
