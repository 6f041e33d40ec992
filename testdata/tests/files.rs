//! Generates the files into temporary directories and checks them with the netcdf
//! crate and with `ncdump` (the reference C tools).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};

use anyhow::{bail, ensure, Context, Result};
use cirrus_testdata::{write_cmip6_daily, write_eur11_daily, write_samples, Calendar, DailyOptions};
use netcdf::types::{NcTypeDescriptor, NcVariableType};
use netcdf::{AttributeValue, File, Variable};

const TAS_DIR: &str = "CMIP6/ScenarioMIP/CIRRUS/CIRRUS-SYN-1/ssp245/r1i1p1f1/day/tas/gn/v20250101";
const PR_DIR: &str = "CMIP6/ScenarioMIP/CIRRUS/CIRRUS-SYN-1/ssp245/r1i1p1f1/Amon/pr/gn/v20250101";
const EUR44_DIR: &str = "cordex/output/EUR-44/CIRRUS/MPI-M-MPI-ESM-LR/rcp85/r1i1p1/CIRRUS-RCM1/v1/day/tas/v20250101";

/// The sample files, relative to the output directory.
fn expected_samples() -> Vec<String> {
    let mut files = vec![
        format!("{TAS_DIR}/tas_day_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_20150101-20151231.nc"),
        format!("{TAS_DIR}/tas_day_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_20160101-20161231.nc"),
    ];
    for range in ["201501-201912", "202001-202412", "202501-202912"] {
        files.push(format!("{PR_DIR}/pr_Amon_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_{range}.nc"));
    }
    files.push(format!("{EUR44_DIR}/tas_EUR-44_MPI-M-MPI-ESM-LR_rcp85_r1i1p1_CIRRUS-RCM1_v1_day_20710101-20711231.nc"));
    for name in ["all_types", "classic_desc_lat", "groups"] {
        files.push(format!("misc/{name}.nc"));
    }
    files
}

/// A sample set written into a temporary directory (removed when dropped).
struct Samples {
    dir: tempfile::TempDir,
    files: Vec<PathBuf>,
}

impl Samples {
    fn generate() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let files = write_samples(dir.path())?;
        Ok(Self { dir, files })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The sample set shared by the tests running at the same time: generated once,
/// removed when the last of them drops it.
fn samples() -> Result<Arc<Samples>> {
    static SHARED: Mutex<Weak<Samples>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().map_err(|_| anyhow::anyhow!("a test panicked while generating the samples"))?;
    if let Some(samples) = shared.upgrade() {
        return Ok(samples);
    }
    let samples = Arc::new(Samples::generate()?);
    *shared = Arc::downgrade(&samples);
    Ok(samples)
}

/// Opens a generated file for reading.
///
/// libnetcdf turns HDF5's error printing off only on the thread that initialised it,
/// so probes for optional attributes would print HDF5-DIAG noise on the other test
/// threads; silence it on this one.
fn open(path: &Path) -> Result<File> {
    hdf5::silence_errors(true);
    netcdf::open(path).with_context(|| format!("opening {}", path.display()))
}

fn open_in(dir: &Path, relative: &str) -> Result<File> {
    open(&dir.join(relative))
}

fn var<'f>(file: &'f File, name: &str) -> Result<Variable<'f>> {
    file.variable(name).with_context(|| format!("no variable {name:?}"))
}

fn att(var: &Variable, name: &str) -> Result<AttributeValue> {
    Ok(var.attribute_value(name).with_context(|| format!("no attribute {}:{name}", var.name()))??)
}

fn text(var: &Variable, name: &str) -> Result<String> {
    Ok(att(var, name)?.try_into()?)
}

fn global(file: &File, name: &str) -> Result<AttributeValue> {
    Ok(file.attribute(name).with_context(|| format!("no global attribute {name}"))?.value()?)
}

fn global_text(file: &File, name: &str) -> Result<String> {
    Ok(global(file, name)?.try_into()?)
}

fn dims(var: &Variable) -> Vec<(String, usize)> {
    var.dimensions().iter().map(|d| (d.name(), d.len())).collect()
}

fn dim_list(names: &[(&str, usize)]) -> Vec<(String, usize)> {
    names.iter().map(|&(n, l)| (n.to_string(), l)).collect()
}

fn values<T: NcTypeDescriptor + Copy>(file: &File, name: &str) -> Result<Vec<T>> {
    Ok(var(file, name)?.get_values::<T, _>(..)?)
}

/// Runs `ncdump` with `args` on `path` and returns its standard output.
fn ncdump(args: &[&str], path: &Path) -> Result<String> {
    let output =
        Command::new("ncdump").args(args).arg(path).output().context("running ncdump (Debian package netcdf-bin)")?;
    if !output.status.success() {
        bail!("ncdump {args:?} {} failed: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn assert_near(actual: f64, expected: f64, tolerance: f64) -> Result<()> {
    ensure!((actual - expected).abs() <= tolerance, "{actual} is not within {tolerance} of {expected}");
    Ok(())
}

#[test]
fn samples_have_the_drs_layout_are_small_and_valid() -> Result<()> {
    let dir = samples()?;
    let relative: Vec<String> = dir
        .files
        .iter()
        .map(|f| Ok(f.strip_prefix(dir.path())?.to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    assert_eq!(relative, expected_samples());
    let mut total = 0;
    for file in &dir.files {
        total += std::fs::metadata(file)?.len();
        let kind = ncdump(&["-k"], file)?;
        let expected = if file.ends_with("classic_desc_lat.nc") { "classic" } else { "netCDF-4" };
        assert_eq!(kind.trim(), expected, "{}", file.display());
        ncdump(&["-h"], file)?;
    }
    assert!(total < 25_000_000, "samples take {total} bytes");
    Ok(())
}

#[test]
fn samples_are_deterministic() -> Result<()> {
    let first = samples()?;
    let second = Samples::generate()?;
    for file in &first.files {
        let relative = file.strip_prefix(first.path())?;
        let same = std::fs::read(file)? == std::fs::read(second.path().join(relative))?;
        assert!(same, "{} differs between runs", relative.display());
    }
    Ok(())
}

#[test]
fn cmip6_daily_tas() -> Result<()> {
    let dir = samples()?;
    let name = |year: i32| format!("{TAS_DIR}/tas_day_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_{year}0101-{year}1231.nc");
    let file = open_in(dir.path(), &name(2015))?;
    let tas = var(&file, "tas")?;
    assert_eq!(tas.vartype(), f32::type_descriptor());
    assert_eq!(dims(&tas), dim_list(&[("time", 365), ("lat", 72), ("lon", 144)]));
    assert!(tas.dimensions()[0].is_unlimited());
    assert_eq!(tas.chunking()?, Some(vec![1, 72, 144]));
    assert_eq!(text(&tas, "standard_name")?, "air_temperature");
    assert_eq!(text(&tas, "long_name")?, "Near-Surface Air Temperature");
    assert_eq!(text(&tas, "units")?, "K");
    assert_eq!(text(&tas, "cell_methods")?, "area: time: mean");
    assert_eq!(text(&tas, "cell_measures")?, "area: areacella");
    assert_eq!(text(&tas, "coordinates")?, "height");
    assert_eq!(att(&tas, "_FillValue")?, AttributeValue::Float(1.0e20));
    assert_eq!(att(&tas, "missing_value")?, AttributeValue::Float(1.0e20));
    assert_eq!(values::<f64>(&file, "height")?, vec![2.0]);

    let lat = values::<f64>(&file, "lat")?;
    let lon = values::<f64>(&file, "lon")?;
    assert_eq!((lat[0], lat[71]), (-88.75, 88.75));
    assert_eq!((lon[0], lon[143]), (1.25, 358.75));
    assert_eq!(&values::<f64>(&file, "lat_bnds")?[..2], &[-90.0, -87.5]);
    assert_eq!(&values::<f64>(&file, "lon_bnds")?[286..], &[357.5, 360.0]);

    let time = var(&file, "time")?;
    assert_eq!(text(&time, "calendar")?, "noleap");
    assert_eq!(text(&time, "units")?, "days since 1850-01-01");
    assert_eq!(text(&time, "bounds")?, "time_bnds");
    let times = values::<f64>(&file, "time")?;
    assert_eq!((times[0], times[364]), (60_225.5, 60_589.5));
    assert_eq!(&values::<f64>(&file, "time_bnds")?[..2], &[60_225.0, 60_226.0]);

    for (name, value) in [
        ("Conventions", "CF-1.7 CMIP-6.2"),
        ("activity_id", "ScenarioMIP"),
        ("experiment_id", "ssp245"),
        ("source_id", "CIRRUS-SYN-1"),
        ("variable_id", "tas"),
        ("table_id", "day"),
        ("frequency", "day"),
        ("grid_label", "gn"),
        ("variant_label", "r1i1p1f1"),
        ("institution_id", "CIRRUS"),
        ("mip_era", "CMIP6"),
    ] {
        assert_eq!(global_text(&file, name)?, value, "{name}");
    }
    assert!(global_text(&file, "tracking_id")?.starts_with("hdl:21.14100/"));
    for name in ["license", "history", "title"] {
        global_text(&file, name)?;
    }

    // A smooth, varying field with the four south-western cells missing.
    let step: Vec<f32> = tas.get_values((0, .., ..))?;
    assert!(step[..4].iter().all(|&v| v == 1.0e20));
    let valid: Vec<f32> = step[4..].to_vec();
    assert!(valid.iter().all(|v| (200.0..330.0).contains(v)));
    let (min, max) = valid.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(max - min > 30.0, "range {min}..{max}");

    let header = ncdump(&["-hs"], &dir.path().join(name(2015)))?;
    assert!(header.contains("tas:_DeflateLevel = 4 ;"), "{header}");
    assert!(header.contains("tas:_Shuffle = \"true\" ;"), "{header}");

    // The second year continues the first.
    let next = open_in(dir.path(), &name(2016))?;
    assert_eq!(values::<f64>(&next, "time")?[0], 60_590.5);
    Ok(())
}

#[test]
fn cmip6_monthly_pr() -> Result<()> {
    let dir = samples()?;
    let mut first_times = Vec::new();
    for range in ["201501-201912", "202001-202412", "202501-202912"] {
        let file = open_in(dir.path(), &format!("{PR_DIR}/pr_Amon_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_{range}.nc"))?;
        let pr = var(&file, "pr")?;
        assert_eq!(pr.vartype(), f32::type_descriptor());
        assert_eq!(dims(&pr), dim_list(&[("time", 60), ("lat", 72), ("lon", 144)]));
        assert_eq!(pr.chunking()?, Some(vec![1, 72, 144]));
        assert_eq!(text(&pr, "units")?, "kg m-2 s-1");
        assert_eq!(text(&pr, "standard_name")?, "precipitation_flux");
        assert_eq!(text(&var(&file, "time")?, "calendar")?, "360_day");
        assert_eq!(global_text(&file, "table_id")?, "Amon");
        assert_eq!(global_text(&file, "frequency")?, "mon");
        let data: Vec<f32> = pr.get_values(..)?;
        assert!(data.iter().all(|&p| p > 0.0 && p < 1.0e-3));
        first_times.push(values::<f64>(&file, "time")?[0]);
    }
    // Mid-month in a 360-day calendar: (year - 1850) * 360 + 15.
    assert_eq!(first_times, vec![59_415.0, 61_215.0, 63_015.0]);
    Ok(())
}

#[test]
fn cordex_eur44_rotated_pole() -> Result<()> {
    let dir = samples()?;
    let file = open_in(
        dir.path(),
        &format!("{EUR44_DIR}/tas_EUR-44_MPI-M-MPI-ESM-LR_rcp85_r1i1p1_CIRRUS-RCM1_v1_day_20710101-20711231.nc"),
    )?;
    let tas = var(&file, "tas")?;
    assert_eq!(dims(&tas), dim_list(&[("time", 365), ("rlat", 103), ("rlon", 106)]));
    assert_eq!(tas.chunking()?, Some(vec![1, 103, 106]));
    assert_eq!(text(&tas, "grid_mapping")?, "rotated_pole");
    assert_eq!(text(&tas, "coordinates")?, "lat lon");

    let pole = var(&file, "rotated_pole")?;
    assert_eq!(pole.vartype(), NcVariableType::Char);
    assert_eq!(text(&pole, "grid_mapping_name")?, "rotated_latitude_longitude");
    assert_eq!(att(&pole, "grid_north_pole_latitude")?, AttributeValue::Double(39.25));
    assert_eq!(att(&pole, "grid_north_pole_longitude")?, AttributeValue::Double(-162.0));

    let rlat = var(&file, "rlat")?;
    let rlon = var(&file, "rlon")?;
    assert_eq!(text(&rlat, "standard_name")?, "grid_latitude");
    assert_eq!(text(&rlon, "standard_name")?, "grid_longitude");
    assert_eq!((text(&rlat, "axis")?, text(&rlon, "axis")?), ("Y".into(), "X".into()));
    let rlat = values::<f64>(&file, "rlat")?;
    let rlon = values::<f64>(&file, "rlon")?;
    assert_eq!((rlat[0], rlat[102]), (-23.21, 21.67));
    assert_eq!((rlon[0], rlon[105]), (-28.21, 17.99));

    // 2-D coordinates at the corner cells (values from PROJ's ob_tran).
    let lat = var(&file, "lat")?;
    let lon = var(&file, "lon")?;
    assert_eq!(dims(&lat), dim_list(&[("rlat", 103), ("rlon", 106)]));
    let corners = [
        ((0, 0), (22.199_365, -9.984_238)),
        ((0, 105), (25.313_581, 36.300_757)),
        ((102, 0), (60.205_741, -44.140_691)),
        ((102, 105), (66.651_631, 64.403_976)),
    ];
    for ((j, i), (expected_lat, expected_lon)) in corners {
        assert_near(lat.get_value::<f64, _>([j, i])?, expected_lat, 1e-5)?;
        assert_near(lon.get_value::<f64, _>([j, i])?, expected_lon, 1e-5)?;
    }

    let time = var(&file, "time")?;
    assert_eq!(text(&time, "calendar")?, "proleptic_gregorian");
    assert_eq!(text(&time, "units")?, "days since 1949-12-01");
    let times = values::<f64>(&file, "time")?;
    assert_eq!((times[0], times[364]), (44_226.5, 44_590.5));

    for (name, value) in [
        ("project_id", "CORDEX"),
        ("CORDEX_domain", "EUR-44"),
        ("driving_model_id", "MPI-M-MPI-ESM-LR"),
        ("experiment_id", "rcp85"),
        ("model_id", "CIRRUS-RCM1"),
        ("rcm_version_id", "v1"),
        ("frequency", "day"),
    ] {
        assert_eq!(global_text(&file, name)?, value, "{name}");
    }
    let data: Vec<f32> = tas.get_values((200, .., ..))?;
    assert!(data.iter().all(|v| (240.0..320.0).contains(v)));
    Ok(())
}

#[test]
fn misc_all_types() -> Result<()> {
    let dir = samples()?;
    let file = open_in(dir.path(), "misc/all_types.nc")?;
    let types = [
        ("byte_var", i8::type_descriptor()),
        ("ubyte_var", u8::type_descriptor()),
        ("short_var", i16::type_descriptor()),
        ("ushort_var", u16::type_descriptor()),
        ("int_var", i32::type_descriptor()),
        ("uint_var", u32::type_descriptor()),
        ("int64_var", i64::type_descriptor()),
        ("uint64_var", u64::type_descriptor()),
        ("float_var", f32::type_descriptor()),
        ("double_var", f64::type_descriptor()),
        ("char_var", NcVariableType::Char),
        ("string_var", NcVariableType::String),
        ("surface pressure", f32::type_descriptor()),
        ("packed_temp", i16::type_descriptor()),
        ("nan_fill_var", f32::type_descriptor()),
        ("scalar_var", f64::type_descriptor()),
    ];
    for (name, expected) in types {
        assert_eq!(var(&file, name)?.vartype(), expected, "{name}");
    }
    assert!(values::<i8>(&file, "byte_var")?.contains(&-128));
    assert!(values::<u64>(&file, "uint64_var")?.iter().any(|&v| v > 1 << 32));

    let chars = var(&file, "char_var")?.get_raw_values(..)?;
    assert_eq!(&chars[..8], b"alpha\0\0\0");
    let strings = var(&file, "string_var")?;
    assert_eq!(strings.get_string(3)?, "température °C – 日本");
    assert_eq!(strings.get_string(2)?, "quote \" and backslash \\");

    let packed = var(&file, "packed_temp")?;
    assert_eq!(dims(&packed), dim_list(&[("y", 4), ("x", 6)]));
    assert_eq!(att(&packed, "scale_factor")?, AttributeValue::Float(0.01));
    assert_eq!(att(&packed, "add_offset")?, AttributeValue::Float(273.15));
    assert_eq!(att(&packed, "_FillValue")?, AttributeValue::Short(-32768));
    assert!(packed.get_values::<i16, _>(..)?.contains(&-32768));

    let nan_fill: f32 = att(&var(&file, "nan_fill_var")?, "_FillValue")?.try_into()?;
    assert!(nan_fill.is_nan());
    let scalar = var(&file, "scalar_var")?;
    assert!(scalar.dimensions().is_empty());
    assert_eq!(scalar.get_value::<f64, _>(..)?, 42.5);
    assert_eq!(dims(&var(&file, "x")?), dim_list(&[("x", 6)]));

    assert!(global_text(&file, "history")?.lines().count() >= 3);
    assert!(global_text(&file, "quoted")?.contains("\"hello\""));
    assert!(global_text(&file, "quoted")?.contains('\\'));
    assert_eq!(global_text(&file, "non_ascii")?, "température °C – 日本");
    match global(&file, "string_list")? {
        AttributeValue::Strs(list) => assert_eq!(list.len(), 4),
        other => bail!("string_list is {other:?}"),
    }
    let numeric = [
        ("att_byte", AttributeValue::Schar(-5)),
        ("att_ubyte", AttributeValue::Uchar(250)),
        ("att_short", AttributeValue::Short(-1234)),
        ("att_ushort", AttributeValue::Ushort(65_000)),
        ("att_int", AttributeValue::Int(-123_456)),
        ("att_uint", AttributeValue::Uint(4_000_000_000)),
        ("att_int64", AttributeValue::Longlong(-5_000_000_000)),
        ("att_uint64", AttributeValue::Ulonglong(10_000_000_000_000_000_000)),
        ("att_float", AttributeValue::Float(3.5)),
        ("att_double", AttributeValue::Double(std::f64::consts::PI)),
        ("att_float_big", AttributeValue::Float(1.0e20)),
    ];
    for (name, expected) in numeric {
        assert_eq!(global(&file, name)?, expected, "{name}");
    }
    let nan: f32 = global(&file, "att_float_nan")?.try_into()?;
    assert!(nan.is_nan());
    Ok(())
}

#[test]
fn misc_classic_descending_latitude() -> Result<()> {
    let dir = samples()?;
    let file = open_in(dir.path(), "misc/classic_desc_lat.nc")?;
    let lat = values::<f64>(&file, "lat")?;
    assert_eq!((lat[0], lat[lat.len() - 1]), (90.0, -90.0));
    assert!(lat.windows(2).all(|w| w[0] > w[1]));
    let lon = values::<f64>(&file, "lon")?;
    assert_eq!((lon[0], lon[lon.len() - 1], lon.len()), (0.0, 357.5, 144));
    let tas = var(&file, "tas")?;
    assert_eq!(tas.vartype(), f32::type_descriptor());
    assert_eq!(dims(&tas), dim_list(&[("time", 24), ("lat", 73), ("lon", 144)]));
    let time = var(&file, "time")?;
    assert_eq!(text(&time, "calendar")?, "standard");
    assert_eq!(text(&time, "units")?, "days since 2000-01-01");
    assert_eq!(values::<f64>(&file, "time")?[0], 15.5);
    // January 2000 to 1 February 2000, then February of a leap year.
    assert_eq!(&values::<f64>(&file, "time_bnds")?[..4], &[0.0, 31.0, 31.0, 60.0]);
    Ok(())
}

#[test]
fn misc_groups() -> Result<()> {
    let dir = samples()?;
    let file = open_in(dir.path(), "misc/groups.nc")?;
    let g1 = file.group("g1")?.context("no group g1")?;
    assert_eq!(g1.dimension("y").map(|d| d.len()), Some(4));
    let g1_var = g1.variable("g1_var").context("no g1_var")?;
    assert_eq!(dims(&g1_var), dim_list(&[("y", 4), ("x", 3)]));
    assert!(g1.attribute("group_title").is_some());
    let g2 = file.group("g1/g2")?.context("no group g1/g2")?;
    assert_eq!(g2.dimension("z").map(|d| d.len()), Some(2));
    let g2_var = g2.variable("g2_var").context("no g2_var")?;
    assert_eq!(dims(&g2_var), dim_list(&[("z", 2), ("y", 4)]));
    assert_eq!(g2_var.get_values::<i32, _>(..)?, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(g2.attribute("tags").is_some());
    Ok(())
}

#[test]
fn cmip6_daily_for_benchmarks() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let opts = DailyOptions {
        years: 3,
        years_per_file: 2,
        resolution_deg: 10.0,
        deflate: 1,
        shuffle: false,
        chunk: Some([5, 9, 18]),
        calendar: Calendar::Day360,
        ..DailyOptions::default()
    };
    let files = write_cmip6_daily(dir.path(), &opts)?;
    let names: Vec<String> =
        files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    assert_eq!(
        names,
        [
            "tas_day_CIRRUS-BENCH-1_ssp245_r1i1p1f1_gn_20150101-20161230.nc",
            "tas_day_CIRRUS-BENCH-1_ssp245_r1i1p1f1_gn_20170101-20171230.nc",
        ]
    );
    let file = open(&files[1])?;
    let tas = var(&file, "tas")?;
    assert_eq!(dims(&tas), dim_list(&[("time", 360), ("lat", 18), ("lon", 36)]));
    assert_eq!(tas.chunking()?, Some(vec![5, 9, 18]));
    assert_eq!(text(&var(&file, "time")?, "calendar")?, "360_day");
    let header = ncdump(&["-hs"], &files[1])?;
    assert!(header.contains("tas:_DeflateLevel = 1 ;"), "{header}");
    assert!(!header.contains("tas:_Shuffle"), "{header}");

    // Splitting into files does not change the data.
    let whole_dir = tempfile::tempdir()?;
    let whole = write_cmip6_daily(whole_dir.path(), &DailyOptions { years_per_file: 3, ..opts })?;
    let whole = open(&whole[0])?;
    let expected: Vec<f32> = var(&whole, "tas")?.get_values((720, .., ..))?;
    let actual: Vec<f32> = tas.get_values((0, .., ..))?;
    assert_eq!(actual, expected);
    Ok(())
}

#[test]
fn cmip6_daily_rejects_bad_options() {
    let dir = Path::new("/nonexistent");
    let bad = [
        DailyOptions { resolution_deg: 0.7, ..DailyOptions::default() },
        DailyOptions { deflate: 10, ..DailyOptions::default() },
        DailyOptions { years: 0, ..DailyOptions::default() },
        DailyOptions { source_id: "bad_name".into(), ..DailyOptions::default() },
    ];
    for opts in bad {
        assert!(write_cmip6_daily(dir, &opts).is_err(), "{opts:?}");
    }
}

#[test]
fn eur11_daily_for_benchmarks() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let files = write_eur11_daily(dir.path(), 3)?;
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with(
        "cordex/output/EUR-11/CIRRUS/MPI-M-MPI-ESM-LR/rcp85/r1i1p1/CIRRUS-RCM1/v1/day/tas/v20250101/\
         tas_EUR-11_MPI-M-MPI-ESM-LR_rcp85_r1i1p1_CIRRUS-RCM1_v1_day_20710101-20710103.nc"
    ));
    let file = open(&files[0])?;
    let tas = var(&file, "tas")?;
    assert_eq!(dims(&tas), dim_list(&[("time", 3), ("rlat", 412), ("rlon", 424)]));
    // South-west cell of a published EUR-11 file (IPSL-WRF381P).
    assert_near(var(&file, "lat")?.get_value::<f64, _>([0, 0])?, 21.987_829, 1e-5)?;
    assert_near(var(&file, "lon")?.get_value::<f64, _>([0, 0])?, -10.063_873, 1e-5)?;
    ncdump(&["-h"], &files[0])?;
    Ok(())
}
