//! Legends: a colour bar with its range and units (WMS GetLegendGraphic).

use super::colour::ColourScale;
use super::image::Rgba;
use super::text;

const INK: [u8; 4] = [0, 0, 0, 255];
const PAPER: [u8; 4] = [255, 255, 255, 255];

/// A number in at most about 8 characters (`273.1`, `-0.0012`, `1.2e+05`).
pub fn format_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_nan() { "NaN".into() } else { format!("{}", if v == 0.0 { 0.0 } else { v }) };
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        // 1.20e5 -> 1.2e5
        if let Some((m, e)) = s.split_once('e') {
            let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
            return format!("{m}e{e}");
        }
        return s;
    }
    #[allow(clippy::cast_possible_truncation)]
    let digits = (4 - a.log10().floor() as i32 - 1).clamp(0, 6);
    let s = format!("{v:.*}", usize::try_from(digits).unwrap_or(0));
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Draw the colour bar of a scale into a rectangle; vertical bars run from the
/// maximum at the top to the minimum at the bottom.
fn bar(img: &mut Rgba, scale: &ColourScale, x: usize, y: usize, w: usize, h: usize, vertical: bool) {
    let n = if vertical { h } else { w };
    for k in 0..n {
        #[allow(clippy::cast_precision_loss)]
        let t = (k as f64 + 0.5) / n as f64;
        let c = scale.colour_at(if vertical { 1.0 - t } else { t });
        let (xx, yy, ww, hh) = if vertical { (x, y + k, w, 1) } else { (x + k, y, 1, h) };
        img.fill_rect(i(xx), i(yy), i(ww), i(hh), c);
    }
}

fn i(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn outline(img: &mut Rgba, x: usize, y: usize, w: usize, h: usize) {
    let (x, y, w, h) = (i(x), i(y), i(w), i(h));
    img.fill_rect(x - 1, y - 1, w + 2, 1, INK);
    img.fill_rect(x - 1, y + h, w + 2, 1, INK);
    img.fill_rect(x - 1, y - 1, 1, h + 2, INK);
    img.fill_rect(x + w, y - 1, 1, h + 2, INK);
}

/// A legend image: the colour bar, tick labels from minimum to maximum, and a title
/// (the units). Vertical when taller than wide. With `bar_only`, just the bar.
pub fn legend(scale: &ColourScale, title: &str, width: usize, height: usize, bar_only: bool) -> Rgba {
    let (width, height) = (width.max(4), height.max(4));
    if bar_only {
        let mut img = Rgba::new(width, height);
        bar(&mut img, scale, 0, 0, width, height, height >= width);
        return img;
    }
    let mut img = Rgba::filled(width, height, PAPER);
    let ticks = 5usize;
    let label = |k: usize| {
        #[allow(clippy::cast_precision_loss)]
        let t = k as f64 / (ticks - 1) as f64;
        format_number(scale.value_at(t))
    };
    let title_lines = text::wrap(title, (width.saturating_sub(4) / text::ADVANCE).max(1));
    let title_h = title_lines.len().min(2) * text::LINE + 4;
    for (k, l) in title_lines.iter().take(2).enumerate() {
        text::draw(&mut img, 2, i(2 + k * text::LINE), l, INK);
    }
    if height >= width {
        let (x, y) = (6, title_h + 4);
        let bw = (width / 4).clamp(8, 30);
        let bh = height.saturating_sub(y + 8).max(4);
        bar(&mut img, scale, x, y, bw, bh, true);
        outline(&mut img, x, y, bw, bh);
        for k in 0..ticks {
            let ty = y + bh - (k * (bh - 1)) / (ticks - 1) - 1;
            img.fill_rect(i(x + bw), i(ty), 4, 1, INK);
            let ly = ty.saturating_sub(4).min(height.saturating_sub(9));
            text::draw(&mut img, i(x + bw + 6), i(ly), &label(k), INK);
        }
    } else {
        let (x, y) = (6, title_h + 2);
        let bw = width.saturating_sub(12).max(4);
        let bh = (height.saturating_sub(y + 16)).clamp(4, 24);
        bar(&mut img, scale, x, y, bw, bh, false);
        outline(&mut img, x, y, bw, bh);
        for k in 0..ticks {
            let tx = x + (k * (bw - 1)) / (ticks - 1);
            img.fill_rect(i(tx), i(y + bh), 1, 4, INK);
            let l = label(k);
            let lx = tx.saturating_sub(text::width(&l) / 2).min(width.saturating_sub(text::width(&l)));
            text::draw(&mut img, i(lx), i(y + bh + 5), &l, INK);
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::colour::{OutOfRange, ScaleSpec};

    #[test]
    fn numbers() {
        assert_eq!(format_number(273.15), "273.1");
        assert_eq!(format_number(-0.00125), "-0.00125");
        assert_eq!(format_number(120000.0), "1.2e5");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(5.0), "5");
        assert_eq!(format_number(1.5e-5), "1.5e-5");
    }

    #[test]
    fn legend_draws_bar_and_text() {
        let spec = ScaleSpec {
            stops: vec![[0, 0, 255], [255, 0, 0]],
            bands: 10,
            log: false,
            below: OutOfRange::Extend,
            above: OutOfRange::Extend,
            opacity: 1.0,
            nodata: [0, 0, 0, 0],
        };
        let s = ColourScale::new(&spec, 250.0, 300.0).expect("scale");
        let img = legend(&s, "K", 110, 264, false);
        assert_eq!(img.data.len(), 110 * 264 * 4);
        // the bar is red at the top, blue at the bottom
        let px = |x: usize, y: usize| &img.data[(y * 110 + x) * 4..(y * 110 + x) * 4 + 4];
        assert_eq!(px(10, 24), [255, 0, 0, 255]);
        assert_eq!(px(10, 252), [0, 0, 255, 255]);
        let h = legend(&s, "K", 300, 60, false);
        assert_eq!(h.width, 300);
    }
}
