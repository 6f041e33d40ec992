//! The DAS (Dataset Attribute Structure).

use super::{dap2_name, dap2_type, Dap2Type, View};
use crate::encode::text::f64_str;
use crate::model::{AttrValue, Attribute, DataType, Variable};
use std::fmt::Write;

/// Quote a string value: backslashes and double quotes are escaped; newlines and
/// non-ASCII text are sent as they are.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// DAP2 type name and value texts of an attribute. Signed bytes are widened to Int16,
/// 64-bit integers become Float64 when exact (else String).
fn attr_texts(value: &AttrValue) -> (&'static str, Vec<String>) {
    fn nums<T: ToString>(v: &[T]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }
    #[allow(clippy::cast_precision_loss)]
    fn wide<T: Copy + Into<i128> + ToString>(v: &[T]) -> (&'static str, Vec<String>) {
        if v.iter().all(|&x| x.into().unsigned_abs() < (1u128 << 53)) {
            ("Float64", v.iter().map(|&x| (x.into() as f64).to_string()).collect())
        } else {
            ("String", v.iter().map(|x| quote(&x.to_string())).collect())
        }
    }
    match value {
        AttrValue::I8(v) => ("Int16", nums(v)),
        AttrValue::U8(v) => ("Byte", nums(v)),
        AttrValue::I16(v) => ("Int16", nums(v)),
        AttrValue::U16(v) => ("UInt16", nums(v)),
        AttrValue::I32(v) => ("Int32", nums(v)),
        AttrValue::U32(v) => ("UInt32", nums(v)),
        AttrValue::I64(v) => wide(v),
        AttrValue::U64(v) => wide(v),
        // Float32 values are written with the digits of their exact binary value, so that
        // clients comparing them as doubles with float32 data (pydap) find them equal.
        AttrValue::F32(v) => ("Float32", v.iter().map(|&x| f64_str(f64::from(x))).collect()),
        AttrValue::F64(v) => ("Float64", v.iter().map(|&x| f64_str(x)).collect()),
        AttrValue::Text(s) => ("String", vec![quote(s)]),
        AttrValue::Str(v) => ("String", v.iter().map(|s| quote(s)).collect()),
    }
}

/// A `_FillValue` converted to the variable's DAP2 type (libnetcdf rejects a mismatch;
/// a signed byte variable takes an Int16 fill value beside `_Unsigned "false"`).
fn fill_texts(var: &Variable, value: &AttrValue, signed_byte: bool) -> (&'static str, Vec<String>) {
    let Some(vals) = value.as_f64s() else {
        return attr_texts(value);
    };
    #[allow(clippy::cast_possible_truncation)]
    let ints = |wrap: fn(f64) -> f64| vals.iter().map(|&x| format!("{}", wrap(x) as i64)).collect::<Vec<_>>();
    match dap2_type(var.dtype) {
        Some(Dap2Type::Byte) if signed_byte => ("Int16", ints(|x| x)),
        Some(Dap2Type::Byte) => ("Byte", ints(|x| x.rem_euclid(256.0))),
        Some(Dap2Type::Float32) => {
            #[allow(clippy::cast_possible_truncation)]
            let v = vals.iter().map(|&x| f64_str(f64::from(x as f32))).collect();
            ("Float32", v)
        }
        Some(Dap2Type::Float64) => ("Float64", vals.iter().map(|&x| f64_str(x)).collect()),
        Some(t @ (Dap2Type::Int16 | Dap2Type::UInt16 | Dap2Type::Int32 | Dap2Type::UInt32)) => (t.name(), ints(|x| x)),
        _ => attr_texts(value),
    }
}

/// The `_Unsigned` value a variable needs so that clients restore its signedness:
/// DAP2 `Byte` is unsigned, and libnetcdf stores DAP2 data in a classic-model file
/// without unsigned types, so `byte` says "false" and `ubyte`/`ushort`/`uint` say
/// "true" (the THREDDS convention).
fn unsigned_flag(v: &Variable) -> Option<&'static str> {
    match v.dtype {
        DataType::I8 => Some("false"),
        DataType::U8 | DataType::U16 | DataType::U32 => Some("true"),
        _ => None,
    }
}

fn write_attrs(out: &mut String, indent: &str, attrs: &[Attribute], var: Option<&Variable>) {
    let declared = var.and_then(|v| v.attr("_Unsigned")).and_then(AttrValue::as_text).map(str::to_ascii_lowercase);
    let flag = var.and_then(unsigned_flag);
    let signed_byte = var.is_some_and(|v| v.dtype == DataType::I8) && declared.as_deref() != Some("true");
    for a in attrs {
        let (t, vals) = match var {
            Some(v) if a.name == "_FillValue" => fill_texts(v, &a.value, signed_byte),
            _ => attr_texts(&a.value),
        };
        if vals.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{indent}{t} {} {};", dap2_name(&a.name), vals.join(", "));
    }
    if let (Some(flag), None) = (flag, &declared) {
        let _ = writeln!(out, "{indent}String _Unsigned \"{flag}\";");
    }
}

/// The DAS text: one container per DAP2 variable, `NC_GLOBAL`, and `DODS_EXTRA`
/// naming the unlimited dimension (which libnetcdf uses to restore it).
pub fn das(view: &View) -> String {
    let mut out = String::from("Attributes {\n");
    for n in &view.nodes {
        let v = n.var();
        let _ = writeln!(out, "    {} {{", dap2_name(&v.name));
        write_attrs(&mut out, "        ", &v.attrs, Some(v));
        out.push_str("    }\n");
    }
    out.push_str("    NC_GLOBAL {\n");
    write_attrs(&mut out, "        ", &view.ds.attrs, None);
    out.push_str("    }\n");
    if let Some(d) = view.ds.dims.iter().find(|d| d.unlimited) {
        let _ = writeln!(out, "    DODS_EXTRA {{\n        String Unlimited_Dimension {};\n    }}", quote(&d.name));
    }
    out.push_str("}\n");
    out
}
