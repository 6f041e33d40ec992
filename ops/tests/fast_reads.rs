//! The direct readers (NetCDF-3, decoded HDF5 chunks through the cache, or straight
//! into the output for reads larger than a quarter of the cache) return exactly what
//! libnetcdf returns, for every variable of every test file, whole and in strided
//! slabs, cold and warm.

use cirrus_ops::read::Mode;
use cirrus_ops::{Catalog, DimRange, HeaderCache, Hyperslab, Reader};
use std::path::PathBuf;

fn shared() -> PathBuf {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    assert!(base.join("esgf").is_dir(), "shared data not found at {}", base.display());
    base
}

/// Equal values, bit for bit (NaN equals NaN).
fn same(a: &cirrus_ops::Data, b: &cirrus_ops::Data) -> bool {
    use cirrus_ops::Data as D;
    match (a, b) {
        (D::F32(x), D::F32(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
        (D::F64(x), D::F64(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
        _ => a == b,
    }
}

/// Strided slabs of a shape: the whole, every other index, and a middle piece.
fn slabs(shape: &[usize]) -> Vec<Hyperslab> {
    let mut out = vec![Hyperslab::full(shape)];
    if shape.iter().all(|&n| n > 0) {
        out.push(Hyperslab(
            shape.iter().map(|&n| DimRange { start: n / 3, stride: 2, count: (n - n / 3).div_ceil(2) }).collect(),
        ));
        out.push(Hyperslab(
            shape.iter().map(|&n| DimRange { start: n / 2, stride: 1, count: (n - n / 2).min(3) }).collect(),
        ));
    }
    out
}

#[test]
fn fast_paths_equal_library_reads() {
    let samples = tempfile::tempdir().expect("tmp");
    cirrus_testdata::write_samples(samples.path()).expect("samples");
    let roots = vec![shared().join("esgf"), samples.path().to_path_buf(), shared().join("peer-suites/tds-d4ts")];
    let cat = Catalog::build(&roots, &HeaderCache::default());
    let fast = Reader::new(64 << 20, Mode::Fast);
    // a cache of 1 KiB: reads of more than 256 bytes go past it
    let direct = Reader::new(1 << 10, Mode::Fast);
    let lib = Reader::new(0, Mode::Library);
    let mut checked = 0;
    for entry in cat.entries() {
        let ds = &entry.dataset;
        for v in ds.vars.iter().filter(|v| v.dtype.is_atomic()) {
            for slab in slabs(&v.shape) {
                if slab.len() > 20_000_000 {
                    continue;
                }
                let want = lib.read(ds, v, &slab).unwrap_or_else(|e| panic!("library read {} {}: {e}", ds.id, v.name));
                for (reader, pass) in [(&fast, "cold"), (&fast, "warm"), (&direct, "past the cache")] {
                    let got =
                        reader.read(ds, v, &slab).unwrap_or_else(|e| panic!("{pass} read {} {}: {e}", ds.id, v.name));
                    assert!(
                        got.shape == want.shape && same(&got.data, &want.data),
                        "{} {} {:?} differs ({pass})",
                        ds.id,
                        v.name,
                        slab
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "only {checked} reads checked");
    let stats = fast.stats();
    assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
    println!("{checked} reads equal; cache {stats:?}");
}
