//! Synthetic, deterministic NetCDF files for cirrus: the sample data set served on
//! first start, fixtures for tests, and large files for benchmarks.
//!
//! Every file looks like its real counterpart (ESGF DRS directory layout, CMOR/CORDEX
//! metadata, CF coordinates and bounds, calendars, deflate + shuffle, chunking) and
//! holds smooth, plausible fields with a little deterministic pseudo-noise, so that
//! subsetting, averaging and regridding give meaningful results and repeated runs
//! write identical data.
//!
//! - [`write_samples`]: the small sample set (about 20 MB; its gridded data are
//!   rounded to 15 (temperature) or 12 (precipitation) mantissa bits, a step of
//!   0.008 K near 288 K, so that they compress to half their size).
//! - [`write_cmip6_daily`]: daily CMIP6 `tas` of any size, for benchmarks.
//! - [`write_eur11_daily`]: daily CORDEX EUR-11 `tas`, for benchmarks.

mod calendar;
mod cmip6;
mod cordex;
mod field;
mod grid;
mod gridded;
mod metadata;
mod misc;
mod netcdf_ext;
mod output;
mod time_axis;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use calendar::{Calendar, Date, UnknownCalendar};
pub use cmip6::{write_cmip6_daily, DailyOptions};
pub use cordex::write_eur11_daily;

/// Writes the sample data set under `dir` and returns the paths of the files written.
///
/// ```text
/// CMIP6/ScenarioMIP/CIRRUS/CIRRUS-SYN-1/ssp245/r1i1p1f1/day/tas/gn/v20250101/
///     tas_day_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_20150101-20151231.nc   daily, noleap, 2.5°
///     tas_day_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_20160101-20161231.nc
/// CMIP6/ScenarioMIP/CIRRUS/CIRRUS-SYN-1/ssp245/r1i1p1f1/Amon/pr/gn/v20250101/
///     pr_Amon_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_201501-201912.nc        monthly, 360_day
///     pr_Amon_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_202001-202412.nc
///     pr_Amon_CIRRUS-SYN-1_ssp245_r1i1p1f1_gn_202501-202912.nc
/// cordex/output/EUR-44/CIRRUS/MPI-M-MPI-ESM-LR/rcp85/r1i1p1/CIRRUS-RCM1/v1/day/tas/v20250101/
///     tas_EUR-44_MPI-M-MPI-ESM-LR_rcp85_r1i1p1_CIRRUS-RCM1_v1_day_20710101-20711231.nc
///                                                       rotated pole, proleptic_gregorian
/// misc/all_types.nc          every atomic type, packing, NaN fill, awkward attributes
/// misc/classic_desc_lat.nc   NetCDF-3 classic, latitude 90 .. -90, standard calendar
/// misc/groups.nc             nested groups g1 and g1/g2
/// ```
///
/// Existing files of the same names are overwritten; other files are left alone.
///
/// # Errors
///
/// A directory or file cannot be created or written.
pub fn write_samples(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = cmip6::write_sample_tas(dir)?;
    files.extend(cmip6::write_sample_pr(dir)?);
    files.extend(cordex::write_sample_eur44(dir)?);
    files.extend(misc::write_all(dir)?);
    Ok(files)
}
