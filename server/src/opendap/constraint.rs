//! The DAP2 constraint expression (the query string of a `.dds`/`.dods`/`.ascii`
//! request): projections `a.b[0:1:9][2]` separated by commas, and selections after
//! `&`, which apply only to Sequences (cirrus serves none).

use std::fmt;

/// One index specification `[start]`, `[start:stop]` or `[start:stride:stop]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index {
    pub start: usize,
    pub stride: usize,
    pub stop: usize,
}

/// A name with its index specifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub indices: Vec<Index>,
}

/// A projected variable: `grid.member[..]` is two components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    pub path: Vec<Component>,
}

/// A malformed constraint expression, with where and why.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decode `%XX` escapes (DAP2 names escape characters outside the identifier set).
pub fn unescape(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Parse the URL query of a DAP2 request (still URL-encoded) into projections.
/// An empty query means "everything" and gives an empty list.
pub fn parse(raw_query: &str) -> Result<Vec<Projection>, ParseError> {
    // URL-decode once; DAP escapes inside names (%XX that were themselves encoded)
    // survive and are decoded per name below.
    let ce = unescape(raw_query);
    let (proj, selection) = match ce.find('&') {
        Some(i) => (&ce[..i], &ce[i + 1..]),
        None => (ce.as_str(), ""),
    };
    if selection.split('&').any(|s| !s.trim().is_empty()) {
        return Err(ParseError(format!(
            "selection clause '&{selection}' is not supported: selections apply to Sequences and this server serves none"
        )));
    }
    let mut out = Vec::new();
    let mut p = Parser { s: proj.as_bytes(), i: 0, text: proj };
    p.skip_ws();
    if p.done() {
        return Ok(out);
    }
    loop {
        out.push(p.projection()?);
        p.skip_ws();
        if p.done() {
            return Ok(out);
        }
        p.expect(b',')?;
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn err(&self, what: &str) -> ParseError {
        let shown = if self.done() {
            "the end".to_string()
        } else {
            format!("position {} ('{}')", self.i, &self.text[self.i..].chars().take(12).collect::<String>())
        };
        ParseError(format!("malformed constraint expression '{}': {what} at {shown}", self.text))
    }

    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn projection(&mut self) -> Result<Projection, ParseError> {
        let mut path = vec![self.component()?];
        loop {
            self.skip_ws();
            if self.s.get(self.i) == Some(&b'.') {
                self.i += 1;
                path.push(self.component()?);
            } else {
                return Ok(Projection { path });
            }
        }
    }

    fn component(&mut self) -> Result<Component, ParseError> {
        self.skip_ws();
        let start = self.i;
        while self.i < self.s.len() && !b"[],.&=<>!{}()\"".contains(&self.s[self.i]) {
            self.i += 1;
        }
        let raw = self.text[start..self.i].trim();
        if raw.is_empty() {
            return Err(self.err("expected a variable name"));
        }
        if self.s.get(self.i) == Some(&b'(') {
            return Err(ParseError(format!("server-side function '{raw}(...)' is not supported")));
        }
        let name = unescape(raw);
        let mut indices = Vec::new();
        loop {
            self.skip_ws();
            if self.s.get(self.i) != Some(&b'[') {
                break;
            }
            self.i += 1;
            indices.push(self.index()?);
        }
        Ok(Component { name, indices })
    }

    fn number(&mut self) -> Result<usize, ParseError> {
        self.skip_ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err(if self.s.get(self.i) == Some(&b'-') {
                "negative index"
            } else {
                "expected a non-negative integer index"
            }));
        }
        self.text[start..self.i].parse().map_err(|_| self.err("index too large"))
    }

    fn index(&mut self) -> Result<Index, ParseError> {
        let a = self.number()?;
        self.skip_ws();
        let idx = if self.s.get(self.i) == Some(&b':') {
            self.i += 1;
            let b = self.number()?;
            self.skip_ws();
            if self.s.get(self.i) == Some(&b':') {
                self.i += 1;
                let c = self.number()?;
                Index { start: a, stride: b, stop: c }
            } else {
                Index { start: a, stride: 1, stop: b }
            }
        } else {
            Index { start: a, stride: 1, stop: a }
        };
        self.expect(b']')?;
        Ok(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(start: usize, stride: usize, stop: usize) -> Index {
        Index { start, stride, stop }
    }

    #[test]
    fn projections() {
        let p = parse("tas.tas%5B0:1:9%5D%5B0%5D%5B1:2%5D,time").expect("parse");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].path[0].name, "tas");
        assert_eq!(p[0].path[1].indices, vec![idx(0, 1, 9), idx(0, 1, 0), idx(1, 1, 2)]);
        assert_eq!(p[1].path[0].name, "time");
        let p = parse("surface%2520pressure[0:1]").expect("parse");
        assert_eq!(p[0].path[0].name, "surface pressure");
        let p = parse("surface pressure[0]").expect("parse");
        assert_eq!(p[0].path[0].name, "surface pressure");
        assert!(parse("").expect("empty").is_empty());
        assert!(parse("a&").is_ok());
    }

    #[test]
    fn errors() {
        for bad in [
            "tas[",
            "tas[0:",
            "tas[a]",
            "tas[-1]",
            "tas[0]]",
            ",",
            "tas,,x",
            "tas[0:1:2:3]",
            "f(x)",
            "tas&tas>1",
            "tas..x",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }
}
