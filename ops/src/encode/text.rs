//! Text formatting shared by the text encoders (DAS, ASCII, HTML forms).

/// Format an f64 so that it reads back exactly: plain decimal for moderate magnitudes,
/// exponent form otherwise; `NaN`, `Inf`, `-Inf` for the special values.
pub fn f64_str(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "Inf".into()
        } else {
            "-Inf".into()
        }
    } else if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Format an f32 so that it reads back exactly as an f32.
pub fn f32_str(x: f32) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "Inf".into()
        } else {
            "-Inf".into()
        }
    } else if x == 0.0 || (1e-4..1e7).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Escape text for an HTML element or attribute.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escape text for XML character data and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push_str(&format!("&#x{:x};", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip() {
        for x in [1e20f32, 273.15, 0.1, 1.0e-8, -3.4e38, 12345.678] {
            assert_eq!(f32_str(x).parse::<f32>().expect("parse"), x);
        }
        for x in [1e20f64, 273.15, 0.1, 1.0e-300, 86415.0, 1.0 / 3.0] {
            assert_eq!(f64_str(x).parse::<f64>().expect("parse"), x);
        }
        assert_eq!(f32_str(1e20), "1e20");
        assert_eq!(f64_str(2.0), "2");
    }
}
