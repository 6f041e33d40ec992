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
use crate::selection::{Selection, VarSel};
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
        View::build(ds, false)
    }

    /// The view with every variable, also those DAP2 cannot carry: how a DAP2
    /// constraint names variables for a NetCDF file response, which can hold them.
    pub fn for_files(ds: &'a Dataset) -> View<'a> {
        View::build(ds, true)
    }

    fn build(ds: &'a Dataset, all_types: bool) -> View<'a> {
        let mut nodes = Vec::new();
        let mut omitted = Vec::new();
        for v in &ds.vars {
            if dap2_type(v.dtype).is_none() && !all_types {
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

/// One projected top-level variable, as the constraint expression gives it (slabs in
/// the variable's DAP2 shape).
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

/// A projected top-level variable of a [`Request`]: its parts are indices into the
/// selection's variables (a whole Grid: the array, then its maps).
#[derive(Clone, Debug, PartialEq)]
enum Group {
    Whole { var: String, parts: Vec<usize> },
    Members { grid: String, parts: Vec<usize> },
}

/// A DAP2 request in the engine's terms: the [`Selection`] of every array and map it
/// sends (each sliced on its own, as DAP2 allows), and how the projected top-level
/// variables group them, in dataset order.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub sel: Selection,
    groups: Vec<Group>,
}

impl Request {
    /// Every DAP2 variable, whole (an unconstrained request).
    pub fn all(view: &View) -> Result<Request> {
        let items: Vec<Item> = view
            .nodes
            .iter()
            .map(|n| {
                let (_, shape) = dap_dims(n.var());
                Item::Whole { var: n.var().name.clone(), slab: Hyperslab::full(shape) }
            })
            .collect();
        Request::new(view, &items)
    }

    /// The request of these projections: projections of one variable merge (a later
    /// whole variable replaces members; a member given twice takes the later slab),
    /// names and ranges are checked.
    pub fn new(view: &View, items: &[Item]) -> Result<Request> {
        let mut merged: Vec<Item> = Vec::new();
        for item in items {
            merge(&mut merged, item.clone());
        }
        let pos = |name: &str| view.nodes.iter().position(|n| n.var().name == name).unwrap_or(usize::MAX);
        merged.sort_by_key(|i| pos(i.name()));
        let mut sel = Selection::default();
        let mut add = |v: &Variable, slab: &Hyperslab| -> Result<usize> {
            let (_, shape) = dap_dims(v);
            let dv = Variable { dims: v.dims[..shape.len()].to_vec(), shape: shape.to_vec(), ..v.clone() };
            slab.check(&dv)?;
            let mut file = slab.clone();
            if v.dtype == DataType::Char && !v.dims.is_empty() {
                file.0.push(DimRange::full(*v.shape.last().unwrap_or(&0)));
            }
            sel.vars.push(VarSel::slab(&v.name, &file));
            Ok(sel.vars.len() - 1)
        };
        let mut groups = Vec::with_capacity(merged.len());
        for item in &merged {
            let node = view.node(item.name())?;
            groups.push(match (node, item) {
                (Node::Array(v), Item::Whole { slab, .. }) => {
                    Group::Whole { var: v.name.clone(), parts: vec![add(v, slab)?] }
                }
                (Node::Grid { array, maps }, Item::Whole { slab, .. }) => {
                    let mut parts = vec![add(array, slab)?];
                    for (d, m) in maps.iter().enumerate() {
                        let r = slab.0.get(d).copied().ok_or_else(|| Error::RankMismatch {
                            variable: array.name.clone(),
                            rank: maps.len(),
                            given: slab.0.len(),
                        })?;
                        parts.push(add(m, &Hyperslab(vec![r]))?);
                    }
                    Group::Whole { var: array.name.clone(), parts }
                }
                (Node::Array(v), Item::Members { members, .. }) => {
                    // `x.x` on a plain array is the array itself
                    let (_, slab) = members
                        .iter()
                        .find(|(m, _)| *m == v.name)
                        .ok_or_else(|| Error::bad(format!("'{}' is an Array, it has no members", v.name)))?;
                    Group::Whole { var: v.name.clone(), parts: vec![add(v, slab)?] }
                }
                (Node::Grid { array, maps }, Item::Members { members, .. }) => {
                    let mut parts = Vec::new();
                    // the array first, then the maps in order
                    for m in std::iter::once(array).chain(maps.iter()) {
                        if let Some((_, slab)) = members.iter().find(|(n, _)| *n == m.name) {
                            parts.push(add(m, slab)?);
                        }
                    }
                    Group::Members { grid: array.name.clone(), parts }
                }
            });
        }
        Ok(Request { sel, groups })
    }
}

fn merge(out: &mut Vec<Item>, item: Item) {
    let Some(pos) = out.iter().position(|i| i.name() == item.name()) else {
        out.push(item);
        return;
    };
    match (&mut out[pos], item) {
        (Item::Members { members, .. }, Item::Members { members: new, .. }) => {
            for (name, s) in new {
                match members.iter_mut().find(|(n, _)| *n == name) {
                    Some(m) => m.1 = s,
                    None => members.push((name, s)),
                }
            }
        }
        (Item::Whole { .. }, Item::Members { .. }) => {}
        (slot, whole @ Item::Whole { .. }) => *slot = whole,
    }
}

/// A resolved part of a request: a variable, its selection, and its DAP-shape slab.
pub(crate) struct Part<'a> {
    pub var: &'a Variable,
    pub vs: &'a VarSel,
    pub slab: Hyperslab,
}

/// How a projected variable is declared and sent.
pub(crate) enum Shape<'a> {
    Array(Part<'a>),
    Grid { array: Part<'a>, maps: Vec<Part<'a>> },
    Structure { name: &'a str, members: Vec<Part<'a>> },
}

impl<'a> Shape<'a> {
    /// The parts in the order their data is sent.
    pub fn parts(self) -> Vec<Part<'a>> {
        match self {
            Shape::Array(p) => vec![p],
            Shape::Grid { array, maps } => std::iter::once(array).chain(maps).collect(),
            Shape::Structure { members, .. } => members,
        }
    }
}

fn part<'a>(view: &View<'a>, sel: &'a Selection, k: usize) -> Result<Part<'a>> {
    let vs = sel.vars.get(k).ok_or_else(|| Error::Internal(format!("part {k} is not selected")))?;
    let var = view.ds.require_var(&vs.name)?;
    let (dims, _) = dap_dims(var);
    let ranges = sel
        .var_dims(vs, var)?
        .iter()
        .take(dims.len())
        .map(|d| d.range().ok_or_else(|| Error::Internal(format!("'{}' has several runs in DAP2", var.name))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Part { var, vs, slab: Hyperslab(ranges) })
}

/// The projected variables of a request, in dataset order, resolved into what is
/// declared and sent.
pub(crate) fn shapes<'a>(view: &View<'a>, req: &'a Request) -> Result<Vec<Shape<'a>>> {
    let parts = |ks: &[usize]| ks.iter().map(|&k| part(view, &req.sel, k)).collect::<Result<Vec<_>>>();
    req.groups
        .iter()
        .map(|g| match g {
            Group::Whole { var, parts: ks } => {
                let mut ps = parts(ks)?;
                match view.node(var)? {
                    Node::Grid { .. } if !ps.is_empty() => {
                        let array = ps.remove(0);
                        Ok(Shape::Grid { array, maps: ps })
                    }
                    _ => ps.pop().map(Shape::Array).ok_or_else(|| Error::Internal(format!("{var} has no part"))),
                }
            }
            Group::Members { grid, parts: ks } => {
                let ps = parts(ks)?;
                let Node::Grid { array, maps } = view.node(grid)? else {
                    return Err(Error::Internal(format!("{grid} is not a Grid")));
                };
                let complete = ps.len() == maps.len() + 1
                    && ps[0].var.name == array.name
                    && ps[1..].iter().enumerate().all(|(d, m)| m.slab.0.first() == ps[0].slab.0.get(d));
                if complete {
                    let mut ps = ps;
                    let array = ps.remove(0);
                    return Ok(Shape::Grid { array, maps: ps });
                }
                Ok(Shape::Structure { name: &array.name, members: ps })
            }
        })
        .collect()
}

/// Estimated size in bytes of the `.dods` response of a request.
pub fn response_size(view: &View, req: &Request) -> Result<u64> {
    let mut total = 0u64;
    for shape in shapes(view, req)? {
        for p in shape.parts() {
            let t = dap2_type(p.var.dtype).map_or(8, Dap2Type::wire_size);
            let t = if p.var.dtype == DataType::Char { p.var.shape.last().copied().unwrap_or(1) as u64 + 4 } else { t };
            total = total.saturating_add(8 + t.saturating_mul(p.slab.len() as u64));
        }
    }
    Ok(total)
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
