//! Zarr stores on object storage (a `*.zarr` prefix of a bucket) read as datasets:
//! Zarr v2 (consolidated `.zmetadata`, or `.zarray`/`.zattrs` per array) and v3
//! (`zarr.json`, with or without consolidated metadata). Dimensions come from
//! `_ARRAY_DIMENSIONS` (v2, as xarray writes) or `dimension_names` (v3); chunks are
//! fetched whole, several at once, and decoded here: zlib/gzip (libdeflate), zstd,
//! Blosc (c-blosc: blosclz, lz4, lz4hc, zlib, zstd; byte and bit shuffle), shuffle,
//! no compression. A chunk that is not stored holds the fill value. Other codecs are
//! refused when the store is indexed, with the reason.

use crate::array::Data;
use crate::hyperslab::DimRange;
use crate::model::{AttrValue, Attribute, DataType, Dimension, Variable};
use crate::netcdf_io::FileHeader;
use crate::object::ObjectStores;
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a chunk's stored bytes become its values (applied in reverse when decoding).
#[derive(Clone, Debug, PartialEq)]
enum Codec {
    /// zlib stream (numcodecs `zlib`).
    Zlib,
    /// gzip member (`gzip`).
    Gzip,
    Zstd,
    /// A Blosc buffer (its header names its compressor and shuffle).
    Blosc,
    /// Byte shuffle of elements of this size.
    Shuffle(usize),
}

/// One array of a store.
#[derive(Clone, Debug)]
struct Array {
    shape: Vec<usize>,
    chunks: Vec<usize>,
    dtype: DataType,
    little: bool,
    /// In the order they are applied when writing.
    codecs: Vec<Codec>,
    fill: Option<f64>,
    dims: Vec<String>,
    attrs: Map<String, Value>,
    /// v2: `i.j.k` (or with `/`); v3: `c/i/j/k` (or with `.`).
    v3: bool,
    separator: char,
}

/// A Zarr store with its metadata read.
pub struct ZarrStore {
    url: PathBuf,
    arrays: BTreeMap<String, Array>,
    attrs: Map<String, Value>,
}

fn bad(url: &Path, message: impl Into<String>) -> Error {
    Error::File { path: url.to_path_buf(), message: message.into() }
}

/// A data type of Zarr v2 (`<f4`) or v3 (`float32`), with its byte order.
fn dtype_of(v2: Option<&str>, v3: Option<&str>) -> Option<(DataType, bool)> {
    if let Some(t) = v3 {
        let d = match t {
            "int8" => DataType::I8,
            "uint8" => DataType::U8,
            "int16" => DataType::I16,
            "uint16" => DataType::U16,
            "int32" => DataType::I32,
            "uint32" => DataType::U32,
            "int64" => DataType::I64,
            "uint64" => DataType::U64,
            "float32" => DataType::F32,
            "float64" => DataType::F64,
            _ => return None,
        };
        return Some((d, true));
    }
    let t = v2?;
    let (order, code) = t.split_at(1.min(t.len()));
    let little = order != ">";
    let d = match code {
        "i1" => DataType::I8,
        "u1" | "b1" => DataType::U8,
        "i2" => DataType::I16,
        "u2" => DataType::U16,
        "i4" => DataType::I32,
        "u4" => DataType::U32,
        "i8" => DataType::I64,
        "u8" => DataType::U64,
        "f4" => DataType::F32,
        "f8" => DataType::F64,
        "S1" => DataType::Char,
        _ => return None,
    };
    Some((d, little))
}

fn fill_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "NaN" => Some(f64::NAN),
        Value::String(s) if s == "Infinity" => Some(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

fn usizes(v: Option<&Value>) -> Option<Vec<usize>> {
    v?.as_array()?.iter().map(|x| x.as_u64().and_then(|n| usize::try_from(n).ok())).collect()
}

/// A numcodecs (v2) or v3 codec description; `Err` names one cirrus does not decode.
fn codec(id: &str, conf: &Value, elem: usize) -> std::result::Result<Option<Codec>, String> {
    Ok(match id {
        "zlib" => Some(Codec::Zlib),
        "gzip" => Some(Codec::Gzip),
        "zstd" => Some(Codec::Zstd),
        "blosc" => Some(Codec::Blosc),
        "shuffle" => Some(Codec::Shuffle(
            conf.get("elementsize").and_then(Value::as_u64).map_or(elem, |n| usize::try_from(n).unwrap_or(elem)),
        )),
        "bytes" | "crc32c" => None,
        other => {
            return Err(format!("the Zarr codec '{other}' is not supported (zlib, gzip, zstd, blosc, shuffle are)"))
        }
    })
}

impl Array {
    fn v2(url: &Path, name: &str, zarray: &Value, zattrs: Option<&Value>) -> Result<Array> {
        let err = |m: &str| bad(url, format!("array '{name}': {m}"));
        let (dtype, little) = dtype_of(zarray.get("dtype").and_then(Value::as_str), None).ok_or_else(|| {
            err(&format!("data type {} is not supported", zarray.get("dtype").unwrap_or(&Value::Null)))
        })?;
        if zarray.get("order").and_then(Value::as_str).is_some_and(|o| o != "C") {
            return Err(err("only C order is supported"));
        }
        let shape = usizes(zarray.get("shape")).ok_or_else(|| err("no shape"))?;
        let chunks = usizes(zarray.get("chunks")).ok_or_else(|| err("no chunks"))?;
        let elem = dtype.size();
        let mut codecs = Vec::new();
        for f in zarray.get("filters").and_then(Value::as_array).into_iter().flatten() {
            let id = f.get("id").and_then(Value::as_str).unwrap_or_default();
            codecs.extend(codec(id, f, elem).map_err(|m| err(&m))?);
        }
        if let Some(c) = zarray.get("compressor").filter(|c| !c.is_null()) {
            let id = c.get("id").and_then(Value::as_str).unwrap_or_default();
            codecs.extend(codec(id, c, elem).map_err(|m| err(&m))?);
        }
        let mut attrs = zattrs.and_then(Value::as_object).cloned().unwrap_or_default();
        let dims = match attrs.remove("_ARRAY_DIMENSIONS") {
            Some(Value::Array(d)) => d.iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect(),
            _ => (0..shape.len()).map(|i| format!("{name}_dim{i}")).collect(),
        };
        let separator = if zarray.get("dimension_separator").and_then(Value::as_str) == Some("/") { '/' } else { '.' };
        let fill = zarray.get("fill_value").and_then(fill_of);
        Ok(Array { shape, chunks, dtype, little, codecs, fill, dims, attrs, v3: false, separator })
    }

    fn v3(url: &Path, name: &str, meta: &Value) -> Result<Array> {
        let err = |m: &str| bad(url, format!("array '{name}': {m}"));
        let (dtype, _) = dtype_of(None, meta.get("data_type").and_then(Value::as_str)).ok_or_else(|| {
            err(&format!("data type {} is not supported", meta.get("data_type").unwrap_or(&Value::Null)))
        })?;
        let shape = usizes(meta.get("shape")).ok_or_else(|| err("no shape"))?;
        let grid = meta.get("chunk_grid").and_then(|g| g.get("configuration")).and_then(|c| c.get("chunk_shape"));
        let chunks = usizes(grid).ok_or_else(|| err("no regular chunk grid"))?;
        let elem = dtype.size();
        let mut codecs = Vec::new();
        let mut little = true;
        for c in meta.get("codecs").and_then(Value::as_array).into_iter().flatten() {
            let id = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let conf = c.get("configuration").cloned().unwrap_or(Value::Null);
            if id == "bytes" {
                little = conf.get("endian").and_then(Value::as_str) != Some("big");
            }
            codecs.extend(codec(id, &conf, elem).map_err(|m| err(&m))?);
        }
        let enc = meta.get("chunk_key_encoding");
        let v2_keys = enc.and_then(|e| e.get("name")).and_then(Value::as_str) == Some("v2");
        let sep = enc.and_then(|e| e.get("configuration")).and_then(|c| c.get("separator")).and_then(Value::as_str);
        let separator = match sep {
            Some(".") => '.',
            Some(_) => '/',
            None if v2_keys => '.',
            None => '/',
        };
        let dims = match meta.get("dimension_names").and_then(Value::as_array) {
            Some(d) => {
                d.iter().enumerate().map(|(i, x)| x.as_str().map_or(format!("{name}_dim{i}"), str::to_string)).collect()
            }
            None => (0..shape.len()).map(|i| format!("{name}_dim{i}")).collect(),
        };
        let attrs = meta.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
        let fill = meta.get("fill_value").and_then(fill_of);
        Ok(Array { shape, chunks, dtype, little, codecs, fill, dims, attrs, v3: !v2_keys, separator })
    }

    /// The key of the chunk at `coords`, relative to the array.
    fn chunk_key(&self, coords: &[usize]) -> String {
        let parts: Vec<String> = coords.iter().map(usize::to_string).collect();
        let s = self.separator.to_string();
        match (self.v3, parts.is_empty()) {
            (true, true) => "c".into(),
            (true, false) => format!("c{s}{}", parts.join(&s)),
            (false, true) => "0".into(),
            (false, false) => parts.join(&s),
        }
    }

    /// Values of a stored chunk.
    fn decode(&self, url: &Path, raw: &[u8]) -> Result<Data> {
        let n: usize = self.chunks.iter().product::<usize>().max(1);
        let expect = n * self.dtype.size();
        let mut bytes = raw.to_vec();
        for c in self.codecs.iter().rev() {
            bytes = match c {
                Codec::Zlib | Codec::Gzip => {
                    let mut out = vec![0u8; expect + 64];
                    let mut d = libdeflater::Decompressor::new();
                    let got = if *c == Codec::Zlib {
                        d.zlib_decompress(&bytes, &mut out)
                    } else {
                        d.gzip_decompress(&bytes, &mut out)
                    }
                    .map_err(|e| bad(url, format!("corrupt compressed chunk: {e:?}")))?;
                    out.truncate(got);
                    out
                }
                Codec::Zstd => {
                    use std::io::Read;
                    let mut out = Vec::with_capacity(expect);
                    let mut src = bytes.as_slice();
                    let mut d = ruzstd::decoding::StreamingDecoder::new(&mut src)
                        .map_err(|e| bad(url, format!("corrupt zstd chunk: {e}")))?;
                    d.read_to_end(&mut out).map_err(|e| bad(url, format!("corrupt zstd chunk: {e}")))?;
                    out
                }
                Codec::Blosc => super::blosc::decompress(&bytes, expect.max(bytes.len()) + 1024)
                    .map_err(|e| bad(url, format!("corrupt Blosc chunk: {e}")))?,
                Codec::Shuffle(size) => super::decode::unshuffle(&bytes, *size),
            };
        }
        if bytes.len() < expect {
            return Err(bad(url, format!("a chunk holds {} bytes, {expect} expected", bytes.len())));
        }
        bytes.truncate(expect);
        super::decode::typed(&bytes, self.dtype, self.little)
    }
}

/// Values of one stored chunk of a v2 array described by its `.zarray` document
/// (what the `zarr_chunks` fuzz target drives).
pub fn decode_v2_chunk(zarray: &Value, raw: &[u8]) -> Result<Data> {
    let url = Path::new("chunk");
    Array::v2(url, "v", zarray, None)?.decode(url, raw)
}

/// A JSON attribute as a NetCDF attribute (numbers of `like`'s type for the
/// attributes CF types after their variable).
fn attribute(name: &str, v: &Value, like: Option<DataType>) -> Option<Attribute> {
    let typed = matches!(name, "_FillValue" | "missing_value" | "valid_min" | "valid_max" | "valid_range");
    let nums: Option<Vec<f64>> = match v {
        Value::Number(n) => n.as_f64().map(|x| vec![x]),
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_number) => a.iter().map(Value::as_f64).collect(),
        Value::Bool(b) => Some(vec![f64::from(u8::from(*b))]),
        _ => None,
    };
    let value = match (v, nums) {
        // xarray writes a v3 array's `_FillValue` as the base64 of its little-endian bytes
        (Value::String(s), _) if name == "_FillValue" && like.is_some_and(DataType::is_numeric) => {
            use base64::Engine;
            let t = like?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
            // the bytes of the array's type, or of a wider one of its kind (float64)
            let float = matches!(t, DataType::F32 | DataType::F64);
            let stored = match bytes.len() {
                n if n == t.size() => t,
                8 if float => DataType::F64,
                8 => DataType::I64,
                4 if float => DataType::F32,
                _ => return None,
            };
            let x = super::decode::typed(&bytes, stored, true).ok()?.to_f64()?;
            return typed_attr(name, x, t);
        }
        (Value::String(s), _) => AttrValue::Text(s.clone()),
        (Value::Array(a), None) if a.iter().all(Value::is_string) && !a.is_empty() => {
            AttrValue::Str(a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        }
        (_, Some(x)) => match like.filter(|_| typed) {
            Some(t) => return typed_attr(name, x, t),
            None if v.as_array().map_or(v.is_i64(), |a| a.iter().all(Value::is_i64))
                && x.iter().all(|&n| n >= f64::from(i32::MIN) && n <= f64::from(i32::MAX)) =>
            {
                #[allow(clippy::cast_possible_truncation)]
                AttrValue::I32(x.iter().map(|&n| n as i32).collect())
            }
            None => AttrValue::F64(x),
        },
        _ => AttrValue::Text(v.to_string()),
    };
    Some(Attribute { name: name.to_string(), value })
}

/// A numeric attribute of type `t`.
fn typed_attr(name: &str, x: Vec<f64>, t: DataType) -> Option<Attribute> {
    let value = crate::netcdf_io::attr_from_data(Data::from_f64(t, x)?);
    Some(Attribute { name: name.to_string(), value })
}

fn attributes(m: &Map<String, Value>, like: Option<DataType>) -> Vec<Attribute> {
    m.iter().filter_map(|(k, v)| attribute(k, v, like)).collect()
}

impl ZarrStore {
    /// Read the metadata of the store at `url` (`s3://bucket/…/x.zarr`).
    pub fn open(objects: &ObjectStores, url: &Path) -> Result<ZarrStore> {
        let base = url.to_string_lossy().trim_end_matches('/').to_string();
        let at = |k: &str| PathBuf::from(format!("{base}/{k}"));
        let json = |b: &[u8], what: &str| -> Result<Value> {
            serde_json::from_slice(b).map_err(|e| bad(url, format!("{what} is not JSON: {e}")))
        };
        let got = objects.get_many(&[at(".zmetadata"), at("zarr.json"), at(".zattrs")])?;
        let mut arrays = BTreeMap::new();
        let mut attrs = Map::new();
        if let Some(b) = &got[0] {
            // v2, consolidated
            let doc = json(b, ".zmetadata")?;
            let meta =
                doc.get("metadata").and_then(Value::as_object).ok_or_else(|| bad(url, "no metadata in .zmetadata"))?;
            attrs = meta.get(".zattrs").and_then(Value::as_object).cloned().unwrap_or_default();
            for (k, v) in meta {
                if let Some(name) = k.strip_suffix("/.zarray").filter(|n| !n.contains('/')) {
                    arrays.insert(name.to_string(), Array::v2(url, name, v, meta.get(&format!("{name}/.zattrs")))?);
                }
            }
        } else if let Some(b) = &got[1] {
            // v3: the root group, with its arrays' metadata consolidated or not
            let root = json(b, "zarr.json")?;
            attrs = root.get("attributes").and_then(Value::as_object).cloned().unwrap_or_default();
            let consolidated =
                root.get("consolidated_metadata").and_then(|c| c.get("metadata")).and_then(Value::as_object).cloned();
            let metas: Vec<(String, Value)> = match consolidated {
                Some(m) => m.into_iter().collect(),
                None => {
                    let keys: Vec<PathBuf> = objects
                        .list_keys(url)?
                        .into_iter()
                        .filter(|k| {
                            let rel = k.to_string_lossy();
                            let rel = rel.strip_prefix(&format!("{base}/")).unwrap_or_default().to_string();
                            rel.ends_with("/zarr.json") && rel.matches('/').count() == 1
                        })
                        .collect();
                    let docs = objects.get_many(&keys)?;
                    let mut out = Vec::new();
                    for (k, d) in keys.iter().zip(docs) {
                        let Some(d) = d else { continue };
                        let name = k.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
                        out.push((name.unwrap_or_default(), json(&d, "zarr.json")?));
                    }
                    out
                }
            };
            for (name, m) in metas {
                if m.get("node_type").and_then(Value::as_str) == Some("array") && !name.contains('/') {
                    arrays.insert(name.clone(), Array::v3(url, &name, &m)?);
                }
            }
        } else {
            // v2, not consolidated: every `<array>/.zarray`
            if let Some(b) = &got[2] {
                attrs = json(b, ".zattrs")?.as_object().cloned().unwrap_or_default();
            }
            let names: Vec<String> = objects
                .list_keys(url)?
                .into_iter()
                .filter_map(|k| {
                    let rel = k.to_string_lossy().strip_prefix(&format!("{base}/"))?.to_string();
                    rel.strip_suffix("/.zarray").filter(|n| !n.contains('/')).map(str::to_string)
                })
                .collect();
            let keys: Vec<PathBuf> =
                names.iter().flat_map(|n| [at(&format!("{n}/.zarray")), at(&format!("{n}/.zattrs"))]).collect();
            let docs = objects.get_many(&keys)?;
            for (i, n) in names.iter().enumerate() {
                let Some(za) = &docs[2 * i] else { continue };
                let zattrs = docs[2 * i + 1].as_ref().map(|b| json(b, ".zattrs")).transpose()?;
                arrays.insert(n.clone(), Array::v2(url, n, &json(za, ".zarray")?, zattrs.as_ref())?);
            }
        }
        if arrays.is_empty() {
            return Err(bad(url, "no Zarr arrays found (.zmetadata, zarr.json or */.zarray)"));
        }
        Ok(ZarrStore { url: url.to_path_buf(), arrays, attrs })
    }

    /// The store as a NetCDF-like header: dimensions from the arrays' dimension names.
    pub fn header(&self) -> Result<FileHeader> {
        let mut dims: Vec<Dimension> = Vec::new();
        let mut vars = Vec::new();
        for (name, a) in &self.arrays {
            for (d, &len) in a.dims.iter().zip(&a.shape) {
                match dims.iter().find(|x| x.name == *d) {
                    Some(x) if x.len != len => {
                        return Err(bad(
                            &self.url,
                            format!("dimension '{d}' is {} long in one array, {len} in '{name}'", x.len),
                        ))
                    }
                    Some(_) => {}
                    None => dims.push(Dimension { name: d.clone(), len, unlimited: false }),
                }
            }
            let mut attrs = attributes(&a.attrs, Some(a.dtype));
            // v2 keeps `_FillValue` as the array's fill value; v3 in the attributes (its
            // fill value only fills chunks never written)
            let v2_fill = a.fill.filter(|_| !a.v3);
            if let (Some(f), false) = (v2_fill, attrs.iter().any(|x| x.name == "_FillValue")) {
                if let Some(v) = typed_attr("_FillValue", vec![f], a.dtype) {
                    if !f.is_nan() || matches!(a.dtype, DataType::F32 | DataType::F64) {
                        attrs.push(v);
                    }
                }
            }
            vars.push(Variable {
                name: name.clone(),
                dtype: a.dtype,
                dims: a.dims.clone(),
                shape: a.shape.clone(),
                attrs,
                chunks: Some(a.chunks.clone()),
                filters: Vec::new(),
                joined: false,
            });
        }
        Ok(FileHeader {
            format: "zarr".into(),
            dims,
            vars,
            attrs: attributes(&self.attrs, None),
            ..FileHeader::default()
        })
    }

    /// Chunk shape of an array.
    pub fn chunk_shape(&self, var: &str) -> Option<&[usize]> {
        self.arrays.get(var).map(|a| a.chunks.as_slice())
    }

    /// The values of the chunks of `var` at `coords` (fetched together; a chunk not
    /// stored holds the fill value, or zeros without one).
    pub fn chunks(&self, objects: &ObjectStores, var: &str, coords: &[Vec<usize>]) -> Result<Vec<Data>> {
        let a = self.arrays.get(var).ok_or_else(|| bad(&self.url, format!("no array '{var}'")))?;
        let base = self.url.to_string_lossy().trim_end_matches('/').to_string();
        let keys: Vec<PathBuf> =
            coords.iter().map(|c| PathBuf::from(format!("{base}/{var}/{}", a.chunk_key(c)))).collect();
        let got = objects.get_many(&keys)?;
        let n: usize = a.chunks.iter().product::<usize>().max(1);
        got.into_iter()
            .map(|b| match b {
                Some(b) => a.decode(&self.url, &b),
                None => Ok(match a.fill {
                    Some(f) => Data::from_f64(a.dtype, vec![f; n]).unwrap_or_else(|| Data::zeros(a.dtype, n)),
                    None => Data::zeros(a.dtype, n),
                }),
            })
            .collect()
    }

    /// A strided hyperslab of `var`, without a cache (what indexing reads).
    pub fn read(&self, objects: &ObjectStores, var: &str, ranges: &[DimRange]) -> Result<Data> {
        let a = self.arrays.get(var).ok_or_else(|| bad(&self.url, format!("no array '{var}'")))?;
        let coords = super::decode::chunk_coords(ranges, &a.chunks);
        let data = self.chunks(objects, var, &coords)?;
        Ok(super::decode::assemble(a.dtype, ranges, &a.chunks, &coords, &data.iter().collect::<Vec<_>>()))
    }
}

/// What the catalog keeps of a Zarr store: its header, times, coordinates and box.
pub fn info(objects: &ObjectStores, url: &Path) -> Result<crate::catalog::FileInfo> {
    let z = ZarrStore::open(objects, url)?;
    let header = z.header()?;
    crate::catalog::info_from(header, &|v: &Variable| -> Result<Option<Vec<f64>>> {
        Ok(z.read(objects, &v.name, &crate::Hyperslab::full(&v.shape).0)?.to_f64())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v2_and_v3_array_metadata() {
        let url = Path::new("s3://b/x.zarr");
        let za = json!({"chunks": [1, 2, 3], "compressor": {"id": "zlib", "level": 1}, "dtype": "<f4",
                        "fill_value": "NaN", "filters": [{"id": "shuffle", "elementsize": 4}], "order": "C",
                        "shape": [4, 2, 3], "zarr_format": 2});
        let a = Array::v2(url, "tas", &za, Some(&json!({"_ARRAY_DIMENSIONS": ["time", "lat", "lon"], "units": "K"})))
            .expect("v2");
        assert_eq!(a.dims, ["time", "lat", "lon"]);
        assert_eq!(a.codecs, [Codec::Shuffle(4), Codec::Zlib]);
        assert_eq!(a.chunk_key(&[3, 0, 0]), "3.0.0");
        assert!(a.fill.is_some_and(f64::is_nan));
        let blosc = json!({"chunks": [1], "compressor": {"id": "blosc", "cname": "lz4"}, "dtype": "<f4", "shape": [1]});
        assert_eq!(Array::v2(url, "x", &blosc, None).expect("blosc").codecs, [Codec::Blosc]);
        let lzma = json!({"chunks": [1], "compressor": {"id": "lzma"}, "dtype": "<f4", "shape": [1], "order": "C"});
        assert!(Array::v2(url, "x", &lzma, None).expect_err("lzma").to_string().contains("'lzma'"));
        let m = json!({"zarr_format": 3, "node_type": "array", "shape": [4, 2], "data_type": "int16",
                       "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
                       "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                       "codecs": [{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "zstd"}],
                       "fill_value": -1, "dimension_names": ["time", "x"], "attributes": {"scale_factor": 0.5}});
        let b = Array::v3(url, "v", &m).expect("v3");
        assert_eq!(b.chunk_key(&[1, 0]), "c/1/0");
        assert!(!b.little);
        assert_eq!(b.codecs, [Codec::Zstd]);
        assert_eq!(b.fill, Some(-1.0));
    }

    #[test]
    fn chunks_decode_and_assemble() {
        let url = Path::new("s3://b/x.zarr");
        let za = json!({"chunks": [2, 2], "compressor": {"id": "zlib"}, "dtype": "<i2", "fill_value": 0,
                        "filters": null, "order": "C", "shape": [3, 3]});
        let a = Array::v2(url, "v", &za, None).expect("v2");
        let raw: Vec<u8> = [1i16, 2, 3, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut z = vec![0u8; c.zlib_compress_bound(raw.len())];
        let n = c.zlib_compress(&raw, &mut z).expect("compress");
        z.truncate(n);
        assert_eq!(a.decode(url, &z).expect("decode"), Data::I16(vec![1, 2, 3, 4]));
        let ranges = [DimRange { start: 1, stride: 1, count: 2 }, DimRange { start: 0, stride: 2, count: 2 }];
        let coords = super::super::decode::chunk_coords(&ranges, &[2, 2]);
        assert_eq!(coords, [vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
        let chunk = |v: i16| Data::I16(vec![v; 4]);
        let chunks = [chunk(1), chunk(2), chunk(3), chunk(4)];
        let out = super::super::decode::assemble(
            DataType::I16,
            &ranges,
            &[2, 2],
            &coords,
            &chunks.iter().collect::<Vec<_>>(),
        );
        assert_eq!(out, Data::I16(vec![1, 2, 3, 4]));
    }
}
