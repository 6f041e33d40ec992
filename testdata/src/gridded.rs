//! Writing one NetCDF-4 file of a gridded time series: the time axis with bounds, a
//! horizontal grid, an optional scalar height and one `float` data variable that is
//! streamed to the file a chunk row of time steps at a time (bounded memory).

use std::path::Path;

use anyhow::{ensure, Result};
use netcdf::FileMut;

use crate::field::Field;
use crate::grid::{HorizontalGrid, BOUNDS_DIM};
use crate::netcdf_ext::{attr, put_global_attributes, put_var_attributes, variable_mut, Attr};
use crate::output::write_atomically;
use crate::time_axis::TimeAxis;

/// The CMIP/CORDEX missing-data value.
pub(crate) const FILL_VALUE: f32 = 1.0e20;

/// Time steps per chunk of the 1-D time coordinate and its bounds.
const TIME_CHUNK: usize = 512;

/// Compression and chunking of the data variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Storage {
    /// zlib deflate level, 0 (no compression) to 9.
    pub deflate: u8,
    /// Byte-shuffle before deflating (ignored without compression).
    pub shuffle: bool,
    /// Chunk shape (time, y, x); `None` means one whole time step per chunk.
    pub chunk: Option<[usize; 3]>,
    /// Mantissa bits kept by rounding (1–23, like netCDF's BitRound quantization);
    /// `None` keeps full precision.
    pub bit_round: Option<u8>,
}

impl Storage {
    /// Deflate level 4 with shuffle, one time step per chunk (as CMOR writes).
    pub const CMOR: Self = Self { deflate: 4, shuffle: true, chunk: None, bit_round: None };

    /// [`Storage::CMOR`] with the mantissa rounded to `bits` bits.
    pub const fn cmor_bit_round(bits: u8) -> Self {
        Self { bit_round: Some(bits), ..Self::CMOR }
    }

    /// The chunk shape for a grid of `ny` × `nx` cells.
    fn chunk_shape(&self, ny: usize, nx: usize) -> Result<[usize; 3]> {
        let [t, y, x] = self.chunk.unwrap_or([1, ny, nx]);
        ensure!(t > 0 && y > 0 && x > 0, "chunk sizes must be positive, got {t}×{y}×{x}");
        Ok([t, y.min(ny), x.min(nx)])
    }
}

/// The data variable of a [`GriddedFile`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataVariable {
    /// Variable name, e.g. `tas`.
    pub name: String,
    /// Its attributes (without `_FillValue`/`missing_value`, which are always written,
    /// and without the grid's `grid_mapping`/`coordinates`).
    pub attributes: Vec<Attr>,
    /// Value of a scalar `height` coordinate (m), if the variable has one.
    pub height: Option<f64>,
}

/// Everything that goes into one file.
pub(crate) struct GriddedFile<'a> {
    pub time: &'a TimeAxis,
    pub grid: &'a dyn HorizontalGrid,
    pub field: &'a dyn Field,
    pub variable: &'a DataVariable,
    pub storage: Storage,
    /// Row-major cell indices that are missing in every time step.
    pub masked_cells: &'a [usize],
    pub global_attributes: &'a [Attr],
}

impl GriddedFile<'_> {
    /// Writes the file at `path` (created or replaced), creating parent directories.
    pub fn write(&self, path: &Path) -> Result<()> {
        let cells = self.grid.cells();
        ensure!(
            self.masked_cells.iter().all(|&c| c < cells),
            "masked cells {:?} outside a grid of {cells} cells",
            self.masked_cells
        );
        write_atomically(path, |temporary| self.write_to(temporary))
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        let mut file = netcdf::create(path)?;
        file.add_unlimited_dimension("time")?;
        file.add_dimension(BOUNDS_DIM, 2)?;
        self.define_time(&mut file)?;
        self.grid.define(&mut file)?;
        if self.variable.height.is_some() {
            define_height(&mut file)?;
        }
        self.define_data(&mut file)?;
        put_global_attributes(&mut file, self.global_attributes)?;

        self.write_time(&mut file)?;
        self.grid.write(&mut file)?;
        if let Some(height) = self.variable.height {
            variable_mut(&mut file, "height")?.put_value(height, ())?;
        }
        self.write_data(&mut file)?;
        file.close()?;
        Ok(())
    }

    fn define_time(&self, file: &mut FileMut) -> Result<()> {
        let mut time = file.add_variable::<f64>("time", &["time"])?;
        time.set_chunking(&[TIME_CHUNK])?;
        put_var_attributes(
            &mut time,
            &[
                attr("bounds", "time_bnds"),
                attr("units", self.time.units()),
                attr("calendar", self.time.calendar.cf_name()),
                attr("axis", "T"),
                attr("long_name", "time"),
                attr("standard_name", "time"),
            ],
        )?;
        let mut bounds = file.add_variable::<f64>("time_bnds", &["time", BOUNDS_DIM])?;
        bounds.set_chunking(&[TIME_CHUNK, 2])?;
        Ok(())
    }

    fn define_data(&self, file: &mut FileMut) -> Result<()> {
        let [(y, ny), (x, nx)] = self.grid.dimensions();
        let chunk = self.storage.chunk_shape(ny, nx)?;
        let mut var = file.add_variable::<f32>(&self.variable.name, &["time", y, x])?;
        if self.storage.deflate > 0 {
            var.set_compression(self.storage.deflate.into(), self.storage.shuffle)?;
        }
        var.set_chunking(&chunk)?;
        put_var_attributes(&mut var, &self.variable.attributes)?;
        put_var_attributes(&mut var, &[attr("_FillValue", FILL_VALUE), attr("missing_value", FILL_VALUE)])?;
        put_var_attributes(&mut var, &self.grid.data_attributes())
    }

    fn write_time(&self, file: &mut FileMut) -> Result<()> {
        let n = self.time.len();
        let values: Vec<f64> = self.time.steps.iter().map(|s| s.value).collect();
        let bounds: Vec<f64> = self.time.steps.iter().flat_map(|s| s.bounds).collect();
        variable_mut(file, "time")?.put_values(&values, 0..n)?;
        variable_mut(file, "time_bnds")?.put_values(&bounds, (0..n, ..))?;
        Ok(())
    }

    /// Streams the field, `chunk[0]` time steps per call so that every call writes
    /// whole chunks.
    fn write_data(&self, file: &mut FileMut) -> Result<()> {
        let [(_, ny), (_, nx)] = self.grid.dimensions();
        let [block, _, _] = self.storage.chunk_shape(ny, nx)?;
        let cells = ny * nx;
        let mut buffer = vec![0.0_f32; block.min(self.time.len()).max(1) * cells];
        let mut var = variable_mut(file, &self.variable.name)?;
        for (row, steps) in self.time.steps.chunks(block).enumerate() {
            let first = row * block;
            let used = &mut buffer[..steps.len() * cells];
            for (step, out) in steps.iter().zip(used.chunks_exact_mut(cells)) {
                self.field.fill(step, out);
                if let Some(bits) = self.storage.bit_round {
                    for value in out.iter_mut() {
                        *value = bit_round(*value, bits);
                    }
                }
                for &cell in self.masked_cells {
                    out[cell] = FILL_VALUE;
                }
            }
            var.put_values(used, (first..first + steps.len(), .., ..))?;
        }
        Ok(())
    }
}

/// Rounds `value` to the nearest float with only `bits` explicit mantissa bits (ties
/// away from zero), so that the dropped low bits are zero and compress away.
fn bit_round(value: f32, bits: u8) -> f32 {
    if bits >= 23 || !value.is_finite() {
        return value;
    }
    let drop = 23 - u32::from(bits);
    let half = 1_u32 << (drop - 1);
    let mask = !((1_u32 << drop) - 1);
    f32::from_bits((value.to_bits() + half) & mask)
}

/// Defines the scalar `height` coordinate of near-surface variables.
fn define_height(file: &mut FileMut) -> Result<()> {
    let mut var = file.add_variable::<f64>("height", &[])?;
    put_var_attributes(
        &mut var,
        &[
            attr("units", "m"),
            attr("axis", "Z"),
            attr("positive", "up"),
            attr("long_name", "height"),
            attr("standard_name", "height"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_round_keeps_the_requested_precision() {
        // 15 mantissa bits at 256..512 K is a step of 2^-7 K.
        assert_eq!(bit_round(288.003, 15), 288.0);
        assert_eq!(bit_round(288.005, 15), 288.0 + 1.0 / 128.0);
        assert_eq!(bit_round(-1.0e-5, 23), -1.0e-5);
        let rounded = bit_round(1.234_567e-5, 12);
        assert!((rounded - 1.234_567e-5).abs() / 1.234_567e-5 < 1.0 / 4096.0);
        assert_eq!(rounded.to_bits() & 0x7FF, 0);
        assert!(bit_round(f32::NAN, 8).is_nan());
    }
}
