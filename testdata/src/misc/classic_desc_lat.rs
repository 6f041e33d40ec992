//! `classic_desc_lat.nc`: NetCDF-3 classic, monthly `tas` with latitude stored from
//! north to south (90 .. -90) and longitude 0 .. 357.5, `standard` calendar.

use std::path::Path;

use anyhow::Result;
use netcdf::{FileMut, Options};

use crate::calendar::{Calendar, Date};
use crate::field::{Field, LatLon, NearSurfaceTemperature};
use crate::gridded::FILL_VALUE;
use crate::metadata::history;
use crate::netcdf_ext::{attr, put_global_attributes, put_var_attributes, variable_mut};
use crate::time_axis::TimeAxis;

/// Grid spacing (degrees).
const STEP: f64 = 2.5;
/// Number of monthly steps (2000-01 .. 2001-12).
const MONTHS: usize = 24;

/// Writes the file at `path`.
pub(super) fn write(path: &Path) -> Result<()> {
    // Latitudes on grid points from the north pole to the south pole.
    let lat: Vec<f64> = (0..=72).map(|i| 90.0 - STEP * f64::from(i)).collect();
    let lon: Vec<f64> = (0..144).map(|j| STEP * f64::from(j)).collect();
    let axis = TimeAxis::monthly(Calendar::Standard, Date::new(2000, 1, 1), Date::new(2000, 1, 1), MONTHS);

    // No flags: a CDF-1 classic file, which must leave define mode before data.
    let mut file = netcdf::create_with(path, Options::empty())?;
    define(&mut file, &axis, lat.len(), lon.len())?;
    file.enddef()?;
    write_coordinates(&mut file, &axis, &lat, &lon)?;
    write_tas(&mut file, &axis, &lat, &lon)?;
    file.close()?;
    Ok(())
}

fn define(file: &mut FileMut, axis: &TimeAxis, nlat: usize, nlon: usize) -> Result<()> {
    file.add_unlimited_dimension("time")?;
    file.add_dimension("lat", nlat)?;
    file.add_dimension("lon", nlon)?;
    file.add_dimension("bnds", 2)?;
    let mut time = file.add_variable::<f64>("time", &["time"])?;
    put_var_attributes(
        &mut time,
        &[
            attr("standard_name", "time"),
            attr("long_name", "time"),
            attr("units", axis.units()),
            attr("calendar", axis.calendar.cf_name()),
            attr("axis", "T"),
            attr("bounds", "time_bnds"),
        ],
    )?;
    file.add_variable::<f64>("time_bnds", &["time", "bnds"])?;
    for (name, standard_name, units, axis_name) in
        [("lat", "latitude", "degrees_north", "Y"), ("lon", "longitude", "degrees_east", "X")]
    {
        let mut var = file.add_variable::<f64>(name, &[name])?;
        put_var_attributes(
            &mut var,
            &[
                attr("standard_name", standard_name),
                attr("long_name", standard_name),
                attr("units", units),
                attr("axis", axis_name),
            ],
        )?;
    }
    let mut tas = file.add_variable::<f32>("tas", &["time", "lat", "lon"])?;
    put_var_attributes(
        &mut tas,
        &[
            attr("standard_name", "air_temperature"),
            attr("long_name", "Near-Surface Air Temperature"),
            attr("units", "K"),
            attr("cell_methods", "time: mean"),
            attr("_FillValue", FILL_VALUE),
            attr("missing_value", FILL_VALUE),
        ],
    )?;
    put_global_attributes(
        file,
        &[
            attr("Conventions", "CF-1.6"),
            attr("title", "monthly tas, NetCDF-3 classic, latitude north to south"),
            attr("institution", "cirrus test data (synthetic)"),
            attr("source", "cirrus-testdata"),
            attr("comment", "latitude is stored in descending order (90 .. -90)"),
            attr("history", history()),
        ],
    )
}

fn write_coordinates(file: &mut FileMut, axis: &TimeAxis, lat: &[f64], lon: &[f64]) -> Result<()> {
    let n = axis.len();
    let values: Vec<f64> = axis.steps.iter().map(|s| s.value).collect();
    let bounds: Vec<f64> = axis.steps.iter().flat_map(|s| s.bounds).collect();
    variable_mut(file, "time")?.put_values(&values, 0..n)?;
    variable_mut(file, "time_bnds")?.put_values(&bounds, (0..n, ..))?;
    variable_mut(file, "lat")?.put_values(lat, ..)?;
    variable_mut(file, "lon")?.put_values(lon, ..)?;
    Ok(())
}

fn write_tas(file: &mut FileMut, axis: &TimeAxis, lat: &[f64], lon: &[f64]) -> Result<()> {
    let points: Vec<LatLon> = lat.iter().flat_map(|&la| lon.iter().map(move |&lo| (la, lo))).collect();
    let field = NearSurfaceTemperature::new(&points);
    let mut values = vec![0.0_f32; points.len()];
    let mut tas = variable_mut(file, "tas")?;
    for (t, step) in axis.steps.iter().enumerate() {
        field.fill(step, &mut values);
        tas.put_values(&values, (t, .., ..))?;
    }
    Ok(())
}
