//! The catalog of the shared ESGF samples: DRS ids, joins, extents, and reads that
//! equal what libnetcdf returns for each file.

use cirrus_ops::{Catalog, HeaderCache, Hyperslab, Reader};
use std::path::PathBuf;

fn esgf_root() -> PathBuf {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    let root = base.join("esgf");
    assert!(root.is_dir(), "shared ESGF data not found at {} (set CIRRUS_SHARED_DATA)", root.display());
    root
}

#[test]
fn drs_datasets_and_joins() {
    let cat = Catalog::build(&[esgf_root()], &HeaderCache::default());
    let ids: Vec<&String> = cat.summaries.keys().collect();
    for id in &ids {
        println!("{id}");
    }
    assert!(cat.unavailable.is_empty(), "{:?}", cat.unavailable);
    println!("warnings: {:?}", cat.warnings);
    let had = cat.get("cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas").expect("HadGEM2-ES");
    assert_eq!(had.dataset.files.len(), 13);
    let tas = had.dataset.var("tas").expect("tas");
    assert_eq!(tas.shape, vec![3529, 2, 2], "the repeated 2099-12 step is dropped");
    assert!(had.dataset.warnings.iter().any(|w| w.contains("repeats 1 time step")), "{:?}", had.dataset.warnings);
    let t = had.extent.time.as_ref().expect("time extent");
    assert_eq!(t.calendar, "360_day");
    assert!(t.start.starts_with("2005-12"), "{}", t.start);
    assert!(t.end.starts_with("2299-12"), "{}", t.end);
    let inm = cat.get("CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619").expect("INM");
    assert!(inm.dataset.join.is_none());
    let eur11 = cat
        .get("cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919")
        .expect("EUR-11");
    assert_eq!(eur11.dataset.var("zg500").expect("zg500").shape[0], 1826 + 1827);
    let bbox = eur11.extent.bbox.expect("bbox");
    assert!(bbox[1] > 20.0 && bbox[3] < 80.0, "{bbox:?}");
    // the zonal-mean file in the MPI directory is a dataset of its own
    assert!(ids.iter().any(|i| i.ends_with("_zm.nc")));
    assert!(cat.get("CMIP6.CMIP.MPI-M.MPI-ESM1-2-LR.historical.r1i1p1f1.AERmon.o3.gn.v20190710").is_ok());
}

#[test]
fn joined_reads_equal_per_file_reads() {
    let cat = Catalog::build(&[esgf_root()], &HeaderCache::default());
    let reader = Reader::default();
    let e = cat.get("cmip5.output1.MOHC.HadGEM2-ES.rcp85.mon.atmos.Amon.r1i1p1.latest.tas").expect("dataset");
    let ds = &e.dataset;
    let tas = ds.var("tas").expect("tas");
    let all = reader.read(ds, tas, &Hyperslab::full(&tas.shape)).expect("read");
    // concatenation of each file read on its own
    let mut want = Vec::new();
    let join = ds.join.as_ref().expect("joined");
    for (i, f) in ds.files.iter().enumerate() {
        let file = netcdf::open(&f.path).expect("open");
        let v = file.variable("tas").expect("tas").get_values::<f32, _>(..).expect("values");
        want.extend_from_slice(&v[join.skip[i] * 4..]);
    }
    assert_eq!(all.data, cirrus_ops::Data::F32(want.clone()));
    // a strided slab crossing file boundaries
    let slab = Hyperslab(vec![
        cirrus_ops::DimRange { start: 290, stride: 7, count: 100 },
        cirrus_ops::DimRange { start: 1, stride: 1, count: 1 },
        cirrus_ops::DimRange { start: 0, stride: 1, count: 2 },
    ]);
    let part = reader.read(ds, tas, &slab).expect("read");
    let expect: Vec<f32> = (0..100)
        .flat_map(|k| {
            let t = 290 + 7 * k;
            [want[t * 4 + 2], want[t * 4 + 3]]
        })
        .collect();
    assert_eq!(part.data, cirrus_ops::Data::F32(expect));
}
