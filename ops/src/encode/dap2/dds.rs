//! The DDS (Dataset Descriptor Structure) of a selection.

use super::{check_part, dap2_name, dap2_type, dap_dims, escape_name, shape_of, Item, Part, Shape, View};
use crate::Result;
use std::fmt::Write;

fn decl(out: &mut String, indent: &str, p: &Part) {
    let (dims, _) = dap_dims(p.var);
    let t = dap2_type(p.var.dtype).map_or("Float64", |t| t.name());
    let _ = write!(out, "{indent}{t} {}", dap2_name(&p.var.name));
    for (d, r) in dims.iter().zip(&p.slab.0) {
        let _ = write!(out, "[{} = {}]", dap2_name(d), r.count);
    }
    out.push_str(";\n");
}

/// The DDS text of the items (in dataset order), named after the dataset.
pub fn dds(view: &View, items: &[Item]) -> Result<String> {
    let mut out = String::from("Dataset {\n");
    for item in ordered(view, items) {
        match shape_of(view, item)? {
            Shape::Array(p) => {
                check_part(&p)?;
                decl(&mut out, "    ", &p);
            }
            Shape::Grid { array, maps } => {
                check_part(&array)?;
                out.push_str("    Grid {\n      ARRAY:\n");
                decl(&mut out, "        ", &array);
                out.push_str("      MAPS:\n");
                for m in &maps {
                    decl(&mut out, "        ", m);
                }
                let _ = writeln!(out, "    }} {};", dap2_name(&array.var.name));
            }
            Shape::Structure { name, members } => {
                out.push_str("    Structure {\n");
                for m in &members {
                    check_part(m)?;
                    decl(&mut out, "        ", m);
                }
                let _ = writeln!(out, "    }} {};", dap2_name(name));
            }
        }
    }
    let _ = writeln!(out, "}} {};", escape_name(&view.ds.id));
    Ok(out)
}

/// Items in dataset order (DAP2 servers answer in the order of the dataset).
pub(crate) fn ordered<'i>(view: &View, items: &'i [Item]) -> Vec<&'i Item> {
    let pos = |name: &str| view.nodes.iter().position(|n| n.var().name == name).unwrap_or(usize::MAX);
    let mut v: Vec<&Item> = items.iter().collect();
    v.sort_by_key(|i| pos(i.name()));
    v
}
