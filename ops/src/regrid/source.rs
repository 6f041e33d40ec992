//! The source side of regridding: the cell centres and corners of a variable's
//! horizontal grid in geographic coordinates. Corners come from the file's bounds
//! (`lat_bnds`/`lon_bnds`, CORDEX `lat_vertices`, ocean `bounds_lat`) when present and
//! are computed otherwise (midpoints of regular and rotated axes, averages of the four
//! neighbouring centres on curvilinear grids).

use crate::geo::{wrap180, Grid, RotatedPole};
use crate::model::{AttrValue, Dataset, Variable};
use crate::process::select::{lat_lon, values};
use crate::read::Reader;
use crate::{Error, Result};
use sha2::Digest;

/// What kind of grid a source is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SourceKind {
    /// 1-D latitude and longitude.
    Regular,
    /// 1-D rotated latitude and longitude of a CF rotated pole.
    Rotated(RotatedPole),
    /// 2-D latitude and longitude.
    Curvilinear,
}

/// A source grid: `ny` x `nx` cells, row-major.
#[derive(Clone, Debug)]
pub struct SourceGrid {
    pub kind: SourceKind,
    pub ny: usize,
    pub nx: usize,
    pub y_dim: String,
    pub x_dim: String,
    /// The 1-D axes: latitude/longitude (regular) or rotated latitude/longitude.
    pub y: Vec<f64>,
    pub x: Vec<f64>,
    /// Cell centres, degrees.
    pub lon: Vec<f64>,
    pub lat: Vec<f64>,
    /// Four corners per cell (in order around the cell), degrees.
    pub corner_lon: Vec<f64>,
    pub corner_lat: Vec<f64>,
    /// False for cells without coordinates and for duplicates of earlier cells (halo
    /// columns of ocean grids); they take no part in regridding.
    pub valid: Vec<bool>,
    /// True when the grid goes all around the globe in longitude.
    pub cyclic: bool,
    /// True when the corners come from bounds in the file.
    pub bounds_from_file: bool,
    /// A stable hash of the geometry (SHA-256, hex), for weight cache keys.
    pub fingerprint: String,
}

fn unit(lon: f64, lat: f64) -> [f64; 3] {
    let (l, p) = (lon.to_radians(), lat.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

fn lonlat(v: [f64; 3]) -> (f64, f64) {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if n == 0.0 {
        return (0.0, 0.0);
    }
    (v[1].atan2(v[0]).to_degrees(), (v[2] / n).clamp(-1.0, 1.0).asin().to_degrees())
}

/// Cell edges of a 1-D axis from its centres (midpoints, the ends extrapolated).
pub fn edges_of(c: &[f64]) -> Vec<f64> {
    let n = c.len();
    if n == 0 {
        return vec![];
    }
    if n == 1 {
        return vec![c[0] - 0.5, c[0] + 0.5];
    }
    let mut e = Vec::with_capacity(n + 1);
    e.push(c[0] - (c[1] - c[0]) / 2.0);
    for w in c.windows(2) {
        e.push((w[0] + w[1]) / 2.0);
    }
    e.push(c[n - 1] + (c[n - 1] - c[n - 2]) / 2.0);
    e
}

/// Bounds (lo, hi per cell) of a 1-D coordinate: from its `bounds` variable when it
/// has one of the right shape, else midpoints.
fn axis_bounds(
    reader: &Reader,
    ds: &Dataset,
    coord: Option<&Variable>,
    centres: &[f64],
) -> Result<(Vec<[f64; 2]>, bool)> {
    if let Some(b) = coord
        .and_then(|c| c.attr("bounds").and_then(AttrValue::as_text))
        .and_then(|b| ds.var(b))
        .filter(|b| b.shape.len() == 2 && b.shape[0] == centres.len() && b.shape[1] == 2)
    {
        let v = values(reader, ds, b)?;
        if v.iter().all(|x| x.is_finite() && x.abs() < 1e10) {
            return Ok((v.chunks(2).map(|p| [p[0], p[1]]).collect(), true));
        }
    }
    let e = edges_of(centres);
    Ok((e.windows(2).map(|w| [w[0], w[1]]).collect(), false))
}

/// The 2-D vertex bounds (`ny x nx x 4`) of 2-D latitude and longitude, if the file has
/// them.
fn vertex_bounds(
    reader: &Reader,
    ds: &Dataset,
    lat: &Variable,
    lon: &Variable,
    ny: usize,
    nx: usize,
) -> Result<Option<(Vec<f64>, Vec<f64>)>> {
    let get = |v: &Variable| {
        v.attr("bounds")
            .and_then(AttrValue::as_text)
            .and_then(|b| ds.var(b))
            .filter(|b| b.shape.len() == 3 && b.shape[0] == ny && b.shape[1] == nx && b.shape[2] == 4)
    };
    let (Some(bl), Some(bo)) = (get(lat), get(lon)) else { return Ok(None) };
    let (la, lo) = (values(reader, ds, bl)?, values(reader, ds, bo)?);
    Ok(Some((lo, la)))
}

impl SourceGrid {
    /// The horizontal grid of `var`.
    pub fn of(reader: &Reader, ds: &Dataset, var: &Variable) -> Result<SourceGrid> {
        let grid = Grid::of(reader, ds, var)?;
        let (y_dim, x_dim) = {
            let (y, x) = grid.dims();
            (y.to_string(), x.to_string())
        };
        let n = var.dims.len();
        if n < 2 || var.dims[n - 2] != y_dim || var.dims[n - 1] != x_dim {
            return Err(Error::bad(format!(
                "variable '{}' has dimensions ({}); regridding needs its horizontal dimensions ({y_dim}, {x_dim}) last",
                var.name,
                var.dims.join(", ")
            )));
        }
        let mut g = match grid {
            Grid::Regular { lat, lon, .. } => {
                let coord = |name: &str| ds.var(name).filter(|v| v.is_coordinate());
                let (lat_b, fy) = axis_bounds(reader, ds, coord(&y_dim), &lat.values)?;
                let (lon_b, fx) = axis_bounds(reader, ds, coord(&x_dim), &lon.values)?;
                let cyclic = lon.is_global();
                Self::regular(lat.values, lon.values, &lat_b, &lon_b, cyclic, fy && fx, y_dim, x_dim)
            }
            Grid::Rotated { rlat, rlon, pole, .. } => {
                let (ny, nx) = (rlat.values.len(), rlon.values.len());
                let file = match lat_lon(ds) {
                    Some((la, lo)) if la.dims.len() == 2 => vertex_bounds(reader, ds, la, lo, ny, nx)?,
                    _ => None,
                };
                Self::rotated(rlat.values, rlon.values, pole, file, y_dim, x_dim)
            }
            Grid::Curvilinear { lat, lon, ny, nx, .. } => {
                let file = match lat_lon(ds) {
                    Some((la, lo)) if la.dims.len() == 2 => vertex_bounds(reader, ds, la, lo, ny, nx)?,
                    _ => None,
                };
                Self::curvilinear(lat, lon, ny, nx, file, y_dim, x_dim)
            }
        };
        g.fingerprint = g.hash();
        Ok(g)
    }

    /// A regular grid from its axes and bounds.
    #[allow(clippy::too_many_arguments)]
    pub fn regular(
        lat: Vec<f64>,
        lon: Vec<f64>,
        lat_b: &[[f64; 2]],
        lon_b: &[[f64; 2]],
        cyclic: bool,
        bounds_from_file: bool,
        y_dim: String,
        x_dim: String,
    ) -> SourceGrid {
        let (ny, nx) = (lat.len(), lon.len());
        let mut g = SourceGrid::empty(SourceKind::Regular, ny, nx, y_dim, x_dim);
        for j in 0..ny {
            let (b0, b1) = (lat_b[j][0].clamp(-90.0, 90.0), lat_b[j][1].clamp(-90.0, 90.0));
            for i in 0..nx {
                g.lon.push(lon[i]);
                g.lat.push(lat[j]);
                let (a0, a1) = (lon_b[i][0], lon_b[i][1]);
                g.corner_lon.extend([a0, a1, a1, a0]);
                g.corner_lat.extend([b0, b0, b1, b1]);
            }
        }
        g.valid = (0..ny * nx).map(|k| g.lon[k].is_finite() && g.lat[k].is_finite()).collect();
        g.y = lat;
        g.x = lon;
        g.cyclic = cyclic;
        g.bounds_from_file = bounds_from_file;
        g.fingerprint = g.hash();
        g
    }

    /// A rotated-pole grid from its rotated axes (corners from the file's vertices when
    /// given, else the midpoints of the rotated axes).
    pub fn rotated(
        rlat: Vec<f64>,
        rlon: Vec<f64>,
        pole: RotatedPole,
        file_corners: Option<(Vec<f64>, Vec<f64>)>,
        y_dim: String,
        x_dim: String,
    ) -> SourceGrid {
        let (ny, nx) = (rlat.len(), rlon.len());
        let mut g = SourceGrid::empty(SourceKind::Rotated(pole), ny, nx, y_dim, x_dim);
        for &y in &rlat {
            for &x in &rlon {
                let (lo, la) = pole.to_geographic(x, y);
                g.lon.push(lo);
                g.lat.push(la);
            }
        }
        match file_corners.filter(|(lo, la)| lo.iter().chain(la).all(|v| v.is_finite() && v.abs() <= 720.0)) {
            Some((lo, la)) => {
                g.corner_lon = lo;
                g.corner_lat = la;
                g.bounds_from_file = true;
            }
            None => {
                let (ey, ex) = (edges_of(&rlat), edges_of(&rlon));
                let corner: Vec<(f64, f64)> =
                    ey.iter().flat_map(|&y| ex.iter().map(move |&x| pole.to_geographic(x, y))).collect();
                for j in 0..ny {
                    for i in 0..nx {
                        for (cj, ci) in [(j, i), (j, i + 1), (j + 1, i + 1), (j + 1, i)] {
                            let (lo, la) = corner[cj * (nx + 1) + ci];
                            g.corner_lon.push(lo);
                            g.corner_lat.push(la);
                        }
                    }
                }
            }
        }
        g.valid = vec![true; ny * nx];
        g.y = rlat;
        g.x = rlon;
        g.cyclic = false;
        g.fingerprint = g.hash();
        g
    }

    /// A curvilinear grid from 2-D centres (corners from the file's vertices when given,
    /// else computed).
    pub fn curvilinear(
        lat: Vec<f64>,
        lon: Vec<f64>,
        ny: usize,
        nx: usize,
        file_corners: Option<(Vec<f64>, Vec<f64>)>,
        y_dim: String,
        x_dim: String,
    ) -> SourceGrid {
        let mut g = SourceGrid::empty(SourceKind::Curvilinear, ny, nx, y_dim, x_dim);
        let ok = |lo: f64, la: f64| lo.is_finite() && la.is_finite() && la.abs() <= 90.0 && lo.abs() <= 720.0;
        g.valid = (0..ny * nx).map(|k| ok(lon[k], lat[k])).collect();
        // duplicated cells (halo columns, folds) count once
        let mut seen = std::collections::HashSet::new();
        for k in 0..ny * nx {
            if g.valid[k] {
                #[allow(clippy::cast_possible_truncation)]
                let key = ((wrap180(lon[k]) * 1e5).round() as i64, (lat[k] * 1e5).round() as i64);
                if !seen.insert(key) {
                    g.valid[k] = false;
                }
            }
        }
        g.lon = lon;
        g.lat = lat;
        g.cyclic = curvilinear_is_global(&g.lon, &g.lat, &g.valid, nx, ny);
        match file_corners.filter(|(lo, la)| lo.iter().chain(la).all(|v| v.is_finite() && v.abs() <= 720.0)) {
            Some((lo, la)) => {
                g.corner_lon = lo;
                g.corner_lat = la;
                g.bounds_from_file = true;
            }
            None => {
                let (lo, la) = computed_corners(&g.lon, &g.lat, &g.valid, ny, nx, g.cyclic);
                g.corner_lon = lo;
                g.corner_lat = la;
            }
        }
        g.fingerprint = g.hash();
        g
    }

    fn empty(kind: SourceKind, ny: usize, nx: usize, y_dim: String, x_dim: String) -> SourceGrid {
        SourceGrid {
            kind,
            ny,
            nx,
            y_dim,
            x_dim,
            y: vec![],
            x: vec![],
            lon: Vec::with_capacity(ny * nx),
            lat: Vec::with_capacity(ny * nx),
            corner_lon: Vec::with_capacity(ny * nx * 4),
            corner_lat: Vec::with_capacity(ny * nx * 4),
            valid: vec![],
            cyclic: false,
            bounds_from_file: false,
            fingerprint: String::new(),
        }
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ny * self.nx
    }

    /// True for a grid without cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hash(&self) -> String {
        let mut h = sha2::Sha256::new();
        let tag = match self.kind {
            SourceKind::Regular => "regular".to_string(),
            SourceKind::Rotated(p) => format!("rotated {} {} {}", p.pole_lat, p.pole_lon, p.north_pole_grid_lon),
            SourceKind::Curvilinear => "curvilinear".to_string(),
        };
        h.update(format!("{tag} {} {} {}", self.ny, self.nx, self.cyclic).as_bytes());
        for v in [&self.lon, &self.lat, &self.corner_lon, &self.corner_lat] {
            for x in v.iter() {
                h.update(x.to_le_bytes());
            }
        }
        h.update(self.valid.iter().map(|&b| u8::from(b)).collect::<Vec<u8>>());
        format!("{:x}", h.finalize())
    }

    /// The corners of cell `k` (lon, lat).
    pub fn corners(&self, k: usize) -> [(f64, f64); 4] {
        let c = |i: usize| (self.corner_lon[4 * k + i], self.corner_lat[4 * k + i]);
        [c(0), c(1), c(2), c(3)]
    }

    /// Mean spacing of the cell centres in longitude and latitude, degrees (as clisops
    /// estimates it: the extent over the number of cells).
    pub fn mean_spacing(&self) -> (f64, f64) {
        let (lo, hi) = self.lon_range();
        let (la, lb) = self.lat_range();
        #[allow(clippy::cast_precision_loss)]
        let dx = (hi - lo) / (self.nx.max(2) - 1) as f64;
        #[allow(clippy::cast_precision_loss)]
        let dy = (lb - la) / (self.ny.max(2) - 1) as f64;
        (dx.abs(), dy.abs())
    }

    /// Smallest and largest centre longitude (in a frame without a jump inside the grid:
    /// -180..180 or 0..360, whichever makes the range smaller).
    pub fn lon_range(&self) -> (f64, f64) {
        let pick = |f: &dyn Fn(f64) -> f64| {
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            for (k, &x) in self.lon.iter().enumerate() {
                if self.valid.get(k).copied().unwrap_or(true) && x.is_finite() {
                    let x = f(x);
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
            (lo, hi)
        };
        let a = pick(&|x| x);
        if self.cyclic || a.1 - a.0 <= 180.0 {
            return a;
        }
        let b = pick(&|x| x.rem_euclid(360.0));
        let c = pick(&wrap180);
        [a, b, c].into_iter().min_by(|p, q| (p.1 - p.0).total_cmp(&(q.1 - q.0))).unwrap_or(a)
    }

    /// Smallest and largest centre latitude.
    pub fn lat_range(&self) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for (k, &y) in self.lat.iter().enumerate() {
            if self.valid.get(k).copied().unwrap_or(true) && y.is_finite() {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
        (lo, hi)
    }
}

/// True when a curvilinear grid's centres go all around the globe (every band of
/// longitude of two grid spacings holds a centre, as clisops decides it).
fn curvilinear_is_global(lon: &[f64], lat: &[f64], valid: &[bool], nx: usize, ny: usize) -> bool {
    let _ = lat;
    let n = valid.iter().filter(|&&v| v).count();
    if n < 4 || nx < 3 || ny < 1 {
        return false;
    }
    #[allow(clippy::cast_precision_loss)]
    let dx = 360.0 / nx as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bins = ((360.0 / (2.0 * dx)).floor() as usize).max(1);
    let mut seen = vec![false; bins];
    for k in (0..lon.len()).filter(|&k| valid[k]) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let b = ((lon[k].rem_euclid(360.0) / 360.0 * bins as f64) as usize).min(bins - 1);
        seen[b] = true;
    }
    seen.iter().all(|&s| s)
}

/// Corners of a curvilinear grid: the normalised mean of the four surrounding centres
/// (as unit vectors), with the grid extended by one row/column linearly at its edges
/// (or wrapped around when cyclic).
fn computed_corners(
    lon: &[f64],
    lat: &[f64],
    valid: &[bool],
    ny: usize,
    nx: usize,
    cyclic: bool,
) -> (Vec<f64>, Vec<f64>) {
    let at = |j: usize, i: usize| -> [f64; 3] {
        let k = j * nx + i;
        if valid[k] || (lon[k].is_finite() && lat[k].is_finite()) {
            unit(lon[k], lat[k])
        } else {
            [f64::NAN; 3]
        }
    };
    // padded (ny+2) x (nx+2) array of unit vectors
    let (py, px) = (ny + 2, nx + 2);
    let mut p = vec![[f64::NAN; 3]; py * px];
    for j in 0..ny {
        for i in 0..nx {
            p[(j + 1) * px + i + 1] = at(j, i);
        }
    }
    let lin = |a: [f64; 3], b: [f64; 3]| [2.0 * a[0] - b[0], 2.0 * a[1] - b[1], 2.0 * a[2] - b[2]];
    for j in 1..=ny {
        if cyclic {
            p[j * px] = p[j * px + nx];
            p[j * px + nx + 1] = p[j * px + 1];
        } else {
            p[j * px] = lin(p[j * px + 1], p[j * px + (2).min(nx)]);
            p[j * px + nx + 1] = lin(p[j * px + nx], p[j * px + (nx - 1).max(1)]);
        }
    }
    for i in 0..px {
        p[i] = lin(p[px + i], p[(2).min(ny) * px + i]);
        p[(ny + 1) * px + i] = lin(p[ny * px + i], p[(ny - 1).max(1) * px + i]);
    }
    // corner grid (ny+1) x (nx+1)
    let mut corner = vec![(f64::NAN, f64::NAN); (ny + 1) * (nx + 1)];
    for j in 0..=ny {
        for i in 0..=nx {
            let q = [p[j * px + i], p[j * px + i + 1], p[(j + 1) * px + i], p[(j + 1) * px + i + 1]];
            let s = [
                q.iter().map(|v| v[0]).sum::<f64>(),
                q.iter().map(|v| v[1]).sum::<f64>(),
                q.iter().map(|v| v[2]).sum::<f64>(),
            ];
            if s.iter().all(|x| x.is_finite()) {
                corner[j * (nx + 1) + i] = lonlat(s);
            }
        }
    }
    let mut clon = Vec::with_capacity(ny * nx * 4);
    let mut clat = Vec::with_capacity(ny * nx * 4);
    for j in 0..ny {
        for i in 0..nx {
            for (cj, ci) in [(j, i), (j, i + 1), (j + 1, i + 1), (j + 1, i)] {
                let (lo, la) = corner[cj * (nx + 1) + ci];
                clon.push(lo);
                clat.push(la);
            }
        }
    }
    (clon, clat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_corners_of_a_regular_patch() {
        // a 3 x 4 patch of a 1-degree grid given as curvilinear
        let (ny, nx) = (3, 4);
        let mut lat = vec![];
        let mut lon = vec![];
        for j in 0..ny {
            for i in 0..nx {
                lat.push(10.5 + f64::from(j));
                lon.push(20.5 + f64::from(i));
            }
        }
        let g = SourceGrid::curvilinear(lat, lon, ny as usize, nx as usize, None, "y".into(), "x".into());
        assert!(!g.cyclic);
        let c = g.corners(5); // j=1, i=1: centre (21.5, 11.5)
        let want = [(21.0, 11.0), (22.0, 11.0), (22.0, 12.0), (21.0, 12.0)];
        for (a, b) in c.iter().zip(want) {
            assert!((a.0 - b.0).abs() < 0.01 && (a.1 - b.1).abs() < 0.01, "{a:?} vs {b:?}");
        }
        // edge cells are extrapolated
        let c0 = g.corners(0);
        assert!((c0[0].0 - 20.0).abs() < 0.02 && (c0[0].1 - 10.0).abs() < 0.02, "{c0:?}");
    }

    #[test]
    fn duplicated_cells_are_invalid() {
        let lat = vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let lon = vec![10.0, 11.0, 370.0, 10.0, 11.0, 12.0];
        let g = SourceGrid::curvilinear(lat, lon, 2, 3, None, "y".into(), "x".into());
        assert_eq!(g.valid, vec![true, true, false, true, true, true]);
    }
}
