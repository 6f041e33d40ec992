//! DAP2 documents and XDR encoding of real ESGF files.

use cirrus_ops::encode::dap2::{self, Item, View};
use cirrus_ops::{Catalog, DimRange, HeaderCache, Hyperslab, Reader};
use std::path::PathBuf;

fn catalog() -> Catalog {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    let root = base.join("esgf");
    assert!(root.is_dir(), "shared ESGF data not found at {}", root.display());
    Catalog::build(&[root], &HeaderCache::default())
}

const INM: &str = "CMIP6.ScenarioMIP.INM.INM-CM5-0.ssp245.r1i1p1f1.Amon.rlds.gr1.v20190619";
const EUR22: &str = "cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029";

#[test]
fn dds_has_grids_and_arrays() {
    let cat = catalog();
    let ds = &cat.get(INM).expect("dataset").dataset;
    let view = View::new(ds);
    let dds = dap2::dds(&view, &dap2::Request::all(&view).expect("all")).expect("dds");
    assert!(dds.starts_with("Dataset {\n"), "{dds}");
    assert!(dds.contains(
        "    Grid {\n      ARRAY:\n        Float32 rlds[time = 1032][lat = 2][lon = 2];\n      MAPS:\n        Float64 time[time = 1032];\n        Float64 lat[lat = 2];\n        Float64 lon[lon = 2];\n    } rlds;\n"
    ), "{dds}");
    assert!(dds.contains("    Float64 lat_bnds[lat = 2][bnds = 2];\n"), "{dds}");
    assert!(dds.ends_with(&format!("}} {INM};\n")));
    // the 2-D lat/lon of a rotated grid are Arrays, the data variable a Grid over rlat/rlon
    let ds = &cat.get(EUR22).expect("dataset").dataset;
    let view = View::new(ds);
    let dds = dap2::dds(&view, &dap2::Request::all(&view).expect("all")).expect("dds");
    assert!(dds.contains("    Float32 lat[rlat = 201][rlon = 225];\n"), "{dds}");
    assert!(dds.contains("        Float32 tas[time = 1][rlat = 201][rlon = 225];\n"), "{dds}");
    assert!(
        dds.contains("    String rotated_latitude_longitude;\n")
            || dds.contains("    Int32 rotated_latitude_longitude;\n"),
        "{dds}"
    );
}

#[test]
fn das_types_and_escapes() {
    let cat = catalog();
    let ds = &cat.get(INM).expect("dataset").dataset;
    let das = dap2::das(&View::new(ds));
    // float32 values carry the digits of their exact binary value (1e20f32)
    assert!(das.contains("        Float32 _FillValue 1.0000000200408773e20;\n"), "{das}");
    assert!(das.contains("        String units \"W m-2\";\n"), "{das}");
    assert!(das.contains("    NC_GLOBAL {\n"));
    assert!(das.contains("    DODS_EXTRA {\n        String Unlimited_Dimension \"time\";\n    }\n"), "{das}");
    // multi-line text is sent as it is, inside quotes
    let siconc = cat.get("CMIP6.CMIP.CCCma.CanESM5.historical.r1i1p1f1.SImon.siconc.gn.latest").expect("dataset");
    let das = dap2::das(&View::new(&siconc.dataset));
    assert!(das.contains("String history \"Tue Jun 16 12:23:36 2020: ncks"), "{das}");
    assert!(das.contains("\\'height\\'") || das.contains("'type'"), "{das}");
}

#[test]
fn dods_structure_of_grid_member_and_xdr() {
    let cat = catalog();
    let ds = &cat.get(INM).expect("dataset").dataset;
    let view = View::new(ds);
    let slab = Hyperslab(vec![DimRange { start: 2, stride: 3, count: 2 }, DimRange::index(1), DimRange::full(2)]);
    let items = vec![Item::Members { grid: "rlds".into(), members: vec![("rlds".into(), slab.clone())] }];
    let req = dap2::Request::new(&view, &items).expect("request");
    let dds = dap2::dds(&view, &req).expect("dds");
    assert_eq!(dds, format!("Dataset {{\n    Structure {{\n        Float32 rlds[time = 2][lat = 1][lon = 2];\n    }} rlds;\n}} {INM};\n"));
    let mut out = Vec::new();
    dap2::write_dods(&Reader::default(), &view, &req, &mut out, 1 << 20).expect("dods");
    let data = &out[dds.len() + "Data:\n".len()..];
    assert_eq!(&data[..8], &[0, 0, 0, 4, 0, 0, 0, 4]);
    let file = netcdf::open(&ds.files[0].path).expect("open");
    let want: Vec<f32> =
        file.variable("rlds").expect("rlds").get_values::<f32, _>(([2, 1, 0], [2, 1, 2], [3, 1, 1])).expect("values");
    let got: Vec<f32> = data[8..].chunks(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(got, want);
    // a whole Grid with a hyperslab carries the sliced maps after the array
    let items = vec![Item::Whole { var: "rlds".into(), slab }];
    let req = dap2::Request::new(&view, &items).expect("request");
    let mut out = Vec::new();
    dap2::write_dods(&Reader::default(), &view, &req, &mut out, 1 << 20).expect("dods");
    let dds = dap2::dds(&view, &req).expect("dds");
    assert!(dds.contains("MAPS:\n        Float64 time[time = 2];\n        Float64 lat[lat = 1];"), "{dds}");
    // array (8 + 16) + time (8 + 16) + lat (8 + 8) + lon (8 + 16)
    assert_eq!(out.len() - dds.len() - 6, 24 + 24 + 16 + 24);
}
