//! Horizontal grids: their dimensions, coordinate variables and cell positions.

mod regular;
mod rotated;

use anyhow::Result;
use netcdf::FileMut;

use crate::field::LatLon;
use crate::netcdf_ext::Attr;

pub(crate) use regular::RegularGrid;
pub(crate) use rotated::RotatedGrid;

/// Name of the bounds dimension (length 2) that grids and time axes share.
pub(crate) const BOUNDS_DIM: &str = "bnds";

/// A horizontal grid that can describe itself in a NetCDF file.
pub(crate) trait HorizontalGrid {
    /// Names and lengths of the (y, x) dimensions.
    fn dimensions(&self) -> [(&'static str, usize); 2];

    /// Geographic position of every cell, row-major over (y, x).
    fn points(&self) -> Vec<LatLon>;

    /// Defines the dimensions and coordinate variables (with their attributes).
    /// The [`BOUNDS_DIM`] dimension must already exist.
    fn define(&self, file: &mut FileMut) -> Result<()>;

    /// Writes the coordinate values defined by [`HorizontalGrid::define`].
    fn write(&self, file: &mut FileMut) -> Result<()>;

    /// Attributes linking a data variable to this grid (`grid_mapping`, `coordinates`).
    fn data_attributes(&self) -> Vec<Attr>;

    /// Number of cells.
    fn cells(&self) -> usize {
        let [(_, ny), (_, nx)] = self.dimensions();
        ny * nx
    }
}
