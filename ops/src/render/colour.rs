//! Colour scales: values to palette indices (linear or logarithmic, in bands), with
//! colours for no data and for values below or above the range.

use crate::{Error, Result};
use cirrus_capabilities::palettes::Palette;

/// What to draw for values outside the colour range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OutOfRange {
    /// The colour of the nearest end of the scale.
    Extend,
    /// Nothing.
    Transparent,
    /// A fixed colour (RGBA).
    Colour([u8; 4]),
}

impl OutOfRange {
    /// Parse `extend`, `transparent` or a colour `0xRRGGBB` / `0xAARRGGBB` / `#RRGGBB`.
    pub fn parse(s: &str) -> Option<OutOfRange> {
        match s.trim().to_ascii_lowercase().as_str() {
            "extend" => Some(OutOfRange::Extend),
            "transparent" => Some(OutOfRange::Transparent),
            _ => parse_colour(s).map(OutOfRange::Colour),
        }
    }
}

/// A colour `0xRRGGBB`, `#RRGGBB` or `0xAARRGGBB` as RGBA.
pub fn parse_colour(s: &str) -> Option<[u8; 4]> {
    let h = s.trim();
    let h = h.strip_prefix('#').or_else(|| h.strip_prefix("0x")).or_else(|| h.strip_prefix("0X")).unwrap_or(h);
    if !h.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    match h.len() {
        6 => Some([byte(0)?, byte(2)?, byte(4)?, 255]),
        8 => Some([byte(2)?, byte(4)?, byte(6)?, byte(0)?]),
        _ => None,
    }
}

/// How to colour a field.
#[derive(Clone, Debug)]
pub struct ScaleSpec {
    /// Colour stops, low to high.
    pub stops: Vec<[u8; 3]>,
    /// Number of colour bands (1..=250).
    pub bands: u32,
    pub log: bool,
    pub below: OutOfRange,
    pub above: OutOfRange,
    /// 0 (invisible) to 1 (opaque).
    pub opacity: f64,
    /// The colour of cells without data (transparent unless a background is asked for).
    pub nodata: [u8; 4],
}

impl ScaleSpec {
    /// The default look with a palette.
    pub fn with_palette(p: &Palette, bands: u32) -> ScaleSpec {
        ScaleSpec {
            stops: p.rgb(),
            bands,
            log: false,
            below: OutOfRange::Extend,
            above: OutOfRange::Extend,
            opacity: 1.0,
            nodata: [0, 0, 0, 0],
        }
    }
}

/// The largest number of colour bands (so that an image fits a 256-colour palette).
pub const MAX_BANDS: u32 = 250;

/// Palette index of cells without data.
pub const NODATA: u8 = 0;

/// A colour scale over a value range: value → palette index, and the palette.
#[derive(Clone, Debug)]
pub struct ColourScale {
    pub min: f64,
    pub max: f64,
    pub log: bool,
    pub bands: u32,
    /// Index → RGBA: 0 no data, 1..=bands the bands, then below, then above.
    pub palette: Vec<[u8; 4]>,
    lo: f64,
    span: f64,
}

fn lerp(a: u8, b: u8, t: f64) -> u8 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let v = (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round().clamp(0.0, 255.0) as u8;
    v
}

/// The colour at position `t` (0..1) of a list of evenly spaced stops.
pub fn interpolate(stops: &[[u8; 3]], t: f64) -> [u8; 3] {
    match stops.len() {
        0 => [0, 0, 0],
        1 => stops[0],
        n => {
            #[allow(clippy::cast_precision_loss)]
            let x = t.clamp(0.0, 1.0) * (n - 1) as f64;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = (x.floor() as usize).min(n - 2);
            #[allow(clippy::cast_precision_loss)]
            let f = x - i as f64;
            let (a, b) = (stops[i], stops[i + 1]);
            [lerp(a[0], b[0], f), lerp(a[1], b[1], f), lerp(a[2], b[2], f)]
        }
    }
}

impl ColourScale {
    /// A scale from `min` to `max`.
    pub fn new(spec: &ScaleSpec, min: f64, max: f64) -> Result<ColourScale> {
        if !min.is_finite() || !max.is_finite() {
            return Err(Error::bad(format!("the colour scale range {min},{max} is not finite")));
        }
        if min > max {
            return Err(Error::bad(format!("the colour scale range {min},{max} has its minimum above its maximum")));
        }
        if spec.log && min <= 0.0 {
            return Err(Error::bad(format!(
                "a logarithmic colour scale needs a positive minimum (the range is {min},{max})"
            )));
        }
        if !(1..=MAX_BANDS).contains(&spec.bands) {
            return Err(Error::bad(format!("the number of colour bands must be 1 to {MAX_BANDS}, not {}", spec.bands)));
        }
        let alpha = |a: u8| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let v = (f64::from(a) * spec.opacity.clamp(0.0, 1.0)).round() as u8;
            v
        };
        let mut palette = Vec::with_capacity(spec.bands as usize + 3);
        palette.push(spec.nodata);
        for b in 0..spec.bands {
            let t = if spec.bands == 1 { 0.5 } else { f64::from(b) / f64::from(spec.bands - 1) };
            let [r, g, bl] = interpolate(&spec.stops, t);
            palette.push([r, g, bl, alpha(255)]);
        }
        let end = |o: OutOfRange, edge: [u8; 4]| match o {
            OutOfRange::Extend => edge,
            OutOfRange::Transparent => [0, 0, 0, 0],
            OutOfRange::Colour([r, g, b, a]) => [r, g, b, alpha(a)],
        };
        let (first, last) = (palette[1], palette[spec.bands as usize]);
        palette.push(end(spec.below, first));
        palette.push(end(spec.above, last));
        let (lo, hi) = if spec.log { (min.log10(), max.log10()) } else { (min, max) };
        Ok(ColourScale { min, max, log: spec.log, bands: spec.bands, palette, lo, span: hi - lo })
    }

    /// Palette index of "below the range".
    pub fn below_index(&self) -> u8 {
        u8::try_from(self.bands + 1).unwrap_or(u8::MAX)
    }

    /// Palette index of "above the range".
    pub fn above_index(&self) -> u8 {
        u8::try_from(self.bands + 2).unwrap_or(u8::MAX)
    }

    /// The palette index of a value (NaN: no data).
    #[inline]
    pub fn index(&self, v: f32) -> u8 {
        let v = f64::from(v);
        if v.is_nan() {
            return NODATA;
        }
        if v < self.min {
            return self.below_index();
        }
        if v > self.max {
            return self.above_index();
        }
        // the logarithm out of line: inlined, LLVM computes it for every pixel of a
        // linear scale too (it may speculate the intrinsic), half a tile's time
        let x = if self.log { log10_out_of_line(v) } else { v };
        let t = if self.span > 0.0 { (x - self.lo) / self.span } else { 0.5 };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = ((t * f64::from(self.bands)).floor() as u32).min(self.bands - 1);
        u8::try_from(b + 1).unwrap_or(u8::MAX)
    }

    /// The value at position `t` (0..1) along the scale.
    pub fn value_at(&self, t: f64) -> f64 {
        let x = self.lo + t * self.span;
        if self.log {
            10f64.powf(x)
        } else {
            x
        }
    }

    /// The colour of position `t` (0..1) along the scale, as drawn.
    pub fn colour_at(&self, t: f64) -> [u8; 4] {
        let v = self.value_at(t.clamp(0.0, 1.0));
        #[allow(clippy::cast_possible_truncation)]
        let i = self.index(v as f32);
        self.palette[usize::from(i)]
    }
}

#[inline(never)]
fn log10_out_of_line(v: f64) -> f64 {
    v.log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ScaleSpec {
        ScaleSpec {
            stops: vec![[0, 0, 0], [255, 255, 255]],
            bands: 10,
            log: false,
            below: OutOfRange::Transparent,
            above: OutOfRange::Colour([255, 0, 0, 255]),
            opacity: 1.0,
            nodata: [0, 0, 0, 0],
        }
    }

    #[test]
    fn bands_and_ends() {
        let s = ColourScale::new(&spec(), 0.0, 10.0).expect("scale");
        assert_eq!(s.palette.len(), 13);
        assert_eq!(s.index(f32::NAN), NODATA);
        assert_eq!(s.index(0.0), 1);
        assert_eq!(s.index(0.99), 1);
        assert_eq!(s.index(1.0), 2);
        assert_eq!(s.index(10.0), 10);
        assert_eq!(s.palette[usize::from(s.index(-1.0))], [0, 0, 0, 0]);
        assert_eq!(s.palette[usize::from(s.index(11.0))], [255, 0, 0, 255]);
        assert_eq!(s.palette[1], [0, 0, 0, 255]);
        assert_eq!(s.palette[10], [255, 255, 255, 255]);
    }

    #[test]
    fn log_and_opacity() {
        let mut sp = spec();
        sp.log = true;
        sp.opacity = 0.5;
        assert!(ColourScale::new(&sp, 0.0, 10.0).is_err());
        let s = ColourScale::new(&sp, 1.0, 1000.0).expect("scale");
        // 10 is a third of the way on a log scale: band 3 or 4
        assert_eq!(s.index(10.0), 4);
        assert_eq!(s.palette[1][3], 128);
        assert!((s.value_at(0.5) - 31.622_776_6).abs() < 1e-6);
    }

    #[test]
    fn colours() {
        assert_eq!(parse_colour("0xFF0000"), Some([255, 0, 0, 255]));
        assert_eq!(parse_colour("0x80FF0000"), Some([255, 0, 0, 128]));
        assert_eq!(OutOfRange::parse("Extend"), Some(OutOfRange::Extend));
        assert_eq!(OutOfRange::parse("nope"), None);
        assert_eq!(interpolate(&[[0, 0, 0], [200, 100, 0]], 0.5), [100, 50, 0]);
    }
}
