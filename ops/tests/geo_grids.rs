//! Grids of the shared ESGF samples: the rotated-pole transform reproduces the files'
//! 2-D latitudes and longitudes, and every cell centre is located in its own cell.

use cirrus_ops::geo::Grid;
use cirrus_ops::process::select::values;
use cirrus_ops::{Catalog, HeaderCache, Reader};
use std::path::PathBuf;

fn catalog() -> Catalog {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    Catalog::build(&[base.join("esgf")], &HeaderCache::default())
}

#[test]
fn grids_locate_their_own_cells() {
    let cat = catalog();
    let reader = Reader::default();
    for (id, var) in [
        ("cordex.output.EUR-22.GERICS.MPI-M-MPI-ESM-LR.rcp85.r1i1p1.GERICS-REMO2015.v1.mon.tas.v20191029", "tas"),
        ("cordex.output.EUR-11.IPSL.IPSL-IPSL-CM5A-MR.rcp85.r1i1p1.IPSL-WRF381P.v1.day.zg500.v20190919", "zg500"),
        ("cordex.output.NAM-22.OURANOS.NOAA-GFDL-GFDL-ESM2M.rcp45.r1i1p1.OURANOS-CRCM5.v1.day.pr.v20200831", "pr"),
        ("CMIP6.ScenarioMIP.CNRM-CERFACS.CNRM-CM6-1.ssp245.r1i1p1f2.Omon.tos.gn.v20190219", "tos"),
        ("CMIP6.ScenarioMIP.MIROC.MIROC6.ssp119.r1i1p1f1.day.tas.gn.v20191016", "tas"),
    ] {
        let ds = &cat.get(id).expect(id).dataset;
        let v = ds.var(var).expect(var);
        let grid = Grid::of(&reader, ds, v).expect("grid");
        let (ny, nx) = grid.shape();
        // the file's own 2-D lat/lon where there are some
        if let (Some(lat), Some(lon)) =
            (ds.var("lat").filter(|l| l.dims.len() == 2), ds.var("lon").filter(|l| l.dims.len() == 2))
        {
            let (la, lo) = (values(&reader, ds, lat).expect("lat"), values(&reader, ds, lon).expect("lon"));
            let mut worst: f64 = 0.0;
            for y in (0..ny).step_by((ny / 10).max(1)) {
                for x in (0..nx).step_by((nx / 10).max(1)) {
                    let (glon, glat) = grid.center(y, x);
                    let dlon = ((glon - lo[y * nx + x] + 540.0).rem_euclid(360.0) - 180.0).abs();
                    worst = worst.max((glat - la[y * nx + x]).abs()).max(dlon);
                }
            }
            assert!(worst < 0.01, "{id}: computed centres differ from the file's lat/lon by {worst} degrees");
        }
        let mut misses = 0;
        for y in (0..ny).step_by((ny / 25).max(1)) {
            for x in (0..nx).step_by((nx / 25).max(1)) {
                let (lon, lat) = grid.center(y, x);
                if !lon.is_finite() || lat.abs() > 90.0 {
                    continue;
                }
                if grid.locate(lon, lat) != Some((y, x)) {
                    misses += 1;
                }
            }
        }
        assert_eq!(misses, 0, "{id}: cell centres not located in their own cells");
    }
}
