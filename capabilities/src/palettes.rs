//! Map styles, colour palettes and map CRSs (`data/palettes.json`): what the WMS
//! GetCapabilities lists, what GetMap and the XYZ tiles draw with, what the web map
//! offers.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// A rendering style (`STYLES=<style>/<palette>`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Style {
    pub name: String,
    pub title: String,
    #[serde(rename = "abstract")]
    pub abstract_: String,
    /// Default number of colour bands.
    pub bands: u32,
}

/// Whether a palette suits values of one sign or anomalies around a centre.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PaletteKind {
    Sequential,
    Diverging,
}

/// A colour palette: evenly spaced colour stops from the low end to the high end.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Palette {
    pub name: String,
    pub title: String,
    pub kind: PaletteKind,
    /// `#rrggbb` stops.
    pub colors: Vec<String>,
}

impl Palette {
    /// The stops as RGB triples.
    pub fn rgb(&self) -> Vec<[u8; 3]> {
        self.colors.iter().filter_map(|c| parse_hex_rgb(c)).collect()
    }
}

/// The order of coordinates of a CRS in WMS 1.3.0 (the CRS's own axis order).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AxisOrder {
    /// x (easting, longitude) first.
    EastNorth,
    /// y (northing, latitude) first, as EPSG defines 4326 and 3035.
    NorthEast,
}

/// A map CRS offered by GetMap.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MapCrs {
    pub code: String,
    pub title: String,
    pub axes: AxisOrder,
    /// True for longitude/latitude CRSs (coordinates in degrees).
    pub geographic: bool,
}

#[derive(Deserialize)]
struct File {
    default_palette: String,
    styles: Vec<Style>,
    palettes: Vec<Palette>,
    crs: Vec<MapCrs>,
}

fn file() -> &'static File {
    static F: OnceLock<File> = OnceLock::new();
    F.get_or_init(|| {
        serde_json::from_str(include_str!("../data/palettes.json"))
            .unwrap_or_else(|e| panic!("capabilities/data/palettes.json is invalid: {e}"))
    })
}

/// All styles, the default first.
pub fn styles() -> &'static [Style] {
    &file().styles
}

/// A style by name (case-insensitive).
pub fn style(name: &str) -> Option<&'static Style> {
    styles().iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// All palettes.
pub fn palettes() -> &'static [Palette] {
    &file().palettes
}

/// A palette by name (case-insensitive).
pub fn palette(name: &str) -> Option<&'static Palette> {
    palettes().iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The default palette.
pub fn default_palette() -> &'static Palette {
    palette(&file().default_palette).unwrap_or(&palettes()[0])
}

/// The map CRSs, in the order they are listed.
pub fn map_crs() -> &'static [MapCrs] {
    &file().crs
}

/// A map CRS by code (case-insensitive).
pub fn crs(code: &str) -> Option<&'static MapCrs> {
    map_crs().iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// `#rrggbb`, `rrggbb` or `0xRRGGBB` as RGB.
pub fn parse_hex_rgb(s: &str) -> Option<[u8; 3]> {
    let h = s.trim();
    let h = h.strip_prefix('#').or_else(|| h.strip_prefix("0x")).or_else(|| h.strip_prefix("0X")).unwrap_or(h);
    if h.len() != 6 || !h.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palettes_load() {
        assert!(palettes().len() >= 12);
        for name in ["viridis", "plasma", "rainbow", "rdbu", "brbg", "coolwarm", "greys", "turbo", "jet"] {
            let p = palette(name).unwrap_or_else(|| panic!("palette {name}"));
            assert_eq!(p.rgb().len(), p.colors.len(), "{name}");
            assert!(p.colors.len() >= 2);
        }
        assert_eq!(palette("RdBu").map(|p| p.kind), Some(PaletteKind::Diverging));
        assert_eq!(default_palette().name, "viridis");
        assert_eq!(styles()[0].name, "raster");
        assert_eq!(crs("epsg:4326").map(|c| c.axes), Some(AxisOrder::NorthEast));
        assert_eq!(crs("EPSG:3857").map(|c| c.axes), Some(AxisOrder::EastNorth));
        assert_eq!(parse_hex_rgb("0xFF8000"), Some([255, 128, 0]));
        assert_eq!(parse_hex_rgb("#zz0000"), None);
    }
}
