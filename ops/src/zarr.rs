//! A dataset as a Zarr store (v2 with consolidated metadata, and v3): the metadata
//! documents xarray's zarr engine decodes as it decodes the source files with netCDF4
//! (CF attributes, `_FillValue`, packing, calendars, char and string variables,
//! dimension names), and chunk bytes read through the shared [`Reader`] and its cache.
//!
//! Chunks follow the source files' chunking where they have one (a joined dataset
//! keeps its files' time chunks); contiguous and NetCDF-3 variables are cut along
//! their outer dimensions into chunks of at most [`CHUNK_BYTES`]. A variable whose
//! source chunks are filtered only by shuffle and deflate keeps those codecs
//! ([`Codecs::Source`]: v2 `shuffle` + `zlib`, v3 `numcodecs.shuffle` +
//! `numcodecs.zlib`) and its stored chunks are sent as they are on disk; a chunk that
//! no stored chunk matches (straddling files, re-expressed times, big-endian files) is
//! assembled and encoded with the same codecs. Other variables' chunks are assembled,
//! encoded little-endian, padded to the full chunk shape at the edges (as Zarr stores
//! them) and compressed: zlib for v2, gzip for v3 (the standard codecs of each).
//!
//! That is the [`Layout::Stored`] store, the fewest bytes on the wire. The
//! [`Layout::Uncompressed`] store of the same dataset merges whole source chunks
//! along the outer dimensions into chunks of about [`UNCOMPRESSED_CHUNK_BYTES`] and
//! sends them without codecs: for clients next to the server, whose own decoding and
//! per-chunk work (not the network) limit a read.

pub mod key;

use crate::model::{AttrValue, DataType, Dataset, Variable};
use crate::{Data, DimRange, Hyperslab, Reader};
use base64::Engine as _;
use serde_json::{json, Map, Value};

pub use key::{Key, KeyError};

/// The Zarr format of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    V2,
    V3,
}

/// Uncompressed bytes of a chunk made for a variable that has no chunks of its own.
pub const CHUNK_BYTES: usize = 4 << 20;

/// Bytes of a chunk of the uncompressed store (at most; at least one source chunk).
/// Small enough that a client copies the first chunks while later ones arrive (2 MiB
/// read fastest with xarray, against 0.5 to 32 MiB), large enough to need few requests.
pub const UNCOMPRESSED_CHUNK_BYTES: usize = 2 << 20;

/// How a store cuts and encodes chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The source's chunks and, where Zarr has them, its codecs (stored bytes sent as
    /// they are).
    Stored,
    /// Whole source chunks merged into chunks of about [`UNCOMPRESSED_CHUNK_BYTES`],
    /// sent without codecs.
    Uncompressed,
}

/// Compression level of assembled chunks (fast: the network is slower than level 1).
const LEVEL: i32 = 1;

/// A dataset seen as a Zarr store.
pub struct Store<'a> {
    pub ds: &'a Dataset,
    pub format: Format,
    pub layout: Layout,
}

/// Bytes of one element of a type the store serves (None: not served).
fn elem_size(t: DataType) -> Option<usize> {
    Some(match t {
        DataType::I8 | DataType::U8 | DataType::Char => 1,
        DataType::I16 | DataType::U16 => 2,
        DataType::I32 | DataType::U32 | DataType::F32 => 4,
        DataType::I64 | DataType::U64 | DataType::F64 => 8,
        DataType::Str => 8,
        _ => return None,
    })
}

/// The chunk shape of a variable in a store of `layout`.
pub fn chunk_shape(v: &Variable, layout: Layout) -> Vec<usize> {
    let stored = stored_chunk_shape(v);
    match layout {
        Layout::Stored => stored,
        Layout::Uncompressed => merged(v, stored, UNCOMPRESSED_CHUNK_BYTES),
    }
}

/// Chunks of `base` merged into chunks of at most `target` bytes (at least `base`):
/// inner dimensions grown to their full length first, then the first one that cannot
/// be grown whole is cut into a multiple of its base chunk, as evenly as it divides.
fn merged(v: &Variable, base: Vec<usize>, target: usize) -> Vec<usize> {
    let size = elem_size(v.dtype).unwrap_or(1);
    let mut c = base;
    for d in (0..c.len()).rev() {
        let n = v.shape[d].max(1);
        let others = size * c.iter().enumerate().filter(|&(i, _)| i != d).map(|(_, &x)| x).product::<usize>();
        let fit = target / others.max(1);
        if fit >= n {
            c[d] = n;
            continue;
        }
        let most = (fit / c[d]).max(1) * c[d];
        let even = n.div_ceil(n.div_ceil(most)); // the same number of chunks, evened out
        c[d] = even.div_ceil(c[d]) * c[d];
        break;
    }
    c
}

/// The chunk shape of a variable in the stored layout.
fn stored_chunk_shape(v: &Variable) -> Vec<usize> {
    if let Some(c) = v.chunks.as_ref().filter(|c| c.len() == v.shape.len()) {
        return c.iter().zip(&v.shape).map(|(&c, &n)| c.clamp(1, n.max(1))).collect();
    }
    // Outer dimensions cut so that a chunk holds at most CHUNK_BYTES.
    let mut out: Vec<usize> = v.shape.iter().map(|&n| n.max(1)).collect();
    let mut bytes = elem_size(v.dtype).unwrap_or(1) * out.iter().product::<usize>();
    for c in out.iter_mut() {
        if bytes <= CHUNK_BYTES {
            break;
        }
        let inner = bytes / *c;
        *c = (CHUNK_BYTES / inner.max(1)).clamp(1, *c);
        bytes = inner * *c;
    }
    out
}

/// How a store encodes a variable's chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codecs {
    /// As the source file stores its chunks: HDF5 shuffle (by element size), then
    /// deflate (a zlib stream), each when present. Stored chunks are sent as they are.
    Source { shuffle: bool, deflate: bool },
    /// Chunks assembled by the store and compressed by it: zlib (v2) or gzip (v3).
    Store,
    /// Chunks assembled by the store, without codecs.
    None,
}

impl Codecs {
    /// The codecs of a variable: the source's when its chunks are numeric, shaped as the
    /// store's and filtered only by shuffle and deflate.
    pub fn of(v: &Variable, layout: Layout) -> Codecs {
        use crate::model::Filter::{Deflate, Shuffle};
        if layout == Layout::Uncompressed {
            return Codecs::None;
        }
        let numeric = !matches!(v.dtype, DataType::Char | DataType::Str) && elem_size(v.dtype).is_some();
        if !numeric || v.chunks.as_deref() != Some(stored_chunk_shape(v).as_slice()) {
            return Codecs::Store;
        }
        match v.filters.as_slice() {
            [] => Codecs::Source { shuffle: false, deflate: false },
            [Deflate] => Codecs::Source { shuffle: false, deflate: true },
            [Shuffle] => Codecs::Source { shuffle: true, deflate: false },
            [Shuffle, Deflate] => Codecs::Source { shuffle: true, deflate: true },
            _ => Codecs::Store,
        }
    }

    /// The HDF5 filters of chunks stored as these codecs expect.
    fn filters(self) -> Vec<crate::model::Filter> {
        use crate::model::Filter::{Deflate, Shuffle};
        match self {
            Codecs::Source { shuffle, deflate } => {
                [(shuffle, Shuffle), (deflate, Deflate)].into_iter().filter_map(|(on, f)| on.then_some(f)).collect()
            }
            Codecs::Store | Codecs::None => Vec::new(),
        }
    }
}

/// Marks a non-finite number in a document until [`to_text`] writes it as the bare
/// `NaN`/`Infinity` that Python's `json` (zarr-python) reads as a float.
const NON_FINITE: &str = "\u{0}";

/// A number as JSON: NaN and infinities as the strings Zarr's `fill_value` uses, or
/// marked for [`to_text`] (`marked`, for attributes).
fn number(x: f64, marked: bool) -> Value {
    let name = if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    };
    match (x.is_finite(), marked) {
        (true, _) => json!(x),
        (false, false) => json!(name),
        (false, true) => json!(format!("{NON_FINITE}{name}")),
    }
}

/// A metadata document as the store sends it.
pub fn to_text(doc: &Value) -> String {
    let text = doc.to_string();
    if !text.contains("\\u0000") {
        return text;
    }
    text.replace("\"\\u0000NaN\"", "NaN")
        .replace("\"\\u0000Infinity\"", "Infinity")
        .replace("\"\\u0000-Infinity\"", "-Infinity")
}

/// An attribute value as JSON (one value as a scalar, several as a list).
fn attr_json(a: &AttrValue) -> Value {
    let num = |x: f64| number(x, true);
    fn list<T>(v: &[T], f: impl Fn(&T) -> Value) -> Value {
        if v.len() == 1 {
            f(&v[0])
        } else {
            Value::Array(v.iter().map(f).collect())
        }
    }
    match a {
        AttrValue::I8(v) => list(v, |x| json!(x)),
        AttrValue::U8(v) => list(v, |x| json!(x)),
        AttrValue::I16(v) => list(v, |x| json!(x)),
        AttrValue::U16(v) => list(v, |x| json!(x)),
        AttrValue::I32(v) => list(v, |x| json!(x)),
        AttrValue::U32(v) => list(v, |x| json!(x)),
        AttrValue::I64(v) => list(v, |x| json!(x)),
        AttrValue::U64(v) => list(v, |x| json!(x)),
        AttrValue::F32(v) => list(v, |x| num(f64::from(*x))),
        AttrValue::F64(v) => list(v, |x| num(*x)),
        AttrValue::Text(s) => json!(s),
        AttrValue::Str(v) => list(v, |x| json!(x)),
    }
}

/// The `_FillValue` of a numeric variable, if it has one of its own type.
fn fill_of(v: &Variable) -> Option<f64> {
    let a = v.attr("_FillValue")?;
    elem_size(v.dtype).filter(|_| !matches!(v.dtype, DataType::Char | DataType::Str))?;
    a.as_f64()
}

/// A fill value as array metadata JSON.
fn fill_json(t: DataType, x: f64) -> Value {
    match t {
        DataType::F32 | DataType::F64 => number(x, false),
        _ => json!(x as i64),
    }
}

impl Store<'_> {
    /// The variables the store holds (numeric, char and string ones).
    pub fn arrays(&self) -> impl Iterator<Item = &Variable> {
        self.ds.vars.iter().filter(|v| elem_size(v.dtype).is_some())
    }

    fn array(&self, name: &str) -> Result<&Variable, KeyError> {
        self.arrays()
            .find(|v| v.name == name)
            .ok_or_else(|| KeyError::Missing(format!("no array '{name}' in this store")))
    }

    /// Paths of the groups: the root (`""`) and the dataset's groups (`g1`, `g1/g2`).
    fn groups(&self) -> impl Iterator<Item = &str> {
        std::iter::once("").chain(self.ds.groups.iter().map(String::as_str))
    }

    fn is_group(&self, path: &str) -> bool {
        self.groups().any(|g| g == path)
    }

    /// The attributes of a group (those named `<group>/<name>` in the dataset).
    fn group_attrs(&self, group: &str) -> Value {
        let own = |name: &str| -> Option<String> {
            let rest = if group.is_empty() { name } else { name.strip_prefix(group)?.strip_prefix('/')? };
            (!rest.contains('/')).then(|| rest.to_string())
        };
        Value::Object(self.ds.attrs.iter().filter_map(|a| Some((own(&a.name)?, attr_json(&a.value)))).collect())
    }

    fn group_doc(&self, group: &str) -> Value {
        match self.format {
            Format::V2 => json!({"zarr_format": 2}),
            Format::V3 => json!({"zarr_format": 3, "node_type": "group", "attributes": self.group_attrs(group)}),
        }
    }

    /// The variable's attributes as the store shows them (v2: with `_ARRAY_DIMENSIONS`
    /// and without `_FillValue`, which is the array's `fill_value`; v3: `_FillValue`
    /// encoded as xarray expects).
    fn array_attrs(&self, v: &Variable) -> Value {
        let mut m = Map::new();
        for a in &v.attrs {
            if a.name == "_FillValue" {
                if let (Format::V3, Some(x)) = (self.format, fill_of(v)) {
                    let encoded = match v.dtype {
                        DataType::F32 | DataType::F64 => {
                            json!(base64::engine::general_purpose::STANDARD.encode(x.to_le_bytes()))
                        }
                        _ => json!(x as i64),
                    };
                    m.insert(a.name.clone(), encoded);
                }
                continue;
            }
            m.insert(a.name.clone(), attr_json(&a.value));
        }
        if self.format == Format::V2 {
            m.insert("_ARRAY_DIMENSIONS".into(), json!(dim_names(v)));
        }
        Value::Object(m)
    }

    fn v2_array(&self, v: &Variable) -> Value {
        let dtype = match v.dtype {
            DataType::I8 => "|i1",
            DataType::U8 => "|u1",
            DataType::I16 => "<i2",
            DataType::U16 => "<u2",
            DataType::I32 => "<i4",
            DataType::U32 => "<u4",
            DataType::I64 => "<i8",
            DataType::U64 => "<u8",
            DataType::F32 => "<f4",
            DataType::F64 => "<f8",
            DataType::Char => "|S1",
            _ => "|O",
        };
        let zlib = json!({"id": "zlib", "level": LEVEL});
        let (filters, compressor) = match Codecs::of(v, self.layout) {
            Codecs::None if v.dtype == DataType::Str => (json!([{"id": "vlen-utf8"}]), Value::Null),
            _ if v.dtype == DataType::Str => (json!([{"id": "vlen-utf8"}]), zlib),
            Codecs::None => (Value::Null, Value::Null),
            Codecs::Store => (Value::Null, zlib),
            Codecs::Source { shuffle, deflate } => (
                if shuffle { json!([{"id": "shuffle", "elementsize": v.dtype.size()}]) } else { Value::Null },
                if deflate { zlib } else { Value::Null },
            ),
        };
        json!({
            "zarr_format": 2,
            "shape": v.shape,
            "chunks": chunk_shape(v, self.layout),
            "dtype": dtype,
            "compressor": compressor,
            "fill_value": fill_of(v).map_or(Value::Null, |x| fill_json(v.dtype, x)),
            "order": "C",
            "filters": filters,
            "dimension_separator": ".",
        })
    }

    fn v3_array(&self, v: &Variable) -> Value {
        let (data_type, fill, serializer) = match v.dtype {
            DataType::Str => (json!("string"), json!(""), json!({"name": "vlen-utf8"})),
            DataType::Char => (
                json!({"name": "null_terminated_bytes", "configuration": {"length_bytes": 1}}),
                json!(""),
                json!({"name": "bytes"}),
            ),
            t => {
                let name = match t {
                    DataType::I8 => "int8",
                    DataType::U8 => "uint8",
                    DataType::I16 => "int16",
                    DataType::U16 => "uint16",
                    DataType::I32 => "int32",
                    DataType::U32 => "uint32",
                    DataType::I64 => "int64",
                    DataType::U64 => "uint64",
                    DataType::F32 => "float32",
                    _ => "float64",
                };
                let fill = fill_of(v).map_or(json!(0), |x| fill_json(t, x));
                (json!(name), fill, json!({"name": "bytes", "configuration": {"endian": "little"}}))
            }
        };
        json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": v.shape,
            "data_type": data_type,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk_shape(v, self.layout)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": fill,
            "codecs": v3_codecs(Codecs::of(v, self.layout), v.dtype.size(), serializer),
            "attributes": self.array_attrs(v),
            "dimension_names": dim_names(v),
        })
    }

    /// The metadata document a key names (chunks are [`Store::chunk`]).
    pub fn document(&self, key: &Key) -> Result<Value, KeyError> {
        let missing = |p: &str| KeyError::Missing(format!("no node '{p}' in this store"));
        Ok(match (self.format, key) {
            (Format::V2, Key::Consolidated) => {
                let mut m = Map::new();
                for g in self.groups() {
                    m.insert(node_key(g, ".zgroup"), self.group_doc(g));
                    m.insert(node_key(g, ".zattrs"), self.group_attrs(g));
                }
                for v in self.arrays() {
                    m.insert(node_key(&v.name, ".zarray"), self.v2_array(v));
                    m.insert(node_key(&v.name, ".zattrs"), self.array_attrs(v));
                }
                json!({"zarr_consolidated_format": 1, "metadata": m})
            }
            (Format::V2, Key::Group(p)) if self.is_group(p) => self.group_doc(p),
            (Format::V2, Key::Attrs(p)) if self.is_group(p) => self.group_attrs(p),
            (Format::V2, Key::Attrs(p)) => self.array_attrs(self.array(p)?),
            (Format::V2, Key::Array(p)) => self.v2_array(self.array(p)?),
            (Format::V3, Key::Node(p)) if p.is_empty() => {
                let mut members: Map<String, Value> =
                    self.groups().filter(|g| !g.is_empty()).map(|g| (g.to_string(), self.group_doc(g))).collect();
                members.extend(self.arrays().map(|v| (v.name.clone(), self.v3_array(v))));
                let mut doc = self.group_doc("");
                doc["consolidated_metadata"] = json!({"kind": "inline", "must_understand": false, "metadata": members});
                doc
            }
            (Format::V3, Key::Node(p)) if self.is_group(p) => self.group_doc(p),
            (Format::V3, Key::Node(p)) => self.v3_array(self.array(p)?),
            (_, Key::Group(p) | Key::Attrs(p) | Key::Array(p) | Key::Node(p)) => return Err(missing(p)),
            (_, Key::Consolidated | Key::Chunk(..)) => return Err(missing("")),
        })
    }

    /// The variable and the dataset hyperslab of a chunk key (checked against the
    /// variable's rank and chunk grid).
    pub fn chunk_slab(&self, var: &str, index: &[u64]) -> Result<(&Variable, Hyperslab), KeyError> {
        let v = self.array(var)?;
        if index.len() != v.shape.len().max(usize::from(self.format == Format::V2 && v.shape.is_empty())) {
            return Err(KeyError::Bad(format!("'{var}' has {} dimensions, the key {}", v.shape.len(), index.len())));
        }
        if v.shape.is_empty() && index.iter().any(|&i| i != 0) {
            return Err(KeyError::Missing(format!("'{var}' is a scalar: its only chunk is 0")));
        }
        let chunks = chunk_shape(v, self.layout);
        let mut ranges = Vec::with_capacity(v.shape.len());
        for ((&i, &c), &n) in index.iter().zip(&chunks).zip(&v.shape) {
            let start = usize::try_from(i).ok().and_then(|i| i.checked_mul(c)).filter(|&s| s < n);
            let Some(start) = start else {
                return Err(KeyError::Missing(format!("chunk {index:?} of '{var}' is outside its grid")));
            };
            ranges.push(DimRange { start, stride: 1, count: c.min(n - start) });
        }
        Ok((v, Hyperslab(ranges)))
    }

    /// The encoded bytes of a chunk: the stored bytes of a source chunk when the
    /// variable keeps the source's codecs and one stored chunk is exactly this one (no
    /// decoding), else assembled from the shared reader and encoded.
    pub fn chunk(&self, reader: &Reader, v: &Variable, slab: &Hyperslab) -> crate::Result<bytes::Bytes> {
        let codecs = Codecs::of(v, self.layout);
        let full = chunk_shape(v, self.layout);
        if let Codecs::Source { .. } = codecs {
            if let Some(stored) = reader.stored_chunk(self.ds, v, slab, &full, &codecs.filters())? {
                return Ok(stored.into());
            }
        }
        let data = reader.read(self.ds, v, slab)?.data;
        let part = slab.shape();
        let data = if part == full || v.shape.is_empty() { data } else { pad(&data, &part, &full, v) };
        let (shuffle, deflate) = match codecs {
            Codecs::Source { shuffle, deflate } => (shuffle, deflate),
            Codecs::Store => (false, true),
            Codecs::None => (false, false),
        };
        if !shuffle && !deflate {
            // the values' own bytes, without a copy
            return Ok(data.into_le_bytes().unwrap_or_else(|d| encode(&d).into()));
        }
        let mut raw = encode(&data);
        if shuffle {
            raw = crate::read::decode::shuffle(&raw, v.dtype.size());
        }
        if !deflate {
            return Ok(raw.into());
        }
        let gzip = codecs == Codecs::Store && self.format == Format::V3;
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(LEVEL).unwrap_or_default());
        let mut out = vec![0; if gzip { c.gzip_compress_bound(raw.len()) } else { c.zlib_compress_bound(raw.len()) }];
        let n = if gzip { c.gzip_compress(&raw, &mut out) } else { c.zlib_compress(&raw, &mut out) }
            .map_err(|e| crate::Error::Internal(format!("compressing a chunk: {e}")))?;
        out.truncate(n);
        Ok(out.into())
    }
}

/// The v3 codec chain of a variable (`elem`: bytes of its elements): the serializer,
/// then the source's shuffle and zlib (numcodecs' codecs, which zarr-python registers),
/// the store's gzip, or nothing.
fn v3_codecs(codecs: Codecs, elem: usize, serializer: Value) -> Value {
    let mut chain = vec![serializer];
    match codecs {
        Codecs::None => {}
        Codecs::Store => chain.push(json!({"name": "gzip", "configuration": {"level": LEVEL}})),
        Codecs::Source { shuffle, deflate } => {
            if shuffle {
                chain.push(json!({"name": "numcodecs.shuffle", "configuration": {"elementsize": elem}}));
            }
            if deflate {
                chain.push(json!({"name": "numcodecs.zlib", "configuration": {"level": LEVEL}}));
            }
        }
    }
    Value::Array(chain)
}

/// The key of a document of a node (`.zgroup` of the root, `g1/.zattrs`).
fn node_key(path: &str, doc: &str) -> String {
    if path.is_empty() {
        doc.to_string()
    } else {
        format!("{path}/{doc}")
    }
}

/// A variable's dimension names within its group (`g1/y` is `y` in `g1`).
fn dim_names(v: &Variable) -> Vec<&str> {
    v.dims.iter().map(|d| d.rsplit('/').next().unwrap_or(d)).collect()
}

/// An edge chunk's values (shape `part`) placed in a full chunk (shape `full`), the
/// rest filled with the variable's fill value (zero without one).
fn pad(data: &Data, part: &[usize], full: &[usize], v: &Variable) -> Data {
    let n: usize = full.iter().product();
    let mut out = match (fill_of(v), data) {
        (Some(x), _) => Data::from_f64(v.dtype, vec![x; n]).unwrap_or_else(|| Data::zeros(v.dtype, n)),
        _ => Data::zeros(v.dtype, n),
    };
    let rank = full.len();
    let run = part[rank - 1];
    let (rows, row_step) = if rank >= 2 { (part[rank - 2], full[rank - 1]) } else { (1, 0) };
    let outer = rank.saturating_sub(2);
    let blocks: usize = part[..outer].iter().product();
    let block_src: usize = run * rows;
    let mut idx = vec![0usize; outer];
    for b in 0..blocks {
        // offset of this block in the full chunk
        let mut dst = 0;
        for (d, &i) in idx.iter().enumerate() {
            dst = dst * full[d] + i;
        }
        dst *= full[outer..].iter().product::<usize>();
        out.scatter_runs(data, b * block_src, run, rows, dst, row_step);
        crate::hyperslab::next_index(&mut idx, |d| part[d]);
    }
    out
}

/// Values as the store's bytes: little-endian numbers, char bytes, strings in the
/// vlen-utf8 layout (count, then length and bytes of each).
fn encode(d: &Data) -> Vec<u8> {
    let mut out = Vec::new();
    if !d.extend_le(&mut out) {
        if let Data::Str(v) = d {
            out.reserve(4 + v.iter().map(|s| 4 + s.len()).sum::<usize>());
            out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_le_bytes());
            for s in v {
                out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Filter;

    fn var(dtype: DataType, shape: &[usize], chunks: Option<&[usize]>, filters: &[Filter]) -> Variable {
        Variable {
            name: "v".into(),
            dtype,
            dims: (0..shape.len()).map(|i| format!("d{i}")).collect(),
            shape: shape.to_vec(),
            attrs: vec![],
            chunks: chunks.map(<[usize]>::to_vec),
            filters: filters.to_vec(),
            joined: false,
        }
    }

    #[test]
    fn source_codecs_only_for_shuffle_and_deflate_chunks_of_the_store_shape() {
        use Filter::{Deflate, Fletcher32, Other, Shuffle};
        let c = Some(&[1, 4, 8][..]);
        let source = |shuffle, deflate| Codecs::Source { shuffle, deflate };
        assert_eq!(
            Codecs::of(&var(DataType::F32, &[10, 4, 8], c, &[Shuffle, Deflate]), Layout::Stored),
            source(true, true)
        );
        assert_eq!(Codecs::of(&var(DataType::F32, &[10, 4, 8], c, &[Deflate]), Layout::Stored), source(false, true));
        assert_eq!(Codecs::of(&var(DataType::I16, &[10, 4, 8], c, &[]), Layout::Stored), source(false, false));
        // checksums, other filters, reversed order: assembled by the store
        assert_eq!(
            Codecs::of(&var(DataType::F32, &[10, 4, 8], c, &[Shuffle, Fletcher32, Deflate]), Layout::Stored),
            Codecs::Store
        );
        assert_eq!(Codecs::of(&var(DataType::F32, &[10, 4, 8], c, &[Other(32015)]), Layout::Stored), Codecs::Store);
        assert_eq!(Codecs::of(&var(DataType::F32, &[10, 4, 8], c, &[Deflate, Shuffle]), Layout::Stored), Codecs::Store);
        // a chunk larger than its dimension is clipped in the store: not the stored chunk
        assert_eq!(Codecs::of(&var(DataType::F32, &[10, 2, 8], c, &[Deflate]), Layout::Stored), Codecs::Store);
        // not chunked, or chars
        assert_eq!(Codecs::of(&var(DataType::F32, &[10, 4, 8], None, &[]), Layout::Stored), Codecs::Store);
        assert_eq!(
            Codecs::of(&var(DataType::Char, &[10, 4], Some(&[1, 4]), &[Deflate]), Layout::Stored),
            Codecs::Store
        );
    }

    #[test]
    fn metadata_names_the_source_codecs() {
        let v = var(DataType::F32, &[10, 4, 8], Some(&[1, 4, 8]), &[Filter::Shuffle, Filter::Deflate]);
        let ds = Dataset::of_vars(vec![], vec![v.clone()]);
        let v2 = Store { ds: &ds, format: Format::V2, layout: Layout::Stored }.v2_array(&v);
        assert_eq!(v2["filters"], json!([{"id": "shuffle", "elementsize": 4}]));
        assert_eq!(v2["compressor"]["id"], "zlib");
        let v3 = Store { ds: &ds, format: Format::V3, layout: Layout::Stored }.v3_array(&v);
        let names: Vec<Value> =
            v3["codecs"].as_array().map(|c| c.iter().map(|c| c["name"].clone()).collect()).unwrap_or_default();
        assert_eq!(names, [json!("bytes"), json!("numcodecs.shuffle"), json!("numcodecs.zlib")]);
    }

    #[test]
    fn uncompressed_store_merges_whole_source_chunks_evenly() {
        let daily = var(DataType::F32, &[365, 180, 360], Some(&[1, 180, 360]), &[Filter::Shuffle, Filter::Deflate]);
        // 8 days fit in 2 MiB: 46 chunks of 8 days
        assert_eq!(chunk_shape(&daily, Layout::Uncompressed), [8, 180, 360]);
        let days = var(DataType::F32, &[10, 180, 360], Some(&[1, 180, 360]), &[]);
        // 10 days: two chunks of 5 rather than 8 and 2
        assert_eq!(chunk_shape(&days, Layout::Uncompressed), [5, 180, 360]);
        assert_eq!(chunk_shape(&daily, Layout::Stored), [1, 180, 360]);
        // tiles of three days: the inner dimensions grown whole first, then whole tiles
        let tiled = var(DataType::F32, &[365, 180, 360], Some(&[3, 90, 90]), &[Filter::Deflate]);
        assert_eq!(chunk_shape(&tiled, Layout::Uncompressed), [6, 180, 360]);
        // a small variable is one chunk; a huge source chunk stays one chunk
        let small = var(DataType::F64, &[10, 4], None, &[]);
        assert_eq!(chunk_shape(&small, Layout::Uncompressed), [10, 4]);
        let huge = var(DataType::F64, &[2, 1000, 1000], Some(&[1, 500, 1000]), &[]);
        assert_eq!(chunk_shape(&huge, Layout::Uncompressed), [1, 500, 1000]);
        // no codecs in either format
        let ds = Dataset::of_vars(vec![], vec![daily.clone()]);
        let v2 = Store { ds: &ds, format: Format::V2, layout: Layout::Uncompressed }.v2_array(&daily);
        assert_eq!((v2["filters"].clone(), v2["compressor"].clone()), (Value::Null, Value::Null));
        let v3 = Store { ds: &ds, format: Format::V3, layout: Layout::Uncompressed }.v3_array(&daily);
        assert_eq!(v3["codecs"], json!([{"name": "bytes", "configuration": {"endian": "little"}}]));
    }
}
