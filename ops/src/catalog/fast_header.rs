//! What the catalog keeps of a file ([`FileInfo`]), read without libnetcdf: NetCDF-3
//! files through `netcdf-reader`, NetCDF-4 files through `hdf5-reader`. Neither takes
//! a process-wide lock, so many files can be read at once in parallel threads.
//!
//! The result is exactly what [`super::read_info`] gives through libnetcdf (4.9): the
//! same header (format, dimensions in id order, variables in creation order, attribute
//! types and order, the attributes libnetcdf hides, chunk shapes), time values,
//! coordinate values and box. Where a file uses something whose libnetcdf rendering
//! is not reproduced here (groups, user-defined types, dimensions without scales,
//! variables shorter than their unlimited dimension, ...), [`read_info`] returns
//! `None` and the caller reads the file with libnetcdf instead.

use super::FileInfo;
use crate::array::Data;
use crate::model::{AttrValue, Attribute, DataType, Dimension, Filter, Variable};
use crate::netcdf_io::FileHeader;
use hdf5_reader::messages::HdfMessage;
use hdf5_reader::storage::DynStorage;
use hdf5_reader::{Datatype, Hdf5File, StringPadding, StringSize, VarLenKind};
use netcdf_reader::{NcAttrValue, NcFormat, NcType};
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// What [`super::read_info`] gives for `path`, read without libnetcdf: `None` when the
/// file uses something this reader does not reproduce exactly (read it with
/// libnetcdf then), `Some(Err)` only when the file is certainly unreadable (e.g.
/// shorter than its header says).
pub fn read_info(path: &Path) -> Option<crate::Result<FileInfo>> {
    read_info_or_reason(path).ok()
}

/// [`read_info`], with the reason when the file is left to libnetcdf.
pub fn read_info_or_reason(path: &Path) -> Result<crate::Result<FileInfo>, String> {
    // A reader that panics on a malformed file leaves it to libnetcdf.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(path))) {
        Ok(Ok(info)) => Ok(Ok(info)),
        Ok(Err(Miss::Corrupt(e))) => Ok(Err(e)),
        Ok(Err(Miss::Unsupported(why))) => Err(why),
        Err(_) => Err("the reader panicked".into()),
    }
}

/// Why the fast path gives no header.
enum Miss {
    /// Not reproduced here: libnetcdf decides.
    Unsupported(String),
    /// Certainly unreadable.
    Corrupt(crate::Error),
}

type R<T> = std::result::Result<T, Miss>;

fn unsupported<T>(why: impl Into<String>) -> R<T> {
    Err(Miss::Unsupported(why.into()))
}

fn miss(what: &str) -> impl FnOnce(hdf5_reader::error::Error) -> Miss + '_ {
    move |e| Miss::Unsupported(format!("{what}: {e}"))
}

const HDF5_SIGNATURE: [u8; 8] = *b"\x89HDF\r\n\x1a\n";

fn read(path: &Path) -> R<FileInfo> {
    let file = File::open(path).map_err(|e| Miss::Unsupported(format!("open: {e}")))?;
    let raw: DynStorage = Arc::new(hdf5_reader::FileStorage::from_file(file).map_err(miss("open"))?);
    read_from(&Src { path, raw, local: true })
}

/// What [`read_info_or_reason`] gives for an object of an object-storage root: its
/// header and coordinates read by byte ranges. Files whose header is left to libnetcdf
/// (which reads only local files) are refused with the reason.
pub fn read_object_info(obj: &crate::object::Object) -> crate::Result<FileInfo> {
    let src = Src { path: obj.url(), raw: Arc::new(obj.clone()), local: false };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_from(&src))) {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(Miss::Corrupt(e))) => Err(e),
        Ok(Err(Miss::Unsupported(why))) => Err(crate::Error::File {
            path: obj.url().to_path_buf(),
            message: format!("not readable from object storage ({why})"),
        }),
        Err(_) => {
            Err(crate::Error::File { path: obj.url().to_path_buf(), message: "the header reader panicked".into() })
        }
    }
}

/// [`read_object_info`] for a file held in memory (the object-storage path on bytes:
/// the fuzz target `object_headers` feeds it).
pub fn read_bytes_info(bytes: Vec<u8>) -> crate::Result<FileInfo> {
    let path = Path::new("memory.nc");
    let src = Src { path, raw: Arc::new(hdf5_reader::BytesStorage::new(bytes)), local: false };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_from(&src))) {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(Miss::Corrupt(e))) => Err(e),
        Ok(Err(Miss::Unsupported(why))) => Err(crate::Error::File { path: path.into(), message: why }),
        Err(_) => Err(crate::Error::File { path: path.into(), message: "the header reader panicked".into() }),
    }
}

/// A file's bytes: a local file or an object, addressed from 0.
struct Src<'a> {
    path: &'a Path,
    raw: DynStorage,
    local: bool,
}

impl Src<'_> {
    /// Bytes `offset..offset + len` (fewer at the end of the file).
    fn bytes(&self, offset: u64, len: usize) -> R<Vec<u8>> {
        let len = usize::try_from(self.raw.len().saturating_sub(offset)).unwrap_or(usize::MAX).min(len);
        if len == 0 {
            return Ok(Vec::new());
        }
        Ok(self.raw.read_range(offset, len).map_err(|e| Miss::Unsupported(format!("read: {e}")))?.to_vec())
    }
}

fn read_from(src: &Src<'_>) -> R<FileInfo> {
    let magic = src.bytes(0, 8)?;
    let n = magic.len();
    if n >= 4 && &magic[..3] == b"CDF" {
        classic(src, &magic)
    } else if n == 8 && magic[..] == HDF5_SIGNATURE {
        netcdf4(src)
    } else {
        unsupported("no NetCDF-3 or HDF5 signature at the start of the file")
    }
}

// ---------------------------------------------------------------------------------
// What read_info does once it has the header (the same steps, in the same order).
// ---------------------------------------------------------------------------------

/// Times, coordinates and box from a header and a reader of whole numeric variables
/// (`read_all` gives `Ok(Some(values))`, as libnetcdf's read followed by `to_f64`).
fn finish(header: FileHeader, read_all: &dyn Fn(&Variable) -> R<Option<Vec<f64>>>) -> R<FileInfo> {
    super::info_from(header, read_all)
}

/// `n` values read whole into a new buffer (row-major order).
fn read_vec<T: Clone + Default, E>(n: usize, read: impl FnOnce(&mut [T]) -> Result<(), E>) -> Result<Vec<T>, E> {
    let mut buf = vec![T::default(); n];
    read(&mut buf)?;
    Ok(buf)
}

// ---------------------------------------------------------------------------------
// NetCDF-3 (classic, 64-bit offset, CDF-5)
// ---------------------------------------------------------------------------------

/// The largest header prefix read (as [`crate::netcdf3::layout`]).
const MAX_CLASSIC_HEADER: u64 = 64 << 20;

fn classic(src: &Src<'_>, start: &[u8]) -> R<FileInfo> {
    let path = src.path;
    let version = start[3];
    let (format, name) = match version {
        1 => (NcFormat::Classic, "classic"),
        2 => (NcFormat::Offset64, "64bit_offset"),
        5 => (NcFormat::Cdf5, "cdf5"),
        v => return unsupported(format!("NetCDF-3 version byte {v}")),
    };
    let have = src.raw.len();
    // The header, in a prefix of the file that grows until it holds all of it.
    let mut prefix = start.to_vec();
    let mut want = have.min(64 << 10);
    let layout = loop {
        let more = usize::try_from(want).unwrap_or(usize::MAX).saturating_sub(prefix.len());
        prefix.extend(src.bytes(prefix.len() as u64, more)?);
        match classic_layout(&prefix, version) {
            Ok(l) => break l,
            Err(LayoutStop::Short) if want < have.min(MAX_CLASSIC_HEADER) => {
                want = (want * 2).min(have).min(MAX_CLASSIC_HEADER);
            }
            // A header that cirrus's own check rejects: the same error as read_info.
            Err(_) if !src.local => return unsupported("NetCDF-3 header not understood"),
            Err(_) => {
                return match crate::netcdf3::check_complete(path) {
                    Err(e) => Err(Miss::Corrupt(e)),
                    Ok(()) => unsupported("NetCDF-3 header not understood"),
                }
            }
        }
    };
    if layout.streaming {
        return unsupported("NetCDF-3 file with an indeterminate record count (streaming)");
    }
    if !layout.offsets_valid(version) {
        return unsupported("NetCDF-3 variable sizes or offsets libnetcdf does not accept");
    }
    // As crate::netcdf3::check_complete.
    let need = layout.required_size();
    if have < need {
        return Err(Miss::Corrupt(crate::Error::File {
            path: path.to_path_buf(),
            message: format!("the file is truncated: its header needs {need} bytes but it has {have}"),
        }));
    }
    let storage: DynStorage = if src.local {
        src.raw.clone()
    } else {
        Arc::new(hdf5_reader::BlockCacheStorage::new(src.raw.clone(), BLOCK_SIZE, BLOCKS))
    };
    let nc = netcdf_reader::classic::ClassicFile::from_storage(storage, format)
        .map_err(|e| Miss::Unsupported(format!("netcdf-reader: {e}")))?;
    let root = nc.root_group();
    if root.dimensions.iter().filter(|d| d.is_unlimited).count() > 1 {
        return unsupported("more than one unlimited dimension");
    }
    let mut h = FileHeader { format: name.to_string(), ..FileHeader::default() };
    for d in &root.dimensions {
        h.dims.push(Dimension { name: c_name(&d.name), len: to_usize(d.size)?, unlimited: d.is_unlimited });
    }
    h.attrs = root.attributes.iter().map(classic_attr).collect::<R<_>>()?;
    for v in &root.variables {
        let dtype = classic_dtype(&v.dtype)?;
        let dims = v.dimensions.iter().map(|d| c_name(&d.name)).collect();
        let shape = v.dimensions.iter().map(|d| to_usize(d.size)).collect::<R<_>>()?;
        let attrs = v.attributes.iter().map(classic_attr).collect::<R<_>>()?;
        h.vars.push(Variable {
            name: c_name(&v.name),
            dtype,
            dims,
            shape,
            attrs,
            chunks: None,
            filters: Vec::new(),
            joined: false,
        });
    }
    let read_all = |v: &Variable| -> R<Option<Vec<f64>>> {
        if v.shape.contains(&0) {
            return Ok(Data::with_capacity(v.dtype, 0).to_f64());
        }
        let n = v.shape.iter().product::<usize>();
        let err = |e: netcdf_reader::Error| Miss::Unsupported(format!("reading '{}': {e}", v.name));
        let data = match v.dtype {
            DataType::I8 => Data::I8(read_vec::<i8, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::U8 => Data::U8(read_vec::<u8, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::I16 => Data::I16(read_vec::<i16, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::U16 => Data::U16(read_vec::<u16, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::I32 => Data::I32(read_vec::<i32, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::U32 => Data::U32(read_vec::<u32, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::I64 => Data::I64(read_vec::<i64, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::U64 => Data::U64(read_vec::<u64, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::F32 => Data::F32(read_vec::<f32, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            DataType::F64 => Data::F64(read_vec::<f64, _>(n, |b| nc.read_variable_into(&v.name, b)).map_err(err)?),
            t => return unsupported(format!("reading '{}' of type {t:?}", v.name)),
        };
        Ok(data.to_f64())
    };
    finish(h, &read_all)
}

fn to_usize(n: u64) -> R<usize> {
    usize::try_from(n).or_else(|_| unsupported("size beyond usize"))
}

fn classic_dtype(t: &NcType) -> R<DataType> {
    Ok(match t {
        NcType::Byte => DataType::I8,
        NcType::Char => DataType::Char,
        NcType::Short => DataType::I16,
        NcType::Int => DataType::I32,
        NcType::Float => DataType::F32,
        NcType::Double => DataType::F64,
        NcType::UByte => DataType::U8,
        NcType::UShort => DataType::U16,
        NcType::UInt => DataType::U32,
        NcType::Int64 => DataType::I64,
        NcType::UInt64 => DataType::U64,
        other => return unsupported(format!("NetCDF-3 variable of type {other:?}")),
    })
}

/// A classic attribute. netcdf-reader decodes `NC_CHAR` as libnetcdf's bytes with
/// trailing NULs dropped and invalid UTF-8 replaced, as the libnetcdf path does.
fn classic_attr(a: &netcdf_reader::NcAttribute) -> R<Attribute> {
    let value = match &a.value {
        NcAttrValue::Bytes(v) => AttrValue::I8(v.clone()),
        NcAttrValue::Chars(s) => AttrValue::Text(s.clone()),
        NcAttrValue::Shorts(v) => AttrValue::I16(v.clone()),
        NcAttrValue::Ints(v) => AttrValue::I32(v.clone()),
        NcAttrValue::Floats(v) => AttrValue::F32(v.clone()),
        NcAttrValue::Doubles(v) => AttrValue::F64(v.clone()),
        NcAttrValue::UBytes(v) => AttrValue::U8(v.clone()),
        NcAttrValue::UShorts(v) => AttrValue::U16(v.clone()),
        NcAttrValue::UInts(v) => AttrValue::U32(v.clone()),
        NcAttrValue::Int64s(v) => AttrValue::I64(v.clone()),
        NcAttrValue::UInt64s(v) => AttrValue::U64(v.clone()),
        other => return unsupported(format!("NetCDF-3 attribute '{}' of kind {other:?}", a.name)),
    };
    Ok(Attribute { name: c_name(&a.name), value })
}

/// A name as libnetcdf hands it out: a C string, up to its first NUL.
fn c_name(name: &str) -> String {
    name.split('\0').next().unwrap_or_default().to_string()
}

/// What [`crate::netcdf3::layout`] finds of a header: enough to tell whether the
/// file holds all the data the header promises.
struct ClassicLayout {
    numrecs: u64,
    streaming: bool,
    /// (record variable, vsize, begin) of each variable.
    vars: Vec<(bool, u64, u64)>,
    /// Length of the header.
    header_len: u64,
    /// Dimension lengths (0: unlimited).
    dims: Vec<u64>,
    /// Dimension ids and type of each variable.
    var_shapes: Vec<(Vec<u64>, u64)>,
}

impl ClassicLayout {
    /// Whether libnetcdf accepts the variables' sizes and offsets (NC_var_shape,
    /// NC_computeshapes and NC_check_voffs of libsrc); it opens no file it fails.
    fn offsets_valid(&self, version: u8) -> bool {
        let mut lens = Vec::with_capacity(self.var_shapes.len());
        for (ids, t) in &self.var_shapes {
            let xsz: u64 = match t {
                1 | 2 | 7 => 1,
                3 | 8 => 2,
                4 | 5 | 9 => 4,
                6 | 10 | 11 => 8,
                _ => return false,
            };
            let mut product: u64 = 1;
            for (k, id) in ids.iter().enumerate() {
                let Some(&len) = usize::try_from(*id).ok().and_then(|i| self.dims.get(i)) else { return false };
                if len == 0 && k != 0 {
                    return false;
                }
                if !(k == 0 && len == 0) {
                    product = product.saturating_mul(len.max(1));
                }
            }
            let len = product.saturating_mul(xsz);
            lens.push(len.saturating_add((4 - len % 4) % 4));
        }
        // Variables past libnetcdf's size limits of CDF-1/2 are left to it (NC_check_vlens).
        let vlen_max: u64 = match version {
            1 => (1 << 31) - 4,
            2 => (1 << 32) - 4,
            _ => u64::MAX,
        };
        if lens.iter().any(|&l| l > vlen_max) {
            return false;
        }
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let xsz = signed(self.header_len);
        let (mut begin_rec, mut first_var, mut first_rec) = (xsz, None, None);
        for (&(record, _, begin), &len) in self.vars.iter().zip(&lens) {
            if record {
                first_rec.get_or_insert(signed(begin));
            } else {
                first_var.get_or_insert(signed(begin));
                begin_rec = signed(begin).saturating_add(signed(len));
            }
        }
        if self.vars.is_empty() {
            return true;
        }
        if let Some(r) = first_rec {
            if begin_rec > r {
                return false;
            }
            begin_rec = r;
        }
        let begin_var = first_var.unwrap_or(begin_rec);
        if begin_var <= 0 || xsz > begin_var || begin_rec <= 0 || begin_var > begin_rec {
            return false;
        }
        // NC_check_voffs: fixed variables, then record variables, in increasing order.
        let mut prev = begin_var;
        for (&(record, _, begin), &len) in self.vars.iter().zip(&lens) {
            if !record {
                if signed(begin) < prev {
                    return false;
                }
                prev = signed(begin).saturating_add(signed(len));
            }
        }
        if begin_rec < prev {
            return false;
        }
        let mut prev = begin_rec;
        for (&(record, _, begin), &len) in self.vars.iter().zip(&lens) {
            if record {
                if signed(begin) < prev {
                    return false;
                }
                prev = signed(begin).saturating_add(signed(len));
            }
        }
        true
    }

    /// As [`crate::netcdf3::Layout::required_size`].
    fn required_size(&self) -> u64 {
        let recsize: u64 = self.vars.iter().filter(|v| v.0).map(|v| v.1).sum();
        let ends = self.vars.iter().map(|&(record, vsize, begin)| match (record, self.numrecs) {
            (true, 0) => 0,
            (true, n) => begin + (n - 1) * recsize + vsize.min(recsize),
            (false, _) => begin + vsize,
        });
        ends.max().unwrap_or(0)
    }
}

enum LayoutStop {
    /// The header goes on past the bytes at hand.
    Short,
    /// Not a header [`crate::netcdf3::layout`] accepts.
    Bad,
}

/// The layout of a NetCDF-3 header, read as [`crate::netcdf3::layout`] does (only the
/// header's bytes are needed, not the first 64 MiB of the file), a little stricter
/// (as libnetcdf) about list tags.
fn classic_layout(b: &[u8], version: u8) -> std::result::Result<ClassicLayout, LayoutStop> {
    struct C<'a> {
        b: &'a [u8],
        i: usize,
        version: u8,
    }
    impl C<'_> {
        fn take(&mut self, n: usize) -> std::result::Result<&[u8], LayoutStop> {
            let end = self.i.checked_add(n).ok_or(LayoutStop::Bad)?;
            if end > self.b.len() {
                return Err(LayoutStop::Short);
            }
            let s = &self.b[self.i..end];
            self.i = end;
            Ok(s)
        }
        fn u32(&mut self) -> std::result::Result<u64, LayoutStop> {
            let s = self.take(4)?;
            Ok(u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
        }
        fn u64(&mut self) -> std::result::Result<u64, LayoutStop> {
            let s = self.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            Ok(u64::from_be_bytes(a))
        }
        fn count(&mut self) -> std::result::Result<u64, LayoutStop> {
            if self.version == 5 {
                self.u64()
            } else {
                self.u32()
            }
        }
        fn offset(&mut self) -> std::result::Result<u64, LayoutStop> {
            if self.version == 1 {
                self.u32()
            } else {
                self.u64()
            }
        }
        fn name(&mut self) -> std::result::Result<(), LayoutStop> {
            let n = usize::try_from(self.count()?).map_err(|_| LayoutStop::Bad)?;
            if n > 1 << 16 {
                return Err(LayoutStop::Bad);
            }
            self.take(n)?;
            self.take((4 - n % 4) % 4)?;
            Ok(())
        }
        /// The tag and count of a list; libnetcdf also wants an absent list (tag 0)
        /// to have no elements.
        fn list(&mut self, tag: u64) -> std::result::Result<u64, LayoutStop> {
            let t = self.u32()?;
            let n = self.count()?;
            match (t, n) {
                (0, 0) => Ok(0),
                (t, n) if t == tag => Ok(n),
                _ => Err(LayoutStop::Bad),
            }
        }
        fn attrs(&mut self) -> std::result::Result<(), LayoutStop> {
            let n = self.list(0x0C)?;
            for _ in 0..n {
                self.name()?;
                let size = match self.u32()? {
                    1 | 2 | 7 => 1,
                    3 | 8 => 2,
                    4 | 5 | 9 => 4,
                    6 | 10 | 11 => 8,
                    _ => return Err(LayoutStop::Bad),
                };
                let bytes = self.count()?.checked_mul(size).ok_or(LayoutStop::Bad)?;
                let bytes = usize::try_from(bytes).map_err(|_| LayoutStop::Bad)?;
                self.take(bytes.checked_add((4 - bytes % 4) % 4).ok_or(LayoutStop::Bad)?)?;
            }
            Ok(())
        }
    }
    let mut c = C { b, i: 4, version };
    let numrecs = c.count()?;
    let mut dims = Vec::new();
    for _ in 0..c.list(0x0A)? {
        c.name()?;
        dims.push(c.count()?);
    }
    c.attrs()?;
    let mut vars = Vec::new();
    let mut var_shapes = Vec::new();
    for _ in 0..c.list(0x0B)? {
        c.name()?;
        let rank = c.count()?;
        if rank > 1024 {
            return Err(LayoutStop::Bad);
        }
        let mut record = false;
        let mut ids = Vec::new();
        for k in 0..rank {
            let id = c.count()?;
            let d = usize::try_from(id).unwrap_or(usize::MAX);
            if k == 0 && dims.get(d) == Some(&0) {
                record = true;
            }
            ids.push(id);
        }
        c.attrs()?;
        let t = c.u32()?;
        let vsize = c.count()?;
        let begin = c.offset()?;
        vars.push((record, vsize, begin));
        var_shapes.push((ids, t));
    }
    let streaming = version != 5 && numrecs == 0xFFFF_FFFF;
    Ok(ClassicLayout {
        numrecs: if streaming { 0 } else { numrecs },
        streaming,
        vars,
        header_len: c.i as u64,
        dims,
        var_shapes,
    })
}

// ---------------------------------------------------------------------------------
// NetCDF-4 (HDF5), as libnetcdf 4.9 maps it (libhdf5/hdf5open.c)
// ---------------------------------------------------------------------------------

/// Attributes libnetcdf never shows (`NC_reserved` of libsrc4/nc4internal.c).
const HIDDEN_ATTRIBUTES: &[&str] = &[
    "CLASS",
    "DIMENSION_LIST",
    "NAME",
    "REFERENCE_LIST",
    "_ARRAY_DIMENSIONS",
    "_Codecs",
    "_Format",
    "_IsNetcdf4",
    "_NCProperties",
    "_NCZARR_ATTR",
    "_Netcdf4Coordinates",
    "_Netcdf4Dimid",
    "_SuperblockVersion",
    "_nc3_strict",
];

/// The `NAME` of a dimension scale that is a dimension but not a variable.
const DIM_WITHOUT_VARIABLE: &str = "This is a netCDF dimension but not a netCDF variable";

/// The prefix of a variable stored under another name than its own, because a
/// dimension of its name is not its coordinate.
const NON_COORD_PREPEND: &str = "_nc4_non_coord_";

/// A dimension, as libnetcdf builds it from a dimension scale.
struct Dim {
    id: i32,
    name: String,
    /// Length of the scale (the length of a fixed dimension).
    len: u64,
    unlimited: bool,
    /// Object header address of the scale.
    address: u64,
}

/// Where a variable's dimensions come from.
enum DimRefs {
    /// Dimension ids (`_Netcdf4Coordinates`, or the scale a coordinate variable is).
    Ids(Vec<i32>),
    /// Addresses of the attached dimension scales (`DIMENSION_LIST`).
    Scales(Vec<u64>),
}

/// Size and number of the blocks of a NetCDF-4 file kept while reading it.
const BLOCK_SIZE: usize = 64 << 10;
const BLOCKS: usize = 64;

fn netcdf4(src: &Src<'_>) -> R<FileInfo> {
    let path = src.path;
    let have = src.raw.len();
    // Each variable is read once: no chunk cache.
    let options = hdf5_reader::OpenOptions { chunk_cache_bytes: 0, ..hdf5_reader::OpenOptions::default() };
    // Metadata and small chunks lie close together: read the file in blocks (a few
    // system calls, not one per object).
    let storage = Arc::new(hdf5_reader::BlockCacheStorage::new(src.raw.clone(), BLOCK_SIZE, BLOCKS));
    let h5 = match Hdf5File::from_storage_with_options(storage, options) {
        Ok(h5) => h5,
        Err(
            e @ (hdf5_reader::error::Error::UnexpectedEof { .. } | hdf5_reader::error::Error::OffsetOutOfBounds(_)),
        ) => {
            return Err(Miss::Corrupt(crate::Error::File {
                path: path.to_path_buf(),
                message: format!("the file is truncated: its HDF5 superblock cannot be read ({e})"),
            }))
        }
        Err(e) => return unsupported(format!("hdf5-reader: {e}")),
    };
    // libhdf5 refuses a file shorter than the end of file its superblock records.
    let sb = h5.superblock();
    let eof = sb.base_address.saturating_add(sb.eof_address);
    if sb.base_address == 0 && have < eof {
        return Err(Miss::Corrupt(crate::Error::File {
            path: path.to_path_buf(),
            message: format!("the file is truncated: its HDF5 superblock says {eof} bytes but it has {have}"),
        }));
    }
    // libhdf5 reads the field after the base address of a version 0/1 superblock as the
    // address of a superblock extension, which hdf5-reader does not read.
    if sb.version <= 1 && !is_undefined(sb.free_space_address, sb.offset_size) {
        return unsupported("version 0/1 superblock with an extension address");
    }
    if sb.version <= 1 && !is_undefined(sb.driver_info_address, sb.offset_size) {
        return unsupported("version 0/1 superblock with a driver information block");
    }
    let root = h5.root_group().map_err(miss("root group"))?;
    let root_header = h5.get_or_parse_header(root.address()).map_err(miss("root group"))?;
    // The links of the root group: only datasets are reproduced (named types are
    // user-defined types, sub-groups are groups).
    let mut compact_links = 0u64;
    let mut dense_links = 0u64;
    let mut crt_order = false;
    for m in &root_header.messages {
        match m {
            HdfMessage::Link(_) => compact_links += 1,
            HdfMessage::LinkInfo(li) => {
                crt_order = li.creation_order_tracked;
                if !is_undefined(li.fractal_heap_address, sb.offset_size) {
                    let heap = hdf5_reader::fractal_heap::FractalHeap::parse_at_storage(
                        h5.storage(),
                        li.fractal_heap_address,
                        sb.offset_size,
                        sb.length_size,
                    )
                    .map_err(miss("link heap"))?;
                    dense_links += heap.managed_objects_count + heap.huge_objects_count + heap.tiny_objects_count;
                }
            }
            HdfMessage::SymbolTable(_) => return unsupported("root group without link messages (HDF5 1.6 style)"),
            _ => {}
        }
    }
    let (groups, mut datasets) = root.members().map_err(miss("root group members"))?;
    if !groups.is_empty() {
        return unsupported("groups");
    }
    if compact_links + dense_links != datasets.len() as u64 {
        return unsupported("root group links other than datasets (named types, external links)");
    }
    // libnetcdf iterates the links in creation order when it is tracked (hdf5-reader
    // lists them so), in name order otherwise.
    if !crt_order {
        datasets.sort_by(|a, b| a.name().as_bytes().cmp(b.name().as_bytes()));
    }

    // The datasets, as read_dataset / read_scale / read_var see them.
    let mut dims: Vec<Dim> = Vec::new();
    let mut next_dimid = 0i32;
    let mut vars: Vec<(String, usize, DimRefs)> = Vec::new();
    for (i, ds) in datasets.iter().enumerate() {
        let attrs = ds.attributes();
        let attr = |name: &str| attrs.iter().find(|a| a.name == name);
        let is_scale = attr("CLASS").is_some_and(|a| a.read_string().is_ok_and(|s| s == "DIMENSION_SCALE"));
        let obj_name = ds.name().rsplit('/').next().unwrap_or(ds.name()).to_string();
        let ndims = ds.ndim();
        let mut scale_dim = None;
        if is_scale {
            if ndims == 0 {
                return unsupported(format!("scalar dimension scale '{obj_name}'"));
            }
            let id = match attr("_Netcdf4Dimid") {
                Some(a) => {
                    let id = int_attr(a).ok_or_else(|| Miss::Unsupported(format!("_Netcdf4Dimid of '{obj_name}'")))?;
                    if id >= next_dimid {
                        next_dimid = id + 1;
                    }
                    id
                }
                None => {
                    next_dimid += 1;
                    next_dimid - 1
                }
            };
            let dim_only =
                attr("NAME").is_some_and(|a| a.read_string().is_ok_and(|s| s.starts_with(DIM_WITHOUT_VARIABLE)));
            let unlimited = ds.max_dims().and_then(|m| m.first()) == Some(&u64::MAX);
            dims.push(Dim { id, name: obj_name.clone(), len: ds.shape()[0], unlimited, address: ds.address() });
            if dim_only {
                continue;
            }
            scale_dim = Some(id);
        }
        // read_var
        let name = match obj_name.strip_prefix(NON_COORD_PREPEND) {
            Some(rest) if !rest.is_empty() => rest.to_string(),
            _ => obj_name.clone(),
        };
        let coordinates = match attr("_Netcdf4Coordinates") {
            Some(a) => {
                let ids = int_attrs(a).ok_or_else(|| Miss::Unsupported(format!("_Netcdf4Coordinates of '{name}'")))?;
                if ids.len() != ndims {
                    return unsupported(format!("_Netcdf4Coordinates of '{name}' does not match its rank"));
                }
                Some(ids)
            }
            None => None,
        };
        // libnetcdf follows the attached scales of every variable that is not a scale
        // (get_attached_info), even when _Netcdf4Coordinates gives its dimensions.
        let attached = match (scale_dim, ndims, attr("DIMENSION_LIST")) {
            (None, 1.., Some(_)) => Some(scale_addresses(&h5, ds, ndims)?),
            _ => None,
        };
        let refs = if let (Some(id), 1) = (scale_dim, ndims) {
            // A 1-D coordinate variable: its own dimension (get_scale_info).
            DimRefs::Ids(vec![id])
        } else if let Some(ids) = coordinates {
            DimRefs::Ids(ids)
        } else if scale_dim.is_some() {
            return unsupported(format!("coordinate variable '{name}' of rank {ndims} without _Netcdf4Coordinates"));
        } else if ndims == 0 {
            DimRefs::Ids(vec![])
        } else {
            match attached {
                Some(addresses) => DimRefs::Scales(addresses),
                None => return unsupported(format!("'{name}' has no dimension scales (phony dimensions)")),
            }
        };
        vars.push((name, i, refs));
    }
    let mut ids: Vec<i32> = dims.iter().map(|d| d.id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return unsupported("two dimensions with the same id");
    }
    // Dimension ids of each variable (rec_match_dimscales: scales by object address).
    let mut var_dimids: Vec<Vec<i32>> = Vec::with_capacity(vars.len());
    for (name, _, refs) in &vars {
        var_dimids.push(match refs {
            DimRefs::Ids(ids) => {
                if let Some(bad) = ids.iter().find(|id| !dims.iter().any(|d| d.id == **id)) {
                    return unsupported(format!("'{name}' refers to an unknown dimension id {bad}"));
                }
                ids.clone()
            }
            DimRefs::Scales(addrs) => addrs
                .iter()
                .map(|a| {
                    dims.iter().find(|d| d.address == *a).map(|d| d.id).ok_or_else(|| {
                        Miss::Unsupported(format!("'{name}' refers to a dimension scale that is not a dimension"))
                    })
                })
                .collect::<R<_>>()?,
        });
    }
    // Lengths: fixed dimensions are as long as their scale; unlimited ones as the
    // longest variable along them (nc4_find_dim_len).
    let has_scalar_var = vars.iter().any(|(_, i, _)| datasets[*i].ndim() == 0);
    let mut dim_len: HashMap<i32, u64> = HashMap::new();
    for d in &dims {
        let len = if d.unlimited {
            let mut max = 0;
            for ((_, i, _), dimids) in vars.iter().zip(&var_dimids) {
                for (axis, id) in dimids.iter().enumerate() {
                    if *id == d.id {
                        max = max.max(datasets[*i].shape().get(axis).copied().unwrap_or(0));
                    }
                }
            }
            if max == 0 && has_scalar_var {
                return unsupported("empty unlimited dimension beside a scalar variable");
            }
            max
        } else {
            d.len
        };
        dim_len.insert(d.id, len);
    }

    let mut h = FileHeader::default();
    let root_attrs = root.attributes().map_err(miss("global attributes"))?;
    h.format =
        if root_attrs.iter().any(|a| a.name == "_nc3_strict") { "netcdf4_classic" } else { "netcdf4" }.to_string();
    for id in &ids {
        let Some(d) = dims.iter().find(|d| d.id == *id) else { continue };
        h.dims.push(Dimension { name: d.name.clone(), len: to_usize(dim_len[id])?, unlimited: d.unlimited });
    }
    h.attrs = visible_attrs(&h5, root.address(), &root_header, &root_attrs, &|| root.raw_attributes())?;
    let mut sources = Vec::with_capacity(vars.len());
    for ((name, i, _), dimids) in vars.iter().zip(&var_dimids) {
        let ds = &datasets[*i];
        let dtype =
            var_dtype(ds.dtype()).ok_or_else(|| Miss::Unsupported(format!("'{name}' of type {:?}", ds.dtype())))?;
        let mut vdims = Vec::with_capacity(dimids.len());
        let mut shape = Vec::with_capacity(dimids.len());
        for id in dimids {
            let Some(d) = dims.iter().find(|d| d.id == *id) else {
                return unsupported(format!("'{name}' refers to an unknown dimension"));
            };
            vdims.push(d.name.clone());
            shape.push(to_usize(dim_len[id])?);
        }
        let header = h5.get_or_parse_header(ds.address()).map_err(miss("variable header"))?;
        let attrs = visible_attrs(&h5, ds.address(), &header, &ds.attributes(), &|| ds.raw_attributes())?;
        let chunks = match ds.chunks() {
            Some(c) if !vdims.is_empty() => {
                if c.len() < vdims.len() {
                    return unsupported(format!("chunk shape of '{name}'"));
                }
                Some(c[..vdims.len()].iter().map(|&n| n as usize).collect())
            }
            _ => None,
        };
        let filters = header
            .messages
            .iter()
            .find_map(|m| match m {
                HdfMessage::FilterPipeline(p) if chunks.is_some() => {
                    Some(p.filters.iter().map(|f| Filter::from_id(u32::from(f.id))).collect())
                }
                _ => None,
            })
            .unwrap_or_default();
        h.vars.push(Variable { name: name.clone(), dtype, dims: vdims, shape, attrs, chunks, filters, joined: false });
        sources.push(*i);
    }
    let read_all = |v: &Variable| -> R<Option<Vec<f64>>> {
        let Some(k) = h_index(&vars, &v.name) else {
            return unsupported(format!("no dataset for '{}'", v.name));
        };
        let ds = &datasets[sources[k]];
        if v.shape.contains(&0) {
            return Ok(Data::with_capacity(v.dtype, 0).to_f64());
        }
        if ds.shape().iter().map(|&n| usize::try_from(n).unwrap_or(usize::MAX)).ne(v.shape.iter().copied()) {
            return unsupported(format!("'{}' is shorter than its unlimited dimension", v.name));
        }
        let n = v.shape.iter().product::<usize>();
        let err = |e: hdf5_reader::error::Error| Miss::Unsupported(format!("reading '{}': {e}", v.name));
        let data = match v.dtype {
            DataType::I8 => Data::I8(read_vec::<i8, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::U8 => Data::U8(read_vec::<u8, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::I16 => Data::I16(read_vec::<i16, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::U16 => Data::U16(read_vec::<u16, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::I32 => Data::I32(read_vec::<i32, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::U32 => Data::U32(read_vec::<u32, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::I64 => Data::I64(read_vec::<i64, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::U64 => Data::U64(read_vec::<u64, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::F32 => Data::F32(read_vec::<f32, _>(n, |b| ds.read_into(b)).map_err(err)?),
            DataType::F64 => Data::F64(read_vec::<f64, _>(n, |b| ds.read_into(b)).map_err(err)?),
            t => return unsupported(format!("reading '{}' of type {t:?}", v.name)),
        };
        Ok(data.to_f64())
    };
    let mut info = finish(h, &read_all)?;
    if !src.local {
        // files on object storage: their chunk tables go into the index too
        for (k, v) in info.header.vars.iter().enumerate().filter(|(_, v)| v.chunks.is_some()) {
            if let Ok(Some(t)) = crate::read::chunk_table(&h5, &datasets[sources[k]], v) {
                info.chunk_tables.push(t);
            }
        }
    }
    Ok(info)
}

fn h_index(vars: &[(String, usize, DimRefs)], name: &str) -> Option<usize> {
    vars.iter().position(|(n, _, _)| n == name)
}

fn is_undefined(addr: u64, offset_size: u8) -> bool {
    addr == u64::MAX || (offset_size < 8 && addr == (1u64 << (8 * u32::from(offset_size))) - 1)
}

/// A scalar integer attribute read as a C int (`H5Aread` with `H5T_NATIVE_INT`).
fn int_attr(a: &hdf5_reader::Attribute) -> Option<i32> {
    match int_attrs(a)?.as_slice() {
        [v] => Some(*v),
        _ => None,
    }
}

/// An integer attribute's values as C ints (only when they are 32-bit integers, so
/// that no conversion is involved).
fn int_attrs(a: &hdf5_reader::Attribute) -> Option<Vec<i32>> {
    match a.datatype {
        Datatype::FixedPoint { size: 4, signed: true, .. } if a.shape.len() <= 1 => a.read_1d::<i32>().ok(),
        _ => None,
    }
}

/// The object addresses of the scales attached to each axis of a variable, as
/// libnetcdf's `H5DSiterate_scales` visitor leaves them: it visits every scale of
/// the axis (each must open) and keeps the last.
fn scale_addresses(h5: &Hdf5File, ds: &hdf5_reader::Dataset, ndims: usize) -> R<Vec<u64>> {
    let a = ds.attribute("DIMENSION_LIST").map_err(miss("DIMENSION_LIST"))?;
    let offset_size = h5.superblock().offset_size;
    let entry = 4 + usize::from(offset_size) + 4;
    if a.shape.as_slice() != [ndims as u64] || a.raw_data.len() < ndims * entry {
        return unsupported(format!("DIMENSION_LIST of '{}'", ds.name()));
    }
    let mut out = Vec::with_capacity(ndims);
    for e in a.raw_data.chunks_exact(entry).take(ndims) {
        let bytes = ds.resolve_vlen_reference_bytes(e, usize::from(offset_size)).map_err(miss("DIMENSION_LIST"))?;
        let refs =
            hdf5_reader::reference::read_object_references(&bytes, offset_size).map_err(miss("DIMENSION_LIST"))?;
        for r in &refs {
            h5.get_or_parse_header(*r).map_err(miss("a dimension scale in DIMENSION_LIST"))?;
        }
        match refs.last() {
            Some(r) => out.push(*r),
            None => return unsupported(format!("an axis of '{}' without a dimension scale", ds.name())),
        }
    }
    Ok(out)
}

/// The type libnetcdf gives a variable (get_type_info2), for atomic types.
fn var_dtype(t: &Datatype) -> Option<DataType> {
    Some(match t {
        Datatype::String { size: StringSize::Fixed(1), .. } => DataType::Char,
        Datatype::String { .. } => DataType::Str,
        Datatype::VarLen { base, kind: VarLenKind::String, .. } if base.is_vlen_string_base() => DataType::Str,
        other => number_dtype(other)?,
    })
}

fn number_dtype(t: &Datatype) -> Option<DataType> {
    Some(match *t {
        Datatype::FixedPoint { size: 1, signed: true, .. } => DataType::I8,
        Datatype::FixedPoint { size: 1, signed: false, .. } => DataType::U8,
        Datatype::FixedPoint { size: 2, signed: true, .. } => DataType::I16,
        Datatype::FixedPoint { size: 2, signed: false, .. } => DataType::U16,
        Datatype::FixedPoint { size: 4, signed: true, .. } => DataType::I32,
        Datatype::FixedPoint { size: 4, signed: false, .. } => DataType::U32,
        Datatype::FixedPoint { size: 8, signed: true, .. } => DataType::I64,
        Datatype::FixedPoint { size: 8, signed: false, .. } => DataType::U64,
        Datatype::FloatingPoint { size: 4, .. } => DataType::F32,
        Datatype::FloatingPoint { size: 8, .. } => DataType::F64,
        _ => return None,
    })
}

/// The attributes libnetcdf shows of an object, in its order (creation order).
fn visible_attrs(
    h5: &Hdf5File,
    address: u64,
    header: &hdf5_reader::object_header::ObjectHeader,
    attrs: &[hdf5_reader::Attribute],
    raw: &dyn Fn() -> hdf5_reader::error::Result<Vec<hdf5_reader::RawAttribute>>,
) -> R<Vec<Attribute>> {
    // hdf5-reader gives a null dataspace and an empty array the same shape; the
    // attribute messages tell them apart (needed for empty strings only).
    let null_space = |name: &str| -> R<bool> {
        let raw = raw().map_err(miss("attributes"))?;
        Ok(raw.iter().any(|r| {
            r.name() == name
                && r.message().dataspace.dataspace_type == hdf5_reader::messages::dataspace::DataspaceType::Null
        }))
    };
    let mut out = Vec::with_capacity(attrs.len());
    for (i, a) in attrs.iter().enumerate() {
        if HIDDEN_ATTRIBUTES.contains(&a.name.as_str()) {
            continue;
        }
        if let Some(value) = attr_value(a, &null_space)? {
            out.push((i, Attribute { name: a.name.clone(), value }));
        }
    }
    if out.len() > 1 {
        if let Some(keys) = creation_order(h5, address, header, attrs)? {
            // libhdf5 sorts by creation index (a stable sort: equal keys keep their order).
            out.sort_by_key(|(i, _)| keys[*i]);
        }
    }
    Ok(out.into_iter().map(|(_, a)| a).collect())
}

/// The creation index of each of an object's attributes (as hdf5-reader lists them),
/// when libhdf5's creation-order iteration differs from hdf5-reader's listing order.
fn creation_order(
    h5: &Hdf5File,
    address: u64,
    header: &hdf5_reader::object_header::ObjectHeader,
    attrs: &[hdf5_reader::Attribute],
) -> R<Option<Vec<u64>>> {
    let mut compact = 0;
    let mut info = None;
    for m in &header.messages {
        match m {
            HdfMessage::Attribute(_) => compact += 1,
            HdfMessage::AttributeInfo(i) => info = Some(i),
            HdfMessage::Shared(_) => return unsupported("shared object header messages"),
            _ => {}
        }
    }
    let sb = h5.superblock();
    match info {
        Some(info) if !is_undefined(info.fractal_heap_address, sb.offset_size) => {
            if compact > 0 {
                return unsupported("both compact and dense attributes");
            }
            // The creation index of each attribute is in its record of the name index
            // (tracked or not), which libhdf5 sorts by when it has no creation-order
            // index. hdf5-reader lists the attributes by the creation-order index when
            // there is one (falling back to the name index if it cannot read it), so the
            // keys are found by name hash, whatever the listing order.
            let storage = h5.storage();
            let btree = hdf5_reader::btree_v2::BTreeV2Header::parse_at_storage(
                storage,
                info.btree_name_index_address,
                sb.offset_size,
                sb.length_size,
            )
            .map_err(miss("attribute name index"))?;
            let records = hdf5_reader::btree_v2::collect_btree_v2_records_storage(
                storage,
                &btree,
                sb.offset_size,
                sb.length_size,
                None,
                &[],
                None,
            )
            .map_err(miss("attribute name index"))?;
            if records.len() != attrs.len() {
                return unsupported("attribute name index does not match the attributes");
            }
            let mut by_hash: HashMap<u32, u64> = HashMap::with_capacity(records.len());
            for r in &records {
                let hdf5_reader::btree_v2::BTreeV2Record::AttributeNameHash { hash, creation_order, .. } = r else {
                    return unsupported("attribute name index record");
                };
                if by_hash.insert(*hash, u64::from(*creation_order)).is_some() {
                    return unsupported("attribute names with the same hash");
                }
            }
            let mut keys = Vec::with_capacity(attrs.len());
            for a in attrs {
                match by_hash.get(&hdf5_reader::checksum::jenkins_lookup3(a.name.as_bytes())) {
                    Some(k) => keys.push(*k),
                    None => return unsupported("attribute name index does not match the attributes"),
                }
            }
            Ok(Some(keys))
        }
        _ => {
            // Compact attributes.
            let order = compact_attr_order(h5, address)?;
            attrs
                .iter()
                .map(|a| match order.iter().find(|(n, _)| *n == a.name) {
                    Some((_, c)) => Ok(*c),
                    None => unsupported("attribute missing from its object header"),
                })
                .collect::<R<Vec<_>>>()
                .map(Some)
        }
    }
}

/// The value libnetcdf reads of an attribute (read_hdf5_att); `None` for an attribute
/// it leaves out (a type it does not know, such as references).
fn attr_value(a: &hdf5_reader::Attribute, null_space: &dyn Fn(&str) -> R<bool>) -> R<Option<AttrValue>> {
    let name = &a.name;
    let ndims = a.shape.len();
    let bad = |e: hdf5_reader::error::Error| Miss::Unsupported(format!("attribute '{name}': {e}"));
    let value = match &a.datatype {
        t @ (Datatype::FixedPoint { .. } | Datatype::FloatingPoint { .. }) => {
            if ndims > 1 {
                return unsupported(format!("attribute '{name}' of rank {ndims}"));
            }
            match number_dtype(t) {
                Some(DataType::I8) => AttrValue::I8(a.read_1d().map_err(bad)?),
                Some(DataType::U8) => AttrValue::U8(a.read_1d().map_err(bad)?),
                Some(DataType::I16) => AttrValue::I16(a.read_1d().map_err(bad)?),
                Some(DataType::U16) => AttrValue::U16(a.read_1d().map_err(bad)?),
                Some(DataType::I32) => AttrValue::I32(a.read_1d().map_err(bad)?),
                Some(DataType::U32) => AttrValue::U32(a.read_1d().map_err(bad)?),
                Some(DataType::I64) => AttrValue::I64(a.read_1d().map_err(bad)?),
                Some(DataType::U64) => AttrValue::U64(a.read_1d().map_err(bad)?),
                Some(DataType::F32) => AttrValue::F32(a.read_1d().map_err(bad)?),
                Some(DataType::F64) => AttrValue::F64(a.read_1d().map_err(bad)?),
                _ => return unsupported(format!("attribute '{name}' of type {t:?}")),
            }
        }
        Datatype::String { size: StringSize::Fixed(n), .. } => {
            let n = *n as usize;
            if ndims == 0 {
                // NC_CHAR: the string's bytes, trailing NULs dropped (as netcdf_io).
                let Some(bytes) = a.raw_data.get(..n) else {
                    return unsupported(format!("attribute '{name}' shorter than its type"));
                };
                let mut bytes = bytes.to_vec();
                while bytes.last() == Some(&0) {
                    bytes.pop();
                }
                AttrValue::Text(String::from_utf8_lossy(&bytes).into_owned())
            } else if a.shape == [0] && null_space(name)? {
                // A null dataspace: NC_CHAR of length 0.
                AttrValue::Text(String::new())
            } else {
                // An array of fixed-length strings: NC_STRING, each up to its first NUL.
                let count = a.num_elements().map_err(bad)?;
                let count = usize::try_from(count).or_else(|_| unsupported("attribute size"))?;
                if n == 0 || a.raw_data.len() < count.saturating_mul(n) {
                    return unsupported(format!("attribute '{name}' shorter than its type"));
                }
                AttrValue::Str(
                    a.raw_data
                        .chunks_exact(n)
                        .take(count)
                        .map(|s| {
                            let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
                            String::from_utf8_lossy(&s[..end]).into_owned()
                        })
                        .collect(),
                )
            }
        }
        Datatype::String { size: StringSize::Variable, padding, .. }
        | Datatype::VarLen { kind: VarLenKind::String, padding, .. } => {
            if let Datatype::VarLen { base, .. } = &a.datatype {
                if !base.is_vlen_string_base() {
                    return unsupported(format!("attribute '{name}' of type {:?}", a.datatype));
                }
            }
            // Strings up to their first NUL, as libnetcdf's C strings (and valid UTF-8,
            // where from_utf8_lossy changes nothing).
            if *padding != StringPadding::NullTerminate {
                return unsupported(format!("attribute '{name}': variable-length strings not NUL-terminated"));
            }
            match &a.decoded_strings {
                Some(v) => AttrValue::Str(v.clone()),
                None => return unsupported(format!("attribute '{name}': strings not decoded")),
            }
        }
        // libnetcdf cannot type these and leaves the attribute out.
        Datatype::Reference { .. } | Datatype::Bitfield { .. } => return Ok(None),
        t => return unsupported(format!("attribute '{name}' of user-defined type {t:?}")),
    };
    Ok(Some(value))
}

/// The order in which libhdf5 iterates the compact attributes of the object at
/// `address` by creation order: `(name, key)`, to sort by key (a stable sort). When
/// the (version 2) header tracks creation order the key is the creation index;
/// otherwise all indices are 0 and libhdf5's (stable) sort keeps the order of its
/// message table, which follows the header's chunks in the order their continuation
/// messages appear; the key is then that position. hdf5-reader lists the messages
/// by its own walk of the chunks (the last continuation first), which is neither.
fn compact_attr_order(h5: &Hdf5File, address: u64) -> R<Vec<(String, u64)>> {
    let storage = h5.storage();
    let sb = h5.superblock();
    let (offset_size, length_size) = (usize::from(sb.offset_size), usize::from(sb.length_size));
    let read = |at: u64, len: usize| -> R<Vec<u8>> {
        let at = sb.base_address.checked_add(at).ok_or_else(|| Miss::Unsupported("object header address".into()))?;
        storage.read_range(at, len).map(|b| b.as_ref().to_vec()).map_err(miss("object header"))
    };
    let uint = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    let available = usize::try_from(storage.len().saturating_sub(address)).unwrap_or(usize::MAX);
    let start = read(address, 16.min(available))?;
    // (version 2, creation order tracked)
    let (v2, tracked, first) = if start.get(..4) == Some(b"OHDR".as_slice()) {
        let flags = start.get(5).copied().unwrap_or(0);
        let pos = 6 + if flags & 0x20 != 0 { 16 } else { 0 } + if flags & 0x10 != 0 { 4 } else { 0 };
        let size_len = 1usize << (flags & 0x03);
        let prefix = read(address, pos + size_len)?;
        let len = usize::try_from(uint(&prefix[pos..pos + size_len])).or_else(|_| unsupported("object header size"))?;
        (true, flags & 0x04 != 0, (address + (pos + size_len) as u64, len))
    } else if start.first() == Some(&1) && start.len() == 16 {
        let len = usize::try_from(uint(&start[8..12])).or_else(|_| unsupported("object header size"))?;
        (false, false, (address + 16, len))
    } else {
        return unsupported("object header version");
    };
    let mut chunks = vec![first];
    let mut order = Vec::new();
    let mut k = 0;
    while k < chunks.len() {
        if k > 1024 {
            return unsupported("object header continuation loop");
        }
        let (at, len) = chunks[k];
        k += 1;
        let bytes = read(at, len)?;
        let (mut i, end) = match (v2, k) {
            (false, _) | (true, 1) => (0, bytes.len()),
            (true, _) => {
                if bytes.get(..4) != Some(b"OCHK".as_slice()) {
                    return unsupported("object header continuation without OCHK");
                }
                // The messages, then a checksum.
                (4, bytes.len().saturating_sub(4))
            }
        };
        let envelope = match (v2, tracked) {
            (false, _) => 8,
            (true, true) => 6,
            (true, false) => 4,
        };
        while i + envelope <= end {
            let (kind, size, mflags, crt) = if v2 {
                let crt = if tracked { u64::from(u16::from_le_bytes([bytes[i + 4], bytes[i + 5]])) } else { 0 };
                (u16::from(bytes[i]), usize::from(u16::from_le_bytes([bytes[i + 1], bytes[i + 2]])), bytes[i + 3], crt)
            } else {
                let kind = u16::from_le_bytes([bytes[i], bytes[i + 1]]);
                (kind, usize::from(u16::from_le_bytes([bytes[i + 2], bytes[i + 3]])), bytes[i + 4], 0)
            };
            let data = bytes
                .get(i + envelope..i + envelope + size)
                .ok_or_else(|| Miss::Unsupported("object header message".into()))?;
            i += envelope + size;
            match kind {
                0x0C => {
                    if mflags & 0x02 != 0 {
                        return unsupported("shared attribute message");
                    }
                    let (name_at, name_len) = match data.first() {
                        Some(1) | Some(2) => (8, data.get(2..4).map(uint)),
                        Some(3) => (9, data.get(2..4).map(uint)),
                        _ => return unsupported("attribute message version"),
                    };
                    let name_len = usize::try_from(name_len.unwrap_or(0)).unwrap_or(0);
                    let Some(raw) = data.get(name_at..name_at + name_len) else {
                        return unsupported("attribute message name");
                    };
                    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                    let key = if tracked { crt } else { order.len() as u64 };
                    order.push((String::from_utf8_lossy(&raw[..end]).into_owned(), key));
                }
                0x10 => {
                    let (Some(o), Some(l)) =
                        (data.get(..offset_size), data.get(offset_size..offset_size + length_size))
                    else {
                        return unsupported("continuation message");
                    };
                    let len = usize::try_from(uint(l)).or_else(|_| unsupported("continuation length"))?;
                    chunks.push((uint(o), len));
                }
                _ => {}
            }
        }
    }
    Ok(order)
}
