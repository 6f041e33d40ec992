//! How a layer is drawn: `STYLES=<style>/<palette>`, `COLORSCALERANGE`,
//! `NUMCOLORBANDS`, `LOGSCALE`, `ABOVEMAXCOLOR`, `BELOWMINCOLOR`, `OPACITY` (the ncWMS
//! vocabulary), with styles and palettes from `capabilities`.

use super::error::WmsError;
use super::params::Params;
use cirrus_capabilities::palettes::{self, Palette, Style};
use cirrus_ops::render::colour::{OutOfRange, ScaleSpec, MAX_BANDS};
use cirrus_ops::render::Range;

/// A style with its palette.
#[derive(Clone, Copy, Debug)]
pub struct Choice {
    pub style: &'static Style,
    pub palette: &'static Palette,
}

impl Choice {
    /// `<style>/<palette>`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.style.name, self.palette.name)
    }
}

fn not_defined(s: &str) -> WmsError {
    let styles: Vec<&str> = palettes::styles().iter().map(|s| s.name.as_str()).collect();
    let pals: Vec<&str> = palettes::palettes().iter().map(|p| p.name.as_str()).collect();
    WmsError::new(
        Some("StyleNotDefined"),
        format!(
            "unknown style '{s}': styles are <style>/<palette> with style one of {} and palette one of {}",
            styles.join(", "),
            pals.join(", ")
        ),
    )
}

/// Parse a style name: empty or `default` (the default style and palette), `<style>`,
/// `<palette>`, or `<style>/<palette>` (`default-scalar` and `boxfill` are accepted as
/// `raster`, as ncWMS clients send them).
pub fn parse(s: Option<&str>) -> Result<Choice, WmsError> {
    let default_style = &palettes::styles()[0];
    let s = s.map(str::trim).unwrap_or_default();
    let style_of = |name: &str| match name.to_ascii_lowercase().as_str() {
        "" | "default" | "default-scalar" | "boxfill" => Some(default_style),
        other => palettes::style(other),
    };
    let palette_of = |name: &str| match name.to_ascii_lowercase().as_str() {
        "" | "default" => Some(palettes::default_palette()),
        other => palettes::palette(other),
    };
    let (style, palette) = match s.split_once('/') {
        Some((st, pal)) => (style_of(st), palette_of(pal)),
        None => match (style_of(s), palette_of(s)) {
            (Some(st), _) => (Some(st), Some(palettes::default_palette())),
            (None, Some(p)) => (Some(default_style), Some(p)),
            (None, None) => (None, None),
        },
    };
    match (style, palette) {
        (Some(style), Some(palette)) => Ok(Choice { style, palette }),
        _ => Err(not_defined(s)),
    }
}

/// The colour scale and range of a map from its parameters.
pub fn look(p: &Params, choice: Choice, nodata: [u8; 4]) -> Result<(ScaleSpec, Range), WmsError> {
    let invalid = |m: String| WmsError::new(Some("InvalidParameterValue"), m);
    let palette = match p.get("PALETTE") {
        Some(name) => palettes::palette(name).ok_or_else(|| not_defined(name))?,
        None => choice.palette,
    };
    let bands = match p.get("NUMCOLORBANDS") {
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_BANDS).contains(n))
            .ok_or_else(|| invalid(format!("NUMCOLORBANDS={s} must be an integer from 1 to {MAX_BANDS}")))?,
        None => choice.style.bands.clamp(1, MAX_BANDS),
    };
    let out = |name: &str| -> Result<OutOfRange, WmsError> {
        p.get(name).map_or(Ok(OutOfRange::Extend), |s| {
            OutOfRange::parse(s)
                .ok_or_else(|| invalid(format!("{name}={s} must be 0xRRGGBB, 0xAARRGGBB, extend or transparent")))
        })
    };
    let opacity = match p.get("OPACITY") {
        Some(s) => {
            let v = Params::number("OPACITY", s)?;
            if !(0.0..=100.0).contains(&v) {
                return Err(invalid(format!("OPACITY={s} must be from 0 to 100")));
            }
            v / 100.0
        }
        None => 1.0,
    };
    let log = p.flag("LOGSCALE")?.unwrap_or(false);
    let range = match p.get("COLORSCALERANGE") {
        None => Range::Default,
        Some(s) if s.eq_ignore_ascii_case("auto") => Range::Auto,
        Some(s) if s.eq_ignore_ascii_case("default") => Range::Default,
        Some(s) => match Params::numbers("COLORSCALERANGE", s)?.as_slice() {
            [a, b] if a <= b => Range::Fixed(*a, *b),
            _ => return Err(invalid(format!("COLORSCALERANGE={s} must be min,max (min <= max) or auto"))),
        },
    };
    if let (true, Range::Fixed(a, _)) = (log, range) {
        if a <= 0.0 {
            return Err(invalid(format!("LOGSCALE=true needs a positive minimum in COLORSCALERANGE (got {a})")));
        }
    }
    let spec = ScaleSpec {
        stops: palette.rgb(),
        bands,
        log,
        below: out("BELOWMINCOLOR")?,
        above: out("ABOVEMAXCOLOR")?,
        opacity,
        nodata,
    };
    Ok((spec, range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_names() {
        assert_eq!(parse(None).expect("default").name(), "raster/viridis");
        assert_eq!(parse(Some("raster/RdBu")).expect("ok").name(), "raster/rdbu");
        assert_eq!(parse(Some("plasma")).expect("ok").name(), "raster/plasma");
        assert_eq!(parse(Some("banded")).expect("ok").name(), "banded/viridis");
        assert_eq!(parse(Some("default-scalar/jet")).expect("ok").name(), "raster/jet");
        assert_eq!(parse(Some("nope")).map_err(|e| e.code).err(), Some(Some("StyleNotDefined")));
        assert!(parse(Some("raster/nope")).is_err());
    }

    #[test]
    fn looks() {
        let p = Params::parse("COLORSCALERANGE=250,300&NUMCOLORBANDS=20&ABOVEMAXCOLOR=0xFF0000&OPACITY=50");
        let (spec, range) = look(&p, parse(None).expect("style"), [0; 4]).expect("look");
        assert_eq!(range, Range::Fixed(250.0, 300.0));
        assert_eq!(spec.bands, 20);
        assert_eq!(spec.above, OutOfRange::Colour([255, 0, 0, 255]));
        assert!((spec.opacity - 0.5).abs() < 1e-12);
        let bad = Params::parse("COLORSCALERANGE=0,10&LOGSCALE=true");
        assert!(look(&bad, parse(None).expect("style"), [0; 4]).is_err());
        let auto = Params::parse("COLORSCALERANGE=auto&NUMCOLORBANDS=300");
        assert!(look(&auto, parse(None).expect("style"), [0; 4]).is_err());
    }
}
