//! The NetCDF-3 classic, 64-bit offset and CDF-5 header: where each variable's data lies
//! in the file. Used to check that a file holds all the data its header promises (a
//! truncated file would otherwise read as fill values) and to read data directly.

use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Layout of one variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarLayout {
    pub name: String,
    /// True when the variable spans the record (unlimited) dimension.
    pub record: bool,
    /// Bytes per (record of the) variable, padded.
    pub vsize: u64,
    /// File offset of the data (of the first record).
    pub begin: u64,
}

/// The data layout of a NetCDF-3 file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// 1 classic, 2 64-bit offset, 5 CDF-5.
    pub version: u8,
    pub numrecs: u64,
    /// Bytes of one record (all record variables).
    pub recsize: u64,
    pub vars: Vec<VarLayout>,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    version: u8,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end =
            self.i.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| Error::bad("header ends early"))?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u64> {
        let s = self.take(4)?;
        Ok(u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }
    /// A NON_NEG count: 4 bytes, 8 in CDF-5.
    fn count(&mut self) -> Result<u64> {
        if self.version == 5 {
            self.u64()
        } else {
            self.u32()
        }
    }
    fn offset(&mut self) -> Result<u64> {
        if self.version == 1 {
            self.u32()
        } else {
            self.u64()
        }
    }
    fn name(&mut self) -> Result<String> {
        let n = usize::try_from(self.count()?).map_err(|_| Error::bad("name too long"))?;
        if n > 1 << 16 {
            return Err(Error::bad("name too long"));
        }
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take((4 - n % 4) % 4)?;
        Ok(s)
    }
    fn type_size(t: u64) -> Result<u64> {
        Ok(match t {
            1 | 2 | 7 => 1,
            3 | 8 => 2,
            4 | 5 | 9 => 4,
            6 | 10 | 11 => 8,
            _ => return Err(Error::bad(format!("unknown type {t}"))),
        })
    }
    fn attrs(&mut self) -> Result<()> {
        let tag = self.u32()?;
        let n = self.count()?;
        if tag == 0 {
            return Ok(());
        }
        for _ in 0..n {
            self.name()?;
            let t = self.u32()?;
            let len = self.count()?;
            let bytes = len.checked_mul(Self::type_size(t)?).ok_or_else(|| Error::bad("attribute too large"))?;
            let bytes = usize::try_from(bytes).map_err(|_| Error::bad("attribute too large"))?;
            let padded = bytes.checked_add((4 - bytes % 4) % 4).ok_or_else(|| Error::bad("attribute too large"))?;
            self.take(padded)?;
        }
        Ok(())
    }
}

/// Parse the header of a NetCDF-3 file (None for other formats; reads at most the
/// first 64 MiB).
pub fn layout(path: &Path) -> Result<Option<Layout>> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 4];
    if f.read_exact(&mut magic).is_err() || &magic[..3] != b"CDF" {
        return Ok(None);
    }
    let mut b = magic.to_vec();
    f.take(MAX_HEADER).read_to_end(&mut b)?;
    parse(&b, path).map(Some)
}

/// The largest header read.
const MAX_HEADER: u64 = 64 << 20;

/// The header of a NetCDF-3 object of object storage (None for other formats), read
/// in a prefix that grows until it holds the header.
pub fn object_layout(obj: &crate::object::Object) -> Result<Option<Layout>> {
    let size = obj.size();
    let mut want = size.min(64 << 10);
    loop {
        let b = obj.fetch(0..want)?;
        if b.len() < 4 || &b[..3] != b"CDF" {
            return Ok(None);
        }
        match parse(&b, obj.url()) {
            Ok(l) => return Ok(Some(l)),
            Err(e) if want >= size.min(MAX_HEADER) => return Err(e),
            Err(_) => want = (want * 16).min(size).min(MAX_HEADER),
        }
    }
}

/// The header of a NetCDF-3 file held in memory (None for other formats).
pub fn layout_of_bytes(b: &[u8]) -> Result<Option<Layout>> {
    if b.len() < 4 || &b[..3] != b"CDF" {
        return Ok(None);
    }
    parse(b, Path::new("memory.nc")).map(Some)
}

/// Parse a header from the first bytes of a file (starting with `CDF`).
fn parse(b: &[u8], path: &Path) -> Result<Layout> {
    let version = b[3];
    let bad = |e: Error| Error::File { path: path.to_path_buf(), message: format!("invalid NetCDF-3 header: {e}") };
    let mut c = Cursor { b, i: 4, version };
    let numrecs = c.count().map_err(bad)?;
    let mut dims = Vec::new();
    let tag = c.u32().map_err(bad)?;
    let n = c.count().map_err(bad)?;
    if tag != 0 {
        for _ in 0..n {
            c.name().map_err(bad)?;
            dims.push(c.count().map_err(bad)?);
        }
    }
    c.attrs().map_err(bad)?;
    let mut vars = Vec::new();
    let tag = c.u32().map_err(bad)?;
    let n = c.count().map_err(bad)?;
    if tag != 0 {
        for _ in 0..n {
            let name = c.name().map_err(bad)?;
            let rank = c.count().map_err(bad)?;
            let mut record = false;
            for k in 0..rank {
                let d = usize::try_from(c.count().map_err(bad)?).unwrap_or(usize::MAX);
                if k == 0 && dims.get(d) == Some(&0) {
                    record = true;
                }
            }
            c.attrs().map_err(bad)?;
            c.u32().map_err(bad)?; // type
            let vsize = c.count().map_err(bad)?;
            let begin = c.offset().map_err(bad)?;
            vars.push(VarLayout { name, record, vsize, begin });
        }
    }
    let recsize = vars.iter().filter(|v| v.record).map(|v| v.vsize).sum();
    let numrecs = if numrecs == 0xFFFF_FFFF { 0 } else { numrecs };
    Ok(Layout { version, numrecs, recsize, vars })
}

impl Layout {
    /// The file size the header requires.
    pub fn required_size(&self) -> u64 {
        let ends = self.vars.iter().map(|v| match (v.record, self.numrecs) {
            (true, 0) => 0,
            (true, n) => v.begin + (n - 1) * self.recsize + v.vsize.min(self.recsize),
            (false, _) => v.begin + v.vsize,
        });
        ends.max().unwrap_or(0)
    }
}

/// Fail when a NetCDF-3 file is shorter than its header says.
pub fn check_complete(path: &Path) -> Result<()> {
    let Some(l) = layout(path)? else { return Ok(()) };
    let need = l.required_size();
    let have = std::fs::metadata(path)?.len();
    if have < need {
        return Err(Error::File {
            path: path.to_path_buf(),
            message: format!("the file is truncated: its header needs {need} bytes but it has {have}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_lengths_near_the_top_of_usize_are_refused() {
        // CDF-5, an attribute of 2^64-1 bytes (found by the object_headers fuzz target)
        let mut b = b"CDF\x05".to_vec();
        b.extend_from_slice(&0u64.to_be_bytes()); // numrecs
        b.extend_from_slice(&[0, 0, 0, 0]); // no dimensions
        b.extend_from_slice(&0u64.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 12]); // NC_ATTRIBUTE
        b.extend_from_slice(&1u64.to_be_bytes());
        b.extend_from_slice(&1u64.to_be_bytes()); // name of 1 byte
        b.extend_from_slice(b"a\0\0\0");
        b.extend_from_slice(&[0, 0, 0, 1]); // NC_BYTE
        b.extend_from_slice(&u64::MAX.to_be_bytes());
        let e = layout_of_bytes(&b).expect_err("refused");
        assert!(e.to_string().contains("too large") || e.to_string().contains("ends early"), "{e}");
    }

    #[test]
    fn layout_of_esgf_classic_files() {
        let base = std::env::var_os("CIRRUS_SHARED_DATA").map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
            std::path::PathBuf::from,
        );
        let dir = base.join("esgf/cmip5/output1/MOHC/HadGEM2-ES/rcp85/mon/atmos/Amon/r1i1p1/latest/tas");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("shared HadGEM2-ES files") {
            let p = e.expect("entry").path();
            let l = layout(&p).expect("parse").expect("classic");
            assert_eq!(l.version, 1);
            assert_eq!(l.required_size(), std::fs::metadata(&p).expect("meta").len(), "{}", p.display());
            check_complete(&p).expect("complete");
            n += 1;
        }
        assert_eq!(n, 13);
        let f = dir.join("tas_Amon_HadGEM2-ES_rcp85_r1i1p1_200512-203011.nc");
        let bytes = std::fs::read(&f).expect("read");
        let tmp = tempfile::tempdir().expect("tmp");
        let cut = tmp.path().join("cut.nc");
        std::fs::write(&cut, &bytes[..bytes.len() - 1500]).expect("write");
        assert!(check_complete(&cut).expect_err("truncated").to_string().contains("truncated"));
    }
}
