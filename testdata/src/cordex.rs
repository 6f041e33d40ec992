//! CORDEX-like daily `tas` on the EURO-CORDEX rotated-pole grids, in the ESGF DRS
//! layout, one file per calendar year.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

use crate::calendar::{Calendar, Date};
use crate::field::NearSurfaceTemperature;
use crate::grid::{HorizontalGrid, RotatedGrid};
use crate::gridded::{DataVariable, GriddedFile, Storage};
use crate::metadata::{history, pseudo_uuid, CREATION_DATE, LICENSE, VERSION};
use crate::netcdf_ext::{attr, Attr};
use crate::time_axis::TimeAxis;

/// Calendar of the generated CORDEX files.
const CALENDAR: Calendar = Calendar::ProlepticGregorian;
/// Reference date of the CORDEX time axes.
const TIME_REFERENCE: Date = Date::new(1949, 12, 1);
/// First day written.
const FIRST_DAY: Date = Date::new(2071, 1, 1);

/// Writes `days` days of daily `tas` from 2071-01-01 on the CORDEX EUR-11 grid
/// (424 × 412 rotated-pole cells) under `dir`
/// (`cordex/output/EUR-11/CIRRUS/MPI-M-MPI-ESM-LR/rcp85/r1i1p1/CIRRUS-RCM1/v1/day/tas/v20250101/`),
/// one file per calendar year, and returns the paths written.
///
/// # Errors
///
/// `days` is zero, or a directory or file cannot be written.
pub fn write_eur11_daily(dir: &Path, days: usize) -> Result<Vec<PathBuf>> {
    ensure!(days > 0, "days must be at least 1");
    write_daily(dir, &Domain::eur11(), days, Storage::CMOR)
}

/// The sample: the year 2071 on the EUR-44 grid.
pub(crate) fn write_sample_eur44(dir: &Path) -> Result<Vec<PathBuf>> {
    let storage = Storage::cmor_bit_round(crate::cmip6::SAMPLE_TEMPERATURE_BITS);
    write_daily(dir, &Domain::eur44(), 365, storage)
}

/// A CORDEX domain: its name and grid.
struct Domain {
    name: &'static str,
    grid: RotatedGrid,
}

impl Domain {
    fn eur44() -> Self {
        Self { name: "EUR-44", grid: RotatedGrid::eur44() }
    }

    fn eur11() -> Self {
        Self { name: "EUR-11", grid: RotatedGrid::eur11() }
    }

    /// `cordex/output/<domain>/<institute>/<gcm>/<experiment>/<ensemble>/<rcm>/<rcm version>/day/tas/<version>`.
    fn directory(&self, root: &Path) -> PathBuf {
        [
            "cordex",
            "output",
            self.name,
            INSTITUTE,
            DRIVING_MODEL,
            EXPERIMENT,
            ENSEMBLE,
            RCM,
            RCM_VERSION,
            "day",
            "tas",
            VERSION,
        ]
        .iter()
        .fold(root.to_path_buf(), |path, part| path.join(part))
    }

    /// `tas_<domain>_<gcm>_<experiment>_<ensemble>_<rcm>_<rcm version>_day_<range>.nc`.
    fn file_name(&self, first: Date, last: Date) -> String {
        format!(
            "tas_{}_{DRIVING_MODEL}_{EXPERIMENT}_{ENSEMBLE}_{RCM}_{RCM_VERSION}_day_{}-{}.nc",
            self.name,
            first.compact_day(),
            last.compact_day()
        )
    }

    fn global_attributes(&self, file_name: &str) -> Vec<Attr> {
        vec![
            attr("Conventions", "CF-1.6"),
            attr("contact", "none (synthetic test data)"),
            attr("creation_date", CREATION_DATE),
            attr("experiment", "RCP8.5"),
            attr("experiment_id", EXPERIMENT),
            attr("driving_experiment", format!("{DRIVING_MODEL}, {EXPERIMENT}, {ENSEMBLE}")),
            attr("driving_model_id", DRIVING_MODEL),
            attr("driving_model_ensemble_member", ENSEMBLE),
            attr("driving_experiment_name", EXPERIMENT),
            attr("frequency", "day"),
            attr("institution", "cirrus test data (synthetic fields, not model output)"),
            attr("institute_id", INSTITUTE),
            attr("model_id", RCM),
            attr("rcm_version_id", RCM_VERSION),
            attr("project_id", "CORDEX"),
            attr("CORDEX_domain", self.name),
            attr("product", "output"),
            attr("references", "none (synthetic test data)"),
            attr("license", LICENSE),
            attr("title", format!("{RCM} {} synthetic daily data", self.name)),
            attr("history", history()),
            attr("tracking_id", format!("hdl:21.14103/{}", pseudo_uuid(file_name))),
        ]
    }
}

const INSTITUTE: &str = "CIRRUS";
const DRIVING_MODEL: &str = "MPI-M-MPI-ESM-LR";
const EXPERIMENT: &str = "rcp85";
const ENSEMBLE: &str = "r1i1p1";
const RCM: &str = "CIRRUS-RCM1";
const RCM_VERSION: &str = "v1";

/// The CORDEX `tas` variable.
fn near_surface_temperature() -> DataVariable {
    DataVariable {
        name: "tas".to_string(),
        attributes: vec![
            attr("standard_name", "air_temperature"),
            attr("long_name", "Near-Surface Air Temperature"),
            attr("units", "K"),
            attr("cell_methods", "time: mean"),
        ],
        height: None,
    }
}

/// Writes `days` days from [`FIRST_DAY`], one file per calendar year.
fn write_daily(root: &Path, domain: &Domain, days: usize, storage: Storage) -> Result<Vec<PathBuf>> {
    let field = NearSurfaceTemperature::new(&domain.grid.points());
    let variable = near_surface_temperature();
    let directory = domain.directory(root);
    let mut paths = Vec::new();
    let (mut first, mut remaining) = (FIRST_DAY, days);
    while remaining > 0 {
        let in_year = CALENDAR.days_between(first, Date::new(first.year + 1, 1, 1)) as usize;
        let count = in_year.min(remaining);
        let axis = TimeAxis::daily(CALENDAR, TIME_REFERENCE, first, count);
        let last = CALENDAR.add_days(first, count as i64 - 1);
        let name = domain.file_name(first, last);
        let path = directory.join(&name);
        GriddedFile {
            time: &axis,
            grid: &domain.grid,
            field: &field,
            variable: &variable,
            storage,
            masked_cells: &[],
            global_attributes: &domain.global_attributes(&name),
        }
        .write(&path)?;
        paths.push(path);
        first = Date::new(first.year + 1, 1, 1);
        remaining -= count;
    }
    Ok(paths)
}
