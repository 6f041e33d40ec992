//! The binary `.dods` response: the DDS, `Data:`, then the values in XDR, streamed in
//! blocks of bounded size.

use super::dds::dds;
use super::{shapes, Part, Request, View};
use crate::array::Data;
use crate::encode::xdr;
use crate::model::DataType;
use crate::read::Reader;
use crate::selection::Selection;
use crate::{Error, Result};
use std::io::Write;

/// Write the `.dods` response of a request to `w`, reading in blocks of about
/// `block_bytes`. Errors are reported before any byte is written when they come from
/// the request (bad names, ranges); storage errors may happen mid-stream.
pub fn write_dods(reader: &Reader, view: &View, req: &Request, w: &mut impl Write, block_bytes: usize) -> Result<()> {
    let header = dds(view, req)?;
    w.write_all(header.as_bytes())?;
    w.write_all(b"Data:\n")?;
    let mut buf = Vec::new();
    for shape in shapes(view, req)? {
        for p in &shape.parts() {
            write_part(reader, view, &req.sel, p, w, block_bytes, &mut buf)?;
        }
    }
    Ok(())
}

fn count_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::bad(format!("{n} values are too many for one DAP2 array (limit 2^32-1)")))
}

/// Split a block of chars whose last dimension is the string length into strings, as
/// the bytes of the file (a char need not be UTF-8).
fn chars_to_strings(bytes: &[u8], strlen: usize) -> Vec<&[u8]> {
    if strlen == 0 {
        return Vec::new();
    }
    bytes
        .chunks(strlen)
        .map(|c| {
            let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
            &c[..end]
        })
        .collect()
}

fn write_part(
    reader: &Reader,
    view: &View,
    sel: &Selection,
    p: &Part,
    w: &mut impl Write,
    block_bytes: usize,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let var = p.var;
    let n = p.slab.len();
    let is_char = var.dtype == DataType::Char;
    let strlen = if is_char { var.shape.last().copied().unwrap_or(0) } else { 1 };
    let is_string = is_char || var.dtype == DataType::Str;
    let scalar = p.slab.0.is_empty();
    if scalar {
        let mut arr = None;
        sel.read_blocks(reader, view.ds, p.vs, block_bytes, &mut |a| {
            arr = Some(a);
            Ok(())
        })?;
        let arr = arr.ok_or_else(|| Error::Internal(format!("no value read for '{}'", var.name)))?;
        return match (&arr.data, var.dtype) {
            (Data::Char(b), _) => {
                Ok(xdr::string(w, chars_to_strings(b, b.len().max(1)).first().copied().unwrap_or_default())?)
            }
            (Data::Str(v), _) => Ok(xdr::string(w, v.first().map_or(&b""[..], |s| s.as_bytes()))?),
            (Data::I8(v), _) => Ok(xdr::u32(w, u32::from(v[0].to_ne_bytes()[0]))?),
            (Data::U8(v), _) => Ok(xdr::u32(w, u32::from(v[0]))?),
            (d, _) => Ok(xdr::values(w, d, buf)?),
        };
    }
    let count = count_u32(n)?;
    xdr::u32(w, count)?;
    if !is_string {
        xdr::u32(w, count)?;
    }
    let block = block_bytes.max(strlen * 16);
    sel.read_blocks(reader, view.ds, p.vs, block, &mut |arr| {
        match &arr.data {
            Data::Char(b) => {
                for s in chars_to_strings(b, strlen) {
                    xdr::string(w, s)?;
                }
            }
            d => xdr::values(w, d, buf)?,
        }
        Ok(())
    })?;
    if matches!(var.dtype, DataType::I8 | DataType::U8) {
        xdr::pad(w, n)?;
    }
    Ok(())
}
