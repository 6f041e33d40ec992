//! A map layer: one variable of a dataset on a horizontal grid, with its time and
//! vertical axes, and reading 2-D fields of it (decoded: packing applied, missing
//! values as NaN).

use crate::cf::{self, DateTime, Decode, TimeUnits};
use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{AttrValue, Dataset, Variable};
use crate::process::select::{lat_lon, level_coordinate, values};
use crate::read::Reader;
use crate::selection::Selection;
use crate::{Error, Result};
use std::sync::Arc;

/// The time axis of a layer.
#[derive(Clone, Debug)]
pub struct TimeAxis {
    pub dim: String,
    /// Coordinate values.
    pub values: Vec<f64>,
    pub units: TimeUnits,
    /// Decoded dates in the dataset's calendar (None for values that do not decode).
    pub dates: Vec<Option<DateTime>>,
}

/// The vertical axis of a layer.
#[derive(Clone, Debug)]
pub struct LevelAxis {
    pub dim: String,
    pub name: String,
    pub values: Vec<f64>,
    pub units: String,
    /// `up` or `down`, when given.
    pub positive: Option<String>,
}

/// The (y, x) dimensions of a dataset's horizontal grid.
pub fn horizontal_dims(ds: &Dataset) -> Option<(String, String)> {
    let (lat, lon) = lat_lon(ds)?;
    if lat.dims.len() == 1 && lon.dims.len() == 1 && lat.dims[0] != lon.dims[0] {
        return Some((lat.dims[0].clone(), lon.dims[0].clone()));
    }
    (lat.dims.len() == 2 && lat.dims == lon.dims).then(|| (lat.dims[0].clone(), lat.dims[1].clone()))
}

/// The variables of a dataset that can be drawn as maps: numeric data variables on its
/// horizontal grid.
pub fn map_variables(ds: &Dataset) -> Vec<&Variable> {
    let Some((y, x)) = horizontal_dims(ds) else { return vec![] };
    cf::data_variables(ds)
        .into_iter()
        .filter(|v| v.dtype.is_numeric() && v.dims.contains(&y) && v.dims.contains(&x) && !v.name.contains('/'))
        .collect()
}

/// One variable of a dataset, drawable as a map.
#[derive(Debug)]
pub struct Layer {
    pub dataset: Arc<Dataset>,
    pub variable: String,
    pub y_dim: String,
    pub x_dim: String,
    pub time: Option<TimeAxis>,
    pub level: Option<LevelAxis>,
    pub units: Option<String>,
    pub long_name: Option<String>,
    pub standard_name: Option<String>,
    pub decode: Decode,
}

fn text_attr(v: &Variable, k: &str) -> Option<String> {
    v.attr(k).and_then(AttrValue::as_text).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

impl Layer {
    /// The layer of variable `name` (reads the time and level coordinates).
    pub fn open(reader: &Reader, ds: &Arc<Dataset>, name: &str) -> Result<Layer> {
        let var = ds.require_var(name)?;
        let (y_dim, x_dim) = horizontal_dims(ds)
            .ok_or_else(|| Error::bad(format!("dataset '{}' has no latitude/longitude grid", ds.id)))?;
        if !var.dims.contains(&y_dim) || !var.dims.contains(&x_dim) || !var.dtype.is_numeric() {
            return Err(Error::bad(format!(
                "variable '{name}' of dataset '{}' is not a numeric field on its {y_dim}/{x_dim} grid",
                ds.id
            )));
        }
        let time = match cf::time_coordinate(ds) {
            Some(t) if t.dims.len() == 1 && var.dims.contains(&t.dims[0]) => match cf::time_units(t) {
                Some(units) => {
                    let vals = values(reader, ds, t)?;
                    let dates = vals.iter().map(|&v| units.decode(v)).collect();
                    Some(TimeAxis { dim: t.dims[0].clone(), values: vals, units, dates })
                }
                None => None,
            },
            _ => None,
        };
        let level = match level_coordinate(ds) {
            Some(z) if var.dims.contains(&z.dims[0]) => Some(LevelAxis {
                dim: z.dims[0].clone(),
                name: z.name.clone(),
                values: values(reader, ds, z)?,
                units: text_attr(z, "units").unwrap_or_default(),
                positive: text_attr(z, "positive"),
            }),
            _ => None,
        };
        Ok(Layer {
            dataset: ds.clone(),
            variable: name.to_string(),
            y_dim,
            x_dim,
            time,
            level,
            units: text_attr(var, "units"),
            long_name: text_attr(var, "long_name"),
            standard_name: text_attr(var, "standard_name"),
            decode: Decode::of(var),
        })
    }

    /// The variable.
    pub fn var(&self) -> Result<&Variable> {
        self.dataset.require_var(&self.variable)
    }

    /// A title: the long name, else the standard name, else the variable name.
    pub fn title(&self) -> String {
        self.long_name.clone().or_else(|| self.standard_name.clone()).unwrap_or_else(|| self.variable.clone())
    }

    /// The selection of the window [y0, y0+ny) × [x0, x0+nx) at time step `t` and level
    /// `z` (other dimensions at their first index). Also tells whether x comes before
    /// y in the variable's dimensions.
    fn selection(&self, t: usize, z: usize, y0: usize, ny: usize, x0: usize, nx: usize) -> Result<(Selection, bool)> {
        let var = self.var()?;
        let mut ranges = Vec::with_capacity(var.dims.len());
        for (d, &len) in var.dims.iter().zip(&var.shape) {
            let r = if *d == self.y_dim {
                DimRange { start: y0, stride: 1, count: ny }
            } else if *d == self.x_dim {
                DimRange { start: x0, stride: 1, count: nx }
            } else if self.time.as_ref().is_some_and(|a| a.dim == *d) {
                DimRange::index(t.min(len.saturating_sub(1)))
            } else if self.level.as_ref().is_some_and(|a| a.dim == *d) {
                DimRange::index(z.min(len.saturating_sub(1)))
            } else {
                DimRange::index(0)
            };
            ranges.push(r);
        }
        let yi = var.dims.iter().position(|d| *d == self.y_dim).unwrap_or(0);
        let xi = var.dims.iter().position(|d| *d == self.x_dim).unwrap_or(0);
        Ok((Selection::of_slab(var, &Hyperslab(ranges))?, xi < yi))
    }

    /// Values of a window of the field at time step `t` and level `z`, row-major
    /// (`ny` rows of `nx`), decoded.
    pub fn read_window(
        &self,
        reader: &Reader,
        t: usize,
        z: usize,
        (y0, ny): (usize, usize),
        (x0, nx): (usize, usize),
    ) -> Result<Vec<f32>> {
        let (sel, transposed) = self.selection(t, z, y0, ny, x0, nx)?;
        let arr = sel.read(reader, &self.dataset, &sel.vars[0])?;
        let vals = self.decode.decode_f32(&arr.data, "drawn")?;
        if !transposed {
            return Ok(vals);
        }
        let mut out = vec![f32::NAN; ny * nx];
        for x in 0..nx {
            for y in 0..ny {
                out[y * nx + x] = vals[x * ny + y];
            }
        }
        Ok(out)
    }

    /// The value of one cell at full precision (NaN when missing).
    pub fn read_point(&self, reader: &Reader, t: usize, z: usize, y: usize, x: usize) -> Result<f64> {
        let (sel, _) = self.selection(t, z, y, 1, x, 1)?;
        let arr = sel.read(reader, &self.dataset, &sel.vars[0])?;
        let raw = arr.data.to_f64().and_then(|v| v.first().copied()).unwrap_or(f64::NAN);
        Ok(self.decode.value(raw))
    }

    /// The number of time steps (1 without a time axis).
    pub fn time_count(&self) -> usize {
        self.time.as_ref().map_or(1, |t| t.values.len())
    }

    /// The time step nearest to a date: (index, exact). Fails when the date does not
    /// exist in the calendar or lies outside the axis by more than one step.
    pub fn nearest_time(&self, dt: &DateTime) -> Result<(usize, bool)> {
        let axis =
            self.time.as_ref().ok_or_else(|| Error::bad(format!("layer '{}' has no time axis", self.variable)))?;
        let v = axis.units.encode(dt)?;
        let n = axis.values.len();
        if n == 0 {
            return Err(Error::bad("the time axis is empty"));
        }
        let eps = 0.5 / axis.units.unit_seconds;
        let (lo, hi) = (axis.values[0].min(axis.values[n - 1]), axis.values[0].max(axis.values[n - 1]));
        #[allow(clippy::cast_precision_loss)]
        let step = if n > 1 { (hi - lo) / (n - 1) as f64 } else { 1.0 / axis.units.unit_seconds * 86400.0 };
        if v < lo - step - eps || v > hi + step + eps {
            let show = |i: usize| axis.dates[i].map_or_else(|| axis.values[i].to_string(), |d| d.to_string());
            return Err(Error::bad(format!(
                "{dt} is outside the time axis ({} to {}, {} calendar)",
                show(0),
                show(n - 1),
                axis.units.calendar
            )));
        }
        let i = (0..n).min_by(|&a, &b| (axis.values[a] - v).abs().total_cmp(&(axis.values[b] - v).abs())).unwrap_or(0);
        Ok((i, (axis.values[i] - v).abs() <= eps))
    }

    /// The index of a level value (relative tolerance 1e-6), None when it is not one.
    pub fn level_index(&self, value: f64) -> Option<usize> {
        let axis = self.level.as_ref()?;
        axis.values.iter().position(|&z| (z - value).abs() <= 1e-6 * z.abs().max(value.abs()).max(1e-12))
    }
}
