//! Zarr store paths: the store of the route (`zarr::store_of`), `zarr::split` (dataset
//! id and key) on the fixture catalog, the key parser of both formats
//! (`cirrus_ops::zarr::key::parse`), then the metadata document or the chunk the key
//! names in both layouts (chunks of up to 65536 values are made).

#![no_main]

use cirrus_ops::zarr::{key, Format, Key, Store};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(path) = cirrus_fuzz::text(data) else { return };
    let state = cirrus_fuzz::state();
    let cat = state.catalog_all();
    let first = path.split('/').next().unwrap_or_default();
    let _ = cirrus_server::zarr::store_of(first);
    for (format, layout) in cirrus_server::zarr::STORES {
        let Some((id, k)) = cirrus_server::zarr::split(&cat, path) else { continue };
        let Ok(k) = key::parse(format, k) else { continue };
        let Ok(entry) = cat.get(id) else { continue };
        let store = Store { ds: &entry.dataset, format, layout };
        match &k {
            Key::Chunk(var, index) => {
                if let Ok((v, slab)) = store.chunk_slab(var, index) {
                    if slab.len() <= 65536 {
                        let _ = store.chunk(&state.engine.reader, v, &slab);
                    }
                }
            }
            k => {
                let _ = store.document(k);
            }
        }
    }
    for format in [Format::V2, Format::V3] {
        let _ = cirrus_server::zarr::dataset_part(path, format);
    }
});
