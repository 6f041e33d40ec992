//! NetCDF file output: an [`OutFile`] (dimensions, variables with a data source,
//! attributes) written as NetCDF-4 (deflate + shuffle, chunked) or classic 64-bit offset
//! (unsigned types as signed with `_Unsigned = "true"`, strings as char arrays).
//! [`selection_file`] describes a [`Selection`] of a dataset this way; the processing
//! operations describe their computed results the same way.

use crate::array::Data;
use crate::model::{AttrValue, Attribute, DataType, Dataset, Variable};
use crate::netcdf_io::chunk_writer::DirectFile;
use crate::netcdf_io::writer::{Format, NcWriter};
use crate::read::Reader;
use crate::selection::Selection;
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
    /// NetCDF-4 variables at least this large whose blocks arrive in order are
    /// compressed by cirrus, in parallel, rather than by libnetcdf.
    pub direct_min_bytes: usize,
}

impl Default for NcOptions {
    fn default() -> Self {
        NcOptions {
            format: Format::Netcdf4,
            deflate: 1,
            shuffle: true,
            history: String::new(),
            block_bytes: 4 << 20,
            direct_min_bytes: 1 << 20,
        }
    }
}

/// Receives blocks of values: (start, shape, values).
pub type BlockSink<'a> = dyn FnMut(&[usize], &[usize], Data) -> Result<()> + 'a;

/// Produces the values of one output variable, block by block.
pub trait VarSource: Send + Sync {
    /// Call `put(start, shape, values)` for consecutive blocks covering the variable.
    fn blocks(&self, reader: &Reader, block_bytes: usize, put: &mut BlockSink) -> Result<()>;

    /// True when the blocks arrive in order along the first dimension, so that they can
    /// be assembled into whole chunks in little memory and compressed in parallel.
    fn in_row_order(&self) -> bool {
        false
    }
}

/// A dimension of an output file. Names of dimensions in groups are paths (`g/d`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutDim {
    pub name: String,
    pub len: usize,
    pub unlimited: bool,
}

/// A variable of an output file.
pub struct OutVar {
    pub name: String,
    pub dtype: DataType,
    pub dims: Vec<String>,
    pub attrs: Vec<Attribute>,
    /// Preferred chunk shape (clipped to the dimensions).
    pub chunks: Option<Vec<usize>>,
    pub source: Box<dyn VarSource>,
}

/// What to write in one file.
#[derive(Default)]
pub struct OutFile {
    pub dims: Vec<OutDim>,
    pub vars: Vec<OutVar>,
    /// Global attributes (names with a group path for group attributes).
    pub attrs: Vec<Attribute>,
}

impl OutFile {
    /// The length of a dimension.
    pub fn dim_len(&self, name: &str) -> usize {
        self.dims.iter().find(|d| d.name == name).map_or(0, |d| d.len)
    }

    /// Estimated size in bytes of the values.
    pub fn size(&self) -> u64 {
        self.vars
            .iter()
            .map(|v| {
                v.dims.iter().map(|d| self.dim_len(d) as u64).product::<u64>().saturating_mul(v.dtype.size() as u64)
            })
            .fold(0, u64::saturating_add)
    }
}

/// Fixed values of a given shape.
pub struct Constant {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Constant {
    /// Boxed f64 values.
    pub fn f64(shape: &[usize], values: Vec<f64>) -> Box<Constant> {
        Box::new(Constant { shape: shape.to_vec(), data: Data::F64(values) })
    }
}

impl VarSource for Constant {
    fn blocks(&self, _: &Reader, _: usize, put: &mut BlockSink) -> Result<()> {
        put(&vec![0; self.shape.len()], &self.shape, self.data.clone())
    }

    fn in_row_order(&self) -> bool {
        true
    }
}

/// Values read from a dataset variable through a subset.
struct SelectionSource {
    ds: std::sync::Arc<Dataset>,
    var: String,
    subset: Selection,
}

impl VarSource for SelectionSource {
    fn in_row_order(&self) -> bool {
        // pieces differing only along the first dimension follow each other in order
        self.ds
            .var(&self.var)
            .is_some_and(|v| v.dims.iter().zip(&v.shape).skip(1).all(|(d, &n)| self.subset.sel(d, n).runs().len() <= 1))
    }

    fn blocks(&self, reader: &Reader, block_bytes: usize, put: &mut BlockSink) -> Result<()> {
        let v = self.ds.require_var(&self.var)?;
        let max_elems = (block_bytes / v.dtype.size().max(1)).max(1);
        for piece in self.subset.pieces(v) {
            for block in piece.slab.blocks(max_elems) {
                let arr = reader.read(&self.ds, v, &block)?;
                let start: Vec<usize> = block
                    .0
                    .iter()
                    .zip(&piece.slab.0)
                    .zip(&piece.out_start)
                    .map(|((b, s), o)| o + (b.start - s.start) / s.stride.max(1))
                    .collect();
                let shape = block.shape();
                let data = self.subset.transform(v, &start, &shape, arr.data);
                put(&start, &shape, data)?;
            }
        }
        Ok(())
    }
}

fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(p, _)| p)
}

fn short(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, s)| s)
}

/// Describe a subset of a dataset as an output file (user-defined types are left out).
pub fn selection_file(ds: &std::sync::Arc<Dataset>, subset: &Selection) -> OutFile {
    let vars: Vec<&Variable> = subset.names().filter_map(|n| ds.var(n)).filter(|v| v.dtype.is_atomic()).collect();
    let mut dims: Vec<OutDim> = Vec::new();
    for v in &vars {
        for (d, &n) in v.dims.iter().zip(&v.shape) {
            if !dims.iter().any(|x| x.name == *d) {
                let unlimited = ds.dim(d).is_some_and(|x| x.unlimited);
                dims.push(OutDim { name: d.clone(), len: subset.sel(d, n).count(), unlimited });
            }
        }
    }
    let out_vars = vars
        .iter()
        .map(|v| OutVar {
            name: v.name.clone(),
            dtype: v.dtype,
            dims: v.dims.clone(),
            attrs: subset.attrs(v),
            chunks: v.chunks.clone(),
            source: Box::new(SelectionSource { ds: ds.clone(), var: v.name.clone(), subset: subset.clone() }),
        })
        .collect();
    OutFile { dims, vars: out_vars, attrs: ds.attrs.clone() }
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

/// Unsigned values widened to a signed type that holds them exactly.
fn widened_attr(v: &AttrValue) -> AttrValue {
    match v {
        AttrValue::U8(x) => AttrValue::I16(x.iter().map(|&x| i16::from(x)).collect()),
        AttrValue::U16(x) => AttrValue::I32(x.iter().map(|&x| i32::from(x)).collect()),
        AttrValue::U32(x) => AttrValue::F64(x.iter().map(|&x| f64::from(x)).collect()),
        other => other.clone(),
    }
}

/// An attribute value as written: classic files have no unsigned, 64-bit or string
/// attributes. On a variable stored as signed with `_Unsigned = "true"` (`unsigned_var`)
/// unsigned attributes (`_FillValue`, `valid_*`) are reinterpreted like its data; elsewhere
/// they are widened so that readers get their values.
fn attr_value(v: &AttrValue, format: Format, unsigned_var: bool) -> AttrValue {
    match (v, format) {
        (val, Format::Netcdf4) => val.clone(),
        (AttrValue::I64(_) | AttrValue::U64(_), Format::Classic) => AttrValue::F64(v.as_f64s().unwrap_or_default()),
        (AttrValue::Str(s), Format::Classic) => AttrValue::Text(s.join("\n")),
        (val, Format::Classic) if unsigned_var => signed_attr(val),
        (val, Format::Classic) => widened_attr(val),
    }
}

/// The largest row of chunks (along the first dimension) kept while it fills.
const DIRECT_MAX_ROW_BYTES: usize = 256 << 20;
/// Default chunk size in bytes for variables without a preferred chunk shape.
const DEFAULT_CHUNK_BYTES: usize = 4 << 20;

/// A preferred chunk shape clipped to the dimensions (at least 1 along each).
fn clipped(chunks: &[usize], shape: &[usize]) -> Vec<usize> {
    chunks.iter().zip(shape).map(|(&c, &n)| c.min(n).max(1)).collect()
}

/// A chunk shape of about [`DEFAULT_CHUNK_BYTES`]: whole inner dimensions, 1 outside.
fn default_chunks(shape: &[usize], elem: usize) -> Vec<usize> {
    let mut chunks = vec![1; shape.len()];
    let mut size = elem.max(1);
    for d in (0..shape.len()).rev() {
        let fit = (DEFAULT_CHUNK_BYTES / size).max(1);
        chunks[d] = shape[d].min(fit).max(1);
        size *= chunks[d];
        if chunks[d] < shape[d] {
            break;
        }
    }
    chunks
}

/// The chunk shape of a variable whose chunks cirrus compresses itself (None: libnetcdf
/// writes it): large numeric NetCDF-4 variables whose blocks arrive in order, not named
/// like a dimension (libnetcdf stores those under another name).
fn direct_chunks(out: &OutFile, v: &OutVar, shape: &[usize], opts: &NcOptions) -> Option<Vec<usize>> {
    let elem = v.dtype.size();
    let bytes = shape.iter().product::<usize>().saturating_mul(elem);
    let eligible = opts.format == Format::Netcdf4
        && opts.deflate > 0
        && v.dtype.is_numeric()
        && !shape.is_empty()
        && !shape.contains(&0)
        && bytes >= opts.direct_min_bytes
        && !out.dims.iter().any(|d| d.name == v.name)
        && v.source.in_row_order();
    if !eligible {
        return None;
    }
    let chunks = match &v.chunks {
        Some(c) if c.len() == shape.len() => clipped(c, shape),
        _ => default_chunks(shape, elem),
    };
    let row = chunks[0].saturating_mul(shape[1..].iter().product()).saturating_mul(elem);
    (row <= DIRECT_MAX_ROW_BYTES).then_some(chunks)
}

/// Write the values of the variables compressed by cirrus into the closed file.
fn write_direct(
    reader: &Reader,
    out: &OutFile,
    direct: &[Option<Vec<usize>>],
    path: &Path,
    opts: &NcOptions,
) -> Result<()> {
    let file = DirectFile::open(path)?;
    for (v, _) in out.vars.iter().zip(direct).filter(|(_, d)| d.is_some()) {
        let shape: Vec<usize> = v.dims.iter().map(|d| out.dim_len(d)).collect();
        let mut cw = file.var(&v.name, &shape, opts.deflate)?;
        v.source.blocks(reader, opts.block_bytes, &mut |start, shape, data| cw.put(start, shape, &data))?;
        cw.finish()?;
    }
    file.close()
}

/// Write `out` to a NetCDF file at `path`.
pub fn write_file(reader: &Reader, out: &OutFile, path: &Path, opts: &NcOptions) -> Result<()> {
    if opts.format == Format::Classic && out.vars.iter().any(|v| !parent(&v.name).is_empty()) {
        return Err(Error::bad("this dataset has groups, which NetCDF-3 (.nc3) cannot hold; ask for NetCDF-4 (.nc)"));
    }
    // Strings in classic files become char arrays as long as the longest string.
    let mut strings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if opts.format == Format::Classic {
        for v in out.vars.iter().filter(|v| v.dtype == DataType::Str) {
            let mut vals = Vec::new();
            v.source.blocks(reader, opts.block_bytes, &mut |_, _, d| {
                if let Data::Str(s) = d {
                    vals.extend(s);
                }
                Ok(())
            })?;
            strings.insert(v.name.clone(), vals);
        }
    }
    let mut w = NcWriter::create(path, opts.format)?;
    let mut groups: BTreeMap<String, c_int> = BTreeMap::new();
    let mut group_id = |w: &mut NcWriter, g: &str| -> Result<c_int> {
        if let Some(&id) = groups.get(g) {
            return Ok(id);
        }
        let id = w.group(g)?;
        groups.insert(g.to_string(), id);
        Ok(id)
    };
    let root = group_id(&mut w, "")?;
    let mut dim_ids: BTreeMap<String, c_int> = BTreeMap::new();
    let mut unlimited_used = false;
    for d in &out.dims {
        let gid = group_id(&mut w, parent(&d.name))?;
        let unlimited = d.unlimited && (opts.format == Format::Netcdf4 || !unlimited_used);
        unlimited_used |= unlimited;
        let id = w.def_dim(gid, short(&d.name), if unlimited { None } else { Some(d.len) })?;
        dim_ids.insert(d.name.clone(), id);
    }
    let mut var_ids: Vec<(c_int, c_int)> = Vec::with_capacity(out.vars.len());
    let mut direct: Vec<Option<Vec<usize>>> = Vec::with_capacity(out.vars.len());
    for v in &out.vars {
        let gid = group_id(&mut w, parent(&v.name))?;
        let mut dims: Vec<c_int> = v
            .dims
            .iter()
            .map(|d| {
                dim_ids
                    .get(d)
                    .copied()
                    .ok_or_else(|| Error::Internal(format!("dimension {d} of {} not declared", v.name)))
            })
            .collect::<Result<_>>()?;
        if let Some(vals) = strings.get(&v.name) {
            let len = vals.iter().map(String::len).max().unwrap_or(1).max(1);
            dims.push(w.def_dim(gid, &format!("{}_strlen", short(&v.name)), Some(len))?);
        }
        let id = w.def_var(gid, short(&v.name), stored_type(v.dtype, opts.format)?, &dims)?;
        // Variable-length strings cannot be compressed.
        let shape: Vec<usize> = v.dims.iter().map(|d| out.dim_len(d)).collect();
        if opts.format == Format::Netcdf4
            && !v.dims.is_empty()
            && opts.deflate > 0
            && v.dtype != DataType::Str
            && shape.iter().all(|&n| n > 0)
        {
            let direct_chunks = direct_chunks(out, v, &shape, opts);
            let chunks: Option<Vec<usize>> =
                direct_chunks.clone().or_else(|| v.chunks.as_ref().map(|c| clipped(c, &shape)));
            direct.push(direct_chunks);
            w.def_compression(gid, id, opts.deflate, opts.shuffle && v.dtype.size() > 1, chunks.as_deref())?;
        } else {
            direct.push(None);
        }
        let unsigned_var = matches!(v.dtype, DataType::U8 | DataType::U16 | DataType::U32);
        for a in &v.attrs {
            w.put_attr(gid, Some(id), &a.name, &attr_value(&a.value, opts.format, unsigned_var))?;
        }
        if opts.format == Format::Classic
            && matches!(v.dtype, DataType::U8 | DataType::U16 | DataType::U32)
            && !v.attrs.iter().any(|a| a.name == "_Unsigned")
        {
            w.put_attr(gid, Some(id), "_Unsigned", &AttrValue::Text("true".into()))?;
        }
        var_ids.push((gid, id));
    }
    // Group and global attributes, with the history line first.
    for a in &out.attrs {
        let g = parent(&a.name);
        let gid = match groups.get(g) {
            Some(&id) => id,
            None => continue,
        };
        if g.is_empty() && a.name == "history" && !opts.history.is_empty() {
            continue;
        }
        w.put_attr(gid, None, short(&a.name), &attr_value(&a.value, opts.format, false))?;
    }
    if !opts.history.is_empty() {
        let old = out.attrs.iter().find(|a| a.name == "history").and_then(|a| a.value.as_text()).unwrap_or("");
        let text = if old.is_empty() { opts.history.clone() } else { format!("{}\n{old}", opts.history) };
        w.put_attr(root, None, "history", &AttrValue::Text(text))?;
    }
    w.enddef()?;
    for ((v, &(gid, id)), _) in out.vars.iter().zip(&var_ids).zip(&direct).filter(|(_, d)| d.is_none()) {
        if let Some(vals) = strings.get(&v.name) {
            let len = vals.iter().map(String::len).max().unwrap_or(1).max(1);
            let mut bytes = Vec::with_capacity(vals.len() * len);
            for s in vals {
                let mut b = s.as_bytes().to_vec();
                b.resize(len, 0);
                bytes.extend(b);
            }
            let mut count: Vec<usize> = v.dims.iter().map(|d| out.dim_len(d)).collect();
            count.push(len);
            w.put(gid, id, &vec![0; count.len()], &count, &Data::Char(bytes))?;
            continue;
        }
        let classic = opts.format == Format::Classic;
        v.source.blocks(reader, opts.block_bytes, &mut |start, shape, data| {
            let data = if classic { to_signed(data) } else { data };
            w.put(gid, id, start, shape, &data)
        })?;
    }
    w.close()?;
    if direct.iter().any(Option::is_some) {
        if let Err(e) = write_direct(reader, out, &direct, path, opts) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    Ok(())
}

/// Write `subset` of `ds` to a NetCDF file at `path` (64-bit integers are left out of
/// classic files unless asked for by name, which is an error).
pub fn write_netcdf(
    reader: &Reader,
    ds: &std::sync::Arc<Dataset>,
    subset: &Selection,
    path: &Path,
    opts: &NcOptions,
) -> Result<()> {
    let mut out = selection_file(ds, subset);
    if opts.format == Format::Classic {
        if let Some(v) = out
            .vars
            .iter()
            .find(|v| matches!(v.dtype, DataType::I64 | DataType::U64) && subset.requested.contains(&v.name))
        {
            return Err(Error::bad(format!(
                "variable '{}' is a 64-bit integer, which NetCDF-3 (.nc3) cannot hold; ask for NetCDF-4 (.nc)",
                v.name
            )));
        }
        out.vars.retain(|v| !matches!(v.dtype, DataType::I64 | DataType::U64));
    }
    write_file(reader, &out, path, opts)
}
