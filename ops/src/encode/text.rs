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

/// Whether XML 1.0 allows `c` in a document at all, raw or as a character reference
/// (`Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`;
/// surrogates cannot occur in a Rust `char`).
fn xml_char_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

fn xml_escape_into(s: &str, out: &mut String, encode_whitespace: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if encode_whitespace => out.push_str("&#10;"),
            '\r' if encode_whitespace => out.push_str("&#13;"),
            '\t' if encode_whitespace => out.push_str("&#9;"),
            c if !xml_char_allowed(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Escape text for XML 1.0 character data and attribute values: `& < > " '` become
/// entity references, TAB/LF/CR are written as they are, and characters XML 1.0 does not
/// allow at all (C0 controls other than TAB/LF/CR, U+FFFE, U+FFFF) are replaced by U+FFFD,
/// so the output is always well-formed.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    xml_escape_into(s, &mut out, false);
    out
}

/// Like [`xml_escape`], for attribute values whose TAB/LF/CR must survive
/// attribute-value normalisation: those are written as `&#9;`, `&#10;`, `&#13;`.
pub fn xml_escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    xml_escape_into(s, &mut out, true);
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

    /// Every ASCII character, some non-ASCII ones and the non-characters XML forbids.
    fn awkward() -> String {
        let mut s: String = (0u8..=0x7f).map(char::from).collect();
        s.push_str("é°ß€😀\u{85}\u{2028}\u{D7FF}\u{E000}\u{FFFD}\u{FFFE}\u{FFFF}\u{10FFFF}");
        s
    }

    /// What a parser reads back: forbidden characters replaced by U+FFFD.
    fn sanitised(s: &str) -> String {
        s.chars().map(|c| if xml_char_allowed(c) { c } else { '\u{FFFD}' }).collect()
    }

    #[test]
    fn xml_escape_markup() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_escape("x\u{1}y\tz\n\r\u{FFFE}"), "x\u{FFFD}y\tz\n\r\u{FFFD}");
        assert_eq!(xml_escape_attr("q\t\n\r\u{0}\"'"), "q&#9;&#10;&#13;\u{FFFD}&quot;&apos;");
        assert_eq!(xml_escape("plain ASCII, ünïcødé 😀"), "plain ASCII, ünïcødé 😀");
        assert!(!xml_escape(&awkward()).contains("&#x"));
    }

    #[test]
    fn xml_escape_output_parses() {
        let s = awkward();
        let expect = sanitised(&s);
        // Raw CR in character data reads back as LF (end-of-line handling); `&#13;` as CR.
        let eol = expect.replace("\r\n", "\n").replace('\r', "\n");
        for (text, want) in [(xml_escape(&s), &eol), (xml_escape_attr(&s), &expect)] {
            let doc = format!("<a>{text}</a>");
            let doc = roxmltree::Document::parse(&doc).expect("text well-formed");
            assert_eq!(doc.root_element().text(), Some(want.as_str()));
        }
        // Attribute values: TAB/LF/CR survive normalisation only as character references.
        let doc = format!("<a b=\"{}\" c='{}'/>", xml_escape_attr(&s), xml_escape_attr(&s));
        let doc = roxmltree::Document::parse(&doc).expect("attribute well-formed");
        assert_eq!(doc.root_element().attribute("b"), Some(expect.as_str()));
        assert_eq!(doc.root_element().attribute("c"), Some(expect.as_str()));
        let doc = format!("<a b=\"{}\" c='{}'/>", xml_escape(&s), xml_escape(&s));
        let doc = roxmltree::Document::parse(&doc).expect("attribute well-formed");
        let normalised = expect.replace("\r\n", " ").replace(['\t', '\n', '\r'], " ");
        assert_eq!(doc.root_element().attribute("b"), Some(normalised.as_str()));
    }
}
