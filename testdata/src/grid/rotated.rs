//! A CORDEX-style rotated-pole grid with 2-D geographic latitude and longitude.

use anyhow::Result;
use netcdf::FileMut;

use super::HorizontalGrid;
use crate::field::LatLon;
use crate::netcdf_ext::{attr, put_var_attributes, variable_mut, Attr, NcChar};

/// Name of the grid-mapping variable.
const GRID_MAPPING: &str = "rotated_pole";

/// A regular grid in rotated coordinates around a displaced north pole.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RotatedGrid {
    /// Geographic latitude of the rotated north pole (degrees).
    pub pole_lat: f64,
    /// Geographic longitude of the rotated north pole (degrees).
    pub pole_lon: f64,
    /// Rotated latitudes, ascending (degrees).
    pub rlat: Vec<f64>,
    /// Rotated longitudes, ascending (degrees).
    pub rlon: Vec<f64>,
}

/// `n` values from `start` by `step`, both given in thousandths of a degree so that
/// the values are the doubles nearest to their decimal spelling (e.g. -23.21, 21.67).
fn milli_axis(start: i64, step: i64, n: usize) -> Vec<f64> {
    (0..n as i64).map(|i| (start + i * step) as f64 / 1000.0).collect()
}

impl RotatedGrid {
    /// The CORDEX EUR-44 grid (0.44°, 106 × 103 cells).
    pub fn eur44() -> Self {
        Self::europe(milli_axis(-23_210, 440, 103), milli_axis(-28_210, 440, 106))
    }

    /// The CORDEX EUR-11 grid (0.11°, 424 × 412 cells).
    pub fn eur11() -> Self {
        Self::europe(milli_axis(-23_375, 110, 412), milli_axis(-28_375, 110, 424))
    }

    /// A grid on the EURO-CORDEX rotated pole (39.25° N, 162° W).
    fn europe(rlat: Vec<f64>, rlon: Vec<f64>) -> Self {
        Self { pole_lat: 39.25, pole_lon: -162.0, rlat, rlon }
    }

    /// Geographic (lat, lon) of the rotated point (`rlat`, `rlon`), longitude in
    /// `[-180, 180)`.
    ///
    /// The rotated sphere is turned about the y axis by `90 - pole_lat` and then about
    /// the polar axis by `pole_lon + 180`, which takes the rotated origin to
    /// (`90 - pole_lat`, `pole_lon + 180`) and the rotated pole to (`pole_lat`, `pole_lon`).
    pub fn to_geographic(&self, rlat: f64, rlon: f64) -> LatLon {
        let (sin_rlat, cos_rlat) = rlat.to_radians().sin_cos();
        let (sin_rlon, cos_rlon) = rlon.to_radians().sin_cos();
        let (sin_pole, cos_pole) = self.pole_lat.to_radians().sin_cos();
        let z = sin_rlat * sin_pole + cos_rlat * cos_rlon * cos_pole;
        let x = cos_rlat * cos_rlon * sin_pole - sin_rlat * cos_pole;
        let y = cos_rlat * sin_rlon;
        let lat = z.clamp(-1.0, 1.0).asin().to_degrees();
        let lon = y.atan2(x).to_degrees() + self.pole_lon + 180.0;
        (lat, (lon + 180.0).rem_euclid(360.0) - 180.0)
    }

    fn define_rotated_axis(file: &mut FileMut, name: &str, len: usize, what: &str) -> Result<()> {
        file.add_dimension(name, len)?;
        let mut var = file.add_variable::<f64>(name, &[name])?;
        let axis = if name == "rlat" { "Y" } else { "X" };
        put_var_attributes(
            &mut var,
            &[
                attr("standard_name", format!("grid_{what}")),
                attr("long_name", format!("{what} in rotated pole grid")),
                attr("units", "degrees"),
                attr("axis", axis),
            ],
        )
    }

    fn define_geographic(file: &mut FileMut, name: &str, what: &str, units: &str) -> Result<()> {
        let mut var = file.add_variable::<f64>(name, &["rlat", "rlon"])?;
        put_var_attributes(&mut var, &[attr("standard_name", what), attr("long_name", what), attr("units", units)])
    }

    fn define_grid_mapping(&self, file: &mut FileMut) -> Result<()> {
        let mut var = file.add_variable::<NcChar>(GRID_MAPPING, &[])?;
        put_var_attributes(
            &mut var,
            &[
                attr("grid_mapping_name", "rotated_latitude_longitude"),
                attr("grid_north_pole_latitude", self.pole_lat),
                attr("grid_north_pole_longitude", self.pole_lon),
            ],
        )
    }
}

impl HorizontalGrid for RotatedGrid {
    fn dimensions(&self) -> [(&'static str, usize); 2] {
        [("rlat", self.rlat.len()), ("rlon", self.rlon.len())]
    }

    fn points(&self) -> Vec<LatLon> {
        self.rlat
            .iter()
            .flat_map(|&rlat| self.rlon.iter().map(move |&rlon| (rlat, rlon)))
            .map(|(rlat, rlon)| self.to_geographic(rlat, rlon))
            .collect()
    }

    fn define(&self, file: &mut FileMut) -> Result<()> {
        Self::define_rotated_axis(file, "rlat", self.rlat.len(), "latitude")?;
        Self::define_rotated_axis(file, "rlon", self.rlon.len(), "longitude")?;
        Self::define_geographic(file, "lat", "latitude", "degrees_north")?;
        Self::define_geographic(file, "lon", "longitude", "degrees_east")?;
        self.define_grid_mapping(file)
    }

    fn write(&self, file: &mut FileMut) -> Result<()> {
        let (lat, lon): (Vec<f64>, Vec<f64>) = self.points().into_iter().unzip();
        variable_mut(file, "rlat")?.put_values(&self.rlat, ..)?;
        variable_mut(file, "rlon")?.put_values(&self.rlon, ..)?;
        variable_mut(file, "lat")?.put_values(&lat, (.., ..))?;
        variable_mut(file, "lon")?.put_values(&lon, (.., ..))?;
        Ok(())
    }

    fn data_attributes(&self) -> Vec<Attr> {
        vec![attr("grid_mapping", GRID_MAPPING), attr("coordinates", "lat lon")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_near(actual: LatLon, expected: LatLon, tolerance: f64) {
        assert!(
            (actual.0 - expected.0).abs() < tolerance && (actual.1 - expected.1).abs() < tolerance,
            "{actual:?} is not within {tolerance} of {expected:?}"
        );
    }

    #[test]
    fn eur44_axes() {
        let grid = RotatedGrid::eur44();
        assert_eq!((grid.rlat.len(), grid.rlon.len()), (103, 106));
        assert_eq!((grid.rlat[0], grid.rlat[102]), (-23.21, 21.67));
        assert_eq!((grid.rlon[0], grid.rlon[105]), (-28.21, 17.99));
    }

    #[test]
    fn eur44_corners_match_the_cordex_domain() {
        let grid = RotatedGrid::eur44();
        // Rotated origin and pole.
        assert_near(grid.to_geographic(0.0, 0.0), (50.75, 18.0), 1e-9);
        assert_near(grid.to_geographic(90.0, 0.0), (39.25, -162.0), 1e-9);
        // Corner cell centres, as computed by PROJ:
        // cs2cs +proj=ob_tran +o_proj=longlat +o_lon_p=0 +o_lat_p=39.25 +lon_0=18 +R=1
        //       +to +proj=longlat +R=1
        let corners = [
            ((-23.21, -28.21), (22.199_365, -9.984_238)),
            ((-23.21, 17.99), (25.313_581, 36.300_757)),
            ((21.67, -28.21), (60.205_741, -44.140_691)),
            ((21.67, 17.99), (66.651_631, 64.403_976)),
        ];
        for ((rlat, rlon), expected) in corners {
            assert_near(grid.to_geographic(rlat, rlon), expected, 1e-5);
        }
    }

    #[test]
    fn eur11_matches_a_published_file() {
        // 2-D lat/lon of zg500_EUR-11_IPSL-IPSL-CM5A-MR_rcp85_r1i1p1_IPSL-WRF381P_v1_day
        // (ESGF), at rotated (rlat, rlon) points of the EUR-11 grid.
        let published = [
            ((-23.375, -28.375), (21.987_829_2, -10.063_873)),
            ((-23.375, 15.625), (25.692_649_8, 33.923_877_7)),
            ((-1.375, -6.375), (48.955_532_1, 8.267_626_76)),
            ((20.625, -28.375), (59.378_814_7, -42.834_381)),
            ((20.625, 15.625), (67.050_048_8, 58.276_149_7)),
        ];
        let grid = RotatedGrid::eur11();
        assert_eq!((grid.rlat.len(), grid.rlon.len()), (412, 424));
        assert_eq!(grid.rlat[200], -1.375);
        assert_eq!(grid.rlon[200], -6.375);
        for ((rlat, rlon), expected) in published {
            assert_near(grid.to_geographic(rlat, rlon), expected, 1e-4);
        }
        // First cell of tas_EUR-22_MPI-M-MPI-ESM-LR_rcp85_r1i1p1_GERICS-REMO2015_v1_mon
        // (longitude 348.374 there, stored with single-precision accuracy).
        assert_near(grid.to_geographic(-22.88, -29.86), (21.885_446_5, -11.626_007), 5e-4);
    }
}
