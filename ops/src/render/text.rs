//! Text on images with an 8×8 bitmap font (basic Latin): legend labels and error
//! messages drawn into images.

use super::image::Rgba;

/// Width of one character cell in pixels.
pub const ADVANCE: usize = 7;
/// Height of a line in pixels.
pub const LINE: usize = 10;

fn glyph(c: char) -> [u8; 8] {
    let i = c as usize;
    if i < 128 {
        font8x8::legacy::BASIC_LEGACY[i]
    } else {
        font8x8::legacy::BASIC_LEGACY[usize::from(b'?')]
    }
}

/// Width of a string in pixels.
pub fn width(s: &str) -> usize {
    s.chars().count() * ADVANCE
}

/// Draw a string with its top-left corner at (x, y).
pub fn draw(img: &mut Rgba, x: i64, y: i64, s: &str, colour: [u8; 4]) {
    let adv = i64::try_from(ADVANCE).unwrap_or(7);
    for (k, c) in s.chars().enumerate() {
        let g = glyph(c);
        let cx = x + i64::try_from(k).unwrap_or(0) * adv;
        for (row, bits) in (0i64..).zip(g) {
            for col in 0..8i64 {
                if bits & (1 << col) != 0 {
                    img.put(cx + col, y + row, colour);
                }
            }
        }
    }
}

/// Split a message into lines of at most `max_chars` characters, at spaces where
/// possible.
pub fn wrap(msg: &str, max_chars: usize) -> Vec<String> {
    let max = max_chars.max(1);
    let mut lines = Vec::new();
    for para in msg.lines() {
        let mut line = String::new();
        for word in para.split(' ') {
            let mut word = word.to_string();
            while word.chars().count() > max {
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                let head: String = word.chars().take(max).collect();
                word = word.chars().skip(max).collect();
                lines.push(head);
            }
            if line.is_empty() {
                line = word;
            } else if line.chars().count() + 1 + word.chars().count() <= max {
                line.push(' ');
                line.push_str(&word);
            } else {
                lines.push(std::mem::replace(&mut line, word));
            }
        }
        lines.push(line);
    }
    lines
}

/// An image showing a message (WMS `EXCEPTIONS=INIMAGE`): dark red text on a
/// translucent white background.
pub fn message_image(width: usize, height: usize, msg: &str) -> Rgba {
    let mut img = Rgba::filled(width, height, [255, 255, 255, 200]);
    let lines = wrap(msg, (width.saturating_sub(8) / ADVANCE).max(1));
    for (k, l) in lines.iter().enumerate() {
        let y = 4 + k * LINE;
        if y + 8 > height {
            break;
        }
        draw(&mut img, 4, i64::try_from(y).unwrap_or(0), l, [160, 0, 0, 255]);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_draws() {
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        let mut img = Rgba::new(20, 10);
        draw(&mut img, 0, 0, "A", [0, 0, 0, 255]);
        assert!(img.data.chunks(4).any(|p| p[3] == 255));
        assert_eq!(width("abc"), 21);
    }
}
