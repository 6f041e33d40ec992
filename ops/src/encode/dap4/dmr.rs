//! The DMR: an XML document declaring groups, dimensions, enumerations, variables with
//! their exact types, attributes and maps.

use super::{atomic_name, Selection};
use crate::encode::text::{f32_str, f64_str, xml_escape_attr};
use crate::model::{AttrValue, Attribute, DataType, Dataset, UserKind, Variable};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Options of a DMR document.
#[derive(Clone, Copy, Debug, Default)]
pub struct DmrOptions<'a> {
    /// Declare the data as little-endian (`_DAP4_Little_Endian`), as in a `.dap` response.
    pub little_endian: bool,
    /// CRC32 of each variable's data, declared as `_DAP4_Checksum_CRC32`.
    pub checksums: &'a [(String, u32)],
    /// The constraint expression, declared as `_dap4.ce` (as THREDDS does).
    pub constraint: &'a str,
}

/// Fully qualified name of a flattened name (`g/v` → `/g/v`).
pub(crate) fn fqn(name: &str) -> String {
    format!("/{name}")
}

fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(p, _)| p)
}

fn short(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, s)| s)
}

fn attr_values(v: &AttrValue) -> (&'static str, Vec<String>) {
    fn s<T: ToString>(v: &[T]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }
    match v {
        AttrValue::I8(x) => ("Int8", s(x)),
        AttrValue::U8(x) => ("UInt8", s(x)),
        AttrValue::I16(x) => ("Int16", s(x)),
        AttrValue::U16(x) => ("UInt16", s(x)),
        AttrValue::I32(x) => ("Int32", s(x)),
        AttrValue::U32(x) => ("UInt32", s(x)),
        AttrValue::I64(x) => ("Int64", s(x)),
        AttrValue::U64(x) => ("UInt64", s(x)),
        AttrValue::F32(x) => ("Float32", x.iter().map(|&f| f32_str(f)).collect()),
        AttrValue::F64(x) => ("Float64", x.iter().map(|&f| f64_str(f)).collect()),
        AttrValue::Text(t) => ("String", vec![t.clone()]),
        AttrValue::Str(x) => ("String", x.clone()),
    }
}

fn write_attr(out: &mut String, indent: &str, name: &str, t: &str, values: &[String]) {
    let _ = writeln!(out, "{indent}<Attribute name=\"{}\" type=\"{t}\">", xml_escape_attr(name));
    for v in values {
        let _ = writeln!(out, "{indent}    <Value value=\"{}\"/>", xml_escape_attr(v));
    }
    let _ = writeln!(out, "{indent}</Attribute>");
}

fn write_attrs(out: &mut String, indent: &str, ds: &Dataset, attrs: &[Attribute], var: Option<&Variable>) {
    for a in attrs {
        // An enum variable's fill value is written as the enumeration's label.
        if let (Some(v), "_FillValue") = (var, a.name.as_str()) {
            if let Some(UserKind::Enum { members, .. }) = ds.user_type(v.dtype).map(|u| &u.kind) {
                let labels: Vec<String> = a
                    .value
                    .as_f64s()
                    .unwrap_or_default()
                    .iter()
                    .map(|&x| {
                        members.iter().find(|(_, m)| *m as f64 == x).map_or_else(|| x.to_string(), |(n, _)| n.clone())
                    })
                    .collect();
                write_attr(out, indent, &a.name, "String", &labels);
                continue;
            }
        }
        let (t, values) = attr_values(&a.value);
        write_attr(out, indent, &a.name, t, &values);
    }
}

/// Declarations of one group's content, collected from the flattened model.
struct DmrWriter<'a> {
    ds: &'a Dataset,
    sel: &'a Selection,
    /// Dimension names referenced by selected variables as shared dimensions.
    used_dims: BTreeSet<String>,
    /// Enumerations used by selected variables.
    used_enums: BTreeSet<usize>,
    /// Groups that hold something selected (and their ancestors).
    used_groups: BTreeSet<String>,
    /// Variables in the order their data is sent (document order).
    order: Vec<String>,
    little_endian: bool,
    checksums: &'a [(String, u32)],
    constraint: &'a str,
}

impl DmrWriter<'_> {
    /// The size a shared dimension has in this response (its constrained size, if any).
    fn dim_size(&self, name: &str) -> usize {
        self.sel.dims.get(name).map_or_else(|| self.ds.dim(name).map_or(0, |d| d.len), super::DimSel::count)
    }

    /// True when dimension `d` of a selected variable is declared by reference to its
    /// shared dimension.
    fn shared(&self, var: &Variable, d: usize) -> bool {
        self.ds.dim(&var.dims[d]).is_some()
            && self.sel.vars.iter().find(|s| s.name == var.name).is_none_or(|s| s.is_shared(d))
    }

    /// Write the declaration of `name` of type `t` with its dimension lines; `extra`
    /// adds what goes inside after them (attributes, maps).
    fn decl(&self, out: &mut String, indent: &str, name: &str, t: DataType, dims: &[String], extra: &str) {
        let u = self.ds.user_type(t);
        let inner_indent = format!("{indent}    ");
        let mut inner = String::new();
        let field_decls = |fields: &[crate::model::Field], inner: &mut String| {
            for f in fields {
                let fdims: Vec<String> = f.dims.iter().map(|n| format!("<Dim size=\"{n}\"/>")).collect();
                self.decl(inner, &inner_indent, &f.name, f.dtype, &fdims, "");
            }
        };
        let (tag, head) = match u.map(|u| &u.kind) {
            Some(UserKind::Compound { fields }) => {
                field_decls(fields, &mut inner);
                ("Structure", format!("<Structure name=\"{}\"", xml_escape_attr(name)))
            }
            Some(UserKind::Vlen { base }) => {
                match self.ds.user_type(*base).map(|u| &u.kind) {
                    // a vlen of compounds: the sequence's fields are the compound's
                    Some(UserKind::Compound { fields }) => field_decls(fields, &mut inner),
                    _ => self.decl(&mut inner, &inner_indent, name, *base, &[], ""),
                }
                ("Sequence", format!("<Sequence name=\"{}\"", xml_escape_attr(name)))
            }
            Some(UserKind::Enum { .. }) => {
                let tname = u.map_or("", |u| u.name.as_str());
                ("Enum", format!("<Enum name=\"{}\" enum=\"{}\"", xml_escape_attr(name), xml_escape_attr(&fqn(tname))))
            }
            Some(UserKind::Opaque) => ("Opaque", format!("<Opaque name=\"{}\"", xml_escape_attr(name))),
            None => (atomic_name(t), format!("<{} name=\"{}\"", atomic_name(t), xml_escape_attr(name))),
        };
        for d in dims {
            let _ = writeln!(inner, "{inner_indent}{d}");
        }
        inner.push_str(extra);
        if inner.is_empty() {
            let _ = writeln!(out, "{indent}{head}/>");
        } else {
            let _ = write!(out, "{indent}{head}>\n{inner}{indent}</{tag}>\n");
        }
    }

    fn write_var(&mut self, out: &mut String, indent: &str, v: &Variable, counts: &[usize]) {
        let dims: Vec<String> = (0..v.dims.len())
            .map(|d| {
                if self.shared(v, d) {
                    format!("<Dim name=\"{}\"/>", xml_escape_attr(&fqn(&v.dims[d])))
                } else {
                    format!("<Dim size=\"{}\"/>", counts[d])
                }
            })
            .collect();
        let inner = format!("{indent}    ");
        let mut extra = String::new();
        write_attrs(&mut extra, &inner, self.ds, &v.attrs, Some(v));
        if let Some(chunks) = &v.chunks {
            let values: Vec<String> = chunks.iter().map(ToString::to_string).collect();
            write_attr(&mut extra, &inner, "_ChunkSizes", "UInt32", &values);
        }
        if let Some((_, crc)) = self.checksums.iter().find(|(n, _)| *n == v.name) {
            write_attr(&mut extra, &inner, "_DAP4_Checksum_CRC32", "UInt32", &[crc.to_string()]);
        }
        // Maps: coordinate variables of shared dimensions that are also selected.
        if !v.is_coordinate() {
            for (d, dim) in v.dims.iter().enumerate() {
                let is_sel = self.sel.vars.iter().any(|s| s.name == *dim);
                if is_sel && self.shared(v, d) && self.ds.var(dim).is_some_and(Variable::is_coordinate) {
                    let _ = writeln!(extra, "{inner}<Map name=\"{}\"/>", xml_escape_attr(&fqn(dim)));
                }
            }
        }
        self.decl(out, indent, short(&v.name), v.dtype, &dims, &extra);
        self.order.push(v.name.clone());
    }

    fn write_group(&mut self, out: &mut String, group: &str, indent: &str) {
        let ds = self.ds;
        for d in ds.dims.iter().filter(|d| parent(&d.name) == group && self.used_dims.contains(&d.name)) {
            let unlimited = if d.unlimited { " _edu.ucar.isunlimited=\"1\"" } else { "" };
            let _ = writeln!(
                out,
                "{indent}<Dimension name=\"{}\" size=\"{}\"{unlimited}/>",
                xml_escape_attr(short(&d.name)),
                self.dim_size(&d.name)
            );
        }
        for (i, t) in ds.types.iter().enumerate() {
            if let UserKind::Enum { base, members } = &t.kind {
                if parent(&t.name) == group && self.used_enums.contains(&i) {
                    let _ = writeln!(
                        out,
                        "{indent}<Enumeration name=\"{}\" basetype=\"{}\">",
                        xml_escape_attr(short(&t.name)),
                        atomic_name(*base)
                    );
                    for (n, v) in members {
                        let _ = writeln!(out, "{indent}    <EnumConst name=\"{}\" value=\"{v}\"/>", xml_escape_attr(n));
                    }
                    let _ = writeln!(out, "{indent}</Enumeration>");
                }
            }
        }
        // coordinate variables first: a <Map> must name a variable declared before it
        let mut sel: Vec<_> = self.sel.vars.iter().filter(|s| parent(&s.name) == group).cloned().collect();
        sel.sort_by_key(|s| !ds.var(&s.name).is_some_and(Variable::is_coordinate));
        for s in &sel {
            if let Some(v) = ds.var(&s.name) {
                let counts: Vec<usize> = match self.sel.var_dims(s, v) {
                    Ok(dims) => dims.iter().map(super::DimSel::count).collect(),
                    Err(_) => v.shape.clone(),
                };
                self.write_var(out, indent, v, &counts);
            }
        }
        let prefix = if group.is_empty() { String::new() } else { format!("{group}/") };
        let attrs: Vec<Attribute> = ds
            .attrs
            .iter()
            .filter(|a| parent(&a.name) == group)
            .map(|a| Attribute {
                name: a.name.strip_prefix(&prefix).unwrap_or(&a.name).to_string(),
                value: a.value.clone(),
            })
            .collect();
        write_attrs(out, indent, ds, &attrs, None);
        if group.is_empty() && !self.constraint.is_empty() {
            write_attr(out, indent, "_dap4.ce", "String", &[self.constraint.to_string()]);
        }
        if group.is_empty() && self.little_endian {
            write_attr(out, indent, "_DAP4_Little_Endian", "UInt8", &["1".to_string()]);
        }
        let subgroups: Vec<String> =
            ds.groups.iter().filter(|g| parent(g) == group && self.used_groups.contains(*g)).cloned().collect();
        for g in subgroups {
            let _ = writeln!(out, "{indent}<Group name=\"{}\">", xml_escape_attr(short(&g)));
            self.write_group(out, &g, &format!("{indent}    "));
            let _ = writeln!(out, "{indent}</Group>");
        }
    }
}

/// The DMR of a selection, and the names of the variables in the order their data
/// follows in a `.dap` response.
pub fn dmr(ds: &Dataset, sel: &Selection, opts: DmrOptions) -> (String, Vec<String>) {
    let mut w = DmrWriter {
        ds,
        sel,
        used_dims: BTreeSet::new(),
        used_enums: BTreeSet::new(),
        used_groups: BTreeSet::new(),
        order: vec![],
        little_endian: opts.little_endian,
        checksums: opts.checksums,
        constraint: opts.constraint,
    };
    let whole = super::is_whole(sel, ds);
    for s in &sel.vars {
        let Some(v) = ds.var(&s.name) else { continue };
        for d in 0..v.dims.len() {
            if w.shared(v, d) {
                w.used_dims.insert(v.dims[d].clone());
            }
        }
        let mut stack = vec![v.dtype];
        while let Some(t) = stack.pop() {
            match ds.user_type(t).map(|u| &u.kind) {
                Some(UserKind::Enum { .. }) => {
                    w.used_enums.insert(t.user_index().unwrap_or(0));
                }
                Some(UserKind::Compound { fields }) => stack.extend(fields.iter().map(|f| f.dtype)),
                Some(UserKind::Vlen { base }) => stack.push(*base),
                _ => {}
            }
        }
        let mut g = parent(&v.name);
        while !g.is_empty() {
            w.used_groups.insert(g.to_string());
            g = parent(g);
        }
    }
    if whole {
        // An unconstrained DMR declares everything, used or not.
        w.used_dims.extend(ds.dims.iter().map(|d| d.name.clone()));
        w.used_enums.extend(
            ds.types.iter().enumerate().filter(|(_, t)| matches!(t.kind, UserKind::Enum { .. })).map(|(i, _)| i),
        );
        w.used_groups.extend(ds.groups.iter().cloned());
    }
    let name = ds.id.rsplit('/').next().unwrap_or(&ds.id);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Dataset name=\"{}\" dapVersion=\"4.0\" dmrVersion=\"1.0\" \
xmlns=\"http://xml.opendap.org/ns/DAP/4.0#\" xmlns:dap=\"http://xml.opendap.org/ns/DAP/4.0#\">\n",
        xml_escape_attr(name)
    );
    let mut body = String::new();
    w.write_group(&mut body, "", "    ");
    out.push_str(&body);
    out.push_str("</Dataset>\n");
    (out, w.order)
}
