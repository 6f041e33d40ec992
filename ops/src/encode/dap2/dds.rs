//! The DDS (Dataset Descriptor Structure) of a selection.

use super::{dap2_name, dap2_type, dap_dims, escape_name, shapes, Part, Request, Shape, View};
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

/// The DDS text of a request (in dataset order), named after the dataset.
pub fn dds(view: &View, req: &Request) -> Result<String> {
    let mut out = String::from("Dataset {\n");
    for shape in shapes(view, req)? {
        match shape {
            Shape::Array(p) => decl(&mut out, "    ", &p),
            Shape::Grid { array, maps } => {
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
                    decl(&mut out, "        ", m);
                }
                let _ = writeln!(out, "    }} {};", dap2_name(name));
            }
        }
    }
    let _ = writeln!(out, "}} {};", escape_name(&view.ds.id));
    Ok(out)
}
