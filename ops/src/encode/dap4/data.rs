//! The `.dap` response: the DMR and the data in DAP4's chunked framing. Each chunk has a
//! 4-byte header (flags: 0x01 last, 0x02 error, 0x04 little-endian; 24-bit length).
//! Variables follow in DMR order, each followed by its CRC32 when checksums are on.

use super::{Selection, VarSel};
use crate::array::{Data, Value};
use crate::model::{DataType, Dataset, UserKind, Variable};
use crate::read::Reader;
use crate::{Error, Result};
use std::io::{self, Write};

const LAST: u8 = 0x01;
const ERROR: u8 = 0x02;
const LITTLE_ENDIAN: u8 = 0x04;
/// Payload bytes per data chunk (the format allows up to 2^24 - 1).
const CHUNK: usize = 1 << 20;

/// Writes DAP4 chunks to an inner writer: the DMR chunk first, then data chunks of at
/// most 1 MiB as data is written, then the last chunk (or an error chunk).
pub struct ChunkWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    flags: u8,
}

impl<W: Write> ChunkWriter<W> {
    /// A chunk writer for data in this machine's byte order.
    pub fn new(inner: W) -> Self {
        let flags = if cfg!(target_endian = "little") { LITTLE_ENDIAN } else { 0 };
        ChunkWriter { inner, buf: Vec::with_capacity(CHUNK), flags }
    }

    fn emit(&mut self, flags: u8, payload: &[u8]) -> io::Result<()> {
        let n = u32::try_from(payload.len()).unwrap_or(u32::MAX).min(0x00ff_ffff);
        let b = n.to_be_bytes();
        self.inner.write_all(&[flags, b[1], b[2], b[3]])?;
        self.inner.write_all(&payload[..n as usize])
    }

    /// Write the DMR chunk (must come first).
    pub fn dmr(&mut self, dmr: &str) -> io::Result<()> {
        let text = format!("{dmr}\r\n");
        let flags = self.flags;
        self.emit(flags, text.as_bytes())
    }

    /// Write the remaining data as the last chunk.
    pub fn finish(mut self) -> io::Result<W> {
        let rest = std::mem::take(&mut self.buf);
        let flags = self.flags | LAST;
        self.emit(flags, &rest)?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// End the response with an error chunk (after any data already written).
    pub fn fail(mut self, http_code: u16, message: &str) -> io::Result<W> {
        let rest = std::mem::take(&mut self.buf);
        if !rest.is_empty() {
            let flags = self.flags;
            self.emit(flags, &rest)?;
        }
        let xml = error_xml(http_code, message);
        let flags = self.flags | LAST | ERROR;
        self.emit(flags, xml.as_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// A DAP4 error document.
pub fn error_xml(http_code: u16, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error httpcode=\"{http_code}\">\n    <Message>{}</Message>\n</Error>\n",
        crate::encode::text::xml_escape(message)
    )
}

impl<W: Write> Write for ChunkWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            let room = CHUNK - self.buf.len();
            let n = room.min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.buf.len() == CHUNK {
                let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
                let flags = self.flags;
                self.emit(flags, &full)?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Passes bytes through while computing their CRC32.
struct Crc<'a, W: Write> {
    inner: &'a mut W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hasher.update(data);
        self.inner.write_all(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn atoms(w: &mut impl Write, d: &Data, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    if !d.extend_le(buf) {
        match d {
            Data::Str(v) => {
                for s in v {
                    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
                    buf.extend_from_slice(s.as_bytes());
                }
            }
            _ => return Err(io::Error::other("nested values in an atomic position")),
        }
    }
    w.write_all(buf)
}

/// Write one value of type `t` (see [`Value`]).
fn value(w: &mut impl Write, ds: &Dataset, v: &Value, t: DataType, buf: &mut Vec<u8>) -> io::Result<()> {
    match v {
        Value::Atoms(d) => atoms(w, d, buf),
        Value::List(items) => items.iter().try_for_each(|i| value(w, ds, i, t, buf)),
        Value::Opaque(b) => {
            w.write_all(&(b.len() as u64).to_le_bytes())?;
            w.write_all(b)
        }
        Value::Compound(fields) => {
            let Some(UserKind::Compound { fields: decl }) = ds.user_type(t).map(|u| &u.kind) else {
                return Err(io::Error::other("compound value of a non-compound type"));
            };
            fields.iter().zip(decl).try_for_each(|(fv, f)| value(w, ds, fv, f.dtype, buf))
        }
        Value::Vlen(items) => {
            let Some(UserKind::Vlen { base }) = ds.user_type(t).map(|u| &u.kind) else {
                return Err(io::Error::other("vlen value of a non-vlen type"));
            };
            let n = match items.as_ref() {
                Value::Atoms(d) => d.len(),
                Value::List(v) => v.len(),
                _ => 1,
            };
            w.write_all(&(n as u64).to_le_bytes())?;
            value(w, ds, items, *base, buf)
        }
    }
}

fn block(w: &mut impl Write, ds: &Dataset, var: &Variable, d: &Data, buf: &mut Vec<u8>) -> io::Result<()> {
    match d {
        Data::Values(items) => items.iter().try_for_each(|i| value(w, ds, i, var.dtype, buf)),
        other => atoms(w, other, buf),
    }
}

/// Write the selected values of one variable, in row-major order of the selection.
fn var_data(
    reader: &Reader,
    ds: &Dataset,
    sel: &Selection,
    s: &VarSel,
    w: &mut impl Write,
    block_bytes: usize,
) -> Result<()> {
    let var = ds.require_var(&s.name)?;
    let mut buf = Vec::new();
    sel.read_blocks(reader, ds, s, block_bytes, &mut |arr| Ok(block(w, ds, var, &arr.data, &mut buf)?))
}

/// Write the data of the selected variables (in `order`, the DMR document order), each
/// followed by its CRC32 when `checksums` is on. `w` receives the unframed data (wrap it
/// in a [`ChunkWriter`]).
pub fn write_dap(
    reader: &Reader,
    ds: &Dataset,
    sel: &Selection,
    order: &[String],
    w: &mut impl Write,
    checksums: bool,
    block_bytes: usize,
) -> Result<()> {
    for name in order {
        let s =
            sel.vars.iter().find(|s| s.name == *name).ok_or_else(|| Error::Internal(format!("{name} not selected")))?;
        let mut crc = Crc { inner: w, hasher: crc32fast::Hasher::new() };
        var_data(reader, ds, sel, s, &mut crc, block_bytes)?;
        let sum = crc.hasher.finalize();
        if checksums {
            w.write_all(&sum.to_le_bytes())?;
        }
    }
    Ok(())
}

/// The CRC32 of each selected variable's data (in `order`), by reading it once.
pub fn checksums(
    reader: &Reader,
    ds: &Dataset,
    sel: &Selection,
    order: &[String],
    block_bytes: usize,
) -> Result<Vec<(String, u32)>> {
    let mut out = Vec::with_capacity(order.len());
    let mut sink = io::sink();
    for name in order {
        let s =
            sel.vars.iter().find(|s| s.name == *name).ok_or_else(|| Error::Internal(format!("{name} not selected")))?;
        let mut crc = Crc { inner: &mut sink, hasher: crc32fast::Hasher::new() };
        var_data(reader, ds, sel, s, &mut crc, block_bytes)?;
        out.push((name.clone(), crc.hasher.finalize()));
    }
    Ok(out)
}
