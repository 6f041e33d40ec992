//! Keys of a Zarr store: what a client asks for under `/zarr/<dataset id>/` (v2) or
//! `/zarr3/<dataset id>/` (v3), parsed without looking at the dataset.

use super::Format;

/// A store key. Paths are those of the dataset's groups and variables (`""`: the
/// root group; `g1/g1_var`: a variable of group `g1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// v2 `.zmetadata`: every metadata document in one.
    Consolidated,
    /// v2 `<group>/.zgroup`.
    Group(String),
    /// v2 `<node>/.zattrs` (a group or an array).
    Attrs(String),
    /// v2 `<var>/.zarray`.
    Array(String),
    /// v3 `<node>/zarr.json` (a group or an array).
    Node(String),
    /// v2 `<var>/<i>.<j>.<k>`, v3 `<var>/c/<i>/<j>/<k>`: chunk indices, outermost first.
    Chunk(String, Vec<u64>),
}

/// Why a key is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not a key this store can have (400).
    Bad(String),
    /// A well-formed key naming nothing (404, what Zarr clients expect of absent keys).
    Missing(String),
}

/// Longest key accepted (a chunk key of a 32-dimensional variable fits easily).
const MAX_KEY: usize = 4096;

/// The node a key ends under: `doc` at the root (`""`) or `<path>/doc`.
fn node_of<'k>(key: &'k str, doc: &str) -> Option<&'k str> {
    if key == doc {
        return Some("");
    }
    key.strip_suffix(doc)?.strip_suffix('/').filter(|p| !p.is_empty())
}

/// Parse `key` (the part of the path after the dataset id, without a leading `/`).
pub fn parse(format: Format, key: &str) -> Result<Key, KeyError> {
    if key.len() > MAX_KEY {
        return Err(KeyError::Bad("key too long".into()));
    }
    if key.split('/').any(|p| p == ".." || p == ".") || key.starts_with('/') || key.contains("//") {
        return Err(KeyError::Bad(format!("'{key}' is not a key of this store")));
    }
    let missing = || KeyError::Missing(format!("no key '{key}' in this store"));
    let owned = |p: &str| p.to_string();
    match format {
        Format::V2 => {
            if key == ".zmetadata" {
                return Ok(Key::Consolidated);
            }
            if let Some(p) = node_of(key, ".zgroup") {
                return Ok(Key::Group(owned(p)));
            }
            if let Some(p) = node_of(key, ".zattrs") {
                return Ok(Key::Attrs(owned(p)));
            }
            if let Some(p) = node_of(key, ".zarray") {
                return if p.is_empty() { Err(missing()) } else { Ok(Key::Array(owned(p))) };
            }
            let (var, last) = key.rsplit_once('/').ok_or_else(missing)?;
            if last.starts_with('.') {
                return Err(missing()); // another metadata name (`.zmetadata` of a group)
            }
            Ok(Key::Chunk(owned(var), indices(key, last.split('.'))?))
        }
        Format::V3 => {
            if let Some(p) = node_of(key, "zarr.json") {
                return Ok(Key::Node(owned(p)));
            }
            if let Some(var) = key.strip_suffix("/c").filter(|v| !v.is_empty()) {
                return Ok(Key::Chunk(owned(var), vec![]));
            }
            match key.rsplit_once("/c/") {
                Some((var, parts)) if !var.is_empty() => Ok(Key::Chunk(owned(var), indices(key, parts.split('/'))?)),
                _ => Err(missing()),
            }
        }
    }
}

/// Chunk indices from their decimal parts.
fn indices<'a>(key: &str, parts: impl Iterator<Item = &'a str>) -> Result<Vec<u64>, KeyError> {
    parts
        .map(|p| {
            if p.is_empty() || p.len() > 19 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(KeyError::Bad(format!("'{key}': chunk indices are decimal numbers")));
            }
            p.parse::<u64>().map_err(|_| KeyError::Bad(format!("'{key}': chunk index out of range")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_keys() {
        let chunk = |v: &str, i: &[u64]| Ok(Key::Chunk(v.into(), i.to_vec()));
        assert_eq!(parse(Format::V2, ".zmetadata"), Ok(Key::Consolidated));
        assert_eq!(parse(Format::V2, ".zgroup"), Ok(Key::Group(String::new())));
        assert_eq!(parse(Format::V2, "g1/g2/.zgroup"), Ok(Key::Group("g1/g2".into())));
        assert_eq!(parse(Format::V2, "tas/.zarray"), Ok(Key::Array("tas".into())));
        assert_eq!(parse(Format::V2, "g1/v/.zattrs"), Ok(Key::Attrs("g1/v".into())));
        assert_eq!(parse(Format::V2, "tas/0.1.2"), chunk("tas", &[0, 1, 2]));
        assert_eq!(parse(Format::V2, "g1/v/3.4"), chunk("g1/v", &[3, 4]));
        assert_eq!(parse(Format::V2, "height/0"), chunk("height", &[0]));
        for bad in ["tas/0.x.2", "tas/0..2", "../etc/passwd", "tas/-1.0", "tas/99999999999999999999", "tas/"] {
            assert!(matches!(parse(Format::V2, bad), Err(KeyError::Bad(_))), "{bad}");
        }
        for missing in [".zarray", "zarr.json", "tas", "g1/.zmetadata", ""] {
            assert!(matches!(parse(Format::V2, missing), Err(KeyError::Missing(_))), "{missing}");
        }
    }

    #[test]
    fn v3_keys() {
        assert_eq!(parse(Format::V3, "zarr.json"), Ok(Key::Node(String::new())));
        assert_eq!(parse(Format::V3, "tas/zarr.json"), Ok(Key::Node("tas".into())));
        assert_eq!(parse(Format::V3, "g1/v/zarr.json"), Ok(Key::Node("g1/v".into())));
        assert_eq!(parse(Format::V3, "tas/c/0/1/2"), Ok(Key::Chunk("tas".into(), vec![0, 1, 2])));
        assert_eq!(parse(Format::V3, "g1/v/c/3"), Ok(Key::Chunk("g1/v".into(), vec![3])));
        assert_eq!(parse(Format::V3, "height/c"), Ok(Key::Chunk("height".into(), vec![])));
        for bad in ["tas/c/0/a", "tas/c/", "tas/c//1"] {
            assert!(matches!(parse(Format::V3, bad), Err(KeyError::Bad(_))), "{bad}");
        }
        for missing in [".zmetadata", "tas/0.1", "c/0", "tas"] {
            assert!(matches!(parse(Format::V3, missing), Err(KeyError::Missing(_))), "{missing}");
        }
    }
}
