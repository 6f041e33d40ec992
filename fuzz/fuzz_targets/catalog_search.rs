//! Catalog searches: the query of `/datasets` (`datasets::list_query`), of the ESGF
//! search API (`esgf::parse`) and of the web page (`web::web_query`), then the search
//! itself and every name resolution
//! (`Catalog::get` on the raw input: aliases, `|node`, `latest`, paths) on the fixture
//! catalog.

#![no_main]

use cirrus_server::{datasets, esgf, web};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: cirrus_fuzz::init(), |data: &[u8]| {
    let Some(query) = cirrus_fuzz::text(data) else { return };
    let cat = cirrus_fuzz::state().catalog_all();
    if let Ok(q) = datasets::list_query(&cat, query) {
        let found = cat.search(&q);
        assert!(found.page.len() <= q.limit.max(1));
    }
    if let Ok(s) = esgf::parse(&cat, query) {
        let _ = cat.search(&s.query);
    }
    if let Ok(q) = web::web_query(query) {
        let (matched, _) = web::web_search(&cat, &q);
        assert!(matched.len() <= cat.summaries.len());
    }
    let _ = cat.get(query);
});
