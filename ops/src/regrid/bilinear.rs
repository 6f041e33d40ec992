//! Weights of target points: the nearest source cell centre, or bilinear interpolation
//! between the four source cell centres around the point.
//!
//! Bilinear weights are linear in the source's own axes on regular and rotated-pole
//! grids (exactly what CDO's `remapbil` gives on regular grids and GDAL's warper on
//! rotated ones); on curvilinear grids the quadrilateral of centres holding the point
//! is found next to the nearest centre and the bilinear coordinates are solved for by
//! Newton iteration in longitude/latitude (as SCRIP and CDO do). Points of a global
//! source that fall between its outermost rows and the pole get the inverse-distance
//! weighted mean of the four nearest centres.

use super::kdtree::{angle_of_chord2, unit, KdTree};
use super::source::{SourceGrid, SourceKind};
use super::weights::Weights;
use super::Method;
use crate::geo::wrap180;
use rayon::prelude::*;

/// A 1-D axis sorted ascending, with the original index of each value.
struct SortedAxis {
    v: Vec<f64>,
    idx: Vec<usize>,
    /// Extent of the cells (half a step beyond the outer centres).
    lo: f64,
    hi: f64,
}

impl SortedAxis {
    fn new(values: &[f64]) -> SortedAxis {
        let mut p: Vec<(f64, usize)> = values.iter().copied().zip(0..).collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        let v: Vec<f64> = p.iter().map(|x| x.0).collect();
        let n = v.len();
        let half = if n > 1 { (v[n - 1] - v[0]) / (n - 1) as f64 / 2.0 } else { 0.5 };
        let (lo, hi) = if n > 0 { (v[0] - half, v[n - 1] + half) } else { (0.0, 0.0) };
        SortedAxis { v, idx: p.iter().map(|x| x.1).collect(), lo, hi }
    }

    /// The two neighbours of `x` and the fraction towards the second.
    fn bracket(&self, x: f64) -> Option<(usize, usize, f64)> {
        let n = self.v.len();
        if n < 2 || !(x >= self.v[0] && x <= self.v[n - 1]) {
            return (n == 1 && x == self.v[0]).then(|| (self.idx[0], self.idx[0], 0.0));
        }
        let i = self.v.partition_point(|&a| a <= x).saturating_sub(1).min(n - 2);
        let d = self.v[i + 1] - self.v[i];
        let f = if d > 0.0 { (x - self.v[i]) / d } else { 0.0 };
        Some((self.idx[i], self.idx[i + 1], f))
    }

    /// As `bracket` for a cyclic longitude axis (wrapping from the last to the first).
    fn bracket_cyclic(&self, x: f64) -> Option<(usize, usize, f64)> {
        let n = self.v.len();
        if n < 2 {
            return None;
        }
        let x = self.v[0] + (x - self.v[0]).rem_euclid(360.0);
        if x <= self.v[n - 1] {
            return self.bracket(x);
        }
        let d = self.v[0] + 360.0 - self.v[n - 1];
        Some((self.idx[n - 1], self.idx[0], if d > 0.0 { (x - self.v[n - 1]) / d } else { 0.0 }))
    }

    /// A longitude moved by whole turns into the axis' range, if it falls in it.
    fn frame(&self, x: f64) -> Option<f64> {
        [x, x - 360.0, x + 360.0, x - 720.0, x + 720.0].into_iter().find(|&c| c >= self.lo && c <= self.hi)
    }
}

/// Search structures over a source grid.
pub struct PointSearch<'a> {
    src: &'a SourceGrid,
    tree: KdTree,
    y: Option<SortedAxis>,
    x: Option<SortedAxis>,
    /// Largest centre-to-corner distance of each cell (squared chord), for curvilinear
    /// grids.
    radius2: Vec<f64>,
    /// Latitude extent of the cells (bounds) of regular grids.
    lat_extent: (f64, f64),
}

const TINY: f64 = 1e-14;

/// Bilinear coordinates of a point in a quadrilateral of centres (radians), by Newton
/// iteration as in SCRIP; None when it does not converge.
fn find_ij(plon: f64, plat: f64, lons: [f64; 4], lats: [f64; 4]) -> Option<(f64, f64)> {
    use std::f64::consts::PI;
    let limit = |d: f64| {
        if d > 1.5 * PI {
            d - 2.0 * PI
        } else if d < -1.5 * PI {
            d + 2.0 * PI
        } else {
            d
        }
    };
    let dth1 = lats[1] - lats[0];
    let dth2 = lats[3] - lats[0];
    let dth3 = lats[2] - lats[1] - dth2;
    let dph1 = limit(lons[1] - lons[0]);
    let dph2 = limit(lons[3] - lons[0]);
    let dph3 = limit(lons[2] - lons[1]) - dph2;
    let (mut x, mut y) = (0.5, 0.5);
    for _ in 0..100 {
        let dthp = plat - lats[0] - dth1 * x - dth2 * y - dth3 * x * y;
        let dphp = limit(plon - lons[0]) - (dph1 * x + dph2 * y + dph3 * x * y);
        let m1 = dth1 + dth3 * y;
        let m2 = dth2 + dth3 * x;
        let m3 = dph1 + dph3 * y;
        let m4 = dph2 + dph3 * x;
        let det = m1 * m4 - m2 * m3;
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let di = (dthp * m4 - dphp * m2) / det;
        let dj = (dphp * m1 - dthp * m3) / det;
        if di.abs() < 1e-10 && dj.abs() < 1e-10 {
            return Some((x, y));
        }
        x += di;
        y += dj;
    }
    None
}

impl<'a> PointSearch<'a> {
    /// Prepare the search over `src`.
    pub fn new(src: &'a SourceGrid) -> PointSearch<'a> {
        let tree = KdTree::new(&src.lon, &src.lat, |k| src.valid[k]);
        let (y, x) = match src.kind {
            SourceKind::Regular | SourceKind::Rotated(_) => {
                (Some(SortedAxis::new(&src.y)), Some(SortedAxis::new(&src.x)))
            }
            SourceKind::Curvilinear => (None, None),
        };
        let radius2 = if src.kind == SourceKind::Curvilinear {
            (0..src.len())
                .into_par_iter()
                .map(|k| {
                    let c = unit(src.lon[k], src.lat[k]);
                    src.corners(k)
                        .iter()
                        .filter(|p| p.0.is_finite() && p.1.is_finite())
                        .map(|p| super::kdtree::chord2(c, unit(p.0, p.1)))
                        .fold(0.0, f64::max)
                })
                .collect()
        } else {
            vec![]
        };
        let lat_extent = if src.kind == SourceKind::Regular {
            let lo = src.corner_lat.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = src.corner_lat.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        } else {
            (f64::NAN, f64::NAN)
        };
        PointSearch { src, tree, y, x, radius2, lat_extent }
    }

    /// The point in the source's own axes (rotated coordinates for rotated grids).
    fn native(&self, lon: f64, lat: f64) -> (f64, f64) {
        match self.src.kind {
            SourceKind::Rotated(p) => p.to_rotated(lon, lat),
            _ => (lon, lat),
        }
    }

    /// True when a point lies within the source grid's cells.
    fn inside(&self, lon: f64, lat: f64, nearest: usize, d2: f64) -> bool {
        match (&self.y, &self.x) {
            (Some(ya), Some(xa)) => {
                let (x, y) = self.native(lon, lat);
                let lat_ok = if self.src.kind == SourceKind::Regular {
                    let (lo, hi) = self.lat_extent;
                    y >= lo.min(ya.lo) - 1e-9 && y <= hi.max(ya.hi) + 1e-9
                } else {
                    y >= ya.lo - 1e-9 && y <= ya.hi + 1e-9
                };
                lat_ok && (self.src.cyclic || xa.frame(x).is_some())
            }
            _ => self.src.cyclic || d2 <= self.radius2.get(nearest).copied().unwrap_or(0.0) * 1.05 + 1e-18,
        }
    }

    /// The nearest valid source cell of a point inside the grid.
    pub fn nearest(&self, lon: f64, lat: f64) -> Option<usize> {
        if !(lon.is_finite() && lat.is_finite()) {
            return None;
        }
        let (k, d2) = self.tree.nearest(unit(lon, lat))?;
        self.inside(lon, lat, k, d2).then_some(k)
    }

    /// Inverse-distance weights of the four nearest centres (global sources only).
    fn idw(&self, lon: f64, lat: f64, out: &mut Vec<(u32, f64)>) {
        let near = self.tree.nearest_k(unit(lon, lat), 4);
        let w: Vec<f64> = near.iter().map(|&(_, d2)| 1.0 / (angle_of_chord2(d2) + TINY)).collect();
        let s: f64 = w.iter().sum();
        for ((k, _), wk) in near.iter().zip(w) {
            out.push((u32::try_from(*k).unwrap_or(u32::MAX), wk / s));
        }
    }

    /// Bilinear weights of a point (empty outside the grid).
    pub fn bilinear(&self, lon: f64, lat: f64, out: &mut Vec<(u32, f64)>) {
        if !(lon.is_finite() && lat.is_finite()) {
            return;
        }
        let nx = self.src.nx;
        let cell = |j: usize, i: usize| u32::try_from(j * nx + i).unwrap_or(u32::MAX);
        match (&self.y, &self.x) {
            (Some(ya), Some(xa)) => {
                let (x, y) = self.native(lon, lat);
                let bx = if self.src.cyclic { xa.bracket_cyclic(x) } else { xa.frame(x).and_then(|x| xa.bracket(x)) };
                match (ya.bracket(y), bx) {
                    (Some((j0, j1, fy)), Some((i0, i1, fx))) => {
                        out.push((cell(j0, i0), (1.0 - fx) * (1.0 - fy)));
                        out.push((cell(j0, i1), fx * (1.0 - fy)));
                        out.push((cell(j1, i1), fx * fy));
                        out.push((cell(j1, i0), (1.0 - fx) * fy));
                    }
                    _ if self.src.cyclic && self.src.kind == SourceKind::Regular => self.idw(lon, lat, out),
                    _ => {}
                }
            }
            _ => {
                if !self.curvilinear(lon, lat, out) && self.src.cyclic {
                    self.idw(lon, lat, out);
                }
            }
        }
    }

    /// Bilinear weights on a curvilinear grid: the quadrilaterals around the nearest
    /// centres are tried in turn.
    fn curvilinear(&self, lon: f64, lat: f64, out: &mut Vec<(u32, f64)>) -> bool {
        let (ny, nx) = (self.src.ny, self.src.nx);
        if ny < 2 || nx < 2 {
            return false;
        }
        let (plon, plat) = (lon.to_radians(), lat.to_radians());
        let ok = |k: usize| self.src.lon[k].is_finite() && self.src.lat[k].is_finite();
        let near = self.tree.nearest_k(unit(lon, lat), 4);
        for &(k, _) in &near {
            let (j, i) = (k / nx, k % nx);
            for (dj, di) in [(0isize, 0isize), (-1, 0), (0, -1), (-1, -1)] {
                let Some(jq) = j.checked_add_signed(dj).filter(|&v| v + 1 < ny) else { continue };
                let iq = if self.src.cyclic {
                    (i as isize + di).rem_euclid(nx as isize) as usize
                } else {
                    match i.checked_add_signed(di).filter(|&v| v + 1 < nx) {
                        Some(v) => v,
                        None => continue,
                    }
                };
                let i1 = (iq + 1) % nx;
                let ks = [jq * nx + iq, jq * nx + i1, (jq + 1) * nx + i1, (jq + 1) * nx + iq];
                if !ks.iter().all(|&c| ok(c)) {
                    continue;
                }
                let lons = ks.map(|c| self.src.lon[c].to_radians());
                let lats = ks.map(|c| self.src.lat[c].to_radians());
                // reject quadrilaterals spanning the pole or the whole globe
                if ks.iter().any(|&c| wrap180(self.src.lon[c] - self.src.lon[ks[0]]).abs() > 120.0) {
                    continue;
                }
                let Some((x, y)) = find_ij(plon, plat, lons, lats) else { continue };
                let eps = 1e-7;
                if x < -eps || y < -eps || x > 1.0 + eps || y > 1.0 + eps {
                    continue;
                }
                let (x, y) = (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0));
                let w = [(1.0 - x) * (1.0 - y), x * (1.0 - y), x * y, (1.0 - x) * y];
                for (c, wk) in ks.iter().zip(w) {
                    out.push((u32::try_from(*c).unwrap_or(u32::MAX), wk));
                }
                return true;
            }
        }
        false
    }
}

/// Merge repeated sources of one row and drop zero weights.
fn tidy(row: &mut Vec<(u32, f64)>) {
    if row.len() > 1 {
        row.sort_unstable_by_key(|e| e.0);
        let mut out: Vec<(u32, f64)> = Vec::with_capacity(row.len());
        for &(c, w) in row.iter() {
            match out.last_mut() {
                Some(l) if l.0 == c => l.1 += w,
                _ => out.push((c, w)),
            }
        }
        *row = out;
    }
    row.retain(|e| e.1 != 0.0);
}

/// Build weights row by row in parallel chunks.
pub fn build_rows(n_src: usize, n_dst: usize, f: impl Fn(usize, &mut Vec<(u32, f64)>) + Sync) -> Weights {
    const CHUNK: usize = 16384;
    let parts: Vec<(Vec<u32>, Vec<u32>, Vec<f64>)> = (0..n_dst.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let (a, b) = (c * CHUNK, ((c + 1) * CHUNK).min(n_dst));
            let mut counts = Vec::with_capacity(b - a);
            let mut col = Vec::new();
            let mut val = Vec::new();
            let mut row = Vec::with_capacity(8);
            for t in a..b {
                row.clear();
                f(t, &mut row);
                tidy(&mut row);
                counts.push(u32::try_from(row.len()).unwrap_or(0));
                for &(s, w) in &row {
                    col.push(s);
                    val.push(w);
                }
            }
            (counts, col, val)
        })
        .collect();
    let nnz: usize = parts.iter().map(|p| p.1.len()).sum();
    let mut w = Weights {
        n_src,
        n_dst,
        row: Vec::with_capacity(n_dst + 1),
        col: Vec::with_capacity(nnz),
        val: Vec::with_capacity(nnz),
    };
    w.row.push(0);
    let mut total = 0u64;
    for (counts, col, val) in parts {
        for c in counts {
            total += u64::from(c);
            w.row.push(total);
        }
        w.col.extend(col);
        w.val.extend(val);
    }
    w
}

/// Nearest or bilinear weights of target points `(lon, lat)`.
pub fn point_weights(src: &SourceGrid, points: &[(f64, f64)], method: Method) -> Weights {
    let search = PointSearch::new(src);
    build_rows(src.len(), points.len(), |t, row| {
        let (lon, lat) = points[t];
        match method {
            Method::Nearest => {
                if let Some(k) = search.nearest(lon, lat) {
                    row.push((u32::try_from(k).unwrap_or(u32::MAX), 1.0));
                }
            }
            _ => search.bilinear(lon, lat, row),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular(dlat: f64, dlon: f64) -> SourceGrid {
        let lat: Vec<f64> = (0..(180.0 / dlat) as usize).map(|j| -90.0 + dlat / 2.0 + dlat * j as f64).collect();
        let lon: Vec<f64> = (0..(360.0 / dlon) as usize).map(|i| dlon / 2.0 + dlon * i as f64).collect();
        let lb: Vec<[f64; 2]> = lat.iter().map(|c| [c - dlat / 2.0, c + dlat / 2.0]).collect();
        let ob: Vec<[f64; 2]> = lon.iter().map(|c| [c - dlon / 2.0, c + dlon / 2.0]).collect();
        SourceGrid::regular(lat, lon, &lb, &ob, true, false, "lat".into(), "lon".into())
    }

    #[test]
    fn bilinear_weights_sum_to_one_and_reproduce_linear_fields() {
        let src = regular(2.0, 2.5);
        let pts: Vec<(f64, f64)> =
            (0..200).map(|k| (-180.0 + 1.83 * f64::from(k), -89.9 + 0.899 * f64::from(k))).collect();
        let w = point_weights(&src, &pts, Method::Bilinear);
        for (t, s) in w.row_sums().iter().enumerate() {
            assert!((s - 1.0).abs() < 1e-12, "target {t}: sum {s}");
        }
        // a field linear in latitude is reproduced between the outer rows
        let field: Vec<f64> = src.lat.clone();
        let mut out = vec![0.0; pts.len()];
        w.apply(&field, 0.5, &mut out);
        for (k, (_, lat)) in pts.iter().enumerate() {
            if lat.abs() < 89.0 {
                assert!((out[k] - lat).abs() < 1e-9, "{lat}: {}", out[k]);
            }
        }
        // across the seam
        let w = point_weights(&src, &[(359.9, 0.0), (-0.1, 0.0)], Method::Bilinear);
        assert_eq!(w.row_of(0).map(|x| x.0 % 144).collect::<Vec<_>>(), vec![0, 143, 0, 143]);
    }

    #[test]
    fn nearest_inside_regional_grids_only() {
        let pole = crate::geo::RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
        let rlat: Vec<f64> = (0..20).map(|j| -2.0 + 0.22 * f64::from(j)).collect();
        let rlon: Vec<f64> = (0..25).map(|i| -3.0 + 0.22 * f64::from(i)).collect();
        let src = SourceGrid::rotated(rlat, rlon, pole, None, "rlat".into(), "rlon".into());
        let (lon, lat) = src.lon[7 * 25 + 11..].first().map(|&l| (l, src.lat[7 * 25 + 11])).expect("cell");
        let search = PointSearch::new(&src);
        assert_eq!(search.nearest(lon + 0.01, lat - 0.01), Some(7 * 25 + 11));
        assert_eq!(search.nearest(lon + 40.0, lat), None);
        let mut row = vec![];
        search.bilinear(lon, lat, &mut row);
        tidy(&mut row);
        let w: f64 = row.iter().filter(|e| e.0 == 7 * 25 + 11).map(|e| e.1).sum();
        assert!((w - 1.0).abs() < 1e-9, "{row:?}");
    }

    #[test]
    fn curvilinear_bilinear_matches_regular() {
        // the same 1-degree patch as regular and as curvilinear
        let (ny, nx) = (10usize, 12usize);
        let lat: Vec<f64> = (0..ny).map(|j| 40.5 + j as f64).collect();
        let lon: Vec<f64> = (0..nx).map(|i| -5.5 + i as f64).collect();
        let lb: Vec<[f64; 2]> = lat.iter().map(|c| [c - 0.5, c + 0.5]).collect();
        let ob: Vec<[f64; 2]> = lon.iter().map(|c| [c - 0.5, c + 0.5]).collect();
        let reg = SourceGrid::regular(lat.clone(), lon.clone(), &lb, &ob, false, false, "lat".into(), "lon".into());
        let la2: Vec<f64> = (0..ny * nx).map(|k| lat[k / nx]).collect();
        let lo2: Vec<f64> = (0..ny * nx).map(|k| lon[k % nx]).collect();
        let cur = SourceGrid::curvilinear(la2, lo2, ny, nx, None, "y".into(), "x".into());
        let pts: Vec<(f64, f64)> = (0..50).map(|k| (-5.4 + 0.21 * f64::from(k), 40.6 + 0.17 * f64::from(k))).collect();
        let a = point_weights(&reg, &pts, Method::Bilinear);
        let b = point_weights(&cur, &pts, Method::Bilinear);
        let field: Vec<f64> = (0..ny * nx).map(|k| ((k * 7919) % 101) as f64).collect();
        let (mut oa, mut ob2) = (vec![0.0; 50], vec![0.0; 50]);
        a.apply(&field, 0.5, &mut oa);
        b.apply(&field, 0.5, &mut ob2);
        for k in 0..50 {
            assert_eq!(oa[k].is_nan(), ob2[k].is_nan(), "point {k}");
            if !oa[k].is_nan() {
                assert!((oa[k] - ob2[k]).abs() < 1e-6, "point {k}: {} vs {}", oa[k], ob2[k]);
            }
        }
    }
}
