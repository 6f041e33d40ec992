//! NetCDF file output of a [`Subset`]: NetCDF-4 (deflate + shuffle, chunked like the
//! source) or classic 64-bit offset (unsigned types as signed with `_Unsigned = "true"`,
//! strings as char arrays). Attributes are kept, `history` gets a line.

use crate::array::Data;
use crate::model::{AttrValue, Attribute, DataType, Dataset, Variable};
use crate::netcdf_io::writer::{Format, NcWriter};
use crate::read::Reader;
use crate::subset::Subset;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::ffi::c_int;
use std::path::Path;

/// How to write the file.
#[derive(Clone, Debug)]
pub struct NcOptions {
    pub format: Format,
    /// Deflate level for NetCDF-4 (0 = none).
    pub deflate: u8,
    pub shuffle: bool,
    /// A line to add at the top of the `history` attribute.
    pub history: String,
    pub block_bytes: usize,
}

impl Default for NcOptions {
    fn default() -> Self {
        NcOptions { format: Format::Netcdf4, deflate: 1, shuffle: true, history: String::new(), block_bytes: 4 << 20 }
    }
}

fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(p, _)| p)
}

fn short(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, s)| s)
}

/// The type a variable is stored as in the output format.
fn stored_type(t: DataType, format: Format) -> Result<DataType> {
    if format == Format::Netcdf4 {
        return Ok(t);
    }
    Ok(match t {
        DataType::U8 => DataType::I8,
        DataType::U16 => DataType::I16,
        DataType::U32 => DataType::I32,
        DataType::Str => DataType::Char,
        DataType::I64 | DataType::U64 => {
            return Err(Error::bad(
                "64-bit integer variables cannot be written to NetCDF-3 (.nc3); ask for NetCDF-4 (.nc)",
            ))
        }
        t => t,
    })
}

/// Reinterpret unsigned values as the signed type of the same width (NetCDF-3 keeps
/// them with `_Unsigned = "true"`).
fn to_signed(d: Data) -> Data {
    match d {
        Data::U8(v) => Data::I8(v.into_iter().map(|x| x as i8).collect()),
        Data::U16(v) => Data::I16(v.into_iter().map(|x| x as i16).collect()),
        Data::U32(v) => Data::I32(v.into_iter().map(|x| x as i32).collect()),
        other => other,
    }
}

fn signed_attr(v: &AttrValue) -> AttrValue {
    match v {
        AttrValue::U8(x) => AttrValue::I8(x.iter().map(|&x| x as i8).collect()),
        AttrValue::U16(x) => AttrValue::I16(x.iter().map(|&x| x as i16).collect()),
        AttrValue::U32(x) => AttrValue::I32(x.iter().map(|&x| x as i32).collect()),
        other => other.clone(),
    }
}

/// An attribute value as written: classic files have no unsigned, 64-bit or string
/// attributes.
fn attr_value(v: &AttrValue, format: Format) -> AttrValue {
    match (v, format) {
        (val, Format::Netcdf4) => val.clone(),
        (AttrValue::I64(_) | AttrValue::U64(_), Format::Classic) => AttrValue::F64(v.as_f64s().unwrap_or_default()),
        (AttrValue::Str(s), Format::Classic) => AttrValue::Text(s.join("\n")),
        (val, Format::Classic) => signed_attr(val),
    }
}

/// Attributes of a variable as written (plus `_Unsigned` for unsigned data in classic
/// files).
fn attrs_for(v: &Variable, format: Format) -> Vec<Attribute> {
    let mut out: Vec<Attribute> =
        v.attrs.iter().map(|a| Attribute { name: a.name.clone(), value: attr_value(&a.value, format) }).collect();
    if format == Format::Classic
        && matches!(v.dtype, DataType::U8 | DataType::U16 | DataType::U32)
        && v.attr("_Unsigned").is_none()
    {
        out.push(Attribute { name: "_Unsigned".into(), value: AttrValue::Text("true".into()) });
    }
    out
}

/// Write `subset` of `ds` to a NetCDF file at `path`.
pub fn write_netcdf(reader: &Reader, ds: &Dataset, subset: &Subset, path: &Path, opts: &NcOptions) -> Result<()> {
    let mut vars: Vec<&Variable> =
        subset.vars.iter().filter_map(|n| ds.var(n)).filter(|v| v.dtype.is_atomic()).collect();
    if opts.format == Format::Classic {
        // 64-bit integers have no NetCDF-3 type: an error when asked for, else left out.
        if let Some(v) =
            vars.iter().find(|v| matches!(v.dtype, DataType::I64 | DataType::U64) && subset.requested.contains(&v.name))
        {
            return Err(Error::bad(format!(
                "variable '{}' is a 64-bit integer, which NetCDF-3 (.nc3) cannot hold; ask for NetCDF-4 (.nc)",
                v.name
            )));
        }
        vars.retain(|v| !matches!(v.dtype, DataType::I64 | DataType::U64));
    }
    if opts.format == Format::Classic && vars.iter().any(|v| !parent(&v.name).is_empty()) {
        return Err(Error::bad("this dataset has groups, which NetCDF-3 (.nc3) cannot hold; ask for NetCDF-4 (.nc)"));
    }
    // Strings in classic files become char arrays as long as the longest string.
    let mut strings: BTreeMap<String, Data> = BTreeMap::new();
    if opts.format == Format::Classic {
        for v in vars.iter().filter(|v| v.dtype == DataType::Str) {
            let mut vals = Vec::new();
            for piece in subset.pieces(v) {
                if let Data::Str(s) = reader.read(ds, v, &piece.slab)?.data {
                    vals.extend(s);
                }
            }
            strings.insert(v.name.clone(), Data::Str(vals));
        }
    }
    let mut w = NcWriter::create(path, opts.format)?;
    // Groups, dimensions.
    let mut groups: BTreeMap<String, c_int> = BTreeMap::new();
    let mut dim_ids: BTreeMap<String, c_int> = BTreeMap::new();
    let mut unlimited_used = false;
    for v in &vars {
        for (d, &n) in v.dims.iter().zip(&v.shape) {
            if dim_ids.contains_key(d) {
                continue;
            }
            let g = parent(d).to_string();
            let gid = match groups.get(&g) {
                Some(&id) => id,
                None => {
                    let id = w.group(&g)?;
                    groups.insert(g.clone(), id);
                    id
                }
            };
            let len = subset.sel(d, n).count();
            let unlimited =
                ds.dim(d).is_some_and(|x| x.unlimited) && (opts.format == Format::Netcdf4 || !unlimited_used);
            unlimited_used |= unlimited;
            let id = w.def_dim(gid, short(d), if unlimited { None } else { Some(len) })?;
            dim_ids.insert(d.clone(), id);
        }
    }
    // Variables.
    let mut var_ids: Vec<(c_int, c_int)> = Vec::with_capacity(vars.len());
    for v in &vars {
        let g = parent(&v.name).to_string();
        let gid = match groups.get(&g) {
            Some(&id) => id,
            None => {
                let id = w.group(&g)?;
                groups.insert(g, id);
                id
            }
        };
        let mut dims: Vec<c_int> = v.dims.iter().map(|d| dim_ids[d]).collect();
        if let Some(Data::Str(vals)) = strings.get(&v.name) {
            let len = vals.iter().map(String::len).max().unwrap_or(1).max(1);
            dims.push(w.def_dim(gid, &format!("{}_strlen", short(&v.name)), Some(len))?);
        }
        let t = stored_type(v.dtype, opts.format)?;
        let id = w.def_var(gid, short(&v.name), t, &dims)?;
        // Variable-length strings cannot be compressed.
        if opts.format == Format::Netcdf4 && !v.dims.is_empty() && opts.deflate > 0 && v.dtype != DataType::Str {
            let out_shape: Vec<usize> = subset.shape(v);
            let chunks: Option<Vec<usize>> =
                v.chunks.as_ref().map(|c| c.iter().zip(&out_shape).map(|(&c, &n)| c.min(n).max(1)).collect());
            if out_shape.iter().all(|&n| n > 0) {
                w.def_compression(gid, id, opts.deflate, opts.shuffle && v.dtype.size() > 1, chunks.as_deref())?;
            }
        }
        for a in attrs_for(v, opts.format) {
            w.put_attr(gid, Some(id), &a.name, &a.value)?;
        }
        var_ids.push((gid, id));
    }
    // Group and global attributes, with the history line first.
    let root = w.group("")?;
    for a in &ds.attrs {
        let g = parent(&a.name);
        let gid = match groups.get(g) {
            Some(&id) => id,
            None if g.is_empty() => root,
            None => continue,
        };
        if g.is_empty() && a.name == "history" && !opts.history.is_empty() {
            continue;
        }
        w.put_attr(gid, None, short(&a.name), &attr_value(&a.value, opts.format))?;
    }
    if !opts.history.is_empty() {
        let old = ds.attr("history").and_then(AttrValue::as_text).unwrap_or("");
        let text = if old.is_empty() { opts.history.clone() } else { format!("{}\n{old}", opts.history) };
        w.put_attr(root, None, "history", &AttrValue::Text(text))?;
    }
    w.enddef()?;
    // Data, block by block.
    for (v, &(gid, id)) in vars.iter().zip(&var_ids) {
        if let Some(Data::Str(vals)) = strings.get(&v.name) {
            let len = vals.iter().map(String::len).max().unwrap_or(1).max(1);
            let mut bytes = Vec::with_capacity(vals.len() * len);
            for s in vals {
                let mut b = s.as_bytes().to_vec();
                b.resize(len, 0);
                bytes.extend(b);
            }
            let mut count = subset.shape(v);
            count.push(len);
            w.put(gid, id, &vec![0; count.len()], &count, &Data::Char(bytes))?;
            continue;
        }
        let max_elems = (opts.block_bytes / v.dtype.size().max(1)).max(1);
        for piece in subset.pieces(v) {
            for block in piece.slab.blocks(max_elems) {
                let arr = reader.read(ds, v, &block)?;
                let start: Vec<usize> = block
                    .0
                    .iter()
                    .zip(&piece.slab.0)
                    .zip(&piece.out_start)
                    .map(|((b, s), o)| o + (b.start - s.start) / s.stride.max(1))
                    .collect();
                let data = if opts.format == Format::Classic { to_signed(arr.data) } else { arr.data };
                w.put(gid, id, &start, &block.shape(), &data)?;
            }
        }
    }
    w.close()
}
