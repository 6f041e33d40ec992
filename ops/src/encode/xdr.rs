//! XDR (RFC 4506) encoding of typed values, as DAP2 sends them: big-endian, 16-bit
//! integers widened to 32 bits, byte arrays padded to a multiple of four.

use crate::array::Data;
use std::io::{self, Write};

/// Write `n` zero bytes so that `len` bytes end on a 4-byte boundary.
pub fn pad(w: &mut impl Write, len: usize) -> io::Result<()> {
    let p = (4 - len % 4) % 4;
    w.write_all(&[0u8; 3][..p])
}

/// Write a u32.
pub fn u32(w: &mut impl Write, v: u32) -> io::Result<()> {
    w.write_all(&v.to_be_bytes())
}

/// Write an XDR string (length, bytes, padding).
pub fn string(w: &mut impl Write, s: &[u8]) -> io::Result<()> {
    u32(w, u32::try_from(s.len()).unwrap_or(u32::MAX))?;
    w.write_all(s)?;
    pad(w, s.len())
}

/// Write the values of a numeric block (no length prefix, no padding for bytes).
/// Strings and chars are written by the caller.
pub fn values(w: &mut impl Write, data: &Data, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    match data {
        Data::I8(v) => buf.extend(v.iter().map(|&x| x.to_ne_bytes()[0])),
        Data::U8(v) | Data::Char(v) => buf.extend_from_slice(v),
        Data::I16(v) => v.iter().for_each(|&x| buf.extend_from_slice(&i32::from(x).to_be_bytes())),
        Data::U16(v) => v.iter().for_each(|&x| buf.extend_from_slice(&u32::from(x).to_be_bytes())),
        Data::I32(v) => v.iter().for_each(|&x| buf.extend_from_slice(&x.to_be_bytes())),
        Data::U32(v) => v.iter().for_each(|&x| buf.extend_from_slice(&x.to_be_bytes())),
        Data::I64(v) => v.iter().for_each(|&x| buf.extend_from_slice(&x.to_be_bytes())),
        Data::U64(v) => v.iter().for_each(|&x| buf.extend_from_slice(&x.to_be_bytes())),
        Data::F32(v) => v.iter().for_each(|&x| buf.extend_from_slice(&x.to_be_bytes())),
        Data::F64(v) => v.iter().for_each(|&x| buf.extend_from_slice(&x.to_be_bytes())),
        Data::Str(v) => {
            for s in v {
                string(buf, s.as_bytes())?;
            }
        }
        Data::Values(_) => return Err(io::Error::other("user-defined types have no DAP2 encoding")),
    }
    w.write_all(buf)
}
