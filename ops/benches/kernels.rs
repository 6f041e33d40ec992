//! Micro-benchmarks of the hot kernels, in bytes per second (`Throughput::Bytes`):
//!
//! - `xdr_encode`: DAP2 XDR encoding of a 4 MiB block of values (`encode::xdr::values`);
//! - `chunk_decode`: a stored NetCDF-4 chunk (1 × 180 × 360 float, deflate 4 + shuffle,
//!   written by `cirrus-testdata` like the benchmark files) to values
//!   (`read::chunked::ChunkedVar::decode`), and its two steps alone (libdeflate inflate,
//!   `read::decode::unshuffle`), and the write path of NetCDF-4 outputs (shuffle +
//!   libdeflate level 1, `netcdf_io::chunk_writer`); throughput counts decoded bytes;
//! - `unpack`: stored values to numbers (`cf::Decode::decode`): packed shorts with
//!   `scale_factor`/`add_offset`, floats with a `_FillValue`; counts stored bytes;
//! - `regrid_apply`: sparse weights applied to 8 slices of a 1° field onto a 2° grid
//!   (`regrid::Plan::apply`, bilinear and conservative); counts source bytes (f64);
//! - `colour_index`: a 256 × 256 WMS tile of values to palette indices
//!   (`render::ColourScale::index`), linear and log scales, against the linear arithmetic
//!   without the log branch; counts values (f32).
//!
//! `cargo bench -p cirrus-ops --bench kernels` (append `-- --quick` for a short run).

use cirrus_ops::model::{AttrValue, Attribute, DataType, Variable};
use cirrus_ops::read::chunked::ChunkedVar;
use cirrus_ops::read::decode::{shuffle, unshuffle};
use cirrus_ops::regrid::{self, LatLonGrid, Method, Plan, SourceGrid, Target};
use cirrus_ops::render::{ColourScale, OutOfRange, ScaleSpec};
use cirrus_ops::{encode::xdr, Data};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Elements of a 4 MiB block of 4-byte values, the block size of the DAP2 reader.
const BLOCK: usize = 1 << 20;

fn field_f32(n: usize) -> Vec<f32> {
    #[allow(clippy::cast_precision_loss)]
    (0..n).map(|i| 273.15 + 30.0 * ((i as f32) * 0.001).sin()).collect()
}

fn xdr_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("xdr_encode");
    let f = field_f32(BLOCK);
    #[allow(clippy::cast_possible_truncation)]
    let blocks = [
        ("f32", Data::F32(f.clone())),
        ("f64", Data::F64(f.iter().map(|&x| f64::from(x)).collect())),
        ("i16", Data::I16(f.iter().map(|&x| (x * 10.0) as i16).collect())),
    ];
    let mut buf = Vec::new();
    for (name, data) in &blocks {
        let bytes = data.len() * data.dtype().size();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(BenchmarkId::new(*name, "4MiB"), data, |b, d| {
            b.iter(|| xdr::values(&mut std::io::sink(), black_box(d), &mut buf).expect("encode"));
        });
    }
    g.finish();
}

/// The first file of a one-year 1° daily tas dataset written by `cirrus-testdata`.
fn testdata_file(dir: &Path) -> PathBuf {
    let opts = cirrus_testdata::DailyOptions::default();
    let files = cirrus_testdata::write_cmip6_daily(dir, &opts).expect("write test data");
    files.into_iter().next().expect("one file")
}

fn chunk_decode(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = testdata_file(dir.path());
    let var =
        ChunkedVar::open(&path, &variable(DataType::F32, vec![])).expect("open").expect("tas is chunked and deflated");
    let loc = var.locate(&[100, 0, 0]).expect("locate").expect("chunk stored");
    let raw = var.read_raw(loc).expect("read chunk");
    let decoded = var.decode(raw.clone(), loc.mask).expect("decode");
    let bytes = decoded.len() * 4;
    let mut g = c.benchmark_group("chunk_decode");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("inflate+unshuffle 1x180x360 f32", |b| {
        b.iter_batched(|| raw.clone(), |r| var.decode(r, loc.mask).expect("decode"), BatchSize::SmallInput);
    });
    let mut out = vec![0u8; bytes + 64];
    let mut shuffled = Vec::new();
    g.bench_function("inflate (libdeflate) 1x180x360 f32", |b| {
        b.iter(|| {
            let mut d = libdeflater::Decompressor::new();
            let n = d.zlib_decompress(black_box(&raw), &mut out).expect("inflate");
            shuffled.clear();
            shuffled.extend_from_slice(&out[..n]);
        });
    });
    g.bench_function("unshuffle 1x180x360 f32", |b| b.iter(|| unshuffle(black_box(&shuffled), 4)));
    // the write path of NetCDF-4 outputs (netcdf_io::chunk_writer)
    let plain = unshuffle(&shuffled, 4);
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::fastest());
    let mut packed = vec![0u8; c.zlib_compress_bound(plain.len())];
    g.bench_function("shuffle+deflate 1 (libdeflate) 1x180x360 f32", |b| {
        b.iter(|| c.zlib_compress(&shuffle(black_box(&plain), 4), &mut packed).expect("deflate"));
    });
    g.finish();
}

fn variable(dtype: DataType, attrs: Vec<(&str, AttrValue)>) -> Variable {
    Variable {
        name: "tas".into(),
        dtype,
        dims: vec!["time".into(), "lat".into(), "lon".into()],
        shape: vec![1, 1024, 1024],
        attrs: attrs.into_iter().map(|(n, value)| Attribute { name: n.into(), value }).collect(),
        chunks: None,
        filters: Vec::new(),
        joined: false,
    }
}

fn unpack(c: &mut Criterion) {
    let f = field_f32(BLOCK);
    #[allow(clippy::cast_possible_truncation)]
    let packed = Data::I16(f.iter().map(|&x| ((x - 273.15) * 100.0) as i16).collect());
    let short = variable(
        DataType::I16,
        vec![
            ("scale_factor", AttrValue::F32(vec![0.01])),
            ("add_offset", AttrValue::F32(vec![273.15])),
            ("_FillValue", AttrValue::I16(vec![-32767])),
        ],
    );
    let float = variable(DataType::F32, vec![("_FillValue", AttrValue::F32(vec![1e20]))]);
    let mut g = c.benchmark_group("unpack");
    for (name, v, data) in [("i16 scale+offset", short, packed), ("f32 fill value", float, Data::F32(f))] {
        let dec = regrid::Decode::of(&v);
        g.throughput(Throughput::Bytes((data.len() * data.dtype().size()) as u64));
        g.bench_with_input(BenchmarkId::new(name, "4MiB"), &data, |b, d| {
            b.iter(|| dec.decode(black_box(d), "read").expect("decode"));
        });
    }
    g.finish();
}

/// A global regular grid of `res` degrees, as `SourceGrid::regular` builds it from a file.
fn global(res: f64) -> SourceGrid {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (ny, nx) = ((180.0 / res) as usize, (360.0 / res) as usize);
    #[allow(clippy::cast_precision_loss)]
    let axis = |n: usize, lo: f64| (0..n).map(|i| lo + res * (i as f64 + 0.5)).collect::<Vec<f64>>();
    let (lat, lon) = (axis(ny, -90.0), axis(nx, 0.0));
    let bounds = |c: &[f64]| c.iter().map(|&x| [x - res / 2.0, x + res / 2.0]).collect::<Vec<_>>();
    let (lat_b, lon_b) = (bounds(&lat), bounds(&lon));
    SourceGrid::regular(lat, lon, &lat_b, &lon_b, true, true, "lat".into(), "lon".into())
}

fn regrid_apply(c: &mut Criterion) {
    let source = Arc::new(global(1.0));
    let target = Target::LatLon(LatLonGrid::centred(1.0, 2.0, 180, -89.0, 2.0, 90, "2deg"));
    let mut g = c.benchmark_group("regrid_apply");
    for method in [Method::Bilinear, Method::Conservative] {
        let w = regrid::field::compute(&source, &target, method).expect("weights");
        let plan = Plan::with_weights(source.clone(), target.clone(), method, 0.5, &w);
        let slices = 8;
        #[allow(clippy::cast_precision_loss)]
        let vals: Vec<f64> = (0..slices * plan.window_len()).map(|i| 273.15 + (i % 997) as f64 * 0.01).collect();
        g.throughput(Throughput::Bytes((vals.len() * 8) as u64));
        g.bench_with_input(BenchmarkId::new(method.name(), "8x180x360 to 2deg"), &vals, |b, v| {
            b.iter(|| plan.apply(black_box(v)));
        });
    }
    g.finish();
}

/// WMS colouring: a 256 x 256 tile of values to palette indices (`render::ColourScale::index`,
/// the per-pixel step of every GetMap), with a linear and a log scale, and the same linear
/// arithmetic written here without the log branch (a reference: if `index` with a linear
/// scale is as slow as with a log one, `log10` is evaluated for every pixel anyway);
/// counts values (f32).
fn colour_index(c: &mut Criterion) {
    let n = 256 * 256;
    #[allow(clippy::cast_precision_loss)]
    let vals: Vec<f32> =
        (0..n).map(|i| if i % 97 == 0 { f32::NAN } else { 220.0 + (i % 9001) as f32 * 0.01 }).collect();
    let mut g = c.benchmark_group("colour_index");
    g.throughput(Throughput::Bytes((n * 4) as u64));
    for log in [false, true] {
        let spec = ScaleSpec {
            stops: vec![[0, 0, 0], [255, 255, 255]],
            bands: 250,
            log,
            below: OutOfRange::Extend,
            above: OutOfRange::Extend,
            opacity: 1.0,
            nodata: [0, 0, 0, 0],
        };
        let scale = ColourScale::new(&spec, 220.0, 310.0).expect("scale");
        let name = if log { "index, log scale" } else { "index, linear scale" };
        g.bench_function(BenchmarkId::new(name, "256x256"), |b| {
            b.iter(|| black_box(&vals).iter().map(|&v| scale.index(v)).collect::<Vec<u8>>());
        });
    }
    let (min, max, bands) = (220.0_f64, 310.0_f64, 250_u32);
    g.bench_function(BenchmarkId::new("linear arithmetic without log10 (reference)", "256x256"), |b| {
        b.iter(|| {
            black_box(&vals)
                .iter()
                .map(|&v| {
                    let v = f64::from(v);
                    if v.is_nan() {
                        0
                    } else if v < min {
                        251
                    } else if v > max {
                        252
                    } else {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let k = (((v - min) / (max - min)) * f64::from(bands)).floor() as u32;
                        u8::try_from(k.min(bands - 1) + 1).unwrap_or(u8::MAX)
                    }
                })
                .collect::<Vec<u8>>()
        });
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = kernels;
    config = config();
    targets = xdr_encode, chunk_decode, unpack, regrid_apply, colour_index
}
criterion_main!(kernels);
