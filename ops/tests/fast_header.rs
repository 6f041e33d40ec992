//! The pure-Rust header reader (`catalog::fast_header`) against libnetcdf
//! (`catalog::read_info`): identical results on every shared NetCDF file it reads,
//! and all ESGF archive files (CMIP6, CMIP5, CORDEX) read by it.

use cirrus_ops::catalog::{self, fast_header};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn shared() -> PathBuf {
    let base = std::env::var_os("CIRRUS_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from);
    assert!(base.join("esgf").is_dir(), "shared data not found at {} (set CIRRUS_SHARED_DATA)", base.display());
    base
}

/// The NetCDF files under a directory, sorted.
fn netcdf_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
            catalog::EXTENSIONS.contains(&ext.as_str())
        })
        .collect();
    out.sort();
    out
}

/// Where two renderings first differ, with some context of each.
fn first_difference(a: &str, b: &str) -> String {
    let at = a.bytes().zip(b.bytes()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let around = |s: &str| {
        let mut lo = at.saturating_sub(200);
        while !s.is_char_boundary(lo) {
            lo -= 1;
        }
        let mut hi = (at + 200).min(s.len());
        while !s.is_char_boundary(hi) {
            hi += 1;
        }
        s[lo..hi].to_string()
    };
    format!("at byte {at}:\n  libnetcdf: …{}…\n  fast:      …{}…", around(a), around(b))
}

fn is_archive_file(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    ["esgf/CMIP6/", "esgf/cmip5/", "esgf/cordex/"].iter().any(|p| s.starts_with(p))
}

#[test]
fn every_shared_file_matches_libnetcdf() {
    let base = shared();
    let mut files = netcdf_files(&base.join("esgf"));
    files.extend(netcdf_files(&base.join("peer-suites")));
    assert!(files.len() >= 26, "expected the shared ESGF and peer-suite files, found {}", files.len());
    let (mut same, mut both_fail) = (0, 0);
    let mut fallbacks: Vec<(PathBuf, String)> = Vec::new();
    let mut failures = Vec::new();
    let (mut t_lib, mut t_fast) = (0.0, 0.0);
    for path in &files {
        let rel = path.strip_prefix(&base).unwrap_or(path).to_path_buf();
        let t = Instant::now();
        let lib = catalog::read_info(path);
        t_lib += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let fast = fast_header::read_info_or_reason(path);
        t_fast += t.elapsed().as_secs_f64();
        assert_eq!(fast.is_ok(), fast_header::read_info(path).is_some(), "{}", rel.display());
        match (fast, lib) {
            (Err(why), _) => fallbacks.push((rel, why)),
            (Ok(Ok(f)), Ok(l)) => {
                let (l, f) = (format!("{l:?}"), format!("{f:?}"));
                if l == f {
                    same += 1;
                } else {
                    failures.push(format!("{}: differs {}", rel.display(), first_difference(&l, &f)));
                }
            }
            (Ok(Ok(_)), Err(e)) => {
                failures.push(format!("{}: libnetcdf fails ({e}) but the fast path reads it", rel.display()))
            }
            (Ok(Err(_)), Err(_)) => both_fail += 1,
            (Ok(Err(e)), Ok(_)) => {
                failures.push(format!("{}: the fast path fails ({e}) but libnetcdf reads it", rel.display()))
            }
        }
    }
    eprintln!(
        "fast header: {} files: {same} identical to libnetcdf, {both_fail} unreadable by both, {} left to libnetcdf",
        files.len(),
        fallbacks.len()
    );
    for (rel, why) in &fallbacks {
        eprintln!("  fallback {}: {why}", rel.display());
    }
    eprintln!(
        "  (debug build, cold caches) libnetcdf {:.2} ms/file, fast {:.2} ms/file",
        t_lib * 1e3 / files.len() as f64,
        t_fast * 1e3 / files.len() as f64
    );
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    let archive: Vec<_> = fallbacks.iter().filter(|(rel, _)| is_archive_file(rel)).collect();
    assert!(archive.is_empty(), "ESGF archive files left to libnetcdf: {archive:?}");
    assert!(
        files.iter().filter(|p| is_archive_file(p.strip_prefix(&base).unwrap_or(p))).count() >= 26,
        "the CMIP6, CMIP5 and CORDEX samples are missing"
    );
}

/// Copies of `src` cut at several lengths: the fast path reports them as unreadable
/// (or leaves them to libnetcdf), never panics, and never reads what libnetcdf cannot.
fn check_truncations(src: &Path, dir: &Path) -> usize {
    let bytes = std::fs::read(src).expect("read sample");
    let n = bytes.len();
    let mut errors = 0;
    for cut in [0, 3, 7, 40, 200, 1000, 4096, n / 4, n / 2, n - 100, n - 1] {
        if cut >= n {
            continue;
        }
        let p = dir.join(format!("cut{cut}_{}", src.file_name().and_then(|s| s.to_str()).unwrap_or("f.nc")));
        std::fs::write(&p, &bytes[..cut]).expect("write truncated copy");
        match fast_header::read_info(&p) {
            None => {}
            Some(Err(e)) => {
                errors += 1;
                assert!(catalog::read_info(&p).is_err(), "libnetcdf reads {} cut at {cut}; fast: {e}", src.display());
            }
            Some(Ok(_)) => panic!("{} cut at {cut} of {n} bytes read as complete", src.display()),
        }
    }
    errors
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let base = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let nc4 = base.join(
        "esgf/CMIP6/CMIP/IPSL/IPSL-CM6A-LR/historical/r1i1p1f1/Amon/rlds/gr/v20180803/\
         rlds_Amon_IPSL-CM6A-LR_historical_r1i1p1f1_gr_185001-201412.nc",
    );
    let nc3 = base.join(
        "esgf/cmip5/output1/MOHC/HadGEM2-ES/rcp85/mon/atmos/Amon/r1i1p1/latest/tas/\
         tas_Amon_HadGEM2-ES_rcp85_r1i1p1_200512-203011.nc",
    );
    // The untouched files read.
    assert!(matches!(fast_header::read_info(&nc4), Some(Ok(_))));
    assert!(matches!(fast_header::read_info(&nc3), Some(Ok(_))));
    let e4 = check_truncations(&nc4, dir.path());
    let e3 = check_truncations(&nc3, dir.path());
    // Cut in its data, each is known to be truncated without asking libnetcdf.
    assert!(e4 >= 4, "NetCDF-4: only {e4} truncated copies reported as errors");
    assert!(e3 >= 4, "NetCDF-3: only {e3} truncated copies reported as errors");
    let half = dir.path().join("half.nc");
    std::fs::write(&half, &std::fs::read(&nc4).expect("read")[..200_000]).expect("write");
    let msg = fast_header::read_info(&half).expect("an answer").expect_err("truncated").to_string();
    assert!(msg.contains("truncated"), "{msg}");
}

/// Compares both readers on a file made here; `must_read`: the fast path may not
/// leave it to libnetcdf.
fn compare(path: &Path, must_read: bool) {
    let lib = catalog::read_info(path).expect("libnetcdf reads the file");
    match fast_header::read_info_or_reason(path) {
        Ok(Ok(fast)) => {
            let (l, f) = (format!("{lib:?}"), format!("{fast:?}"));
            assert!(l == f, "{}: differs {}", path.display(), first_difference(&l, &f));
        }
        Ok(Err(e)) => panic!("{}: the fast path fails ({e}) but libnetcdf reads it", path.display()),
        Err(why) => {
            assert!(!must_read, "{}: left to libnetcdf: {why}", path.display());
            eprintln!("{}: left to libnetcdf: {why}", path.display());
        }
    }
}

/// A NetCDF-4 (or classic) file with the usual coordinates and a bit of everything
/// the header has: attribute types, strings, chunking, unlimited time, scalars.
fn write_sample(path: &Path, options: netcdf::Options) -> netcdf::Result<()> {
    let nc4 = options.contains(netcdf::Options::NETCDF4);
    let extended = nc4 && !options.contains(netcdf::Options::CLASSIC) || options.contains(netcdf::Options::_64BIT_DATA);
    let mut f = netcdf::create_with(path, options)?;
    f.add_unlimited_dimension("time")?;
    f.add_dimension("lat", 3)?;
    f.add_dimension("lon", 4)?;
    f.add_dimension("bnds", 2)?;
    f.add_attribute("Conventions", "CF-1.7")?;
    f.add_attribute("title", "fast header sample\0\0")?;
    f.add_attribute("realization", 3i32)?;
    f.add_attribute("weights", vec![0.5f64, 0.25])?;
    if extended {
        f.add_attribute("flags", vec![1u8, 2, 255])?;
        f.add_attribute("big", vec![u64::MAX, 7])?;
        f.add_attribute("neg", vec![-5i64])?;
    }
    if nc4 && extended {
        f.add_attribute("sources", vec!["model A", "", "model C"])?;
    }
    for i in 0..12 {
        f.add_attribute(&format!("extra_{i:02}"), format!("value {i}").as_str())?;
    }
    let mut t = f.add_variable::<f64>("time", &["time"])?;
    t.put_attribute("standard_name", "time")?;
    t.put_attribute("units", "days since 1850-01-01")?;
    t.put_attribute("calendar", "360_day")?;
    t.put_attribute("axis", "T")?;
    let mut lat = f.add_variable::<f32>("lat", &["lat"])?;
    lat.put_attribute("units", "degrees_north")?;
    lat.put_attribute("standard_name", "latitude")?;
    let mut lon = f.add_variable::<f64>("lon", &["lon"])?;
    lon.put_attribute("units", "degrees_east")?;
    f.add_variable::<f32>("lat_bnds", &["lat", "bnds"])?;
    let mut tas = f.add_variable::<f32>("tas", &["time", "lat", "lon"])?;
    if nc4 {
        tas.set_chunking(&[1, 3, 4])?;
        tas.set_compression(4, true)?;
    }
    tas.put_attribute("_FillValue", 1e20f32)?;
    tas.put_attribute("missing_value", 1e20f32)?;
    tas.put_attribute("units", "K")?;
    tas.put_attribute("cell_methods", "time: mean")?;
    tas.put_attribute("valid_range", vec![100i16, 400])?;
    tas.put_attribute("scale", 0.5f64)?;
    tas.put_attribute("code", -3i8)?;
    let mut crs = f.add_variable::<i32>("crs", &[])?;
    crs.put_attribute("grid_mapping_name", "latitude_longitude")?;
    let mut lev = f.add_variable::<i16>("height", &[])?;
    lev.put_attribute("units", "m")?;
    lev.put_attribute("positive", "up")?;
    let mut c = f.add_variable::<i8>("flags", &["lat"])?;
    c.put_attribute("empty", "")?;
    if nc4 && extended {
        let mut s = f.add_string_variable("station", &["lat"])?;
        s.put_attribute("long_name", vec!["station", "name"])?;
        f.add_variable::<u64>("counts", &["lon"])?;
    }
    f.enddef()?;
    f.variable_mut("time").expect("defined above").put_values(&[15.0, 45.0, 75.0, 105.0, 135.0], 0..5)?;
    f.variable_mut("lat").expect("defined above").put_values(&[-30.0f32, 0.0, 30.0], ..)?;
    f.variable_mut("lon").expect("defined above").put_values(&[0.0, 90.0, 180.0, 270.0], ..)?;
    f.variable_mut("lat_bnds").expect("defined above").put_values(&[-45.0f32, -15.0, -15.0, 15.0, 15.0, 45.0], ..)?;
    f.variable_mut("tas")
        .expect("defined above")
        .put_values(&(0..60).map(|i| i as f32).collect::<Vec<_>>(), [0..5, 0..3, 0..4])?;
    f.variable_mut("height").expect("defined above").put_value(2i16, ..)?;
    if nc4 && extended {
        f.variable_mut("station").expect("defined above").put_string("alpha", [0])?;
        f.variable_mut("counts").expect("defined above").put_values(&[1u64, 2, 3, u64::MAX], ..)?;
    }
    f.close()
}

#[test]
fn written_files_match_libnetcdf() {
    use netcdf::Options;
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("nc4.nc", Options::NETCDF4),
        ("nc4_classic.nc", Options::NETCDF4 | Options::CLASSIC),
        ("nc4_unordered_atts.nc", Options::NETCDF4 | Options::NOATTCREORD),
        ("classic.nc", Options::empty()),
        ("offset64.nc", Options::_64BIT_OFFSET),
        ("cdf5.nc", Options::_64BIT_DATA),
    ];
    for (name, options) in cases {
        let p = dir.path().join(name);
        write_sample(&p, options).unwrap_or_else(|e| panic!("writing {name}: {e}"));
        compare(&p, true);
    }

    // Attributes changed after the file was written: libnetcdf deletes and re-creates
    // them, so their creation order no longer follows their place in the header.
    for name in ["edited.nc", "edited_unordered.nc"] {
        let options = if name == "edited.nc" { Options::NETCDF4 } else { Options::NETCDF4 | Options::NOATTCREORD };
        let p = dir.path().join(name);
        write_sample(&p, options).expect("write sample");
        let mut f = netcdf::append(&p).expect("reopen");
        {
            let mut lat = f.variable_mut("lat").expect("lat");
            lat.put_attribute("units", "degrees_north_but_longer").expect("edit");
            lat.put_attribute("axis", "Y").expect("add");
        }
        {
            let mut lon = f.variable_mut("lon").expect("lon");
            lon.put_attribute("units", "degE").expect("edit");
            lon.put_attribute("standard_name", "longitude").expect("add");
        }
        f.add_attribute("title", "a title edited in place, longer than before").expect("edit global");
        f.add_attribute("history", "edited").expect("add global");
        f.close().expect("close");
        // A shorter value goes into the space of the old one, ahead of attributes
        // created before it.
        let mut f = netcdf::append(&p).expect("reopen");
        f.variable_mut("lat").expect("lat").put_attribute("standard_name", "lat").expect("edit");
        f.variable_mut("time").expect("time").put_attribute("units", "days since 1850-1-1").expect("edit");
        f.add_attribute("Conventions", "CF").expect("edit global");
        f.close().expect("close");
        compare(&p, true);
    }

    // A variable shorter than its unlimited dimension; an unlimited dimension without
    // records; a variable named like a dimension that is not its coordinate.
    let p = dir.path().join("ragged.nc");
    {
        let mut f = netcdf::create_with(&p, Options::NETCDF4).expect("create");
        f.add_unlimited_dimension("time").expect("dim");
        f.add_unlimited_dimension("empty").expect("dim");
        f.add_dimension("x", 2).expect("dim");
        f.add_dimension("n", 3).expect("dim");
        let mut a = f.add_variable::<f64>("time", &["time"]).expect("var");
        a.put_attribute("units", "hours since 2000-01-01").expect("att");
        a.put_values(&[1.0, 2.0], 0..2).expect("put");
        let mut b = f.add_variable::<f32>("v", &["time", "x"]).expect("var");
        b.put_values(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [0..3, 0..2]).expect("put");
        let mut e = f.add_variable::<i32>("e", &["empty"]).expect("var");
        e.put_attribute("note", "no records").expect("att");
        let mut n = f.add_variable::<i32>("n", &["x"]).expect("var");
        n.put_values(&[7, 8], ..).expect("put");
        f.close().expect("close");
    }
    compare(&p, false);
    let p = dir.path().join("dims.nc");
    {
        let mut f = netcdf::create_with(&p, Options::NETCDF4).expect("create");
        f.add_unlimited_dimension("empty").expect("dim");
        f.add_dimension("x", 2).expect("dim");
        f.add_dimension("n", 3).expect("dim");
        let mut e = f.add_variable::<i32>("e", &["empty"]).expect("var");
        e.put_attribute("note", "no records").expect("att");
        let mut n = f.add_variable::<i32>("n", &["x"]).expect("var");
        n.put_values(&[7, 8], ..).expect("put");
        let mut m = f.add_variable::<f32>("m", &["n", "x"]).expect("var");
        m.put_values(&[0.0f32; 6], ..).expect("put");
        f.close().expect("close");
    }
    compare(&p, true);
}

/// Copies of NetCDF-4 and NetCDF-3 files with a byte of their first 20 kB changed: the
/// fast path answers (an error, a fallback or a header) without panicking, and when
/// it gives a header, libnetcdf reads the copy too and gives the same.
#[test]
fn damaged_headers_do_not_break_the_reader() {
    // More with FAST_HEADER_DAMAGE_ROUNDS and FAST_HEADER_DAMAGE_SEED; with seed 0, copy
    // 805 of the CORDEX file (a changed chunk offset in a chunk index) makes libhdf5
    // loop for ever when libnetcdf opens it.
    let rounds: usize = std::env::var("FAST_HEADER_DAMAGE_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(250);
    let base = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        base.join(
            "esgf/CMIP6/ScenarioMIP/MIROC/MIROC6/ssp119/r1i1p1f1/day/tas/gn/v20191016/\
             tas_day_MIROC6_ssp119_r1i1p1f1_gn_20150101.nc",
        ),
        base.join(
            "esgf/cmip5/output1/MOHC/HadGEM2-ES/rcp85/mon/atmos/Amon/r1i1p1/latest/tas/\
             tas_Amon_HadGEM2-ES_rcp85_r1i1p1_229912-229912.nc",
        ),
        base.join(
            "esgf/cordex/output/EUR-22/GERICS/MPI-M-MPI-ESM-LR/rcp85/r1i1p1/GERICS-REMO2015/v1/mon/tas/v20191029/\
             tas_EUR-22_MPI-M-MPI-ESM-LR_rcp85_r1i1p1_GERICS-REMO2015_v1_mon_202101.nc",
        ),
    ];
    let seed: u64 = std::env::var("FAST_HEADER_DAMAGE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let (mut read, mut errors) = (0, 0);
    for (k, src) in files.iter().enumerate() {
        let bytes = std::fs::read(src).expect("read sample");
        let header = bytes.len().min(20_000);
        // A simple deterministic generator: positions and values spread over the header.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ k as u64 ^ seed;
        for i in 0..rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = bytes.clone();
            let at = (x as usize) % header;
            b[at] = match i % 3 {
                0 => b[at] ^ 0xFF,
                1 => b[at].wrapping_add(1),
                _ => (x >> 32) as u8,
            };
            let p = dir.path().join(format!("damaged_{k}_{i}.nc"));
            std::fs::write(&p, &b).expect("write");
            let fast = match fast_header::read_info(&p) {
                None => {
                    std::fs::remove_file(&p).expect("remove");
                    continue;
                }
                Some(Err(e)) => {
                    errors += 1;
                    assert!(catalog::read_info(&p).is_err(), "damaged copy {k}/{i}: libnetcdf reads it, fast: {e}");
                    std::fs::remove_file(&p).expect("remove");
                    continue;
                }
                Some(Ok(fast)) => fast,
            };
            read += 1;
            // A header is only given for what libnetcdf reads, and it is the same.
            let lib = match catalog::read_info(&p) {
                Ok(lib) => lib,
                Err(e) => {
                    panic!("damaged copy {k}/{i} (byte {at}) of {} read by the fast path only: {e}", src.display())
                }
            };
            let (l, f) = (format!("{lib:?}"), format!("{fast:?}"));
            assert!(l == f, "damaged copy {k}/{i} of {}: differs {}", src.display(), first_difference(&l, &f));
            std::fs::remove_file(&p).expect("remove");
        }
    }
    eprintln!(
        "damaged headers: of {} copies, {read} read by the fast path as by libnetcdf, {errors} unreadable by both",
        3 * rounds
    );
}
