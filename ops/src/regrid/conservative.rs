//! First-order conservative weights onto a regular latitude-longitude grid.
//!
//! Cells are polygons in the cylindrical equal-area plane (longitude, sin latitude):
//! there, areas are areas on the sphere, target cells (bounded by meridians and
//! parallels) are rectangles, and the overlap of a source cell with a target cell is
//! the area of the source polygon clipped to the rectangle. Regular source cells are
//! exact; the edges of curvilinear cells are straight in that plane between their
//! vertices (differing from great-circle edges by a tiny fraction of small cells).
//! Overlaps of every source cell sum to its area, so area-weighted means are kept
//! exactly. A cell around a pole is closed along the pole line.

use super::source::SourceGrid;
use super::target::LatLonGrid;
use super::weights::Weights;
use crate::geo::wrap180;
use crate::{Error, Result};
use rayon::prelude::*;

type Pt = (f64, f64);

/// Area of a polygon (shoelace), in degrees x sin(latitude).
pub fn polygon_area(p: &[Pt]) -> f64 {
    let n = p.len();
    if n < 3 {
        return 0.0;
    }
    // relative to the first vertex: small cells far from the origin keep their digits
    let (x0, y0) = p[0];
    let mut s = 0.0;
    for i in 1..n - 1 {
        let (a, b) = (p[i], p[i + 1]);
        s += (a.0 - x0) * (b.1 - y0) - (b.0 - x0) * (a.1 - y0);
    }
    (s / 2.0).abs()
}

/// Clip a polygon to `coord(axis) >= v` (keep_above) or `<= v`.
fn clip(p: &[Pt], axis: usize, v: f64, keep_above: bool, out: &mut Vec<Pt>) {
    out.clear();
    let n = p.len();
    if n == 0 {
        return;
    }
    let c = |q: Pt| if axis == 0 { q.0 } else { q.1 };
    let inside = |q: Pt| if keep_above { c(q) >= v } else { c(q) <= v };
    for i in 0..n {
        let (a, b) = (p[i], p[(i + 1) % n]);
        let (ia, ib) = (inside(a), inside(b));
        if ia {
            out.push(a);
        }
        if ia != ib {
            let t = (v - c(a)) / (c(b) - c(a));
            let q = if axis == 0 { (v, a.1 + t * (b.1 - a.1)) } else { (a.0 + t * (b.0 - a.0), v) };
            out.push(q);
        }
    }
}

/// The polygon of a cell in the (longitude, sin latitude) plane, longitudes unwrapped
/// around the cell centre; a cell around a pole is closed along the pole line.
pub fn cell_polygon(corners: &[(f64, f64)], centre_lon: f64, centre_lat: f64) -> Option<Vec<Pt>> {
    let mut v: Vec<(f64, f64)> = Vec::with_capacity(corners.len());
    for &(lo, la) in corners {
        if !(lo.is_finite() && la.is_finite()) {
            return None;
        }
        if v.last().is_none_or(|&(a, b): &(f64, f64)| (a - lo).abs() > 1e-12 || (b - la).abs() > 1e-12) {
            v.push((lo, la.clamp(-90.0, 90.0)));
        }
    }
    while v.len() > 1 && v[0] == v[v.len() - 1] {
        v.pop();
    }
    if v.len() < 3 {
        return None;
    }
    let mu = |la: f64| la.to_radians().sin();
    let mut out: Vec<Pt> = Vec::with_capacity(v.len() + 3);
    let mut lam = centre_lon + wrap180(v[0].0 - centre_lon);
    out.push((lam, mu(v[0].1)));
    for w in v.windows(2) {
        lam += wrap180(w[1].0 - w[0].0);
        out.push((lam, mu(w[1].1)));
    }
    let closing = lam + wrap180(v[0].0 - v[v.len() - 1].0) - out[0].0;
    if closing.abs() > 180.0 {
        // the cell goes around a pole
        let pole = if centre_lat >= 0.0 { 1.0 } else { -1.0 };
        let (l0, m0) = out[0];
        out.push((l0 + closing, m0));
        out.push((l0 + closing, pole));
        out.push((l0, pole));
    }
    Some(out)
}

/// Target rows or columns as sorted intervals with their indices.
struct Intervals {
    lo: Vec<f64>,
    hi: Vec<f64>,
    idx: Vec<usize>,
}

impl Intervals {
    fn new(b: impl Iterator<Item = (f64, f64)>) -> Intervals {
        let mut v: Vec<(f64, f64, usize)> = b.enumerate().map(|(i, (a, c))| (a.min(c), a.max(c), i)).collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        Intervals {
            lo: v.iter().map(|x| x.0).collect(),
            hi: v.iter().map(|x| x.1).collect(),
            idx: v.iter().map(|x| x.2).collect(),
        }
    }

    /// Positions (in sorted order) of intervals that may overlap `(a, b)`.
    fn overlapping(&self, a: f64, b: f64) -> std::ops::Range<usize> {
        // intervals are contiguous and sorted: the `hi` are sorted too
        let start = self.hi.partition_point(|&h| h <= a);
        let end = self.lo.partition_point(|&l| l < b);
        start..end.max(start)
    }
}

/// Conservative weights from `src` onto `dst`: for each target cell, the fraction of
/// its area covered by each source cell.
pub fn conservative_weights(src: &SourceGrid, dst: &LatLonGrid) -> Result<Weights> {
    if dst.lon_bnds.iter().any(|b| !(b[0].is_finite() && b[1].is_finite())) {
        return Err(Error::bad("the target grid has invalid longitude bounds"));
    }
    let rows = Intervals::new(dst.lat_bnds.iter().map(|b| (b[0].to_radians().sin(), b[1].to_radians().sin())));
    let cols = Intervals::new(dst.lon_bnds.iter().map(|b| (b[0], b[1])));
    let nlon = dst.nlon();
    let target_area: Vec<f64> = dst.areas();
    const CHUNK: usize = 2048;
    let n = src.len();
    let parts: Vec<Vec<(u32, u32, f64)>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut out = Vec::new();
            let (mut strip, mut tmp, mut piece) = (Vec::new(), Vec::new(), Vec::new());
            for k in c * CHUNK..((c + 1) * CHUNK).min(n) {
                if !src.valid[k] {
                    continue;
                }
                let Some(poly) = cell_polygon(&src.corners(k), src.lon[k], src.lat[k]) else { continue };
                let (mut lmin, mut lmax, mut mmin, mut mmax) =
                    (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
                for &(l, m) in &poly {
                    lmin = lmin.min(l);
                    lmax = lmax.max(l);
                    mmin = mmin.min(m);
                    mmax = mmax.max(m);
                }
                for ri in rows.overlapping(mmin, mmax) {
                    let (r0, r1, r) = (rows.lo[ri], rows.hi[ri], rows.idx[ri]);
                    clip(&poly, 1, r0, true, &mut tmp);
                    clip(&tmp, 1, r1, false, &mut strip);
                    if strip.len() < 3 {
                        continue;
                    }
                    let (a, b) = strip
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |acc, p| (acc.0.min(p.0), acc.1.max(p.0)));
                    for shift in [-360.0, 0.0, 360.0] {
                        if b - shift <= cols.lo.first().copied().unwrap_or(0.0)
                            || a - shift >= cols.hi.last().copied().unwrap_or(0.0)
                        {
                            continue;
                        }
                        for ci in cols.overlapping(a - shift, b - shift) {
                            let (c0, c1) = (cols.lo[ci] + shift, cols.hi[ci] + shift);
                            clip(&strip, 0, c0, true, &mut tmp);
                            clip(&tmp, 0, c1, false, &mut piece);
                            let area = polygon_area(&piece).to_radians();
                            let t = r * nlon + cols.idx[ci];
                            if area > 0.0 && target_area[t] > 0.0 {
                                let w = area / target_area[t];
                                if w > 1e-13 {
                                    out.push((
                                        u32::try_from(t).unwrap_or(u32::MAX),
                                        u32::try_from(k).unwrap_or(u32::MAX),
                                        w,
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            out
        })
        .collect();
    let total: usize = parts.iter().map(Vec::len).sum();
    let mut triples = Vec::with_capacity(total);
    for p in parts {
        triples.extend(p);
    }
    Ok(Weights::from_triples(n, dst.nlat() * nlon, triples))
}

/// Areas (steradians) of the source cells as the conservative weights see them.
pub fn source_areas(src: &SourceGrid) -> Vec<f64> {
    (0..src.len())
        .map(|k| cell_polygon(&src.corners(k), src.lon[k], src.lat[k]).map_or(0.0, |p| polygon_area(&p).to_radians()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular(lat0: f64, dlat: f64, ny: usize, lon0: f64, dlon: f64, nx: usize, cyclic: bool) -> SourceGrid {
        let lat: Vec<f64> = (0..ny).map(|j| lat0 + dlat * j as f64).collect();
        let lon: Vec<f64> = (0..nx).map(|i| lon0 + dlon * i as f64).collect();
        let lb: Vec<[f64; 2]> = lat.iter().map(|c| [(c - dlat / 2.0).max(-90.0), (c + dlat / 2.0).min(90.0)]).collect();
        let ob: Vec<[f64; 2]> = lon.iter().map(|c| [c - dlon / 2.0, c + dlon / 2.0]).collect();
        SourceGrid::regular(lat, lon, &lb, &ob, cyclic, false, "lat".into(), "lon".into())
    }

    fn field(src: &SourceGrid) -> Vec<f64> {
        (0..src.len())
            .map(|k| 280.0 + 20.0 * src.lat[k].to_radians().cos() + 5.0 * (2.0 * src.lon[k].to_radians()).sin())
            .collect()
    }

    fn mean(v: &[f64], a: &[f64]) -> f64 {
        let (mut s, mut w) = (0.0, 0.0);
        for (x, a) in v.iter().zip(a) {
            if !x.is_nan() {
                s += x * a;
                w += a;
            }
        }
        s / w
    }

    #[test]
    fn global_conservative_preserves_the_area_weighted_mean() {
        let src = regular(-89.5, 1.0, 180, 0.5, 1.0, 360, true);
        for dst in [
            LatLonGrid::named("0pt25deg").expect("grid"),
            LatLonGrid::named("2pt5deg").expect("grid"),
            LatLonGrid::custom("1.8 1.2").expect("grid"),
            LatLonGrid::named("0pt75deg").expect("grid"),
        ] {
            let w = conservative_weights(&src, &dst).expect("weights");
            for (t, s) in w.row_sums().iter().enumerate() {
                assert!(*s <= 1.0 + 1e-9, "target {t} covered {s}");
                assert!(*s >= 1.0 - 1e-9, "target {t} of {} covered only {s}", dst.title);
            }
            let f = field(&src);
            let mut out = vec![0.0; w.n_dst];
            w.apply(&f, 0.5, &mut out);
            let (ms, md) = (mean(&f, &source_areas(&src)), mean(&out, &dst.areas()));
            assert!((ms - md).abs() / ms < 1e-10, "{}: {ms} vs {md}", dst.title);
        }
    }

    #[test]
    fn rotated_regional_conservation_inside_a_box() {
        let pole = crate::geo::RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
        let rlat: Vec<f64> = (0..60).map(|j| -6.6 + 0.22 * f64::from(j)).collect();
        let rlon: Vec<f64> = (0..70).map(|i| -7.7 + 0.22 * f64::from(i)).collect();
        let src = SourceGrid::rotated(rlat, rlon, pole, None, "rlat".into(), "rlon".into());
        let f = field(&src);
        let areas = source_areas(&src);
        // every source cell lies inside the target grid: total integral is kept
        let dst = LatLonGrid::regional(0.0, 40.0, 0.1, 35.0, 70.0, 0.1).expect("grid");
        let w = conservative_weights(&src, &dst).expect("weights");
        let mut out = vec![0.0; w.n_dst];
        w.apply(&f, 0.0, &mut out);
        let ta = dst.areas();
        let covered = w.row_sums();
        let (mut num, mut den) = (0.0, 0.0);
        for t in 0..w.n_dst {
            if !out[t].is_nan() {
                num += out[t] * covered[t] * ta[t];
                den += covered[t] * ta[t];
            }
        }
        let total_src: f64 = areas.iter().sum();
        assert!((den - total_src).abs() / total_src < 1e-10, "{den} vs {total_src}");
        let ms = mean(&f, &areas);
        assert!((num / den - ms).abs() / ms < 1e-10);
    }

    #[test]
    fn polar_cells_and_seam() {
        // a cell around the north pole
        let c = [(0.0, 88.0), (90.0, 88.0), (180.0, 88.0), (270.0, 88.0)];
        let p = cell_polygon(&c, 0.0, 89.5).expect("polygon");
        let a = polygon_area(&p).to_radians();
        let cap = 2.0 * std::f64::consts::PI * (1.0 - 88f64.to_radians().sin());
        assert!((a - cap).abs() < 1e-12, "{a} vs {cap}");
        // a cell straddling the seam with bounds like [179.375, -179.375]
        let c = [(179.375, 0.0), (-179.375, 0.0), (-179.375, 1.0), (179.375, 1.0)];
        let p = cell_polygon(&c, 180.0, 0.5).expect("polygon");
        assert!((polygon_area(&p) - 1.25 * 1f64.to_radians().sin()).abs() < 1e-12);
    }
}
