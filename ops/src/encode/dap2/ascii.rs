//! The `.ascii` response: the DDS, a separator, then each variable's values as text,
//! one row per innermost run, prefixed with its indices.

use super::dds::dds;
use super::{shapes, Part, Request, Shape, View};
use crate::array::Data;
use crate::encode::text::{f32_str, f64_str};
use crate::model::DataType;
use crate::read::Reader;
use crate::selection::Selection;
use crate::Result;
use std::io::Write;

fn texts(d: &Data, strlen: usize) -> Vec<String> {
    match d {
        Data::I8(v) => v.iter().map(ToString::to_string).collect(),
        Data::U8(v) => v.iter().map(ToString::to_string).collect(),
        Data::I16(v) => v.iter().map(ToString::to_string).collect(),
        Data::U16(v) => v.iter().map(ToString::to_string).collect(),
        Data::I32(v) => v.iter().map(ToString::to_string).collect(),
        Data::U32(v) => v.iter().map(ToString::to_string).collect(),
        Data::I64(v) => v.iter().map(ToString::to_string).collect(),
        Data::U64(v) => v.iter().map(ToString::to_string).collect(),
        Data::F32(v) => v.iter().map(|&x| f32_str(x)).collect(),
        Data::F64(v) => v.iter().map(|&x| f64_str(x)).collect(),
        Data::Char(b) => b
            .chunks(strlen.max(1))
            .map(|c| {
                let end = c.iter().position(|&x| x == 0).unwrap_or(c.len());
                format!("{:?}", String::from_utf8_lossy(&c[..end]))
            })
            .collect(),
        Data::Str(v) => v.iter().map(|s| format!("{s:?}")).collect(),
        Data::Values(v) => v.iter().map(|x| format!("{x:?}")).collect(),
    }
}

/// Write the `.ascii` response of a request.
pub fn write_ascii(reader: &Reader, view: &View, req: &Request, w: &mut impl Write, block_bytes: usize) -> Result<()> {
    w.write_all(dds(view, req)?.as_bytes())?;
    w.write_all(b"---------------------------------------------\n")?;
    for shape in shapes(view, req)? {
        let (prefix, parts) = match shape {
            Shape::Array(p) => (String::new(), vec![p]),
            Shape::Grid { array, maps } => {
                (format!("{}.", array.var.name), std::iter::once(array).chain(maps).collect())
            }
            Shape::Structure { name, members } => (format!("{name}."), members),
        };
        for p in &parts {
            write_part(reader, view, &req.sel, &prefix, p, w, block_bytes)?;
        }
    }
    Ok(())
}

fn write_part(
    reader: &Reader,
    view: &View,
    sel: &Selection,
    prefix: &str,
    p: &Part,
    w: &mut impl Write,
    block_bytes: usize,
) -> Result<()> {
    let shape = p.slab.shape();
    write!(w, "{prefix}{}", p.var.name)?;
    for n in &shape {
        write!(w, "[{n}]")?;
    }
    writeln!(w)?;
    let strlen = if p.var.dtype == DataType::Char { p.var.shape.last().copied().unwrap_or(1) } else { 1 };
    let row = shape.last().copied().unwrap_or(1).max(1);
    let mut values: Vec<String> = Vec::new();
    let mut emitted = 0usize;
    let flush = |values: &mut Vec<String>, w: &mut dyn Write, emitted: &mut usize| -> Result<()> {
        while values.len() >= row {
            let rest = values.split_off(row);
            // indices of the row
            let mut idx = Vec::new();
            let mut k = *emitted / row;
            for n in shape[..shape.len().saturating_sub(1)].iter().rev() {
                idx.push(k % n);
                k /= n;
            }
            idx.reverse();
            let label: String = idx.iter().map(|i| format!("[{i}]")).collect();
            if label.is_empty() {
                writeln!(w, "{}", values.join(", "))?;
            } else {
                writeln!(w, "{label}, {}", values.join(", "))?;
            }
            *emitted += row;
            *values = rest;
        }
        Ok(())
    };
    sel.read_blocks(reader, view.ds, p.vs, block_bytes.max(strlen * 16), &mut |arr| {
        values.extend(texts(&arr.data, strlen));
        flush(&mut values, w, &mut emitted)
    })?;
    writeln!(w)?;
    Ok(())
}
