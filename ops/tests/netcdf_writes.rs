//! NetCDF-4 files whose chunks cirrus compresses itself (in parallel, written with
//! `H5Dwrite_chunk`) hold exactly the values of files written by libnetcdf alone, for
//! every variable of every test file, and for odd chunk shapes, unlimited dimensions and
//! blocks that cut across chunks.

use cirrus_ops::encode::netcdf::{write_file, write_netcdf, BlockSink, NcOptions, OutDim, OutFile, OutVar, VarSource};
use cirrus_ops::read::Mode;
use cirrus_ops::{Catalog, Data, DataType, HeaderCache, Hyperslab, Reader, Selection};
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    assert!(base.join("esgf").is_dir(), "shared data not found at {}", base.display());
    base
}

/// Every variable of the file at `path`, read by libnetcdf: (name, shape, values).
fn contents(path: &Path) -> Vec<(String, Vec<usize>, Data)> {
    let cat = Catalog::build(&[path.to_path_buf()], &HeaderCache::default());
    let lib = Reader::new(0, Mode::Library);
    let entry = cat.entries().next().unwrap_or_else(|| panic!("{} not readable", path.display()));
    let ds = entry.dataset.clone();
    ds.vars
        .iter()
        .map(|v| {
            let got = lib.read(&ds, v, &Hyperslab::full(&v.shape)).expect("read back");
            (v.name.clone(), v.shape.clone(), got.data)
        })
        .collect()
}

/// The chunk shape of a variable as stored.
fn chunks_of(path: &Path, var: &str) -> Option<Vec<usize>> {
    let cat = Catalog::build(&[path.to_path_buf()], &HeaderCache::default());
    let entry = cat.entries().next()?;
    entry.dataset.var(var)?.chunks.clone()
}

fn options(direct: bool) -> NcOptions {
    NcOptions { direct_min_bytes: if direct { 0 } else { usize::MAX }, ..NcOptions::default() }
}

#[test]
fn direct_chunk_writes_equal_library_writes_on_every_test_file() {
    let samples = tempfile::tempdir().expect("tmp");
    cirrus_testdata::write_samples(samples.path()).expect("samples");
    let roots = vec![shared().join("esgf"), samples.path().to_path_buf()];
    let cat = Catalog::build(&roots, &HeaderCache::default());
    let reader = Reader::new(64 << 20, Mode::Fast);
    let out = tempfile::tempdir().expect("tmp");
    let mut compared = 0;
    for entry in cat.entries() {
        let ds = &entry.dataset;
        let subset = Selection::all(ds);
        let (a, b) = (out.path().join("direct.nc"), out.path().join("library.nc"));
        write_netcdf(&reader, ds, &subset, &a, &options(true)).unwrap_or_else(|e| panic!("{}: {e}", ds.id));
        write_netcdf(&reader, ds, &subset, &b, &options(false)).unwrap_or_else(|e| panic!("{}: {e}", ds.id));
        let (x, y) = (contents(&a), contents(&b));
        assert_eq!(x.len(), y.len(), "{}", ds.id);
        for (p, q) in x.iter().zip(&y) {
            assert_eq!((&p.0, &p.1), (&q.0, &q.1), "{}", ds.id);
            assert!(same(&p.2, &q.2), "{} {}: values differ", ds.id, p.0);
            compared += 1;
        }
    }
    assert!(compared > 100, "only {compared} variables compared");
}

/// Values `i` at flat index `i`, emitted in blocks of `rows` indices along the first
/// dimension, each block split in two along the second when `split`.
struct Ramp {
    shape: Vec<usize>,
    rows: usize,
    split: bool,
}

impl VarSource for Ramp {
    fn blocks(&self, _: &Reader, _: usize, put: &mut BlockSink) -> cirrus_ops::Result<()> {
        let inner: usize = self.shape[2..].iter().product();
        let mut t = 0;
        while t < self.shape[0] {
            let n = self.rows.min(self.shape[0] - t);
            let half = if self.split { self.shape[1] / 2 } else { 0 };
            for (y0, y1) in [(0, half), (half, self.shape[1])].into_iter().filter(|(a, b)| a < b) {
                let mut vals = Vec::new();
                for i in t..t + n {
                    for y in y0..y1 {
                        let base = (i * self.shape[1] + y) * inner;
                        vals.extend((base..base + inner).map(|k| k as f32));
                    }
                }
                let mut shape = self.shape.clone();
                shape[0] = n;
                shape[1] = y1 - y0;
                let mut start = vec![0; shape.len()];
                start[0] = t;
                start[1] = y0;
                put(&start, &shape, Data::F32(vals))?;
            }
            t += n;
        }
        Ok(())
    }

    fn in_row_order(&self) -> bool {
        true
    }
}

#[test]
fn odd_chunks_unlimited_dimensions_and_cut_blocks() {
    let dir = tempfile::tempdir().expect("tmp");
    let reader = Reader::new(0, Mode::Library);
    let shape = vec![7, 13, 29];
    let cases = [
        (Some(vec![2, 5, 8]), 3, true),
        (Some(vec![3, 13, 29]), 1, true),
        (Some(vec![3, 13, 29]), 3, false),
        (Some(vec![2, 13, 29]), 3, false),
        (None, 7, true),
        (Some(vec![1, 4, 29]), 2, false),
    ];
    for (chunks, rows, split) in cases {
        let out = OutFile {
            dims: vec![
                OutDim { name: "time".into(), len: 7, unlimited: true },
                OutDim { name: "y".into(), len: 13, unlimited: false },
                OutDim { name: "x".into(), len: 29, unlimited: false },
            ],
            vars: vec![OutVar {
                name: "ramp".into(),
                dtype: DataType::F32,
                dims: vec!["time".into(), "y".into(), "x".into()],
                attrs: vec![],
                chunks: chunks.clone(),
                source: Box::new(Ramp { shape: shape.clone(), rows, split }),
            }],
            attrs: vec![],
        };
        let path = dir.path().join("ramp.nc");
        write_file(&reader, &out, &path, &options(true)).expect("write");
        let got = contents(&path);
        assert_eq!(got[0].1, shape, "{chunks:?}");
        let want: Vec<f32> = (0..7 * 13 * 29).map(|k| k as f32).collect();
        assert_eq!(got[0].2, Data::F32(want), "{chunks:?} rows {rows} split {split}");
        if let Some(c) = &chunks {
            assert_eq!(chunks_of(&path, "ramp").as_ref(), Some(c));
        }
        let unlimited = std::process::Command::new("ncdump").arg("-h").arg(&path).output().expect("ncdump");
        let text = String::from_utf8_lossy(&unlimited.stdout);
        assert!(text.contains("time = UNLIMITED ; // (7 currently)"), "{text}");
    }
}

/// Equal values, bit for bit (NaN equals NaN).
fn same(a: &Data, b: &Data) -> bool {
    match (a, b) {
        (Data::F32(x), Data::F32(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
        (Data::F64(x), Data::F64(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
        _ => a == b,
    }
}
