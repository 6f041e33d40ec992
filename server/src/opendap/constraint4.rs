//! The DAP4 constraint expression (`dap4.ce`): clauses separated by `;`, each a
//! variable path with optional slices (`/g/v[0:1:9][]`, slice sets `[0:1,3]`), or a
//! shared-dimension constraint (`/time=[0:9]`).

use super::constraint::ParseError;

/// One slice of a dimension: `start[:stride]:stop` with an inclusive, optional stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub start: usize,
    pub stride: usize,
    /// None for an open end (`[3:]`).
    pub stop: Option<usize>,
}

/// The slices of one dimension: empty for `[]` (the whole dimension).
pub type SliceSet = Vec<Slice>;

/// A clause of the constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    /// A variable (flattened path `g/v`) and its slices (none: the whole variable).
    Var { path: String, slices: Vec<SliceSet> },
    /// A shared dimension constraint.
    Dim { path: String, slice: Slice },
}

/// Parse a (URL-decoded) DAP4 constraint expression.
pub fn parse(ce: &str) -> Result<Vec<Clause>, ParseError> {
    let mut out = Vec::new();
    for raw in ce.split(';') {
        let clause = raw.trim();
        if clause.is_empty() {
            continue;
        }
        out.push(parse_clause(clause).map_err(|e| ParseError(format!("malformed DAP4 constraint '{clause}': {e}")))?);
    }
    Ok(out)
}

fn parse_clause(c: &str) -> Result<Clause, String> {
    if let Some(i) = c.find(['{', '|']) {
        return Err(format!("'{}' (field projections and filters) is not supported", &c[i..]));
    }
    let (path_part, rest) = match c.find(['[', '=']) {
        Some(i) => (&c[..i], &c[i..]),
        None => (c, ""),
    };
    let path = parse_path(path_part)?;
    if let Some(slice_text) = rest.strip_prefix('=') {
        let sets = parse_slices(slice_text.trim())?;
        return match sets.as_slice() {
            [set] if set.len() == 1 => Ok(Clause::Dim { path, slice: set[0] }),
            _ => Err("a dimension constraint takes exactly one slice, e.g. /time=[0:9]".into()),
        };
    }
    Ok(Clause::Var { path, slices: parse_slices(rest)? })
}

/// A path such as `/g/v` or `v`, with `\x` and `%XX` escapes, to the flattened name.
fn parse_path(p: &str) -> Result<String, String> {
    let p = p.trim();
    let p = p.strip_prefix('/').unwrap_or(p);
    if p.is_empty() {
        return Err("expected a variable name".into());
    }
    let mut out = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or("dangling escape")?),
            '.' => return Err("structure field projections ('.') are not supported".into()),
            c => out.push(c),
        }
    }
    if out.split('/').any(str::is_empty) {
        return Err("empty path component".into());
    }
    Ok(super::constraint::unescape(&out))
}

fn number(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("negative index '{t}'"));
    }
    t.parse().map_err(|_| format!("'{t}' is not an index"))
}

fn parse_slices(mut s: &str) -> Result<Vec<SliceSet>, String> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(out);
        }
        let Some(body) = s.strip_prefix('[') else {
            return Err(format!("unexpected '{s}'"));
        };
        let end = body.find(']').ok_or("missing ']'")?;
        let inner = body[..end].trim();
        let mut set = Vec::new();
        if !inner.is_empty() {
            for part in inner.split(',') {
                let fields: Vec<&str> = part.split(':').collect();
                let slice = match fields.as_slice() {
                    [i] => {
                        let i = number(i)?;
                        Slice { start: i, stride: 1, stop: Some(i) }
                    }
                    [a, b] => Slice {
                        start: number(a)?,
                        stride: 1,
                        stop: if b.trim().is_empty() { None } else { Some(number(b)?) },
                    },
                    [a, st, b] => Slice {
                        start: number(a)?,
                        stride: number(st)?,
                        stop: if b.trim().is_empty() { None } else { Some(number(b)?) },
                    },
                    _ => return Err(format!("bad slice '{part}'")),
                };
                set.push(slice);
            }
        }
        out.push(set);
        s = &body[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sl(start: usize, stride: usize, stop: Option<usize>) -> Slice {
        Slice { start, stride, stop }
    }

    #[test]
    fn clauses() {
        let c = parse("/vu8[1][0:2:2];/vd[1];/g/h/v1[];/v16[0:1,3];/t[2:]").expect("parse");
        assert_eq!(
            c[0],
            Clause::Var { path: "vu8".into(), slices: vec![vec![sl(1, 1, Some(1))], vec![sl(0, 2, Some(2))]] }
        );
        assert_eq!(c[2], Clause::Var { path: "g/h/v1".into(), slices: vec![vec![]] });
        assert_eq!(c[3], Clause::Var { path: "v16".into(), slices: vec![vec![sl(0, 1, Some(1)), sl(3, 1, Some(3))]] });
        assert_eq!(c[4], Clause::Var { path: "t".into(), slices: vec![vec![sl(2, 1, None)]] });
        assert_eq!(
            parse("/time=[0:9];tas").expect("parse")[0],
            Clause::Dim { path: "time".into(), slice: sl(0, 1, Some(9)) }
        );
        assert_eq!(
            parse("/surface%20pressure").expect("parse")[0],
            Clause::Var { path: "surface pressure".into(), slices: vec![] }
        );
        assert_eq!(
            parse("/surface pressure[0]").expect("parse")[0],
            Clause::Var { path: "surface pressure".into(), slices: vec![vec![sl(0, 1, Some(0))]] }
        );
        assert!(parse("").expect("empty").is_empty());
    }

    #[test]
    fn errors() {
        for bad in ["/a[", "/a[x]", "/a[-1]", "/", "/a{b}", "/a|b>1", "/s.x", "/a[1:2:3:4]", "/d=[1][2]", "//a"] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }
}
