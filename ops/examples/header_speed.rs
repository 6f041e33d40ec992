//! Time to read what the catalog keeps of a file, with libnetcdf (`catalog::read_info`,
//! serialised behind the library's global lock) and with the pure-Rust reader
//! (`catalog::fast_header::read_info`, no lock), over the shared ESGF files in the
//! page cache.
//!
//! `CIRRUS_SHARED_DATA=/work/shared/data cargo run --release --example header_speed [ROUNDS]`
//! (`PER_FILE=1`: both paths file by file; `ONE_FILE=path`: the fast path on one file
//! ROUNDS times, for a profiler).

use cirrus_ops::catalog::{self, fast_header};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn netcdf_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
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

/// Milliseconds per file of `read` over `files`, `rounds` times, on `threads` threads
/// (each takes every n-th file).
fn per_file(files: &[PathBuf], rounds: usize, threads: usize, read: fn(&Path) -> bool) -> f64 {
    let t = Instant::now();
    for _ in 0..rounds {
        std::thread::scope(|s| {
            for k in 0..threads {
                s.spawn(move || {
                    for f in files.iter().skip(k).step_by(threads) {
                        assert!(read(f), "{} not read", f.display());
                    }
                });
            }
        });
    }
    t.elapsed().as_secs_f64() * 1e3 / (rounds * files.len()) as f64
}

fn main() {
    let base = std::env::var_os("CIRRUS_SHARED_DATA").map_or_else(|| PathBuf::from("../shared/data"), PathBuf::from);
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    if let Some(one) = std::env::var_os("ONE_FILE") {
        for _ in 0..rounds {
            fast_header::read_info(Path::new(&one)).expect("some").expect("ok");
        }
        return;
    }
    if std::env::var_os("PER_FILE").is_some() {
        per_file_report(&netcdf_files(&base.join("esgf")));
        return;
    }
    let files = netcdf_files(&base.join("esgf"));
    assert!(!files.is_empty(), "no files under {}", base.join("esgf").display());
    // Into the page cache, and check that both paths read every file.
    for f in &files {
        std::fs::read(f).expect("read");
        assert!(catalog::read_info(f).is_ok() && matches!(fast_header::read_info(f), Some(Ok(_))));
    }
    let lib: fn(&Path) -> bool = |p| catalog::read_info(p).is_ok();
    let fast: fn(&Path) -> bool = |p| matches!(fast_header::read_info(p), Some(Ok(_)));
    let is_nc4 = |p: &PathBuf| std::fs::read(p).map(|b| b.starts_with(b"\x89HDF")).unwrap_or(false);
    let (nc4, nc3): (Vec<PathBuf>, Vec<PathBuf>) = files.iter().cloned().partition(is_nc4);
    println!("{} files ({} NetCDF-4, {} NetCDF-3), {rounds} rounds, ms per file:", files.len(), nc4.len(), nc3.len());
    println!("{:<12} {:>12} {:>12} {:>12} {:>12}", "files", "libnetcdf", "lib 2 thr", "fast", "fast 2 thr");
    for (name, set) in [("NetCDF-4", &nc4), ("NetCDF-3", &nc3), ("all", &files)] {
        if set.is_empty() {
            continue;
        }
        println!(
            "{name:<12} {:>12.3} {:>12.3} {:>12.3} {:>12.3}",
            per_file(set, rounds, 1, lib),
            per_file(set, rounds, 2, lib),
            per_file(set, rounds, 1, fast),
            per_file(set, rounds, 2, fast)
        );
    }
}

fn per_file_report(files: &[PathBuf]) {
    for f in files {
        let t = Instant::now();
        for _ in 0..5 {
            catalog::read_info(f).expect("lib");
        }
        let l = t.elapsed().as_secs_f64() * 1e3 / 5.0;
        let t = Instant::now();
        for _ in 0..5 {
            fast_header::read_info(f).expect("some").expect("ok");
        }
        let q = t.elapsed().as_secs_f64() * 1e3 / 5.0;
        println!("{l:9.3} {q:9.3}  {}", f.file_name().and_then(|s| s.to_str()).unwrap_or(""));
    }
}
