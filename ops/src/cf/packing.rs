//! How stored numbers become values (CF packing and missing data): `scale_factor` and
//! `add_offset`, `_FillValue` and `missing_value` (and libnetcdf's default fill value
//! when a float variable declares none), `valid_range`/`valid_min`/`valid_max`. The
//! same rules as netCDF4-python's automatic masking and scaling, so that every
//! operation agrees with what a user reads from the file.

use crate::array::Data;
use crate::model::{AttrValue, DataType, Variable};
use crate::{Error, Result};
use rayon::prelude::*;

/// Fill values this large are matched with a relative tolerance: `1e20` written as a
/// double attribute is not exactly the float `1e20` stored in the data.
const TOLERANT_ABOVE: f64 = 1e19;

/// The fill value libnetcdf uses for a float type when none is set.
fn default_fill(t: DataType) -> Option<f64> {
    match t {
        DataType::F32 => Some(f64::from(9.969_21e36_f32)),
        DataType::F64 => Some(9.969_209_968_386_869e36),
        _ => None,
    }
}

/// The packing and missing-value rules of one variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Decode {
    pub scale: f64,
    pub offset: f64,
    /// Stored values that mean "no data".
    pub missing: Vec<f64>,
    pub valid_min: f64,
    pub valid_max: f64,
}

impl Decode {
    /// From a variable's attributes.
    pub fn of(v: &Variable) -> Decode {
        let num = |k: &str| v.attr(k).and_then(AttrValue::as_f64);
        let mut missing = Vec::new();
        for k in ["_FillValue", "missing_value"] {
            if let Some(vals) = v.attr(k).and_then(AttrValue::as_f64s) {
                missing.extend(vals);
            }
        }
        if v.attr("_FillValue").is_none() {
            missing.extend(default_fill(v.dtype));
        }
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        if let Some(r) = v.attr("valid_range").and_then(AttrValue::as_f64s).filter(|r| r.len() == 2) {
            (lo, hi) = (r[0], r[1]);
        }
        Decode {
            scale: num("scale_factor").unwrap_or(1.0),
            offset: num("add_offset").unwrap_or(0.0),
            missing,
            valid_min: num("valid_min").unwrap_or(lo),
            valid_max: num("valid_max").unwrap_or(hi),
        }
    }

    /// Plain values: no packing and no valid range (only missing values to mask).
    pub fn plain(&self) -> bool {
        self.scale == 1.0 && self.offset == 0.0 && self.valid_min.is_infinite() && self.valid_max.is_infinite()
    }

    /// True when a stored number means "no data".
    #[inline]
    pub fn is_missing(&self, raw: f64) -> bool {
        raw.is_nan()
            || raw < self.valid_min
            || raw > self.valid_max
            || self.missing.iter().any(|&m| m == raw || (m.abs() > TOLERANT_ABOVE && (raw - m).abs() <= m.abs() * 1e-6))
    }

    /// The value of a stored number, NaN when missing.
    #[inline]
    pub fn value(&self, raw: f64) -> f64 {
        if self.is_missing(raw) {
            f64::NAN
        } else {
            raw * self.scale + self.offset
        }
    }

    /// The missing values as intervals of floats, for the fast path of float data (one
    /// interval for `_FillValue` and `missing_value` when they are equal, as in CMIP).
    #[allow(clippy::cast_possible_truncation)]
    fn float_missing(&self) -> Vec<(f32, f32)> {
        let mut miss: Vec<(f32, f32)> = self
            .missing
            .iter()
            .map(|&m| {
                let m = m as f32;
                let tol = if f64::from(m.abs()) > TOLERANT_ABOVE { m.abs() * 1e-6 } else { 0.0 };
                (m - tol, m + tol)
            })
            .collect();
        miss.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        miss.dedup();
        miss
    }

    /// `conv(x, missing)` of every stored float, in parallel; with one missing interval
    /// (the usual case) tested without a loop, so that the compiler vectorizes it.
    fn map_floats<T: Send>(&self, v: &[f32], conv: impl Fn(f32, bool) -> T + Sync) -> Vec<T> {
        let miss = self.float_missing();
        let mut out = Vec::with_capacity(v.len());
        match miss[..] {
            [(lo, hi)] => {
                out.par_extend(
                    v.par_iter().with_min_len(1 << 14).map(|&x| conv(x, x.is_nan() | ((x >= lo) & (x <= hi)))),
                );
            }
            _ => out.par_extend(
                v.par_iter()
                    .with_min_len(1 << 14)
                    .map(|&x| conv(x, x.is_nan() || miss.iter().any(|&(lo, hi)| x >= lo && x <= hi))),
            ),
        }
        out
    }

    /// The one interval of stored floats that mean "no data" besides NaN (an empty
    /// interval when there is none); None when there are several.
    pub fn missing_interval(&self) -> Option<(f32, f32)> {
        match self.float_missing()[..] {
            [] => Some((f32::NAN, f32::NAN)),
            [one] => Some(one),
            _ => None,
        }
    }

    /// Decode a block of stored values (`what`: the operation, for the error).
    pub fn decode(&self, d: &Data, what: &str) -> Result<Vec<f64>> {
        match d {
            Data::F32(v) if self.plain() => Ok(self.map_floats(v, |x, m| if m { f64::NAN } else { f64::from(x) })),
            other => Ok(other
                .to_f64()
                .ok_or_else(|| Error::bad(format!("only numeric variables can be {what}")))?
                .into_iter()
                .map(|x| self.value(x))
                .collect()),
        }
    }

    /// Decode a block of stored values to f32.
    #[allow(clippy::cast_possible_truncation)]
    pub fn decode_f32(&self, d: &Data, what: &str) -> Result<Vec<f32>> {
        match d {
            Data::F32(v) if self.plain() => Ok(self.map_floats(v, |x, m| if m { f32::NAN } else { x })),
            other => Ok(other
                .to_f64()
                .ok_or_else(|| Error::bad(format!("only numeric variables can be {what}")))?
                .into_iter()
                .map(|x| self.value(x) as f32)
                .collect()),
        }
    }
}

/// Values in (step, cell) order as one series per cell, (cell, step) order, each
/// converted by `conv`: a transpose by tiles, in parallel over cells, so that neither
/// side strides through the whole block.
pub fn cell_major<T: Copy + Sync>(
    values: &[T],
    steps: usize,
    cells: usize,
    conv: impl Fn(T) -> f64 + Sync,
) -> Vec<f64> {
    const TILE: usize = 64;
    let mut out = vec![0f64; steps * cells];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(TILE * steps).enumerate().for_each(|(ti, dst)| {
        let (c0, nc) = (ti * TILE, dst.len() / steps);
        for t in 0..steps {
            for (k, &x) in values[t * cells + c0..t * cells + c0 + nc].iter().enumerate() {
                dst[k * steps + t] = conv(x);
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attribute;

    fn var(dtype: DataType, attrs: Vec<(&str, AttrValue)>) -> Variable {
        Variable {
            name: "v".into(),
            dtype,
            dims: vec![],
            shape: vec![],
            attrs: attrs.into_iter().map(|(n, value)| Attribute { name: n.into(), value }).collect(),
            chunks: None,
            filters: Vec::new(),
            joined: false,
        }
    }

    #[test]
    fn cell_major_transposes() {
        let (steps, cells) = (3, 130);
        let v: Vec<f64> = (0..steps * cells).map(|i| i as f64).collect();
        let t = cell_major(&v, steps, cells, |x| x);
        for c in 0..cells {
            for k in 0..steps {
                assert_eq!(t[c * steps + k], v[k * cells + c]);
            }
        }
    }

    #[test]
    fn fills_packing_and_valid_range() {
        let d = Decode::of(&var(DataType::F32, vec![("missing_value", AttrValue::F64(vec![1e20]))]));
        // a double 1e20 matches the float 1e20; the default fill is missing too
        let v = d.decode(&Data::F32(vec![1.0, 1e20, f32::NAN, 9.969_21e36]), "read").expect("decode");
        assert_eq!(v[0], 1.0);
        assert!(v[1..].iter().all(|x| x.is_nan()));
        assert!(d.is_missing(f64::from(1e20_f32)));
        let d = Decode::of(&var(
            DataType::I16,
            vec![
                ("scale_factor", AttrValue::F64(vec![0.5])),
                ("add_offset", AttrValue::F64(vec![10.0])),
                ("_FillValue", AttrValue::I16(vec![-1])),
                ("valid_range", AttrValue::I16(vec![0, 100])),
            ],
        ));
        let v = d.decode(&Data::I16(vec![4, -1, 101]), "read").expect("decode");
        assert_eq!(v[0], 12.0);
        assert!(v[1].is_nan() && v[2].is_nan());
        assert_eq!(d.decode_f32(&Data::I16(vec![100]), "read").expect("f32"), vec![60.0]);
        // integers without _FillValue have no default fill here
        assert!(Decode::of(&var(DataType::I32, vec![])).missing.is_empty());
        assert!(Decode::of(&var(DataType::Str, vec![])).decode(&Data::Str(vec![]), "read").is_err());
    }
}
