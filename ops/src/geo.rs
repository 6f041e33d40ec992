//! Horizontal grids of datasets and finding the grid cell of a longitude/latitude:
//! regular (1-D lat/lon, any longitude frame, ascending or descending), rotated-pole
//! (CF `rotated_latitude_longitude`, CORDEX) and curvilinear (2-D lat/lon, ocean models).
//! Map projections go through PROJ.

use crate::model::{AttrValue, Dataset, Variable};
use crate::process::select::{lat_lon, values};
use crate::read::Reader;
use crate::{Error, Result};

/// A CF rotated pole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RotatedPole {
    /// `grid_north_pole_latitude`, degrees.
    pub pole_lat: f64,
    /// `grid_north_pole_longitude`, degrees.
    pub pole_lon: f64,
    /// `north_pole_grid_longitude`, degrees (usually 0).
    pub north_pole_grid_lon: f64,
}

impl RotatedPole {
    /// From a grid mapping variable, if it is a rotated pole.
    pub fn from_mapping(m: &Variable) -> Option<RotatedPole> {
        let num = |k: &str| m.attr(k).and_then(AttrValue::as_f64);
        (m.attr("grid_mapping_name").and_then(AttrValue::as_text) == Some("rotated_latitude_longitude"))
            .then_some(())?;
        Some(RotatedPole {
            pole_lat: num("grid_north_pole_latitude")?,
            pole_lon: num("grid_north_pole_longitude")?,
            north_pole_grid_lon: num("north_pole_grid_longitude").unwrap_or(0.0),
        })
    }

    /// Geographic (lon, lat) to rotated (rlon, rlat), degrees.
    pub fn to_rotated(&self, lon: f64, lat: f64) -> (f64, f64) {
        let (lon, lat) = (lon.to_radians(), lat.to_radians());
        let (x, y, z) = (lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin());
        // rotate about z so the pole's meridian is at 180°, then about y to bring the pole up
        let phi = (self.pole_lon + 180.0).to_radians();
        let (x1, y1) = (phi.cos() * x + phi.sin() * y, -phi.sin() * x + phi.cos() * y);
        let theta = (90.0 - self.pole_lat).to_radians();
        let (x2, z2) = (theta.cos() * x1 + theta.sin() * z, -theta.sin() * x1 + theta.cos() * z);
        let rlon = y1.atan2(x2).to_degrees() - self.north_pole_grid_lon;
        (wrap180(rlon), z2.clamp(-1.0, 1.0).asin().to_degrees())
    }

    /// Rotated (rlon, rlat) to geographic (lon, lat), degrees.
    pub fn to_geographic(&self, rlon: f64, rlat: f64) -> (f64, f64) {
        let (rlon, rlat) = ((rlon + self.north_pole_grid_lon).to_radians(), rlat.to_radians());
        let (x2, y1, z2) = (rlat.cos() * rlon.cos(), rlat.cos() * rlon.sin(), rlat.sin());
        let theta = (90.0 - self.pole_lat).to_radians();
        let (x1, z) = (theta.cos() * x2 - theta.sin() * z2, theta.sin() * x2 + theta.cos() * z2);
        let phi = (self.pole_lon + 180.0).to_radians();
        let (x, y) = (phi.cos() * x1 - phi.sin() * y1, phi.sin() * x1 + phi.cos() * y1);
        (wrap180(y.atan2(x).to_degrees()), z.clamp(-1.0, 1.0).asin().to_degrees())
    }

    /// The PROJ definition of the rotated grid (as GDAL writes it).
    pub fn proj4(&self) -> String {
        format!(
            "+proj=ob_tran +o_proj=longlat +o_lon_p={} +o_lat_p={} +lon_0={} +R=6371229 +no_defs",
            self.north_pole_grid_lon,
            self.pole_lat,
            180.0 + self.pole_lon
        )
    }
}

/// A longitude in [-180, 180).
pub fn wrap180(x: f64) -> f64 {
    (x + 180.0).rem_euclid(360.0) - 180.0
}

/// A 1-D coordinate axis: nearest index of a value (None outside by more than half a
/// step).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub values: Vec<f64>,
    /// True when the axis is longitude-like and wraps around 360.
    pub cyclic: bool,
}

impl Axis {
    fn step(&self) -> f64 {
        let n = self.values.len();
        if n < 2 {
            return 360.0;
        }
        ((self.values[n - 1] - self.values[0]) / (n - 1) as f64).abs()
    }

    /// True when the values cover the whole circle (cyclic longitude).
    pub fn is_global(&self) -> bool {
        self.cyclic
            && self.values.len() > 1
            && (self.step() * self.values.len() as f64 - 360.0).abs() < self.step() * 0.51
    }

    /// The index nearest to `x`.
    pub fn nearest(&self, x: f64) -> Option<usize> {
        let n = self.values.len();
        if n == 0 {
            return None;
        }
        let (first, last) = (self.values[0], self.values[n - 1]);
        let half = self.step() / 2.0;
        let (lo, hi) = (first.min(last), first.max(last));
        let mut x = x;
        if self.cyclic {
            // the frame of the axis: [lo - half, lo - half + 360)
            x = (lo - half) + (x - (lo - half)).rem_euclid(360.0);
        }
        if x < lo - half || x > hi + half {
            return if self.is_global() {
                Some(if (x - hi).abs() < (x - lo).abs() + 360.0 - (x - hi).abs() { n - 1 } else { 0 })
            } else {
                None
            };
        }
        let ascending = last >= first;
        let pos =
            if ascending { self.values.partition_point(|&v| v < x) } else { self.values.partition_point(|&v| v > x) };
        if pos == 0 || pos == n {
            // before the first value or past the last: on a longitude axis the nearest
            // may lie across the seam
            let dist =
                |v: f64| if self.cyclic { ((v - x + 180.0).rem_euclid(360.0) - 180.0).abs() } else { (v - x).abs() };
            let cand = if pos == 0 { [0, n - 1] } else { [n - 1, 0] };
            return cand.into_iter().min_by(|&a, &b| dist(self.values[a]).total_cmp(&dist(self.values[b])));
        }
        // between two values (an axis spans less than 360°, so nothing across the seam
        // is nearer)
        let (a, b) = (pos - 1, pos);
        Some(if (self.values[a] - x).abs() <= (self.values[b] - x).abs() { a } else { b })
    }
}

/// A horizontal grid.
#[derive(Clone, Debug)]
pub enum Grid {
    /// 1-D latitude and longitude coordinates.
    Regular { lat: Axis, lon: Axis, y_dim: String, x_dim: String },
    /// A rotated-pole grid: 1-D rotated coordinates and the pole.
    Rotated { rlat: Axis, rlon: Axis, pole: RotatedPole, y_dim: String, x_dim: String },
    /// 2-D latitude and longitude (row-major `ny` x `nx`), with a bucket index.
    Curvilinear { lat: Vec<f64>, lon: Vec<f64>, ny: usize, nx: usize, y_dim: String, x_dim: String, index: BucketIndex },
}

impl Grid {
    /// The horizontal grid of a variable of a dataset.
    pub fn of(reader: &Reader, ds: &Dataset, var: &Variable) -> Result<Grid> {
        let (lat, lon) =
            lat_lon(ds).ok_or_else(|| Error::bad(format!("dataset '{}' has no latitude/longitude", ds.id)))?;
        if lat.dims.len() == 1 && lon.dims.len() == 1 && lat.dims[0] != lon.dims[0] {
            return Ok(Grid::Regular {
                lat: Axis { values: values(reader, ds, lat)?, cyclic: false },
                lon: Axis { values: values(reader, ds, lon)?, cyclic: true },
                y_dim: lat.dims[0].clone(),
                x_dim: lon.dims[0].clone(),
            });
        }
        if lat.dims.len() != 2 || lat.dims != lon.dims {
            return Err(Error::bad(format!("dataset '{}': unsupported latitude/longitude layout", ds.id)));
        }
        let (y_dim, x_dim) = (lat.dims[0].clone(), lat.dims[1].clone());
        // A rotated pole with 1-D rotated coordinates?
        let mapping = var
            .attr("grid_mapping")
            .and_then(AttrValue::as_text)
            .and_then(|m| ds.var(m.split(':').next().unwrap_or(m).trim()));
        if let (Some(pole), Some(ry), Some(rx)) = (
            mapping.and_then(RotatedPole::from_mapping),
            ds.var(&y_dim).filter(|v| v.is_coordinate()),
            ds.var(&x_dim).filter(|v| v.is_coordinate()),
        ) {
            return Ok(Grid::Rotated {
                rlat: Axis { values: values(reader, ds, ry)?, cyclic: false },
                rlon: Axis { values: values(reader, ds, rx)?, cyclic: false },
                pole,
                y_dim,
                x_dim,
            });
        }
        let (la, lo) = (values(reader, ds, lat)?, values(reader, ds, lon)?);
        let (ny, nx) = (lat.shape[0], lat.shape[1]);
        let index = BucketIndex::new(&la, &lo);
        Ok(Grid::Curvilinear { lat: la, lon: lo, ny, nx, y_dim, x_dim, index })
    }

    /// The (y, x) dimension names.
    pub fn dims(&self) -> (&str, &str) {
        match self {
            Grid::Regular { y_dim, x_dim, .. }
            | Grid::Rotated { y_dim, x_dim, .. }
            | Grid::Curvilinear { y_dim, x_dim, .. } => (y_dim, x_dim),
        }
    }

    /// The (ny, nx) shape.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Grid::Regular { lat, lon, .. } => (lat.values.len(), lon.values.len()),
            Grid::Rotated { rlat, rlon, .. } => (rlat.values.len(), rlon.values.len()),
            Grid::Curvilinear { ny, nx, .. } => (*ny, *nx),
        }
    }

    /// The (y, x) index of the cell containing (nearest to) a longitude/latitude, None
    /// outside the grid.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<(usize, usize)> {
        match self {
            Grid::Regular { lat: ay, lon: ax, .. } => Some((ay.nearest(lat)?, ax.nearest(lon)?)),
            Grid::Rotated { rlat, rlon, pole, .. } => {
                let (x, y) = pole.to_rotated(lon, lat);
                Some((rlat.nearest(y)?, rlon.nearest(x)?))
            }
            Grid::Curvilinear { lat: la, lon: lo, nx, index, .. } => {
                index.nearest(la, lo, lon, lat).map(|k| (k / nx, k % nx))
            }
        }
    }

    /// Longitude and latitude of a cell centre.
    pub fn center(&self, y: usize, x: usize) -> (f64, f64) {
        match self {
            Grid::Regular { lat, lon, .. } => (lon.values[x], lat.values[y]),
            Grid::Rotated { rlat, rlon, pole, .. } => pole.to_geographic(rlon.values[x], rlat.values[y]),
            Grid::Curvilinear { lat, lon, nx, .. } => (lon[y * nx + x], lat[y * nx + x]),
        }
    }
}

/// A bucket index over scattered points on the sphere for nearest-point queries.
#[derive(Clone, Debug)]
pub struct BucketIndex {
    /// Bucket size in degrees.
    size: f64,
    buckets: std::collections::HashMap<(i32, i32), Vec<u32>>,
    /// Typical distance between neighbouring points, as a chord on the unit sphere.
    spacing: f64,
}

fn unit(lon: f64, lat: f64) -> [f64; 3] {
    let (l, p) = (lon.to_radians(), lat.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

fn chord2(a: [f64; 3], b: [f64; 3]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

impl BucketIndex {
    fn new(lat: &[f64], lon: &[f64]) -> BucketIndex {
        let valid =
            |k: usize| lat[k].is_finite() && lon[k].is_finite() && lat[k].abs() <= 90.0 && lon[k].abs() <= 720.0;
        let n = (0..lat.len()).filter(|&k| valid(k)).count().max(1);
        // about 4 points per bucket on average over the area covered
        let size = (4.0 * 41253.0 / n as f64).sqrt().clamp(0.05, 30.0);
        let mut buckets: std::collections::HashMap<(i32, i32), Vec<u32>> = std::collections::HashMap::new();
        for k in (0..lat.len()).filter(|&k| valid(k)) {
            buckets.entry(Self::key(size, lon[k], lat[k])).or_default().push(u32::try_from(k).unwrap_or(u32::MAX));
        }
        // spacing: median nearest-neighbour chord of a sample
        let mut idx = BucketIndex { size, buckets, spacing: f64::INFINITY };
        let mut d: Vec<f64> = (0..lat.len())
            .filter(|&k| valid(k))
            .step_by((n / 200).max(1))
            .filter_map(|k| idx.nearest_excluding(lat, lon, lon[k], lat[k], Some(k)).map(|(_, d)| d))
            .collect();
        d.sort_by(f64::total_cmp);
        idx.spacing = d.get(d.len() / 2).copied().unwrap_or(f64::INFINITY);
        idx
    }

    #[allow(clippy::cast_possible_truncation)]
    fn key(size: f64, lon: f64, lat: f64) -> (i32, i32) {
        (((wrap180(lon) + 180.0) / size).floor() as i32, ((lat + 90.0) / size).floor() as i32)
    }

    fn nearest_excluding(
        &self,
        lat: &[f64],
        lon: &[f64],
        qlon: f64,
        qlat: f64,
        skip: Option<usize>,
    ) -> Option<(usize, f64)> {
        let q = unit(qlon, qlat);
        let (kx, ky) = Self::key(self.size, qlon, qlat);
        #[allow(clippy::cast_possible_truncation)]
        let nx = (360.0 / self.size).ceil() as i32;
        let mut best: Option<(usize, f64)> = None;
        for ring in 0i32..4 {
            for dy in -ring..=ring {
                for dx in -ring..=ring {
                    if dx.abs() != ring && dy.abs() != ring {
                        continue;
                    }
                    let key = ((kx + dx).rem_euclid(nx.max(1)), ky + dy);
                    for &k in self.buckets.get(&key).into_iter().flatten() {
                        let k = k as usize;
                        if Some(k) == skip {
                            continue;
                        }
                        let d = chord2(q, unit(lon[k], lat[k]));
                        if best.is_none_or(|(_, b)| d < b) {
                            best = Some((k, d));
                        }
                    }
                }
            }
            if best.is_some() && ring >= 1 {
                break;
            }
        }
        best.map(|(k, d)| (k, d.sqrt()))
    }

    /// The nearest point, None when it is farther than about two grid spacings.
    fn nearest(&self, lat: &[f64], lon: &[f64], qlon: f64, qlat: f64) -> Option<usize> {
        let (k, d) = self.nearest_excluding(lat, lon, qlon, qlat, None)?;
        (d <= 2.0 * self.spacing).then_some(k)
    }
}

/// A coordinate transformation between two CRSs (EPSG codes or PROJ strings), with
/// longitude/latitude in degrees in east-north order for geographic CRSs.
pub struct Transform(proj::Proj);

impl Transform {
    /// A transformation from `from` to `to`.
    pub fn new(from: &str, to: &str) -> Result<Transform> {
        let p = proj::Proj::new_known_crs(from, to, None)
            .map_err(|e| Error::bad(format!("cannot transform from {from} to {to}: {e}")))?;
        Ok(Transform(p))
    }

    /// Transform points in place (NaN where a point cannot be transformed).
    pub fn apply(&self, points: &mut [(f64, f64)]) {
        for p in points.iter_mut() {
            *p = self.0.convert(*p).unwrap_or((f64::NAN, f64::NAN));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_pole_round_trip_and_eur_corner() {
        let p = RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
        // the EUR-11/22/44 domain centre (0, 0) in rotated coordinates
        let (lon, lat) = p.to_geographic(0.0, 0.0);
        assert!((lat - 50.75).abs() < 0.01 && (lon - 18.0).abs() < 0.01, "{lon} {lat}");
        for (x, y) in [(-28.375, -23.375), (10.0, 5.0), (20.0, -20.0)] {
            let (lo, la) = p.to_geographic(x, y);
            let (x2, y2) = p.to_rotated(lo, la);
            assert!((x - x2).abs() < 1e-9 && (y - y2).abs() < 1e-9);
        }
        // EUR-11 south-west corner
        let (lo, la) = p.to_geographic(-28.375, -23.375);
        assert!((la - 21.99).abs() < 0.02 && (lo + 10.06).abs() < 0.02, "{lo} {la}");
    }

    #[test]
    fn axis_nearest() {
        let lon = Axis { values: (0..144).map(|i| 1.25 + 2.5 * f64::from(i)).collect(), cyclic: true };
        assert_eq!(lon.nearest(-1.0), Some(143));
        assert_eq!(lon.nearest(359.9), Some(143));
        assert_eq!(lon.nearest(0.1), Some(0));
        assert_eq!(lon.nearest(181.0), Some(72));
        let desc = Axis { values: vec![80.0, 40.0, 0.0, -40.0, -80.0], cyclic: false };
        assert_eq!(desc.nearest(35.0), Some(1));
        assert_eq!(desc.nearest(-95.0), Some(4));
        assert_eq!(desc.nearest(-130.0), None);
        let regional = Axis { values: vec![10.0, 11.0, 12.0], cyclic: true };
        assert_eq!(regional.nearest(-348.6), Some(1));
        assert_eq!(regional.nearest(20.0), None);
        // a coarse axis (a strided sample): the nearest value lies across the seam
        let coarse = Axis { values: vec![0.0, 250.0], cyclic: true };
        assert_eq!(coarse.nearest(-109.5), Some(1));
        assert_eq!(coarse.nearest(240.0), Some(1));
        assert_eq!(coarse.nearest(-100.0), Some(1));
        assert_eq!(coarse.nearest(20.0), Some(0));
    }
}
