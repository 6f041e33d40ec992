//! `cirrus-testdata`: writes synthetic NetCDF files for cirrus samples, tests and
//! benchmarks, then lists them with their sizes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use cirrus_testdata::{write_cmip6_daily, write_eur11_daily, write_samples, Calendar, DailyOptions};

/// Write synthetic CMIP6/CORDEX-like NetCDF files (deterministic: the same command
/// always writes the same data).
#[derive(Debug, Parser)]
#[command(name = "cirrus-testdata", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the small sample set (about 20 MB) that cirrus serves when no data
    /// directory is given: CMIP6 daily tas and monthly pr, CORDEX EUR-44 daily tas,
    /// and edge-case files under misc/.
    Samples {
        /// Root directory (DRS directories are created below it).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write daily CMIP6 tas on a global grid for benchmarks, streaming one chunk row
    /// at a time (e.g. `--years 20 --res 0.25` writes several GB).
    Cmip6Daily(Cmip6DailyArgs),
    /// Write daily CORDEX tas on the EUR-11 rotated grid (424 × 412) for benchmarks,
    /// from 2071-01-01, one file per year.
    Eur11Daily {
        /// Root directory (DRS directories are created below it).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Number of days.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
    },
}

#[derive(Debug, Args)]
struct Cmip6DailyArgs {
    /// Root directory (DRS directories are created below it).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of years.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    years: u32,
    /// First year.
    #[arg(long, default_value_t = 2015)]
    start_year: i32,
    /// Grid spacing in degrees; must divide 180 (1 → 180 × 360, 0.25 → 720 × 1440).
    #[arg(long = "res", value_name = "DEG", default_value_t = 1.0)]
    resolution: f64,
    /// zlib deflate level (0 = uncompressed).
    #[arg(long, value_name = "LEVEL", default_value_t = 4,
          value_parser = clap::value_parser!(u8).range(0..=9))]
    deflate: u8,
    /// Disable the byte-shuffle filter.
    #[arg(long)]
    no_shuffle: bool,
    /// Years per file.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    years_per_file: u32,
    /// Chunk shape TIME,LAT,LON (default: 1,NLAT,NLON). Memory use is one chunk row
    /// of TIME steps.
    #[arg(long, value_name = "T,Y,X", value_parser = parse_chunk)]
    chunk: Option<[usize; 3]>,
    /// Round values to this many mantissa bits (1–23, like netCDF BitRound) so that
    /// they compress better (default: full precision).
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u8).range(1..=23))]
    bit_round: Option<u8>,
    /// CF calendar: noleap, 360_day, standard, proleptic_gregorian, all_leap, julian.
    #[arg(long, default_value_t = Calendar::Noleap)]
    calendar: Calendar,
    /// CMIP6 source_id used in the DRS path and file names.
    #[arg(long, default_value = "CIRRUS-BENCH-1")]
    source_id: String,
}

impl From<Cmip6DailyArgs> for DailyOptions {
    fn from(args: Cmip6DailyArgs) -> Self {
        Self {
            years: args.years,
            start_year: args.start_year,
            years_per_file: args.years_per_file,
            resolution_deg: args.resolution,
            deflate: args.deflate,
            shuffle: !args.no_shuffle,
            chunk: args.chunk,
            bit_round: args.bit_round,
            calendar: args.calendar,
            source_id: args.source_id,
        }
    }
}

/// Parses `T,Y,X` into a chunk shape.
fn parse_chunk(text: &str) -> Result<[usize; 3], String> {
    let sizes = text
        .split(',')
        .map(|s| s.trim().parse::<usize>().map_err(|e| format!("{s:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    match sizes[..] {
        [t, y, x] if t > 0 && y > 0 && x > 0 => Ok([t, y, x]),
        _ => Err("expected three positive sizes T,Y,X".to_string()),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let started = Instant::now();
    let files = match cli.command {
        Command::Samples { out } => write_samples(&out)?,
        Command::Cmip6Daily(args) => {
            let out = args.out.clone();
            write_cmip6_daily(&out, &args.into())?
        }
        Command::Eur11Daily { out, days } => write_eur11_daily(&out, days as usize)?,
    };
    report(&files, started)
}

/// Prints every file with its size, then the total.
fn report(files: &[PathBuf], started: Instant) -> Result<()> {
    let mut total = 0;
    for path in files {
        let size = file_size(path)?;
        total += size;
        println!("{:>12}  {}", megabytes(size), path.display());
    }
    println!(
        "{:>12}  total in {} files, written in {:.2} s",
        megabytes(total),
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("reading the size of {}", path.display()))?.len())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1.0e6)
}
