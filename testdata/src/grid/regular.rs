//! A global, cell-centred latitude-longitude grid (ascending latitude, 0..360 longitude).

use anyhow::{ensure, Result};
use netcdf::FileMut;

use super::{HorizontalGrid, BOUNDS_DIM};
use crate::field::LatLon;
use crate::netcdf_ext::{attr, put_var_attributes, variable_mut, Attr};

/// The CF description of a latitude or longitude coordinate.
struct AxisSpec {
    name: &'static str,
    axis: &'static str,
    long_name: &'static str,
    standard_name: &'static str,
    units: &'static str,
}

const LATITUDE: AxisSpec =
    AxisSpec { name: "lat", axis: "Y", long_name: "Latitude", standard_name: "latitude", units: "degrees_north" };

const LONGITUDE: AxisSpec =
    AxisSpec { name: "lon", axis: "X", long_name: "Longitude", standard_name: "longitude", units: "degrees_east" };

impl AxisSpec {
    fn attributes(&self) -> Vec<Attr> {
        vec![
            attr("bounds", format!("{}_bnds", self.name)),
            attr("units", self.units),
            attr("axis", self.axis),
            attr("long_name", self.long_name),
            attr("standard_name", self.standard_name),
        ]
    }
}

/// A regular global grid with square cells of `step` degrees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RegularGrid {
    pub lat: Vec<f64>,
    pub lon: Vec<f64>,
    pub step: f64,
}

impl RegularGrid {
    /// The global grid of `step`-degree cells: latitudes `-90 + step/2 ..` ascending,
    /// longitudes `step/2 .. 360 - step/2`. `step` must divide 180 evenly.
    pub fn global(step: f64) -> Result<Self> {
        ensure!(step > 0.0 && step <= 90.0, "resolution {step}° is out of range");
        let nlat = (180.0 / step).round();
        ensure!((nlat * step - 180.0).abs() < 1e-9, "resolution {step}° does not divide 180° evenly");
        let centres =
            |n: f64, first: f64| -> Vec<f64> { (0..n as usize).map(|i| first + step * (i as f64 + 0.5)).collect() };
        Ok(Self { lat: centres(nlat, -90.0), lon: centres(2.0 * nlat, 0.0), step })
    }

    /// Cell bounds as `[lower, upper]` pairs, flattened; latitudes are clamped to ±90.
    fn bounds(values: &[f64], step: f64, limit: f64) -> Vec<f64> {
        values.iter().flat_map(|v| [(v - step / 2.0).max(-limit), (v + step / 2.0).min(limit)]).collect()
    }

    fn define_axis(file: &mut FileMut, axis: &AxisSpec, len: usize) -> Result<()> {
        file.add_dimension(axis.name, len)?;
        let mut var = file.add_variable::<f64>(axis.name, &[axis.name])?;
        put_var_attributes(&mut var, &axis.attributes())?;
        file.add_variable::<f64>(&format!("{}_bnds", axis.name), &[axis.name, BOUNDS_DIM])?;
        Ok(())
    }

    fn write_axis(file: &mut FileMut, name: &str, values: &[f64], bounds: &[f64]) -> Result<()> {
        variable_mut(file, name)?.put_values(values, ..)?;
        variable_mut(file, &format!("{name}_bnds"))?.put_values(bounds, (.., ..))?;
        Ok(())
    }
}

impl HorizontalGrid for RegularGrid {
    fn dimensions(&self) -> [(&'static str, usize); 2] {
        [("lat", self.lat.len()), ("lon", self.lon.len())]
    }

    fn points(&self) -> Vec<LatLon> {
        self.lat.iter().flat_map(|&lat| self.lon.iter().map(move |&lon| (lat, lon))).collect()
    }

    fn define(&self, file: &mut FileMut) -> Result<()> {
        Self::define_axis(file, &LATITUDE, self.lat.len())?;
        Self::define_axis(file, &LONGITUDE, self.lon.len())
    }

    fn write(&self, file: &mut FileMut) -> Result<()> {
        let lat_bounds = Self::bounds(&self.lat, self.step, 90.0);
        let lon_bounds = Self::bounds(&self.lon, self.step, f64::INFINITY);
        Self::write_axis(file, "lat", &self.lat, &lat_bounds)?;
        Self::write_axis(file, "lon", &self.lon, &lon_bounds)
    }

    fn data_attributes(&self) -> Vec<Attr> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmip_like_2_5_degree_grid() -> Result<()> {
        let grid = RegularGrid::global(2.5)?;
        assert_eq!(grid.lat.len(), 72);
        assert_eq!(grid.lon.len(), 144);
        assert_eq!((grid.lat[0], grid.lat[71]), (-88.75, 88.75));
        assert_eq!((grid.lon[0], grid.lon[143]), (1.25, 358.75));
        let bounds = RegularGrid::bounds(&grid.lat, 2.5, 90.0);
        assert_eq!(&bounds[..2], &[-90.0, -87.5]);
        Ok(())
    }

    #[test]
    fn rejects_uneven_resolution() {
        assert!(RegularGrid::global(0.7).is_err());
        assert!(RegularGrid::global(0.25).is_ok());
    }
}
