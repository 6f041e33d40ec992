//! CMIP6-like files in the ESGF DRS layout: daily `tas` and monthly `pr` on regular
//! global grids, with CMOR-style metadata, compression and chunking.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

use crate::calendar::{Calendar, Date};
use crate::field::{Field, NearSurfaceTemperature, Precipitation};
use crate::grid::{HorizontalGrid, RegularGrid};
use crate::gridded::{DataVariable, GriddedFile, Storage};
use crate::metadata::{history, pseudo_uuid, CREATION_DATE, LICENSE, VERSION};
use crate::netcdf_ext::{attr, Attr};
use crate::time_axis::TimeAxis;

/// Settings of [`write_cmip6_daily`].
#[derive(Debug, Clone, PartialEq)]
pub struct DailyOptions {
    /// Number of years to write.
    pub years: u32,
    /// First year (files start on 1 January).
    pub start_year: i32,
    /// Years per file; the last file may be shorter.
    pub years_per_file: u32,
    /// Grid spacing in degrees; must divide 180 (1.0 gives 180 × 360 cells).
    pub resolution_deg: f64,
    /// zlib deflate level 0–9 (0 = uncompressed).
    pub deflate: u8,
    /// Byte-shuffle filter before deflate.
    pub shuffle: bool,
    /// Chunk shape (time, lat, lon); `None` = one whole time step per chunk.
    /// Memory use while writing is one chunk row: `time × nlat × nlon × 4` bytes.
    pub chunk: Option<[usize; 3]>,
    /// Round the data to this many mantissa bits (1–23, like netCDF's BitRound
    /// quantization) so it compresses better; `None` keeps full precision.
    pub bit_round: Option<u8>,
    /// Calendar of the time axis.
    pub calendar: Calendar,
    /// CMIP6 `source_id` (the model name in the DRS path).
    pub source_id: String,
}

impl Default for DailyOptions {
    /// One year (2015) at 1°, deflate 4 with shuffle, one time step per chunk,
    /// `noleap` calendar, source `CIRRUS-BENCH-1`.
    fn default() -> Self {
        Self {
            years: 1,
            start_year: 2015,
            years_per_file: 1,
            resolution_deg: 1.0,
            deflate: 4,
            shuffle: true,
            chunk: None,
            bit_round: None,
            calendar: Calendar::Noleap,
            source_id: "CIRRUS-BENCH-1".to_string(),
        }
    }
}

impl DailyOptions {
    fn validate(&self) -> Result<()> {
        ensure!(self.years > 0, "years must be at least 1");
        ensure!(self.years_per_file > 0, "years per file must be at least 1");
        ensure!(self.deflate <= 9, "deflate level {} is not in 0..=9", self.deflate);
        ensure!(
            self.bit_round.is_none_or(|bits| (1..=23).contains(&bits)),
            "bit rounding must keep 1 to 23 mantissa bits"
        );
        ensure!(
            !self.source_id.is_empty() && !self.source_id.contains(['.', '_', '/']),
            "source_id {:?} cannot be used in a DRS path",
            self.source_id
        );
        Ok(())
    }
}

/// Writes daily near-surface air temperature (`tas`) in the CMIP6 DRS layout under
/// `dir` (`CMIP6/ScenarioMIP/CIRRUS/<source_id>/ssp245/r1i1p1f1/day/tas/gn/v20250101/`),
/// one file per `years_per_file` years, and returns the paths written.
///
/// The data are streamed one chunk row of time steps at a time, so files of any size
/// can be written in bounded memory. The four westernmost cells of the southernmost
/// latitude row are missing (`1e20`) in every time step.
///
/// # Errors
///
/// Invalid options (a resolution that does not divide 180°, a deflate level above 9,
/// zero years, a `source_id` unusable in a path), or a failure to create a directory
/// or write a file.
pub fn write_cmip6_daily(dir: &Path, opts: &DailyOptions) -> Result<Vec<PathBuf>> {
    opts.validate()?;
    let grid = RegularGrid::global(opts.resolution_deg)?;
    let field = NearSurfaceTemperature::new(&grid.points());
    let masked: Vec<usize> = (0..grid.lon.len().min(4)).collect();
    let series = Series {
        dataset: Dataset::scenario(&opts.source_id, Frequency::Day, "tas"),
        variable: near_surface_temperature(),
        grid: &grid,
        field: &field,
        calendar: opts.calendar,
        storage: Storage { deflate: opts.deflate, shuffle: opts.shuffle, chunk: opts.chunk, bit_round: opts.bit_round },
        masked_cells: &masked,
    };
    series.write(dir, opts.start_year, opts.years, opts.years_per_file)
}

/// The sample daily `tas`: 2015 and 2016 on the 2.5° grid, one file per year.
pub(crate) fn write_sample_tas(dir: &Path) -> Result<Vec<PathBuf>> {
    let opts = DailyOptions {
        years: 2,
        resolution_deg: 2.5,
        bit_round: Some(SAMPLE_TEMPERATURE_BITS),
        source_id: SAMPLE_SOURCE.to_string(),
        ..DailyOptions::default()
    };
    write_cmip6_daily(dir, &opts)
}

/// The sample monthly `pr`: 2015–2029 on the 2.5° grid, `360_day`, five years per file.
pub(crate) fn write_sample_pr(dir: &Path) -> Result<Vec<PathBuf>> {
    let grid = RegularGrid::global(2.5)?;
    let field = Precipitation::new(&grid.points());
    let series = Series {
        dataset: Dataset::scenario(SAMPLE_SOURCE, Frequency::Mon, "pr"),
        variable: precipitation(),
        grid: &grid,
        field: &field,
        calendar: Calendar::Day360,
        storage: Storage::cmor_bit_round(SAMPLE_PRECIPITATION_BITS),
        masked_cells: &[],
    };
    series.write(dir, 2015, 15, 5)
}

/// Mantissa bits kept in the sample temperatures (a step of 2^-7 K near 288 K).
pub(crate) const SAMPLE_TEMPERATURE_BITS: u8 = 15;
/// Mantissa bits kept in the sample precipitation (a relative step of 2^-12).
const SAMPLE_PRECIPITATION_BITS: u8 = 12;
/// `source_id` of the sample datasets.
const SAMPLE_SOURCE: &str = "CIRRUS-SYN-1";
/// Reference date of every CMIP6 time axis.
const TIME_REFERENCE: Date = Date::new(1850, 1, 1);

/// Output frequency, which fixes the CMOR table and the time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frequency {
    Day,
    Mon,
}

impl Frequency {
    fn table_id(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Mon => "Amon",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Mon => "mon",
        }
    }

    /// The time axis of `years` whole years from `first_year`.
    fn axis(self, calendar: Calendar, first_year: i32, years: u32) -> TimeAxis {
        let first = Date::new(first_year, 1, 1);
        match self {
            Self::Day => {
                let days = (first_year..first_year + years as i32).map(|y| calendar.days_in_year(y) as usize).sum();
                TimeAxis::daily(calendar, TIME_REFERENCE, first, days)
            }
            Self::Mon => TimeAxis::monthly(calendar, TIME_REFERENCE, first, 12 * years as usize),
        }
    }

    /// The DRS time range of a file, e.g. `20150101-20151231` or `201501-201912`.
    fn time_range(self, axis: &TimeAxis) -> Option<String> {
        let (first, last) = (axis.first_date()?, axis.last_date()?);
        Some(match self {
            Self::Day => format!("{}-{}", first.compact_day(), last.compact_day()),
            Self::Mon => format!("{}-{}", first.compact_month(), last.compact_month()),
        })
    }
}

/// The DRS facets of one CMIP6 dataset.
#[derive(Debug, Clone, PartialEq)]
struct Dataset {
    activity_id: &'static str,
    institution_id: &'static str,
    source_id: String,
    experiment_id: &'static str,
    variant_label: &'static str,
    frequency: Frequency,
    variable_id: &'static str,
    grid_label: &'static str,
}

impl Dataset {
    /// An SSP2-4.5 dataset of `source_id`.
    fn scenario(source_id: &str, frequency: Frequency, variable_id: &'static str) -> Self {
        Self {
            activity_id: "ScenarioMIP",
            institution_id: "CIRRUS",
            source_id: source_id.to_string(),
            experiment_id: "ssp245",
            variant_label: "r1i1p1f1",
            frequency,
            variable_id,
            grid_label: "gn",
        }
    }

    /// `CMIP6/<activity>/<institution>/<source>/<experiment>/<member>/<table>/<var>/<grid>/<version>`.
    fn directory(&self, root: &Path) -> PathBuf {
        [
            "CMIP6",
            self.activity_id,
            self.institution_id,
            &self.source_id,
            self.experiment_id,
            self.variant_label,
            self.frequency.table_id(),
            self.variable_id,
            self.grid_label,
            VERSION,
        ]
        .iter()
        .fold(root.to_path_buf(), |path, part| path.join(part))
    }

    /// `<var>_<table>_<source>_<experiment>_<member>_<grid>_<time range>.nc`.
    fn file_name(&self, time_range: &str) -> String {
        format!(
            "{}_{}_{}_{}_{}_{}_{time_range}.nc",
            self.variable_id,
            self.frequency.table_id(),
            self.source_id,
            self.experiment_id,
            self.variant_label,
            self.grid_label
        )
    }

    /// CMOR-style global attributes of the file `file_name`.
    fn global_attributes(&self, grid: &RegularGrid, file_name: &str) -> Vec<Attr> {
        let source = &self.source_id;
        vec![
            attr("Conventions", "CF-1.7 CMIP-6.2"),
            attr("activity_id", self.activity_id),
            attr("branch_method", "standard"),
            attr("branch_time_in_child", 60_225.0_f64),
            attr("branch_time_in_parent", 60_225.0_f64),
            attr("contact", "none (synthetic test data)"),
            attr("creation_date", CREATION_DATE),
            attr("data_specs_version", "01.00.33"),
            attr("experiment", "update of RCP4.5 based on SSP2"),
            attr("experiment_id", self.experiment_id),
            attr("external_variables", "areacella"),
            attr("forcing_index", 1_i32),
            attr("frequency", self.frequency.name()),
            attr(
                "further_info_url",
                format!(
                    "https://furtherinfo.es-doc.org/CMIP6.{}.{source}.{}.none.{}",
                    self.institution_id, self.experiment_id, self.variant_label
                ),
            ),
            attr("grid", format!("regular {0}x{0} degree latitude-longitude grid", grid.step)),
            attr("grid_label", self.grid_label),
            attr("history", history()),
            attr("initialization_index", 1_i32),
            attr("institution", "cirrus test data (synthetic fields, not model output)"),
            attr("institution_id", self.institution_id),
            attr("license", LICENSE),
            attr("mip_era", "CMIP6"),
            attr("nominal_resolution", format!("{} km", (grid.step * 100.0).round())),
            attr("parent_activity_id", "CMIP"),
            attr("parent_experiment_id", "historical"),
            attr("parent_mip_era", "CMIP6"),
            attr("parent_source_id", source.as_str()),
            attr("parent_time_units", "days since 1850-01-01"),
            attr("parent_variant_label", self.variant_label),
            attr("physics_index", 1_i32),
            attr("product", "model-output"),
            attr("realization_index", 1_i32),
            attr("realm", "atmos"),
            attr("source", format!("{source} (2025): synthetic smooth fields for testing cirrus")),
            attr("source_id", source.as_str()),
            attr("source_type", "AOGCM"),
            attr("sub_experiment", "none"),
            attr("sub_experiment_id", "none"),
            attr("table_id", self.frequency.table_id()),
            attr("table_info", "Creation Date:(2025-01-01) synthetic"),
            attr("title", format!("{source} output prepared for CMIP6 (synthetic)")),
            attr("variable_id", self.variable_id),
            attr("variant_label", self.variant_label),
            attr("tracking_id", format!("hdl:21.14100/{}", pseudo_uuid(file_name))),
        ]
    }
}

/// A CMIP6 time series, written as consecutive files of whole years.
struct Series<'a> {
    dataset: Dataset,
    variable: DataVariable,
    grid: &'a RegularGrid,
    field: &'a dyn Field,
    calendar: Calendar,
    storage: Storage,
    masked_cells: &'a [usize],
}

impl Series<'_> {
    fn write(&self, root: &Path, first_year: i32, years: u32, years_per_file: u32) -> Result<Vec<PathBuf>> {
        let directory = self.dataset.directory(root);
        let last_year = first_year + years as i32;
        (first_year..last_year)
            .step_by(years_per_file as usize)
            .map(|start| {
                let count = years_per_file.min((last_year - start) as u32);
                let axis = self.dataset.frequency.axis(self.calendar, start, count);
                let range =
                    self.dataset.frequency.time_range(&axis).ok_or_else(|| anyhow::anyhow!("empty time axis"))?;
                let name = self.dataset.file_name(&range);
                let path = directory.join(&name);
                GriddedFile {
                    time: &axis,
                    grid: self.grid,
                    field: self.field,
                    variable: &self.variable,
                    storage: self.storage,
                    masked_cells: self.masked_cells,
                    global_attributes: &self.dataset.global_attributes(self.grid, &name),
                }
                .write(&path)?;
                Ok(path)
            })
            .collect()
    }
}

/// CMOR's `tas` (table `day`).
fn near_surface_temperature() -> DataVariable {
    DataVariable {
        name: "tas".to_string(),
        attributes: vec![
            attr("standard_name", "air_temperature"),
            attr("long_name", "Near-Surface Air Temperature"),
            attr("comment", "near-surface (usually, 2 meter) air temperature"),
            attr("units", "K"),
            attr("cell_methods", "area: time: mean"),
            attr("cell_measures", "area: areacella"),
            attr("coordinates", "height"),
        ],
        height: Some(2.0),
    }
}

/// CMOR's `pr` (table `Amon`).
fn precipitation() -> DataVariable {
    DataVariable {
        name: "pr".to_string(),
        attributes: vec![
            attr("standard_name", "precipitation_flux"),
            attr("long_name", "Precipitation"),
            attr("comment", "includes both liquid and solid phases"),
            attr("units", "kg m-2 s-1"),
            attr("cell_methods", "area: time: mean"),
            attr("cell_measures", "area: areacella"),
        ],
        height: None,
    }
}
