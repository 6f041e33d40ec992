//! Maps of gridded fields for map services (WMS, XYZ tiles): each pixel of a map in any
//! CRS coloured by the value of the grid cell it falls in (regular, rotated-pole and
//! curvilinear grids), colour scales and palettes, PNG images, legends.
//!
//! What repeats between requests is cached: layers (their time and level axes),
//! grids, and the pixel-to-cell index of each map extent; data comes through the
//! reader's chunk cache.

pub mod colour;
pub mod image;
pub mod layer;
pub mod legend;
pub mod map;
pub mod text;
pub mod time;

pub use colour::{ColourScale, OutOfRange, ScaleSpec};
pub use image::{Indexed, Rgba};
pub use layer::{Layer, LevelAxis, TimeAxis};
pub use map::{MapView, PixelIndex};

use crate::geo::Grid;
use crate::model::Dataset;
use crate::read::Reader;
use crate::Result;
use std::sync::Arc;

/// The colour range of a map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    /// Fixed minimum and maximum.
    Fixed(f64, f64),
    /// The range of the values shown in this map.
    Auto,
    /// The layer's default: the range of its first field.
    Default,
}

/// A cell's value at a point.
#[derive(Clone, Debug, PartialEq)]
pub struct PointValue {
    /// Grid indices (y, x).
    pub y: usize,
    pub x: usize,
    /// Longitude and latitude of the cell centre.
    pub lon: f64,
    pub lat: f64,
    /// NaN when the cell has no data.
    pub value: f64,
}

type LayerKey = (String, String, String);

/// Cached layers, grids and pixel indexes.
pub struct Renderer {
    layers: moka::sync::Cache<LayerKey, Arc<Layer>>,
    grids: moka::sync::Cache<(String, String, String, String), Arc<Grid>>,
    indexes: moka::sync::Cache<(String, String, String, String, String), Arc<PixelIndex>>,
    ranges: moka::sync::Cache<LayerKey, (f64, f64)>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new(128 << 20)
    }
}

fn layer_key(ds: &Dataset, var: &str) -> LayerKey {
    (ds.id.clone(), ds.etag.clone(), var.to_string())
}

fn grid_key(layer: &Layer) -> (String, String, String, String) {
    let mapping = layer
        .var()
        .ok()
        .and_then(|v| v.attr("grid_mapping"))
        .and_then(crate::AttrValue::as_text)
        .unwrap_or_default()
        .to_string();
    (format!("{}\u{0}{}", layer.dataset.id, layer.dataset.etag), layer.y_dim.clone(), layer.x_dim.clone(), mapping)
}

/// Range of the finite values.
fn min_max(vals: impl Iterator<Item = f32>, positive_only: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for v in vals {
        if v.is_finite() && (!positive_only || v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo <= hi).then(|| (f64::from(lo), f64::from(hi)))
}

impl Renderer {
    /// A renderer keeping pixel indexes of up to `index_bytes`.
    pub fn new(index_bytes: u64) -> Renderer {
        Renderer {
            layers: moka::sync::Cache::new(4096),
            grids: moka::sync::Cache::new(256),
            indexes: moka::sync::Cache::builder()
                .max_capacity(index_bytes)
                .weigher(|_k, v: &Arc<PixelIndex>| u32::try_from(v.bytes()).unwrap_or(u32::MAX))
                .build(),
            ranges: moka::sync::Cache::new(4096),
        }
    }

    /// The layer of a variable of a dataset.
    pub fn layer(&self, reader: &Reader, ds: &Arc<Dataset>, var: &str) -> Result<Arc<Layer>> {
        let key = layer_key(ds, var);
        if let Some(l) = self.layers.get(&key) {
            return Ok(l);
        }
        let l = Arc::new(Layer::open(reader, ds, var)?);
        self.layers.insert(key, l.clone());
        Ok(l)
    }

    /// The horizontal grid of a layer.
    pub fn grid(&self, reader: &Reader, layer: &Layer) -> Result<Arc<Grid>> {
        let key = grid_key(layer);
        if let Some(g) = self.grids.get(&key) {
            return Ok(g);
        }
        let g = Arc::new(Grid::of(reader, &layer.dataset, layer.var()?)?);
        self.grids.insert(key, g.clone());
        Ok(g)
    }

    /// Where each pixel of `view` falls on the grid of `layer`.
    pub fn index(&self, reader: &Reader, layer: &Layer, view: &MapView) -> Result<Arc<PixelIndex>> {
        view.check()?;
        let (g, y, x, m) = grid_key(layer);
        let bbox = view.bbox.iter().map(|v| format!("{:x}", v.to_bits())).collect::<Vec<_>>().join(",");
        let key = (
            format!("{g}\u{0}{y}\u{0}{x}\u{0}{m}"),
            view.crs.to_ascii_uppercase(),
            bbox,
            view.width.to_string(),
            view.height.to_string(),
        );
        if let Some(i) = self.indexes.get(&key) {
            return Ok(i);
        }
        let grid = self.grid(reader, layer)?;
        let idx = Arc::new(PixelIndex::build(&grid, view)?);
        self.indexes.insert(key, idx.clone());
        Ok(idx)
    }

    /// The default colour range of a layer: the range of its first field.
    pub fn default_range(&self, reader: &Reader, layer: &Layer, positive_only: bool) -> Result<(f64, f64)> {
        let mut key = layer_key(&layer.dataset, &layer.variable);
        if positive_only {
            key.2.push_str("\u{0}log");
        }
        if let Some(r) = self.ranges.get(&key) {
            return Ok(r);
        }
        let var = layer.var()?;
        let dim_len = |d: &str| var.dims.iter().position(|x| x == d).map_or(0, |i| var.shape[i]);
        let (ny, nx) = (dim_len(&layer.y_dim), dim_len(&layer.x_dim));
        let vals = layer.read_window(reader, 0, 0, (0, ny), (0, nx))?;
        let r = min_max(vals.into_iter(), positive_only).unwrap_or((0.0, 1.0));
        self.ranges.insert(key, r);
        Ok(r)
    }

    /// Draw a field of a layer (time step `t`, level `z`) on a map.
    pub fn render(
        &self,
        reader: &Reader,
        layer: &Layer,
        view: &MapView,
        (t, z): (usize, usize),
        spec: &ScaleSpec,
        range: Range,
    ) -> Result<Indexed> {
        let index = self.index(reader, layer, view)?;
        let vals = if index.is_empty() {
            Vec::new()
        } else {
            layer.read_window(reader, t, z, (index.y0, index.ny), (index.x0, index.nx))?
        };
        let (min, max) = match range {
            Range::Fixed(a, b) => (a, b),
            Range::Default => self.default_range(reader, layer, spec.log)?,
            Range::Auto => {
                min_max(index.cells.iter().filter(|&&c| c != PixelIndex::NONE).map(|&c| vals[c as usize]), spec.log)
                    .map_or_else(|| self.default_range(reader, layer, spec.log), Ok)?
            }
        };
        let scale = ColourScale::new(spec, min, max)?;
        let pixels = index
            .cells
            .iter()
            .map(|&c| if c == PixelIndex::NONE { colour::NODATA } else { scale.index(vals[c as usize]) })
            .collect();
        Ok(Indexed { width: view.width, height: view.height, pixels, palette: scale.palette })
    }

    /// The value of the cell under a longitude/latitude (None outside the grid).
    pub fn point(
        &self,
        reader: &Reader,
        layer: &Layer,
        (lon, lat): (f64, f64),
        (t, z): (usize, usize),
    ) -> Result<Option<PointValue>> {
        let grid = self.grid(reader, layer)?;
        let Some((y, x)) = grid.locate(lon, lat) else { return Ok(None) };
        let (clon, clat) = grid.center(y, x);
        let value = layer.read_point(reader, t, z, y, x)?;
        Ok(Some(PointValue { y, x, lon: clon, lat: clat, value }))
    }
}

/// A drawn map.
pub struct Drawn {
    /// The encoded image.
    pub png: Vec<u8>,
    pub mime: &'static str,
    /// `Warning` header values (nearest time used).
    pub warnings: Vec<String>,
    /// The time drawn of the first layer with a time axis.
    pub time: Option<String>,
}
