//! Writing NetCDF files (NetCDF-4 with compression, or classic 64-bit offset) through
//! libnetcdf, under the same process-wide lock as reading.
#![allow(unsafe_code)]

use super::data_ptr;
use crate::array::Data;
use crate::model::{AttrValue, DataType};
use crate::{Error, Result};
use netcdf_sys as nc;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};

/// The on-disk format of a written file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NetCDF-4 (HDF5): all types, groups, compression.
    Netcdf4,
    /// NetCDF-3 64-bit offset: byte, char, short, int, float, double only.
    Classic,
}

/// A NetCDF file being written (aborted on drop unless closed).
pub struct NcWriter {
    ncid: c_int,
    path: PathBuf,
    closed: bool,
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::bad(format!("name '{s}' contains a NUL byte")))
}

/// The libnetcdf type id of an atomic type.
pub fn xtype(t: DataType) -> Result<c_int> {
    Ok(match t {
        DataType::I8 => nc::NC_BYTE,
        DataType::U8 => nc::NC_UBYTE,
        DataType::I16 => nc::NC_SHORT,
        DataType::U16 => nc::NC_USHORT,
        DataType::I32 => nc::NC_INT,
        DataType::U32 => nc::NC_UINT,
        DataType::I64 => nc::NC_INT64,
        DataType::U64 => nc::NC_UINT64,
        DataType::F32 => nc::NC_FLOAT,
        DataType::F64 => nc::NC_DOUBLE,
        DataType::Char => nc::NC_CHAR,
        DataType::Str => nc::NC_STRING,
        other => {
            return Err(Error::Unsupported(format!("{} variables cannot be written to NetCDF here", other.cdl_name())))
        }
    })
}

impl NcWriter {
    /// Create (or overwrite) a file.
    pub fn create(path: &Path, format: Format) -> Result<NcWriter> {
        let c = cstring(&path.to_string_lossy())?;
        let mode = nc::NC_CLOBBER | if format == Format::Netcdf4 { nc::NC_NETCDF4 } else { nc::NC_64BIT_OFFSET };
        let mut ncid = -1;
        let code = {
            let _g = nc::libnetcdf_lock.lock();
            // SAFETY: valid C string and out-pointer.
            unsafe { nc::nc_create(c.as_ptr(), mode, &mut ncid) }
        };
        let w = NcWriter { ncid, path: path.to_path_buf(), closed: code != nc::NC_NOERR };
        w.check(code, "create")?;
        let mut old = 0;
        let _g = nc::libnetcdf_lock.lock();
        // SAFETY: valid ncid; data is always written in full, so no pre-fill is needed.
        w.check(unsafe { nc::nc_set_fill(ncid, nc::NC_NOFILL, &mut old) }, "set fill")?;
        Ok(w)
    }

    fn check(&self, code: c_int, what: &str) -> Result<()> {
        if code == nc::NC_NOERR {
            Ok(())
        } else {
            Err(Error::netcdf_write(&self.path, what, code))
        }
    }

    /// The id of the group at `path` (`""` for the root), created if needed.
    pub fn group(&mut self, path: &str) -> Result<c_int> {
        let mut id = self.ncid;
        if path.is_empty() {
            return Ok(id);
        }
        let _g = nc::libnetcdf_lock.lock();
        for part in path.split('/') {
            let c = cstring(part)?;
            let mut child = 0;
            // SAFETY: valid ids, C string and out-pointer.
            if unsafe { nc::nc_inq_grp_ncid(id, c.as_ptr(), &mut child) } != nc::NC_NOERR {
                // SAFETY: as above.
                self.check(unsafe { nc::nc_def_grp(id, c.as_ptr(), &mut child) }, "define group")?;
            }
            id = child;
        }
        Ok(id)
    }

    /// Define a dimension in group `grp` (None: unlimited).
    pub fn def_dim(&mut self, grp: c_int, name: &str, len: Option<usize>) -> Result<c_int> {
        let c = cstring(name)?;
        let mut id = 0;
        let _g = nc::libnetcdf_lock.lock();
        // SAFETY: valid id, C string and out-pointer.
        self.check(
            unsafe { nc::nc_def_dim(grp, c.as_ptr(), len.unwrap_or(nc::NC_UNLIMITED), &mut id) },
            &format!("dimension {name}"),
        )?;
        Ok(id)
    }

    /// Define a variable; returns its id.
    pub fn def_var(&mut self, grp: c_int, name: &str, t: DataType, dimids: &[c_int]) -> Result<c_int> {
        let c = cstring(name)?;
        let mut id = 0;
        let x = xtype(t)?;
        let _g = nc::libnetcdf_lock.lock();
        // SAFETY: valid ids, C string, dimid array and out-pointer.
        let code = unsafe { nc::nc_def_var(grp, c.as_ptr(), x, dimids.len() as c_int, dimids.as_ptr(), &mut id) };
        self.check(code, &format!("variable {name}"))?;
        Ok(id)
    }

    /// Compress (NetCDF-4 only) and chunk a variable.
    pub fn def_compression(
        &mut self,
        grp: c_int,
        varid: c_int,
        deflate: u8,
        shuffle: bool,
        chunks: Option<&[usize]>,
    ) -> Result<()> {
        let _g = nc::libnetcdf_lock.lock();
        if let Some(ch) = chunks {
            // SAFETY: chunk array has one entry per dimension of the variable.
            self.check(unsafe { nc::nc_def_var_chunking(grp, varid, nc::NC_CHUNKED, ch.as_ptr()) }, "chunking")?;
        }
        if deflate > 0 {
            // SAFETY: valid ids.
            let code = unsafe { nc::nc_def_var_deflate(grp, varid, c_int::from(shuffle), 1, c_int::from(deflate)) };
            self.check(code, "deflate")?;
        }
        Ok(())
    }

    /// Write an attribute (`varid` None: a group attribute).
    pub fn put_attr(&mut self, grp: c_int, varid: Option<c_int>, name: &str, value: &AttrValue) -> Result<()> {
        let c = cstring(name)?;
        let vid = varid.unwrap_or(nc::NC_GLOBAL);
        let _g = nc::libnetcdf_lock.lock();
        let code = match value {
            AttrValue::Text(s) => {
                // SAFETY: valid ids, name and a buffer of s.len() bytes.
                unsafe { nc::nc_put_att_text(grp, vid, c.as_ptr(), s.len(), s.as_ptr().cast()) }
            }
            AttrValue::Str(v) => {
                let cs: Vec<CString> =
                    v.iter().map(|s| CString::new(s.replace('\0', "")).unwrap_or_default()).collect();
                let ptrs: Vec<*const c_char> = cs.iter().map(|s| s.as_ptr()).collect();
                // SAFETY: ptrs holds v.len() valid C strings.
                unsafe { nc::nc_put_att_string(grp, vid, c.as_ptr(), ptrs.len(), ptrs.as_ptr().cast_mut()) }
            }
            other => {
                let mut data = attr_data(other);
                let n = data.len();
                let x = xtype(data.dtype())?;
                let p = data_ptr(&mut data);
                // SAFETY: buffer holds n values of type x.
                unsafe { nc::nc_put_att(grp, vid, c.as_ptr(), x, n, p.cast_const()) }
            }
        };
        self.check(code, &format!("attribute {name}"))
    }

    /// Leave define mode.
    pub fn enddef(&mut self) -> Result<()> {
        let _g = nc::libnetcdf_lock.lock();
        // SAFETY: valid ncid.
        self.check(unsafe { nc::nc_enddef(self.ncid) }, "end of definitions")
    }

    /// Write a block of values at `start` with shape `count`.
    pub fn put(&mut self, grp: c_int, varid: c_int, start: &[usize], count: &[usize], data: &Data) -> Result<()> {
        if count.iter().product::<usize>() == 0 {
            return Ok(());
        }
        let _g = nc::libnetcdf_lock.lock();
        let code = match data {
            Data::Str(v) => {
                let cs: Vec<CString> =
                    v.iter().map(|s| CString::new(s.replace('\0', "")).unwrap_or_default()).collect();
                let ptrs: Vec<*const c_char> = cs.iter().map(|s| s.as_ptr()).collect();
                // SAFETY: ptrs holds one C string per element of the block.
                unsafe { nc::nc_put_vara_string(grp, varid, start.as_ptr(), count.as_ptr(), ptrs.as_ptr().cast_mut()) }
            }
            other => {
                let mut d = other.clone();
                let p: *mut c_void = data_ptr(&mut d);
                // SAFETY: buffer holds prod(count) values of the variable's type.
                unsafe { nc::nc_put_vara(grp, varid, start.as_ptr(), count.as_ptr(), p.cast_const()) }
            }
        };
        self.check(code, "write")
    }

    /// Close the file, flushing everything.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        let _g = nc::libnetcdf_lock.lock();
        // SAFETY: valid ncid, closed once.
        let code = unsafe { nc::nc_close(self.ncid) };
        self.check(code, "close")
    }
}

impl Drop for NcWriter {
    fn drop(&mut self) {
        if !self.closed {
            let _g = nc::libnetcdf_lock.lock();
            // SAFETY: valid ncid, not yet closed.
            unsafe { nc::nc_abort(self.ncid) };
        }
    }
}

/// Numeric attribute values as a typed array.
fn attr_data(v: &AttrValue) -> Data {
    match v {
        AttrValue::I8(x) => Data::I8(x.clone()),
        AttrValue::U8(x) => Data::U8(x.clone()),
        AttrValue::I16(x) => Data::I16(x.clone()),
        AttrValue::U16(x) => Data::U16(x.clone()),
        AttrValue::I32(x) => Data::I32(x.clone()),
        AttrValue::U32(x) => Data::U32(x.clone()),
        AttrValue::I64(x) => Data::I64(x.clone()),
        AttrValue::U64(x) => Data::U64(x.clone()),
        AttrValue::F32(x) => Data::F32(x.clone()),
        AttrValue::F64(x) => Data::F64(x.clone()),
        AttrValue::Text(s) => Data::Char(s.as_bytes().to_vec()),
        AttrValue::Str(s) => Data::Str(s.clone()),
    }
}
