//! Where each pixel of a map falls on a dataset's grid: pixel centres in the map's
//! CRS, to longitude/latitude (directly for geographic and Web Mercator maps, through
//! PROJ for the others), to the grid cell that contains them.

use crate::geo::{Grid, Transform};
use crate::{Error, Result};
use rayon::prelude::*;

/// The largest map side in pixels.
pub const MAX_SIZE: usize = 8192;

/// Earth radius of Web Mercator (EPSG:3857), metres.
const MERCATOR_R: f64 = 6_378_137.0;

/// A map: its CRS, its extent in that CRS (min x, min y, max x, max y, with x the
/// easting or longitude) and its size in pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct MapView {
    /// `CRS:84`, `EPSG:4326`, `EPSG:3857`, or any CRS PROJ knows.
    pub crs: String,
    pub bbox: [f64; 4],
    pub width: usize,
    pub height: usize,
}

/// How map coordinates become longitude/latitude.
enum Projection {
    Geographic,
    WebMercator,
    Proj(Transform),
}

impl Projection {
    fn of(crs: &str) -> Result<Projection> {
        let c = crs.to_ascii_uppercase();
        Ok(match c.as_str() {
            "CRS:84" | "EPSG:4326" | "OGC:CRS84" | "EPSG:4258" => Projection::Geographic,
            "EPSG:3857" | "EPSG:900913" | "EPSG:3785" | "EPSG:102100" => Projection::WebMercator,
            _ => Projection::Proj(Transform::new(crs, "EPSG:4326")?),
        })
    }

    /// True when longitude depends on x only and latitude on y only.
    fn separable(&self) -> bool {
        !matches!(self, Projection::Proj(_))
    }
}

fn mercator_lat(y: f64) -> f64 {
    (y / MERCATOR_R).sinh().atan().to_degrees()
}

fn mercator_lon(x: f64) -> f64 {
    (x / MERCATOR_R).to_degrees()
}

impl MapView {
    /// Check size and extent.
    pub fn check(&self) -> Result<()> {
        if self.width == 0 || self.height == 0 || self.width > MAX_SIZE || self.height > MAX_SIZE {
            return Err(Error::bad(format!(
                "the map size {}x{} is not allowed (1 to {MAX_SIZE} pixels a side)",
                self.width, self.height
            )));
        }
        let [x0, y0, x1, y1] = self.bbox;
        if !(x0 < x1 && y0 < y1) || self.bbox.iter().any(|v| !v.is_finite()) {
            return Err(Error::bad(format!("the bounding box {x0},{y0},{x1},{y1} is empty or inverted")));
        }
        Ok(())
    }

    /// Map coordinates of the centre of pixel column `i` (may be fractional).
    pub fn x_at(&self, i: f64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let w = self.width as f64;
        self.bbox[0] + i / w * (self.bbox[2] - self.bbox[0])
    }

    /// Map coordinates of the centre of pixel row `j` (rows from the top).
    pub fn y_at(&self, j: f64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let h = self.height as f64;
        self.bbox[3] - j / h * (self.bbox[3] - self.bbox[1])
    }

    /// Longitude/latitude of the point at pixel coordinates (`i`, `j`) (0,0 is the
    /// top-left corner of the image; pixel centres are at +0.5). None when it is off
    /// the Earth in this projection.
    pub fn lon_lat(&self, i: f64, j: f64) -> Result<Option<(f64, f64)>> {
        let (x, y) = (self.x_at(i), self.y_at(j));
        let p = match Projection::of(&self.crs)? {
            Projection::Geographic => (x, y),
            Projection::WebMercator => (mercator_lon(x), mercator_lat(y)),
            Projection::Proj(t) => {
                let mut pts = [(x, y)];
                t.apply(&mut pts);
                pts[0]
            }
        };
        Ok((p.0.is_finite() && p.1.is_finite() && p.1.abs() <= 90.0).then_some(p))
    }
}

/// For each pixel of a map, the grid cell it shows, relative to the smallest index
/// window of the grid that covers the map.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelIndex {
    pub width: usize,
    pub height: usize,
    /// First row and number of rows of the window.
    pub y0: usize,
    pub ny: usize,
    /// First column and number of columns of the window.
    pub x0: usize,
    pub nx: usize,
    /// Per pixel: `(y - y0) * nx + (x - x0)`, or [`PixelIndex::NONE`].
    pub cells: Vec<u32>,
}

impl PixelIndex {
    /// A pixel that shows no cell.
    pub const NONE: u32 = u32::MAX;

    /// True when no pixel shows data.
    pub fn is_empty(&self) -> bool {
        self.ny == 0 || self.nx == 0
    }

    /// Memory used, bytes.
    pub fn bytes(&self) -> usize {
        self.cells.len() * 4 + 64
    }

    /// Locate every pixel of `view` on `grid`.
    pub fn build(grid: &Grid, view: &MapView) -> Result<PixelIndex> {
        view.check()?;
        let proj = Projection::of(&view.crs)?;
        let (w, h) = (view.width, view.height);
        #[allow(clippy::cast_precision_loss)]
        let cell_of: Vec<Option<(usize, usize)>> =
            if let (true, Grid::Regular { lat, lon, .. }) = (proj.separable(), grid) {
                let cols: Vec<Option<usize>> = (0..w)
                    .map(|i| {
                        let x = view.x_at(i as f64 + 0.5);
                        let lon_x = if matches!(proj, Projection::WebMercator) { mercator_lon(x) } else { x };
                        lon.nearest(lon_x)
                    })
                    .collect();
                let rows: Vec<Option<usize>> = (0..h)
                    .map(|j| {
                        let y = view.y_at(j as f64 + 0.5);
                        let lat_y = if matches!(proj, Projection::WebMercator) { mercator_lat(y) } else { y };
                        if lat_y.abs() > 90.0 {
                            None
                        } else {
                            lat.nearest(lat_y)
                        }
                    })
                    .collect();
                rows.iter().flat_map(|r| cols.iter().map(move |c| Some(((*r)?, (*c)?)))).collect()
            } else {
                let mut pts: Vec<(f64, f64)> = Vec::with_capacity(w * h);
                for j in 0..h {
                    let y = view.y_at(j as f64 + 0.5);
                    for i in 0..w {
                        pts.push((view.x_at(i as f64 + 0.5), y));
                    }
                }
                match &proj {
                    Projection::Geographic => {}
                    Projection::WebMercator => {
                        for p in &mut pts {
                            *p = (mercator_lon(p.0), mercator_lat(p.1));
                        }
                    }
                    Projection::Proj(t) => t.apply(&mut pts),
                }
                pts.par_iter()
                    .map(|&(lon, lat)| {
                        if lon.is_finite() && lat.is_finite() && lat.abs() <= 90.0 {
                            grid.locate(lon, lat)
                        } else {
                            None
                        }
                    })
                    .collect()
            };
        let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
        for &(y, x) in cell_of.iter().flatten() {
            y0 = y0.min(y);
            y1 = y1.max(y);
            x0 = x0.min(x);
            x1 = x1.max(x);
        }
        if y0 == usize::MAX {
            return Ok(PixelIndex { width: w, height: h, y0: 0, ny: 0, x0: 0, nx: 0, cells: vec![Self::NONE; w * h] });
        }
        let (ny, nx) = (y1 - y0 + 1, x1 - x0 + 1);
        let cells = cell_of
            .iter()
            .map(|c| match c {
                Some((y, x)) => u32::try_from((y - y0) * nx + (x - x0)).unwrap_or(Self::NONE),
                None => Self::NONE,
            })
            .collect();
        Ok(PixelIndex { width: w, height: h, y0, ny, x0, nx, cells })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::{Axis, RotatedPole};

    fn global() -> Grid {
        Grid::Regular {
            lat: Axis { values: (0..180).map(|i| -89.5 + f64::from(i)).collect(), cyclic: false },
            lon: Axis { values: (0..360).map(|i| 0.5 + f64::from(i)).collect(), cyclic: true },
            y_dim: "lat".into(),
            x_dim: "lon".into(),
        }
    }

    #[test]
    fn geographic_map_of_global_grid() {
        let view = MapView { crs: "CRS:84".into(), bbox: [-180.0, -90.0, 180.0, 90.0], width: 360, height: 180 };
        let idx = PixelIndex::build(&global(), &view).expect("index");
        assert_eq!((idx.ny, idx.nx), (180, 360));
        // top-left pixel: lon -179.5 → index 180 (0..360 data), lat 89.5 → row 179
        assert_eq!(idx.cells[0], 179 * 360 + 180);
        // no seam: every pixel shows a cell
        assert!(idx.cells.iter().all(|&c| c != PixelIndex::NONE));
    }

    #[test]
    fn mercator_has_no_seam_at_0_and_180() {
        let e = 20_037_508.342_789_244;
        let view = MapView { crs: "EPSG:3857".into(), bbox: [-e, -e, e, e], width: 256, height: 256 };
        let idx = PixelIndex::build(&global(), &view).expect("index");
        assert!(idx.cells.iter().all(|&c| c != PixelIndex::NONE));
        // the same through PROJ (the general path): no pixel without data either
        let view2 = MapView { crs: "+proj=merc +R=6378137 +units=m +no_defs".into(), ..view.clone() };
        let idx2 = PixelIndex::build(&global(), &view2).expect("index");
        assert!(idx2.cells.iter().all(|&c| c != PixelIndex::NONE));
        let same = idx.cells.iter().zip(&idx2.cells).filter(|(a, b)| a == b).count();
        assert!(same > 256 * 256 * 99 / 100, "{same}");
    }

    #[test]
    fn rotated_grid_lands_over_europe() {
        let pole = RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
        let grid = Grid::Rotated {
            rlat: Axis { values: (0..201).map(|i| -23.21 + 0.22 * f64::from(i)).collect(), cyclic: false },
            rlon: Axis { values: (0..225).map(|i| -28.21 + 0.22 * f64::from(i)).collect(), cyclic: false },
            pole,
            y_dim: "rlat".into(),
            x_dim: "rlon".into(),
        };
        let view = MapView { crs: "EPSG:4326".into(), bbox: [-180.0, -90.0, 180.0, 90.0], width: 360, height: 180 };
        let idx = PixelIndex::build(&grid, &view).expect("index");
        for (k, &c) in idx.cells.iter().enumerate() {
            if c != PixelIndex::NONE {
                let (lon, lat) = (-179.5 + (k % 360) as f64, 89.5 - (k / 360) as f64);
                assert!((-50.0..=75.0).contains(&lon) && (20.0..=75.0).contains(&lat), "{lon} {lat}");
            }
        }
        assert!(idx.cells.iter().filter(|&&c| c != PixelIndex::NONE).count() > 1000);
        // LAEA Europe through PROJ
        let laea = MapView { crs: "EPSG:3035".into(), bbox: [2.5e6, 1.4e6, 6.5e6, 5.5e6], width: 64, height: 64 };
        let idx = PixelIndex::build(&grid, &laea).expect("index");
        assert!(idx.cells.iter().filter(|&&c| c != PixelIndex::NONE).count() > 3000);
    }

    #[test]
    fn lon_lat_of_pixels() {
        let view = MapView { crs: "EPSG:3857".into(), bbox: [0.0, 0.0, 1000.0, 1000.0], width: 10, height: 10 };
        let (lon, lat) = view.lon_lat(0.0, 10.0).expect("ok").expect("on earth");
        assert!(lon.abs() < 1e-9 && lat.abs() < 1e-9);
        let bad = MapView { crs: "EPSG:4326".into(), bbox: [1.0, 0.0, 0.0, 1.0], width: 10, height: 10 };
        assert!(bad.check().is_err());
    }
}
