//! Time-chunked copies: series reads through a copy give exactly the source's values
//! (joined files, levels, noleap and 360_day calendars, packed and fill values); a copy
//! goes when its dataset changes or the quota needs room; a restart finds the copies
//! and drops unfinished ones.

use cirrus_ops::read::Mode;
use cirrus_ops::series::at_cells;
use cirrus_ops::timeseries::{chunk_shape, Copies};
use cirrus_ops::{Catalog, DimRange, DimSel, HeaderCache, Hyperslab, Reader};
use std::path::PathBuf;
use std::sync::Arc;

fn esgf() -> PathBuf {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    assert!(base.join("esgf").is_dir(), "shared data not found at {}", base.display());
    base.join("esgf")
}

/// Series slabs of a variable: every step (and level) at a corner, the middle and a
/// 2 x 3 block.
fn series_slabs(shape: &[usize]) -> Vec<Hyperslab> {
    let rank = shape.len();
    let (ny, nx) = (shape[rank - 2], shape[rank - 1]);
    let mut out = Vec::new();
    for (y, x, h, w) in [(0, 0, 1, 1), (ny / 2, nx / 2, 1, 1), (ny.saturating_sub(2), nx.saturating_sub(3), 2, 3)] {
        let mut s: Vec<DimRange> = shape[..rank - 2].iter().map(|&n| DimRange::full(n)).collect();
        s.push(DimRange { start: y, stride: 1, count: h.min(ny) });
        s.push(DimRange { start: x, stride: 1, count: w.min(nx) });
        out.push(Hyperslab(s));
    }
    out
}

#[test]
fn series_reads_from_copies_equal_the_source() {
    let cat = Catalog::build(&[esgf()], &HeaderCache::default());
    let dir = tempfile::tempdir().expect("tmp");
    let copies = Arc::new(Copies::new(Some(dir.path().to_path_buf()), u64::MAX, 0));
    let plain = Reader::new(1 << 26, Mode::Fast);
    let fast = Reader::new(1 << 26, Mode::Fast).with_copies(copies.clone());
    let mut built = 0;
    for entry in cat.entries() {
        let ds = entry.dataset.clone();
        for name in Copies::variables(&ds) {
            let v = ds.var(&name).expect("variable");
            if v.shape[0] < 8 {
                continue; // too short to be a series
            }
            let m = copies.build(&plain, &ds, &name, &mut |_| Ok(())).expect("copy");
            assert_eq!(m.chunks, chunk_shape(v), "{}", ds.id);
            assert!(copies.has(&ds, &name));
            built += 1;
            for slab in series_slabs(&v.shape) {
                let hits = copies.hits.load(std::sync::atomic::Ordering::Relaxed);
                let a = plain.read(&ds, v, &slab).expect("source");
                let b = fast.read(&ds, v, &slab).expect("copy");
                assert_eq!(a.data, b.data, "{} {} {slab:?}", ds.id, name);
                assert!(
                    copies.hits.load(std::sync::atomic::Ordering::Relaxed) > hits,
                    "{} not read from the copy",
                    ds.id
                );
            }
            // the point reader gives the same decoded values
            let outer: Vec<DimSel> =
                v.shape[..v.shape.len() - 2].iter().map(|&n| DimSel::Range(DimRange::full(n))).collect();
            let cells = [(0, 0), (v.shape[v.shape.len() - 2] - 1, v.shape[v.shape.len() - 1] - 1)];
            let a = at_cells(&plain, &ds, v, &outer, &cells).expect("source cells");
            let b = at_cells(&fast, &ds, v, &outer, &cells).expect("copy cells");
            assert_eq!(a.len(), b.len());
            assert!(a.iter().zip(&b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan())), "{}", ds.id);
        }
    }
    assert!(built >= 4, "only {built} copies built");
    // a restart finds them all, and drops what an interrupted build left
    std::fs::write(dir.path().join("tmp-interrupted.nc"), b"partial").expect("write");
    let again = Copies::new(Some(dir.path().to_path_buf()), u64::MAX, 0);
    assert_eq!(again.list().len(), built);
    assert!(!dir.path().join("tmp-interrupted.nc").exists());
}

#[test]
fn copies_go_when_the_data_change_or_the_quota_needs_room() {
    let cat = Catalog::build(&[esgf()], &HeaderCache::default());
    let mut sets: Vec<(Arc<cirrus_ops::Dataset>, String)> = cat
        .entries()
        .flat_map(|e| Copies::variables(&e.dataset).into_iter().map(move |v| (e.dataset.clone(), v)))
        .filter(|(ds, v)| ds.var(v).is_some_and(|x| x.shape[0] >= 8))
        .collect();
    sets.truncate(2);
    assert_eq!(sets.len(), 2);
    let reader = Reader::default();
    let dir = tempfile::tempdir().expect("tmp");
    let probe = Copies::new(Some(dir.path().join("probe")), u64::MAX, 0);
    let first = probe.build(&reader, &sets[0].0, &sets[0].1, &mut |_| Ok(())).expect("copy").bytes;
    let second = probe.build(&reader, &sets[1].0, &sets[1].1, &mut |_| Ok(())).expect("copy").bytes;
    // room for the larger one only: building the second evicts the first
    let copies = Copies::new(Some(dir.path().join("quota")), first.max(second), 0);
    copies.build(&reader, &sets[0].0, &sets[0].1, &mut |_| Ok(())).expect("copy");
    copies.build(&reader, &sets[1].0, &sets[1].1, &mut |_| Ok(())).expect("copy");
    assert!(!copies.has(&sets[0].0, &sets[0].1), "the older copy stays over the quota");
    assert!(copies.has(&sets[1].0, &sets[1].1));
    // a copy larger than the quota is refused
    let tiny = Copies::new(Some(dir.path().join("tiny")), 10, 0);
    assert!(tiny.build(&reader, &sets[0].0, &sets[0].1, &mut |_| Ok(())).is_err());
    assert!(tiny.list().is_empty());
    // the source changes (another etag): the copy is not used and is removed
    let mut changed = (*sets[1].0).clone();
    changed.etag = format!("{}-changed", changed.etag);
    assert!(!copies.has(&changed, &sets[1].1));
    assert!(copies.list().is_empty());
    assert_eq!(std::fs::read_dir(dir.path().join("quota")).expect("dir").count(), 0, "files left behind");
    // a cancelled build leaves nothing
    let cancel = Copies::new(Some(dir.path().join("cancel")), u64::MAX, 0);
    let r = cancel.build(&reader, &sets[0].0, &sets[0].1, &mut |f| {
        if f < 1.0 {
            Err(cirrus_ops::Error::bad("cancelled"))
        } else {
            Ok(())
        }
    });
    // small copies may finish before the first progress report: then they are whole
    if r.is_err() {
        assert!(cancel.list().is_empty());
        assert_eq!(std::fs::read_dir(dir.path().join("cancel")).expect("dir").count(), 0);
    }
}

#[test]
fn demand_makes_a_copy_wanted() {
    let cat = Catalog::build(&[esgf()], &HeaderCache::default());
    let (ds, var) = cat
        .entries()
        .flat_map(|e| Copies::variables(&e.dataset).into_iter().map(move |v| (e.dataset.clone(), v)))
        .find(|(ds, v)| ds.var(v).is_some_and(|x| x.shape[0] >= 8))
        .expect("a series variable");
    let dir = tempfile::tempdir().expect("tmp");
    let copies = Arc::new(Copies::new(Some(dir.path().to_path_buf()), u64::MAX, 3));
    let reader = Reader::new(1 << 26, Mode::Fast).with_copies(copies.clone());
    let v = ds.var(&var).expect("var");
    let slab = &series_slabs(&v.shape)[0];
    for _ in 0..2 {
        reader.read(&ds, v, slab).expect("read");
    }
    assert!(copies.take_wanted().is_empty());
    reader.read(&ds, v, slab).expect("read");
    assert_eq!(copies.take_wanted(), vec![ds.id.clone()]);
    // a map (one step, every cell) is not a series read
    let map = Hyperslab(
        v.shape.iter().enumerate().map(|(d, &n)| if d == 0 { DimRange::index(0) } else { DimRange::full(n) }).collect(),
    );
    for _ in 0..5 {
        reader.read(&ds, v, &map).expect("read");
    }
    assert!(copies.take_wanted().is_empty());
}

#[test]
fn values_at_cells_equal_reading_each_cell() {
    let cat = Catalog::build(&[esgf()], &HeaderCache::default());
    let reader = Reader::new(1 << 24, Mode::Fast);
    let mut checked = 0;
    for entry in cat.entries() {
        let ds = entry.dataset.clone();
        for v in cirrus_ops::cf::data_variables(&ds).into_iter().filter(|v| v.dims.len() >= 3 && v.dtype.is_numeric()) {
            let rank = v.shape.len();
            let (ny, nx) = (v.shape[rank - 2], v.shape[rank - 1]);
            // scattered cells (per-cell reads when far apart) and a compact pair (one box)
            let cells = [(0, 0), (ny - 1, nx - 1), (ny / 2, nx / 3), (ny / 2, nx / 3 + usize::from(nx > 1))];
            // every other step, and the first levels
            let outer: Vec<DimSel> = v.shape[..rank - 2]
                .iter()
                .enumerate()
                .map(|(d, &n)| {
                    if d == 0 {
                        DimSel::Range(DimRange { start: 0, stride: 2, count: n.div_ceil(2) })
                    } else {
                        DimSel::Range(DimRange { start: 0, stride: 1, count: n.min(3) })
                    }
                })
                .collect();
            let got = at_cells(&reader, &ds, v, &outer, &cells).expect("at cells");
            let decode = cirrus_ops::cf::Decode::of(v);
            for (c, &(y, x)) in cells.iter().enumerate() {
                let slab = Hyperslab(
                    outer
                        .iter()
                        .map(|s| s.range().expect("range"))
                        .chain([DimRange::index(y), DimRange::index(x)])
                        .collect(),
                );
                let want = decode.decode(&reader.read(&ds, v, &slab).expect("read").data, "test").expect("decode");
                for (k, w) in want.iter().enumerate() {
                    let g = got[k * cells.len() + c];
                    assert!(
                        g == *w || (g.is_nan() && w.is_nan()),
                        "{} {} cell {c} value {k}: {g} != {w}",
                        ds.id,
                        v.name
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} variables");
}
