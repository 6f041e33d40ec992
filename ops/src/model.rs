//! The dataset model: dimensions, variables and attributes as they are in the files,
//! with the joined (virtual) view of a multi-file dataset.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;
use std::time::SystemTime;

/// The element type of a variable or attribute, as NetCDF defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    /// `NC_CHAR`: one byte of text; arrays of it are fixed-length strings.
    Char,
    /// `NC_STRING`: variable-length strings.
    Str,
    /// A user-defined enumeration: values are of the enum's base integer type.
    /// The number indexes [`Dataset::types`].
    Enum(u32),
    /// A user-defined opaque type (fixed-size blobs).
    Opaque(u32),
    /// A user-defined compound type (a structure of fields).
    Compound(u32),
    /// A user-defined variable-length (ragged) type.
    Vlen(u32),
}

/// A user-defined NetCDF-4 type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserType {
    /// Name, with the path of the group that defines it (`g1/cloud_t`).
    pub name: String,
    /// Size of one element in memory, in bytes.
    pub size: usize,
    pub kind: UserKind,
}

/// What a user-defined type is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum UserKind {
    Enum { base: DataType, members: Vec<(String, i64)> },
    Opaque,
    Compound { fields: Vec<Field> },
    Vlen { base: DataType },
}

/// A field of a compound type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    /// Byte offset in the in-memory structure.
    pub offset: usize,
    pub dtype: DataType,
    /// Shape of an array field (empty for a scalar field).
    pub dims: Vec<usize>,
}

impl DataType {
    /// Size of one element in memory (for `Str`, a pointer-free estimate of 8 bytes;
    /// user-defined types: an estimate of 16, see [`UserType::size`]).
    pub fn size(self) -> usize {
        match self {
            DataType::I8 | DataType::U8 | DataType::Char => 1,
            DataType::I16 | DataType::U16 => 2,
            DataType::I32 | DataType::U32 | DataType::F32 => 4,
            DataType::I64 | DataType::U64 | DataType::F64 | DataType::Str => 8,
            DataType::Enum(_) | DataType::Opaque(_) | DataType::Compound(_) | DataType::Vlen(_) => 16,
        }
    }

    /// True for atomic types (numbers, chars and strings).
    pub fn is_atomic(self) -> bool {
        !matches!(self, DataType::Enum(_) | DataType::Opaque(_) | DataType::Compound(_) | DataType::Vlen(_))
    }

    /// The index of a user-defined type.
    pub fn user_index(self) -> Option<usize> {
        match self {
            DataType::Enum(i) | DataType::Opaque(i) | DataType::Compound(i) | DataType::Vlen(i) => Some(i as usize),
            _ => None,
        }
    }

    /// The CDL name of the type (`float`, `ushort`, ...).
    pub fn cdl_name(self) -> &'static str {
        match self {
            DataType::I8 => "byte",
            DataType::U8 => "ubyte",
            DataType::I16 => "short",
            DataType::U16 => "ushort",
            DataType::I32 => "int",
            DataType::U32 => "uint",
            DataType::I64 => "int64",
            DataType::U64 => "uint64",
            DataType::F32 => "float",
            DataType::F64 => "double",
            DataType::Char => "char",
            DataType::Str => "string",
            DataType::Enum(_) => "enum",
            DataType::Opaque(_) => "opaque",
            DataType::Compound(_) => "compound",
            DataType::Vlen(_) => "vlen",
        }
    }

    /// True for the numeric types.
    pub fn is_numeric(self) -> bool {
        self.is_atomic() && !matches!(self, DataType::Char | DataType::Str)
    }
}

/// The value of an attribute. In human-readable formats (JSON documents) it is its
/// values alone; in binary ones (the catalog index) the type is kept too.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// `NC_CHAR` text.
    Text(String),
    /// `NC_STRING` values.
    Str(Vec<String>),
}

macro_rules! attr_mirror {
    ($($v:ident($t:ty)),*) => {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Untagged<'a> { $($v(&'a $t)),* }
        #[derive(Serialize)]
        enum Tagged<'a> { $($v(&'a $t)),* }
        #[derive(Deserialize)]
        enum Owned { $($v($t)),* }
        impl Serialize for AttrValue {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    match self { $(AttrValue::$v(x) => Untagged::$v(x).serialize(s)),* }
                } else {
                    match self { $(AttrValue::$v(x) => Tagged::$v(x).serialize(s)),* }
                }
            }
        }
        impl<'de> Deserialize<'de> for AttrValue {
            /// Binary formats only (JSON values do not say their type).
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(match Owned::deserialize(d)? { $(Owned::$v(x) => AttrValue::$v(x)),* })
            }
        }
    };
}

attr_mirror!(
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Text(String),
    Str(Vec<String>)
);

impl AttrValue {
    /// The element type.
    pub fn dtype(&self) -> DataType {
        match self {
            AttrValue::I8(_) => DataType::I8,
            AttrValue::U8(_) => DataType::U8,
            AttrValue::I16(_) => DataType::I16,
            AttrValue::U16(_) => DataType::U16,
            AttrValue::I32(_) => DataType::I32,
            AttrValue::U32(_) => DataType::U32,
            AttrValue::I64(_) => DataType::I64,
            AttrValue::U64(_) => DataType::U64,
            AttrValue::F32(_) => DataType::F32,
            AttrValue::F64(_) => DataType::F64,
            AttrValue::Text(_) => DataType::Char,
            AttrValue::Str(_) => DataType::Str,
        }
    }

    /// Numeric values as f64 (None for text).
    pub fn as_f64s(&self) -> Option<Vec<f64>> {
        #[allow(clippy::cast_precision_loss)]
        Some(match self {
            AttrValue::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            AttrValue::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            AttrValue::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            AttrValue::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            AttrValue::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            AttrValue::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            AttrValue::I64(v) => v.iter().map(|&x| x as f64).collect(),
            AttrValue::U64(v) => v.iter().map(|&x| x as f64).collect(),
            AttrValue::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            AttrValue::F64(v) => v.clone(),
            AttrValue::Text(_) | AttrValue::Str(_) => return None,
        })
    }

    /// The first numeric value.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_f64s().and_then(|v| v.first().copied())
    }

    /// Text of a text attribute (`NC_CHAR`, or a single `NC_STRING`).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            AttrValue::Text(s) => Some(s),
            AttrValue::Str(v) if v.len() == 1 => Some(&v[0]),
            _ => None,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            AttrValue::I8(v) => v.len(),
            AttrValue::U8(v) => v.len(),
            AttrValue::I16(v) => v.len(),
            AttrValue::U16(v) => v.len(),
            AttrValue::I32(v) => v.len(),
            AttrValue::U32(v) => v.len(),
            AttrValue::I64(v) => v.len(),
            AttrValue::U64(v) => v.len(),
            AttrValue::F32(v) => v.len(),
            AttrValue::F64(v) => v.len(),
            AttrValue::Text(_) => 1,
            AttrValue::Str(v) => v.len(),
        }
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
}

/// Find an attribute by name.
pub fn find_attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|a| a.name == name).map(|a| &a.value)
}

/// A dimension. Names of dimensions in sub-groups are paths (`g1/d`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    pub len: usize,
    pub unlimited: bool,
}

/// An HDF5 filter of a chunked variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filter {
    Shuffle,
    Deflate,
    Fletcher32,
    /// Another filter, by its HDF5 id (szip, zstd, ...).
    Other(u32),
}

impl Filter {
    /// The filter of an HDF5 filter id.
    pub fn from_id(id: u32) -> Filter {
        match id {
            1 => Filter::Deflate,
            2 => Filter::Shuffle,
            3 => Filter::Fletcher32,
            other => Filter::Other(other),
        }
    }
}

/// A variable. Names of variables in sub-groups are paths (`g1/v`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    pub dtype: DataType,
    /// Dimension names, outermost first.
    pub dims: Vec<String>,
    /// Dimension lengths (of the joined dataset for joined variables).
    pub shape: Vec<usize>,
    pub attrs: Vec<Attribute>,
    /// Chunk shape in the (first) file, if chunked.
    pub chunks: Option<Vec<usize>>,
    /// The HDF5 filters of its chunks in the (first) file, in the order applied when
    /// writing (empty for contiguous, NetCDF-3 and unfiltered variables).
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// True when the variable spans the join dimension of a multi-file dataset.
    #[serde(default)]
    pub joined: bool,
}

impl Variable {
    /// The value of an attribute.
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        find_attr(&self.attrs, name)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a zero-size variable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when this is a coordinate variable (1-D, named like its dimension).
    pub fn is_coordinate(&self) -> bool {
        self.dims.len() == 1 && self.dims[0] == self.name
    }

    /// The short name (last path component).
    pub fn short_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// One file of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Path relative to its data root.
    pub rel: String,
    pub size: u64,
    pub mtime: SystemTime,
}

/// A change of time units, `value * factor + shift`, between two units of one
/// calendar (NcML's `timeUnitsChange`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rebase {
    pub factor: f64,
    pub shift: f64,
}

impl Rebase {
    /// The change from `from` to `to` (None when they differ in calendar).
    pub fn between(from: &crate::cf::TimeUnits, to: &crate::cf::TimeUnits) -> Option<Rebase> {
        (from.calendar == to.calendar).then(|| Rebase {
            factor: from.unit_seconds / to.unit_seconds,
            shift: (from.epoch_seconds() - to.epoch_seconds()) / to.unit_seconds,
        })
    }

    /// A value in the new units (non-finite values and fills beyond 1e30 unchanged).
    pub fn apply(&self, x: f64) -> f64 {
        if x.is_finite() && x.abs() < 1e30 {
            x * self.factor + self.shift
        } else {
            x
        }
    }
}

/// How the files of a multi-file dataset are joined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Join {
    /// The dimension along which files are concatenated (normally `time`).
    pub dim: String,
    /// Start index of each file along `dim`, plus the total length at the end.
    pub offsets: Vec<usize>,
    /// Leading records of each file left out because they repeat the previous file's
    /// last times (duplicated time steps at file boundaries).
    pub skip: Vec<usize>,
    /// Per file: how its time values are re-expressed in the dataset's time units (the
    /// first file's), None when its units are the same.
    pub rebase: Vec<Option<Rebase>>,
    /// The variables holding time values (the time coordinate, its bounds).
    pub rebased: Vec<String>,
}

impl Join {
    /// The file index holding global index `i` and the index in that file.
    pub fn locate(&self, i: usize) -> (usize, usize) {
        let f = self.offsets.partition_point(|&o| o <= i).saturating_sub(1);
        (f, i - self.offsets[f] + self.skip[f])
    }
}

/// A dataset: one file, or all files of one DRS dataset version joined along time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dataset {
    /// DRS dotted id, or the file path relative to its data root.
    pub id: String,
    pub title: String,
    /// DRS facets (`project`, `source_id`, `experiment_id`, ...) when the id is a DRS id.
    pub facets: Vec<(String, String)>,
    /// Index of the data root this dataset lives under.
    pub root: usize,
    pub files: Vec<SourceFile>,
    pub dims: Vec<Dimension>,
    pub vars: Vec<Variable>,
    pub attrs: Vec<Attribute>,
    /// Group paths (besides the root group), for NetCDF-4 files with groups.
    pub groups: Vec<String>,
    /// User-defined types (indexed by the number in [`DataType::Enum`] etc.).
    pub types: Vec<UserType>,
    pub join: Option<Join>,
    /// Problems found while loading that did not stop it (gaps, skipped variables).
    pub warnings: Vec<String>,
    /// A strong validator for HTTP caching, derived from the files' sizes and mtimes.
    pub etag: String,
    pub last_modified: SystemTime,
    /// Values of 1-D coordinate variables (time joined across files and rebased), as
    /// stored, kept from indexing so that reading them opens no file.
    #[serde(default)]
    pub coords: Vec<(String, Vec<f64>)>,
}

impl Dataset {
    /// A dataset of just these dimensions and variables (no files, id or attributes),
    /// for the CF helpers that look at a file's header or a handful of variables.
    pub fn of_vars(dims: Vec<Dimension>, vars: Vec<Variable>) -> Dataset {
        Dataset {
            id: String::new(),
            title: String::new(),
            facets: vec![],
            root: 0,
            files: vec![],
            dims,
            vars,
            attrs: vec![],
            groups: vec![],
            types: vec![],
            join: None,
            warnings: vec![],
            etag: String::new(),
            last_modified: SystemTime::UNIX_EPOCH,
            coords: vec![],
        }
    }

    /// The variable named `name`.
    pub fn var(&self, name: &str) -> Option<&Variable> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// The variable named `name`, or a not-found error.
    pub fn require_var(&self, name: &str) -> crate::Result<&Variable> {
        self.var(name)
            .ok_or_else(|| crate::Error::VariableNotFound { dataset: self.id.clone(), variable: name.to_string() })
    }

    /// The dimension named `name`.
    pub fn dim(&self, name: &str) -> Option<&Dimension> {
        self.dims.iter().find(|d| d.name == name)
    }

    /// The user-defined type of a `DataType::Enum/Opaque/Compound/Vlen`.
    pub fn user_type(&self, t: DataType) -> Option<&UserType> {
        t.user_index().and_then(|i| self.types.get(i))
    }

    /// The type values of `t` are stored as in memory: an enum's base type, else `t`.
    pub fn storage_type(&self, t: DataType) -> DataType {
        match self.user_type(t).map(|u| &u.kind) {
            Some(UserKind::Enum { base, .. }) => *base,
            _ => t,
        }
    }

    /// The value of a global attribute.
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        find_attr(&self.attrs, name)
    }

    /// A DRS facet value.
    pub fn facet(&self, name: &str) -> Option<&str> {
        self.facets.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The values of a 1-D coordinate variable kept from indexing.
    pub fn coord_values(&self, name: &str) -> Option<&[f64]> {
        self.coords.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}
