//! OPeNDAP DAP2: how the dataset model appears in DAP2 (types, Grids), and the DDS,
//! DAS, binary (`.dods`) and ASCII responses of a selection.
//!
//! Mapping rules (documented in the README):
//! - `byte` (signed) is sent as `Byte` with `_Unsigned "false"` and an `Int16`
//!   `_FillValue`, the convention libnetcdf and THREDDS use; `ubyte` is `Byte`.
//! - `char` arrays are `String` arrays without their last (string length) dimension.
//! - `int64`/`uint64` variables cannot be carried by DAP2: they are left out of DAP2
//!   responses (DAP4 carries them); asking for one by name is a clear error.
//! - A variable whose every dimension has a coordinate variable is a `Grid`.

mod ascii;
mod das;
mod data;
mod dds;

pub use ascii::write_ascii;
pub use das::das;
pub use data::write_dods;
pub use dds::dds;

use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{DataType, Dataset, Variable};
use crate::{Error, Result};

/// The DAP2 atomic types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dap2Type {
    Byte,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Float32,
    Float64,
    String,
}

impl Dap2Type {
    /// The type's name in DDS and DAS documents.
    pub fn name(self) -> &'static str {
        match self {
            Dap2Type::Byte => "Byte",
            Dap2Type::Int16 => "Int16",
            Dap2Type::UInt16 => "UInt16",
            Dap2Type::Int32 => "Int32",
            Dap2Type::UInt32 => "UInt32",
            Dap2Type::Float32 => "Float32",
            Dap2Type::Float64 => "Float64",
            Dap2Type::String => "String",
        }
    }

    /// Bytes per value on the wire (strings: an estimate).
    pub fn wire_size(self) -> u64 {
        match self {
            Dap2Type::Byte => 1,
            Dap2Type::Float64 => 8,
            Dap2Type::String => 64,
            _ => 4,
        }
    }
}

/// The DAP2 type of a NetCDF type, None when DAP2 cannot carry it (64-bit integers).
pub fn dap2_type(t: DataType) -> Option<Dap2Type> {
    Some(match t {
        DataType::I8 | DataType::U8 => Dap2Type::Byte,
        DataType::I16 => Dap2Type::Int16,
        DataType::U16 => Dap2Type::UInt16,
        DataType::I32 => Dap2Type::Int32,
        DataType::U32 => Dap2Type::UInt32,
        DataType::F32 => Dap2Type::Float32,
        DataType::F64 => Dap2Type::Float64,
        DataType::Char | DataType::Str => Dap2Type::String,
        DataType::I64
        | DataType::U64
        | DataType::Enum(_)
        | DataType::Opaque(_)
        | DataType::Compound(_)
        | DataType::Vlen(_) => return None,
    })
}

/// The DAP2 dimensions of a variable (a char array loses its string-length dimension).
pub fn dap_dims(v: &Variable) -> (&[String], &[usize]) {
    if v.dtype == DataType::Char && !v.dims.is_empty() {
        let n = v.dims.len() - 1;
        (&v.dims[..n], &v.shape[..n])
    } else {
        (&v.dims, &v.shape)
    }
}

/// A top-level DAP2 variable of a dataset.
#[derive(Clone, Debug)]
pub enum Node<'a> {
    Array(&'a Variable),
    /// A variable with a coordinate variable for each dimension.
    Grid {
        array: &'a Variable,
        maps: Vec<&'a Variable>,
    },
}

impl<'a> Node<'a> {
    /// The variable holding the data.
    pub fn var(&self) -> &'a Variable {
        match self {
            Node::Array(v) | Node::Grid { array: v, .. } => v,
        }
    }
}

/// How a dataset looks in DAP2: its top-level variables in file order.
pub struct View<'a> {
    pub ds: &'a Dataset,
    pub nodes: Vec<Node<'a>>,
    /// Variables left out because DAP2 cannot carry their type.
    pub omitted: Vec<&'a Variable>,
}

impl<'a> View<'a> {
    /// The DAP2 view of a dataset.
    pub fn new(ds: &'a Dataset) -> View<'a> {
        let mut nodes = Vec::new();
        let mut omitted = Vec::new();
        for v in &ds.vars {
            if dap2_type(v.dtype).is_none() {
                omitted.push(v);
                continue;
            }
            let (dims, _) = dap_dims(v);
            let maps: Option<Vec<&Variable>> = if v.is_coordinate() || dims.is_empty() || v.dtype == DataType::Char {
                None
            } else {
                dims.iter()
                    .map(|d| {
                        ds.var(d).filter(|m| m.is_coordinate() && m.dtype.is_numeric() && dap2_type(m.dtype).is_some())
                    })
                    .collect()
            };
            nodes.push(match maps {
                Some(maps) => Node::Grid { array: v, maps },
                None => Node::Array(v),
            });
        }
        View { ds, nodes, omitted }
    }

    /// The node named `name`, or an error saying why there is none.
    pub fn node(&self, name: &str) -> Result<&Node<'a>> {
        let flat = |n: &str| n.replace('/', "_");
        if let Some(n) = self
            .nodes
            .iter()
            .find(|n| n.var().name == name)
            .or_else(|| self.nodes.iter().find(|n| flat(&n.var().name) == name))
        {
            return Ok(n);
        }
        if let Some(v) = self.omitted.iter().find(|v| v.name == name) {
            return Err(Error::bad(format!(
                "variable '{name}' has type {}, which DAP2 cannot represent; read it with DAP4 (the .dmr/.dap responses, or dap4:// URLs)",
                v.dtype.cdl_name()
            )));
        }
        Err(Error::VariableNotFound { dataset: self.ds.id.clone(), variable: name.to_string() })
    }
}

/// One projected top-level variable of a DAP2 request.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A whole Array or Grid; for a Grid the maps follow the array's slab.
    Whole { var: String, slab: Hyperslab },
    /// Some members of a Grid (array and/or maps), each with its own slab. Sent as a
    /// Grid when it amounts to a whole consistent Grid, else as a Structure.
    Members { grid: String, members: Vec<(String, Hyperslab)> },
}

impl Item {
    /// The top-level variable name.
    pub fn name(&self) -> &str {
        match self {
            Item::Whole { var, .. } => var,
            Item::Members { grid, .. } => grid,
        }
    }
}

/// The slab of one dimension of a map variable given the array's slab.
fn map_slab(array_slab: &Hyperslab, d: usize) -> Hyperslab {
    Hyperslab(vec![array_slab.0[d]])
}

/// A resolved part of an item: a variable and its (DAP-shape) slab.
pub(crate) struct Part<'a> {
    pub var: &'a Variable,
    pub slab: Hyperslab,
}

/// How an item is declared and sent.
pub(crate) enum Shape<'a> {
    Array(Part<'a>),
    Grid { array: Part<'a>, maps: Vec<Part<'a>> },
    Structure { name: &'a str, members: Vec<Part<'a>> },
}

/// Resolve an item against the view into what is declared and sent.
pub(crate) fn shape_of<'a>(view: &View<'a>, item: &Item) -> Result<Shape<'a>> {
    let node = view.node(item.name())?;
    match (node, item) {
        (Node::Array(v), Item::Whole { slab, .. }) => Ok(Shape::Array(Part { var: v, slab: slab.clone() })),
        (Node::Grid { array, maps }, Item::Whole { slab, .. }) => Ok(Shape::Grid {
            array: Part { var: array, slab: slab.clone() },
            maps: maps.iter().enumerate().map(|(d, m)| Part { var: m, slab: map_slab(slab, d) }).collect(),
        }),
        (Node::Array(v), Item::Members { members, .. }) => {
            // `x.x` on a plain array is the array itself
            let slab = members
                .iter()
                .find(|(m, _)| *m == v.name)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| Error::bad(format!("'{}' is an Array, it has no members", v.name)))?;
            Ok(Shape::Array(Part { var: v, slab }))
        }
        (Node::Grid { array, maps }, Item::Members { grid, members }) => {
            let find = |name: &str| members.iter().find(|(m, _)| m == name).map(|(_, s)| s.clone());
            let a = find(&array.name).map(|slab| Part { var: array, slab });
            let ms: Vec<Part> = maps.iter().filter_map(|m| find(&m.name).map(|slab| Part { var: m, slab })).collect();
            let complete = a.as_ref().is_some_and(|a| {
                ms.len() == maps.len() && ms.iter().enumerate().all(|(d, m)| m.slab == map_slab(&a.slab, d))
            });
            if complete {
                let Some(array) = a else {
                    return Err(Error::Internal("grid without array".into()));
                };
                return Ok(Shape::Grid { array, maps: ms });
            }
            let mut all: Vec<Part> = a.into_iter().collect();
            all.extend(ms);
            let name = view.nodes.iter().map(Node::var).find(|v| v.name == *grid).map_or("", |v| v.name.as_str());
            Ok(Shape::Structure { name, members: all })
        }
    }
}

/// A whole-variable item for every DAP2 variable (an unconstrained request).
pub fn all_items(view: &View) -> Vec<Item> {
    view.nodes
        .iter()
        .map(|n| {
            let (_, shape) = dap_dims(n.var());
            Item::Whole { var: n.var().name.clone(), slab: Hyperslab::full(shape) }
        })
        .collect()
}

/// Estimated size in bytes of the `.dods` response of these items.
pub fn response_size(view: &View, items: &[Item]) -> Result<u64> {
    let mut total = 0u64;
    for item in items {
        let parts = match shape_of(view, item)? {
            Shape::Array(p) => vec![p],
            Shape::Grid { array, maps } => std::iter::once(array).chain(maps).collect(),
            Shape::Structure { members, .. } => members,
        };
        for p in parts {
            let t = dap2_type(p.var.dtype).map_or(8, Dap2Type::wire_size);
            let t = if p.var.dtype == DataType::Char { p.var.shape.last().copied().unwrap_or(1) as u64 + 4 } else { t };
            total = total.saturating_add(8 + t.saturating_mul(p.slab.len() as u64));
        }
    }
    Ok(total)
}

/// Check the slab of a part against the variable's DAP shape.
pub(crate) fn check_part(p: &Part) -> Result<()> {
    let (dims, shape) = dap_dims(p.var);
    let v = Variable { dims: dims.to_vec(), shape: shape.to_vec(), ..p.var.clone() };
    p.slab.check(&v)
}

/// The file-shape slab of a part (a char array gets its full string dimension back).
pub(crate) fn file_slab(p: &Part) -> Hyperslab {
    let mut s = p.slab.clone();
    if p.var.dtype == DataType::Char && !p.var.dims.is_empty() {
        s.0.push(DimRange::full(*p.var.shape.last().unwrap_or(&0)));
    }
    s
}

/// The DAP2 name of a variable or dimension: DAP2 has no groups, so a path `g/v` is
/// flattened to `g_v`; then escaped.
pub fn dap2_name(name: &str) -> String {
    escape_name(&name.replace('/', "_"))
}

/// Escape a name for a DDS/DAS document: characters outside the DAP2 identifier set
/// become `%XX`.
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"_-+./!~*'".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
