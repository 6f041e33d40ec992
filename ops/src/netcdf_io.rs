//! A small safe layer over libnetcdf (netcdf-sys): open a file, read its header into
//! the dataset model, read strided hyperslabs. Every call holds the process-wide
//! library lock shared with the `netcdf` and `hdf5` crates; nothing here panics on a
//! bad file, every failure is an [`Error::ReadFailed`] with libnetcdf's status as its source.
#![allow(unsafe_code)]

pub mod chunk_writer;
pub mod writer;

use crate::array::{Data, Value};
use crate::hyperslab::DimRange;
use crate::model::{AttrValue, Attribute, DataType, Dimension, Field, Filter, UserKind, UserType, Variable};
use crate::{Error, Result};
use netcdf_sys as nc;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::path::{Path, PathBuf};

const NAME_LEN: usize = nc::NC_MAX_NAME as usize + 1;

/// An open NetCDF file (closed on drop).
#[derive(Debug)]
pub struct NcFile {
    ncid: c_int,
    path: PathBuf,
}

/// The header of one file, in the dataset model.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FileHeader {
    /// `classic`, `64bit_offset`, `cdf5`, `netcdf4`, `netcdf4_classic`.
    pub format: String,
    pub dims: Vec<Dimension>,
    pub vars: Vec<Variable>,
    pub attrs: Vec<Attribute>,
    pub groups: Vec<String>,
    /// User-defined types; `DataType::Enum(i)` etc. index this list.
    pub types: Vec<UserType>,
    /// Variables that were left out, with the reason (e.g. a user-defined type).
    pub skipped: Vec<String>,
}

pub(crate) fn nc_message(code: c_int) -> String {
    // SAFETY: nc_strerror returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(nc::nc_strerror(code)) }.to_string_lossy().into_owned()
}

fn cstr_name(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Maps libnetcdf type ids of user-defined types to their type, and for enums the
/// base type their values are stored as.
type TypeMap = HashMap<c_int, (DataType, Option<DataType>)>;

fn dtype_with(xtype: c_int, types: &TypeMap) -> Option<DataType> {
    dtype_of(xtype).or_else(|| types.get(&xtype).map(|(t, _)| *t))
}

fn dtype_of(xtype: c_int) -> Option<DataType> {
    Some(match xtype {
        nc::NC_BYTE => DataType::I8,
        nc::NC_CHAR => DataType::Char,
        nc::NC_SHORT => DataType::I16,
        nc::NC_INT => DataType::I32,
        nc::NC_FLOAT => DataType::F32,
        nc::NC_DOUBLE => DataType::F64,
        nc::NC_UBYTE => DataType::U8,
        nc::NC_USHORT => DataType::U16,
        nc::NC_UINT => DataType::U32,
        nc::NC_INT64 => DataType::I64,
        nc::NC_UINT64 => DataType::U64,
        nc::NC_STRING => DataType::Str,
        _ => return None,
    })
}

/// libnetcdf turns HDF5's automatic error printing off only on the thread that first
/// used it; HDF5 keeps that setting per thread, so say it again on the opening thread
/// (one cheap call beside the open itself; handles are cached).
fn silence_hdf5_on_this_thread() {
    hdf5::silence_errors(true);
}

impl NcFile {
    /// Open a file read-only.
    pub fn open(path: &Path) -> Result<NcFile> {
        silence_hdf5_on_this_thread();
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::File { path: path.to_path_buf(), message: "path contains a NUL byte".into() })?;
        let mut ncid: c_int = -1;
        let code = {
            let _g = nc::libnetcdf_lock.lock();
            // SAFETY: valid C string and out-pointer.
            unsafe { nc::nc_open(c.as_ptr(), nc::NC_NOWRITE, &mut ncid) }
        };
        if code != nc::NC_NOERR {
            return Err(Error::netcdf_read(path, "open", code));
        }
        Ok(NcFile { ncid, path: path.to_path_buf() })
    }

    /// The path this file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check(&self, code: c_int, what: &str) -> Result<()> {
        if code == nc::NC_NOERR {
            Ok(())
        } else {
            Err(Error::netcdf_read(&self.path, what, code))
        }
    }

    /// Read the whole header (all groups, flattened to path names).
    pub fn header(&self) -> Result<FileHeader> {
        let _g = nc::libnetcdf_lock.lock();
        let mut h = FileHeader::default();
        let mut fmt: c_int = 0;
        // SAFETY: out-pointer is valid.
        self.check(unsafe { nc::nc_inq_format(self.ncid, &mut fmt) }, "format")?;
        h.format = match fmt {
            nc::NC_FORMAT_CLASSIC => "classic",
            nc::NC_FORMAT_64BIT_OFFSET => "64bit_offset",
            nc::NC_FORMAT_64BIT_DATA => "cdf5",
            nc::NC_FORMAT_NETCDF4 => "netcdf4",
            nc::NC_FORMAT_NETCDF4_CLASSIC => "netcdf4_classic",
            _ => "unknown",
        }
        .to_string();
        let mut dim_names: HashMap<c_int, (String, usize)> = HashMap::new();
        let mut types = TypeMap::new();
        self.collect_types(self.ncid, "", &mut types, &mut h)?;
        self.read_group(self.ncid, "", &mut h, &mut dim_names, &types)?;
        Ok(h)
    }

    /// Sub-group ids and names of a group (none for classic files).
    fn subgroups(&self, grp: c_int) -> Result<Vec<(c_int, String)>> {
        let mut n: c_int = 0;
        // SAFETY: count query; fails harmlessly on classic files.
        if unsafe { nc::nc_inq_grps(grp, &mut n, std::ptr::null_mut()) } != nc::NC_NOERR || n <= 0 {
            return Ok(vec![]);
        }
        let mut ids = vec![0 as c_int; n as usize];
        // SAFETY: buffer has room for n ids.
        self.check(unsafe { nc::nc_inq_grps(grp, &mut n, ids.as_mut_ptr()) }, "groups")?;
        let mut out = Vec::with_capacity(ids.len());
        for g in ids {
            let mut name = [0u8; NAME_LEN];
            // SAFETY: name buffer is NC_MAX_NAME+1 bytes.
            self.check(unsafe { nc::nc_inq_grpname(g, name.as_mut_ptr().cast()) }, "group name")?;
            out.push((g, cstr_name(&name)));
        }
        Ok(out)
    }

    /// Find every user-defined type in every group (two passes: ids, then details, so
    /// that types may refer to types defined later).
    fn collect_types(&self, root: c_int, _prefix: &str, map: &mut TypeMap, h: &mut FileHeader) -> Result<()> {
        let mut found: Vec<(c_int, c_int, String)> = Vec::new(); // (group, xtype, prefix)
        let mut stack = vec![(root, String::new())];
        while let Some((grp, prefix)) = stack.pop() {
            let mut n: c_int = 0;
            // SAFETY: count query (classic files have no types and may fail: none).
            if unsafe { nc::nc_inq_typeids(grp, &mut n, std::ptr::null_mut()) } == nc::NC_NOERR && n > 0 {
                let mut ids = vec![0 as c_int; n as usize];
                // SAFETY: buffer has room for n ids.
                self.check(unsafe { nc::nc_inq_typeids(grp, &mut n, ids.as_mut_ptr()) }, "types")?;
                found.extend(ids.into_iter().map(|t| (grp, t, prefix.clone())));
            }
            for (g, name) in self.subgroups(grp)? {
                stack.push((g, format!("{prefix}{name}/")));
            }
        }
        found.sort_by_key(|(_, t, _)| *t);
        for (i, (grp, xtype, _)) in found.iter().enumerate() {
            let mut class: c_int = 0;
            let mut size = 0usize;
            let mut base: c_int = 0;
            let mut nfields = 0usize;
            // SAFETY: valid out-pointers; a null name pointer is allowed.
            self.check(
                unsafe {
                    nc::nc_inq_user_type(
                        *grp,
                        *xtype,
                        std::ptr::null_mut(),
                        &mut size,
                        &mut base,
                        &mut nfields,
                        &mut class,
                    )
                },
                "user type",
            )?;
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            let t = match class {
                nc::NC_ENUM => DataType::Enum(idx),
                nc::NC_OPAQUE => DataType::Opaque(idx),
                nc::NC_COMPOUND => DataType::Compound(idx),
                _ => DataType::Vlen(idx),
            };
            map.insert(*xtype, (t, if class == nc::NC_ENUM { dtype_of(base) } else { None }));
        }
        for (grp, xtype, prefix) in &found {
            let mut name = [0u8; NAME_LEN];
            let mut class: c_int = 0;
            let mut size = 0usize;
            let mut base: c_int = 0;
            let mut nfields = 0usize;
            // SAFETY: name buffer is NC_MAX_NAME+1 bytes; valid out-pointers.
            self.check(
                unsafe {
                    nc::nc_inq_user_type(
                        *grp,
                        *xtype,
                        name.as_mut_ptr().cast(),
                        &mut size,
                        &mut base,
                        &mut nfields,
                        &mut class,
                    )
                },
                "user type",
            )?;
            let unknown =
                || Error::File { path: self.path.clone(), message: format!("type {xtype} refers to an unknown type") };
            let kind = match class {
                nc::NC_ENUM => {
                    let base_t = dtype_of(base).ok_or_else(unknown)?;
                    let mut members = Vec::with_capacity(nfields);
                    for m in 0..nfields {
                        let mut mname = [0u8; NAME_LEN];
                        let mut value = [0u8; 8];
                        // SAFETY: name buffer NC_MAX_NAME+1, value buffer 8 bytes >= any integer size.
                        self.check(
                            unsafe {
                                nc::nc_inq_enum_member(
                                    *grp,
                                    *xtype,
                                    m as c_int,
                                    mname.as_mut_ptr().cast(),
                                    value.as_mut_ptr().cast(),
                                )
                            },
                            "enum member",
                        )?;
                        members.push((cstr_name(&mname), int_from_ne(&value, base_t)));
                    }
                    UserKind::Enum { base: base_t, members }
                }
                nc::NC_OPAQUE => UserKind::Opaque,
                nc::NC_VLEN => UserKind::Vlen { base: dtype_with(base, map).ok_or_else(unknown)? },
                _ => {
                    let mut fields = Vec::with_capacity(nfields);
                    for f in 0..nfields {
                        let mut fname = [0u8; NAME_LEN];
                        let mut offset = 0usize;
                        let mut ftype: c_int = 0;
                        let mut ndims: c_int = 0;
                        let mut dims = [0 as c_int; nc::NC_MAX_VAR_DIMS as usize];
                        // SAFETY: buffers sized by the library maxima.
                        self.check(
                            unsafe {
                                nc::nc_inq_compound_field(
                                    *grp,
                                    *xtype,
                                    f as c_int,
                                    fname.as_mut_ptr().cast(),
                                    &mut offset,
                                    &mut ftype,
                                    &mut ndims,
                                    dims.as_mut_ptr(),
                                )
                            },
                            "compound field",
                        )?;
                        fields.push(Field {
                            name: cstr_name(&fname),
                            offset,
                            dtype: dtype_with(ftype, map).ok_or_else(unknown)?,
                            dims: dims[..ndims.max(0) as usize].iter().map(|&d| d.max(0) as usize).collect(),
                        });
                    }
                    UserKind::Compound { fields }
                }
            };
            h.types.push(UserType { name: format!("{prefix}{}", cstr_name(&name)), size, kind });
        }
        Ok(())
    }

    fn read_group(
        &self,
        grp: c_int,
        prefix: &str,
        h: &mut FileHeader,
        dim_names: &mut HashMap<c_int, (String, usize)>,
        types: &TypeMap,
    ) -> Result<()> {
        // Dimensions defined in this group.
        let mut ndims: c_int = 0;
        // SAFETY: a null dimids pointer asks only for the count.
        self.check(unsafe { nc::nc_inq_dimids(grp, &mut ndims, std::ptr::null_mut(), 0) }, "dimensions")?;
        let mut dimids = vec![0 as c_int; ndims.max(0) as usize];
        if ndims > 0 {
            // SAFETY: buffer has room for ndims ids.
            self.check(unsafe { nc::nc_inq_dimids(grp, &mut ndims, dimids.as_mut_ptr(), 0) }, "dimensions")?;
        }
        let mut nunlim: c_int = 0;
        // SAFETY: count query.
        self.check(unsafe { nc::nc_inq_unlimdims(grp, &mut nunlim, std::ptr::null_mut()) }, "unlimited dims")?;
        let mut unlim = vec![0 as c_int; nunlim.max(0) as usize];
        if nunlim > 0 {
            // SAFETY: buffer has room.
            self.check(unsafe { nc::nc_inq_unlimdims(grp, &mut nunlim, unlim.as_mut_ptr()) }, "unlimited dims")?;
        }
        for &id in &dimids {
            let mut name = [0u8; NAME_LEN];
            let mut len: usize = 0;
            // SAFETY: name buffer is NC_MAX_NAME+1 bytes.
            self.check(unsafe { nc::nc_inq_dim(grp, id, name.as_mut_ptr().cast(), &mut len) }, "dimension")?;
            let full = format!("{prefix}{}", cstr_name(&name));
            dim_names.insert(id, (full.clone(), len));
            h.dims.push(Dimension { name: full, len, unlimited: unlim.contains(&id) });
        }
        // Group attributes (global attributes for the root group).
        let attrs = self.read_attrs(grp, nc::NC_GLOBAL, types)?;
        if prefix.is_empty() {
            h.attrs = attrs;
        } else {
            // Attributes of sub-groups are kept with the group path as prefix.
            for a in attrs {
                h.attrs.push(Attribute { name: format!("{prefix}{}", a.name), value: a.value });
            }
        }
        // Variables.
        let mut nvars: c_int = 0;
        // SAFETY: count query.
        self.check(unsafe { nc::nc_inq_varids(grp, &mut nvars, std::ptr::null_mut()) }, "variables")?;
        let mut varids = vec![0 as c_int; nvars.max(0) as usize];
        if nvars > 0 {
            // SAFETY: buffer has room.
            self.check(unsafe { nc::nc_inq_varids(grp, &mut nvars, varids.as_mut_ptr()) }, "variables")?;
        }
        for &varid in &varids {
            let mut name = [0u8; NAME_LEN];
            let mut xtype: c_int = 0;
            let mut ndims: c_int = 0;
            let mut vdims = [0 as c_int; nc::NC_MAX_VAR_DIMS as usize];
            let mut natts: c_int = 0;
            // SAFETY: buffers sized by the library's maxima.
            self.check(
                unsafe {
                    nc::nc_inq_var(
                        grp,
                        varid,
                        name.as_mut_ptr().cast(),
                        &mut xtype,
                        &mut ndims,
                        vdims.as_mut_ptr(),
                        &mut natts,
                    )
                },
                "variable",
            )?;
            let full = format!("{prefix}{}", cstr_name(&name));
            let Some(dtype) = dtype_with(xtype, types) else {
                h.skipped.push(format!("{full}: type {xtype} is not supported"));
                continue;
            };
            let mut dims = Vec::new();
            let mut shape = Vec::new();
            for &d in &vdims[..ndims.max(0) as usize] {
                let (dn, _) = dim_names.get(&d).cloned().unwrap_or_else(|| (format!("dim{d}"), 0));
                let mut len = 0usize;
                // SAFETY: out-pointer.
                self.check(unsafe { nc::nc_inq_dimlen(grp, d, &mut len) }, "dimension length")?;
                dims.push(dn);
                shape.push(len);
            }
            let attrs = self.read_attrs(grp, varid, types)?;
            let mut storage: c_int = 0;
            let mut chunk = vec![0usize; dims.len().max(1)];
            // SAFETY: chunk buffer has one slot per dimension.
            let code = unsafe { nc::nc_inq_var_chunking(grp, varid, &mut storage, chunk.as_mut_ptr()) };
            let chunks = (code == nc::NC_NOERR && storage == nc::NC_CHUNKED && !dims.is_empty())
                .then(|| chunk[..dims.len()].to_vec());
            let filters = if chunks.is_some() { self.filters(grp, varid) } else { Vec::new() };
            h.vars.push(Variable { name: full, dtype, dims, shape, attrs, chunks, filters, joined: false });
        }
        // Sub-groups.
        for (g, name) in self.subgroups(grp)? {
            let path = format!("{prefix}{name}");
            h.groups.push(path.clone());
            self.read_group(g, &format!("{path}/"), h, dim_names, types)?;
        }
        Ok(())
    }

    /// The filters of a chunked variable in the order netCDF-4 applies them when writing:
    /// shuffle, fletcher32, then the others (deflate, szip, plugins) in their order.
    fn filters(&self, grp: c_int, varid: c_int) -> Vec<Filter> {
        let (mut shuffle, mut fletcher): (c_int, c_int) = (0, 0);
        let mut n: usize = 0;
        let mut ids = [0 as c_uint; 16];
        // SAFETY: out-pointers; the id buffer is sized after asking for the count.
        unsafe {
            nc::nc_inq_var_deflate(grp, varid, &mut shuffle, std::ptr::null_mut(), std::ptr::null_mut());
            nc::nc_inq_var_fletcher32(grp, varid, &mut fletcher);
            if nc::nc_inq_var_filter_ids(grp, varid, &mut n, std::ptr::null_mut()) != nc::NC_NOERR || n > ids.len() {
                n = 0;
            } else if n > 0 {
                nc::nc_inq_var_filter_ids(grp, varid, &mut n, ids.as_mut_ptr());
            }
        }
        let mut out = Vec::new();
        if shuffle != 0 {
            out.push(Filter::Shuffle);
        }
        if fletcher != 0 {
            out.push(Filter::Fletcher32);
        }
        out.extend(
            ids[..n]
                .iter()
                .map(|&id| Filter::from_id(id))
                .filter(|f| !matches!(f, Filter::Shuffle | Filter::Fletcher32)),
        );
        out
    }

    fn read_attrs(&self, grp: c_int, varid: c_int, types: &TypeMap) -> Result<Vec<Attribute>> {
        let mut natts: c_int = 0;
        // SAFETY: out-pointer.
        let code = if varid == nc::NC_GLOBAL {
            unsafe { nc::nc_inq_natts(grp, &mut natts) }
        } else {
            unsafe { nc::nc_inq_varnatts(grp, varid, &mut natts) }
        };
        self.check(code, "attribute count")?;
        let mut out = Vec::with_capacity(natts.max(0) as usize);
        for i in 0..natts {
            let mut name = [0u8; NAME_LEN];
            // SAFETY: name buffer is NC_MAX_NAME+1 bytes.
            self.check(unsafe { nc::nc_inq_attname(grp, varid, i, name.as_mut_ptr().cast()) }, "attribute name")?;
            let cname = CString::new(cstr_name(&name)).unwrap_or_default();
            let mut xtype: c_int = 0;
            let mut len: usize = 0;
            // SAFETY: valid name and out-pointers.
            self.check(unsafe { nc::nc_inq_att(grp, varid, cname.as_ptr(), &mut xtype, &mut len) }, "attribute")?;
            // An enum attribute (e.g. a _FillValue) holds values of the enum's base type.
            let Some(dtype) = dtype_of(xtype).or_else(|| types.get(&xtype).and_then(|(_, base)| *base)) else {
                continue;
            };
            let value = match dtype {
                DataType::Char => {
                    let mut buf = vec![0u8; len];
                    if len > 0 {
                        // SAFETY: buffer holds len bytes.
                        self.check(
                            unsafe { nc::nc_get_att(grp, varid, cname.as_ptr(), buf.as_mut_ptr().cast()) },
                            "attribute",
                        )?;
                    }
                    while buf.last() == Some(&0) {
                        buf.pop();
                    }
                    AttrValue::Text(String::from_utf8_lossy(&buf).into_owned())
                }
                DataType::Str => {
                    let mut ptrs: Vec<*mut c_char> = vec![std::ptr::null_mut(); len];
                    if len > 0 {
                        // SAFETY: buffer holds len pointers, freed below.
                        self.check(
                            unsafe { nc::nc_get_att_string(grp, varid, cname.as_ptr(), ptrs.as_mut_ptr()) },
                            "attribute",
                        )?;
                    }
                    let v = strings_from_ptrs(&ptrs);
                    if len > 0 {
                        // SAFETY: pointers were allocated by the library.
                        unsafe { nc::nc_free_string(len, ptrs.as_mut_ptr()) };
                    }
                    AttrValue::Str(v)
                }
                _ => {
                    let data = Data::zeros(dtype, len);
                    let mut data = data;
                    if len > 0 {
                        let ptr = data_ptr(&mut data);
                        // SAFETY: buffer holds len elements of the attribute's type.
                        self.check(unsafe { nc::nc_get_att(grp, varid, cname.as_ptr(), ptr) }, "attribute")?;
                    }
                    attr_from_data(data)
                }
            };
            out.push(Attribute { name: cstr_name(&name), value });
        }
        Ok(out)
    }

    /// Read a strided hyperslab of variable `name` (a path for variables in groups)
    /// as its native type. `types` is the file's user-defined type table (needed for
    /// compound, opaque and variable-length types; enums read as their base type).
    pub fn read(&self, name: &str, dtype: DataType, ranges: &[DimRange], types: &[UserType]) -> Result<Data> {
        silence_hdf5_on_this_thread();
        let n: usize = ranges.iter().map(|r| r.count).product();
        let start: Vec<usize> = ranges.iter().map(|r| r.start).collect();
        let count: Vec<usize> = ranges.iter().map(|r| r.count).collect();
        let stride: Vec<isize> = ranges.iter().map(|r| isize::try_from(r.stride).unwrap_or(isize::MAX)).collect();
        if n == 0 {
            return Ok(Data::with_capacity(dtype, 0));
        }
        let _g = nc::libnetcdf_lock.lock();
        let (grp, varid) = self.locate(name)?;
        if let Some(t) = dtype.user_index().and_then(|i| types.get(i)) {
            if let UserKind::Enum { base, .. } = t.kind {
                return self.read_atomic(grp, varid, base, n, &start, &count, &stride);
            }
            return self.read_user(grp, varid, dtype, t.size, n, &start, &count, &stride, types);
        }
        if dtype == DataType::Str {
            let mut ptrs: Vec<*mut c_char> = vec![std::ptr::null_mut(); n];
            // SAFETY: buffer holds n pointers; start/count/stride have one entry per dim.
            let code = unsafe {
                nc::nc_get_vars(grp, varid, start.as_ptr(), count.as_ptr(), stride.as_ptr(), ptrs.as_mut_ptr().cast())
            };
            self.check(code, "read")?;
            let v = strings_from_ptrs(&ptrs);
            // SAFETY: pointers were allocated by the library.
            unsafe { nc::nc_free_string(n, ptrs.as_mut_ptr()) };
            return Ok(Data::Str(v));
        }
        self.read_atomic(grp, varid, dtype, n, &start, &count, &stride)
    }

    #[allow(clippy::too_many_arguments)]
    fn read_atomic(
        &self,
        grp: c_int,
        varid: c_int,
        dtype: DataType,
        n: usize,
        start: &[usize],
        count: &[usize],
        stride: &[isize],
    ) -> Result<Data> {
        let mut data = Data::zeros(dtype, n);
        let ptr = data_ptr(&mut data);
        // SAFETY: buffer holds n elements of the variable's native type.
        let code = unsafe { nc::nc_get_vars(grp, varid, start.as_ptr(), count.as_ptr(), stride.as_ptr(), ptr) };
        self.check(code, "read")?;
        Ok(data)
    }

    /// Read elements of a compound, opaque or vlen type: the library fills a buffer in
    /// its in-memory layout (with pointers for strings and vlens), which is decoded
    /// into owned values and then handed back to the library to free.
    #[allow(clippy::too_many_arguments)]
    fn read_user(
        &self,
        grp: c_int,
        varid: c_int,
        dtype: DataType,
        size: usize,
        n: usize,
        start: &[usize],
        count: &[usize],
        stride: &[isize],
        types: &[UserType],
    ) -> Result<Data> {
        let mut xtype: c_int = 0;
        // SAFETY: out-pointer.
        self.check(unsafe { nc::nc_inq_vartype(grp, varid, &mut xtype) }, "variable type")?;
        // u64 storage keeps the buffer 8-byte aligned like the library's structures.
        let mut buf = vec![0u64; (n * size).div_ceil(8)];
        let ptr: *mut u8 = buf.as_mut_ptr().cast();
        // SAFETY: buffer holds n elements of `size` bytes.
        let code = unsafe { nc::nc_get_vars(grp, varid, start.as_ptr(), count.as_ptr(), stride.as_ptr(), ptr.cast()) };
        self.check(code, "read")?;
        // SAFETY: the buffer was just filled by the library with n elements of dtype.
        let value = unsafe { decode(types, ptr, dtype, n) };
        // SAFETY: frees the strings and vlens the library allocated inside the buffer.
        unsafe { nc_reclaim_data(self.ncid, xtype, ptr.cast(), n) };
        Ok(match value {
            Value::List(v) => Data::Values(v),
            other => Data::Values(vec![other]),
        })
    }

    /// Group id and variable id of a variable path.
    fn locate(&self, name: &str) -> Result<(c_int, c_int)> {
        let (group, short) = match name.rsplit_once('/') {
            Some((g, s)) => (Some(g), s),
            None => (None, name),
        };
        let grp = match group {
            None => self.ncid,
            Some(g) => {
                let c = CString::new(format!("/{g}")).map_err(|_| Error::bad("group name with NUL"))?;
                let mut id: c_int = 0;
                // SAFETY: valid C string and out-pointer.
                self.check(unsafe { nc::nc_inq_grp_full_ncid(self.ncid, c.as_ptr(), &mut id) }, "group")?;
                id
            }
        };
        let c = CString::new(short).map_err(|_| Error::bad("variable name with NUL"))?;
        let mut varid: c_int = 0;
        // SAFETY: valid C string and out-pointer.
        self.check(unsafe { nc::nc_inq_varid(grp, c.as_ptr(), &mut varid) }, &format!("variable '{name}'"))?;
        Ok((grp, varid))
    }
}

impl Drop for NcFile {
    fn drop(&mut self) {
        let _g = nc::libnetcdf_lock.lock();
        // SAFETY: ncid came from nc_open and is closed once.
        unsafe { nc::nc_close(self.ncid) };
    }
}

extern "C" {
    /// Free the memory the library allocated inside `count` elements of `xtype`
    /// (libnetcdf >= 4.8), without freeing `memory` itself.
    fn nc_reclaim_data(ncid: c_int, xtypeid: c_int, memory: *mut c_void, count: usize) -> c_int;
}

/// Decode `count` elements of `dtype` from the library's in-memory layout at `ptr`.
///
/// # Safety
/// `ptr` must point to `count` valid elements of `dtype` as laid out by libnetcdf.
unsafe fn decode(types: &[UserType], ptr: *const u8, dtype: DataType, count: usize) -> Value {
    fn atoms<T: Copy>(ptr: *const u8, count: usize) -> Vec<T> {
        // SAFETY (caller): ptr points to count values of T; read unaligned to be safe.
        (0..count).map(|i| unsafe { std::ptr::read_unaligned(ptr.cast::<T>().add(i)) }).collect()
    }
    let user = dtype.user_index().and_then(|i| types.get(i));
    match (dtype, user.map(|u| &u.kind)) {
        (DataType::I8, _) => Value::Atoms(Data::I8(atoms(ptr, count))),
        (DataType::U8, _) => Value::Atoms(Data::U8(atoms(ptr, count))),
        (DataType::Char, _) => Value::Atoms(Data::Char(atoms(ptr, count))),
        (DataType::I16, _) => Value::Atoms(Data::I16(atoms(ptr, count))),
        (DataType::U16, _) => Value::Atoms(Data::U16(atoms(ptr, count))),
        (DataType::I32, _) => Value::Atoms(Data::I32(atoms(ptr, count))),
        (DataType::U32, _) => Value::Atoms(Data::U32(atoms(ptr, count))),
        (DataType::I64, _) => Value::Atoms(Data::I64(atoms(ptr, count))),
        (DataType::U64, _) => Value::Atoms(Data::U64(atoms(ptr, count))),
        (DataType::F32, _) => Value::Atoms(Data::F32(atoms(ptr, count))),
        (DataType::F64, _) => Value::Atoms(Data::F64(atoms(ptr, count))),
        (DataType::Str, _) => {
            let ptrs: Vec<*mut c_char> = atoms(ptr, count);
            Value::Atoms(Data::Str(strings_from_ptrs(&ptrs)))
        }
        (_, Some(UserKind::Enum { base, .. })) => {
            // SAFETY: same memory, read as the enum's base type.
            unsafe { decode(types, ptr, *base, count) }
        }
        (_, Some(UserKind::Opaque)) => {
            let size = user.map_or(0, |u| u.size);
            // SAFETY (caller): count blobs of `size` bytes.
            Value::List(
                (0..count)
                    .map(|i| Value::Opaque(unsafe { std::slice::from_raw_parts(ptr.add(i * size), size) }.to_vec()))
                    .collect(),
            )
        }
        (_, Some(UserKind::Compound { fields })) => {
            let size = user.map_or(0, |u| u.size);
            Value::List(
                (0..count)
                    .map(|i| {
                        Value::Compound(
                            fields
                                .iter()
                                // SAFETY (caller): each field lies at its offset inside the element.
                                .map(|f| unsafe {
                                    decode(types, ptr.add(i * size + f.offset), f.dtype, f.dims.iter().product())
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            )
        }
        (_, Some(UserKind::Vlen { base })) => {
            Value::List(
                (0..count)
                    .map(|i| {
                        // SAFETY (caller): count vlen descriptors, each pointing to `len`
                        // elements of the base type.
                        let v = unsafe { std::ptr::read_unaligned(ptr.cast::<nc::nc_vlen_t>().add(i)) };
                        Value::Vlen(Box::new(unsafe { decode(types, v.p.cast::<u8>(), *base, v.len) }))
                    })
                    .collect(),
            )
        }
        _ => Value::List(Vec::new()),
    }
}

/// An integer of type `t` from native-endian bytes.
fn int_from_ne(b: &[u8; 8], t: DataType) -> i64 {
    match t {
        DataType::I8 => i64::from(i8::from_ne_bytes([b[0]])),
        DataType::U8 => i64::from(b[0]),
        DataType::I16 => i64::from(i16::from_ne_bytes([b[0], b[1]])),
        DataType::U16 => i64::from(u16::from_ne_bytes([b[0], b[1]])),
        DataType::I32 => i64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        DataType::U32 => i64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
        DataType::U64 => i64::try_from(u64::from_ne_bytes(*b)).unwrap_or(i64::MAX),
        _ => i64::from_ne_bytes(*b),
    }
}

fn strings_from_ptrs(ptrs: &[*mut c_char]) -> Vec<String> {
    ptrs.iter()
        .map(|&p| {
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: the library returns NUL-terminated strings.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        })
        .collect()
}

pub(crate) fn data_ptr(data: &mut Data) -> *mut c_void {
    match data {
        Data::I8(v) => v.as_mut_ptr().cast(),
        Data::U8(v) | Data::Char(v) => v.as_mut_ptr().cast(),
        Data::I16(v) => v.as_mut_ptr().cast(),
        Data::U16(v) => v.as_mut_ptr().cast(),
        Data::I32(v) => v.as_mut_ptr().cast(),
        Data::U32(v) => v.as_mut_ptr().cast(),
        Data::I64(v) => v.as_mut_ptr().cast(),
        Data::U64(v) => v.as_mut_ptr().cast(),
        Data::F32(v) => v.as_mut_ptr().cast(),
        Data::F64(v) => v.as_mut_ptr().cast(),
        Data::Str(v) => v.as_mut_ptr().cast(),
        Data::Values(v) => v.as_mut_ptr().cast(),
    }
}

/// An attribute value holding `d`'s values.
pub(crate) fn attr_from_data(d: Data) -> AttrValue {
    match d {
        Data::I8(v) => AttrValue::I8(v),
        Data::U8(v) => AttrValue::U8(v),
        Data::I16(v) => AttrValue::I16(v),
        Data::U16(v) => AttrValue::U16(v),
        Data::I32(v) => AttrValue::I32(v),
        Data::U32(v) => AttrValue::U32(v),
        Data::I64(v) => AttrValue::I64(v),
        Data::U64(v) => AttrValue::U64(v),
        Data::F32(v) => AttrValue::F32(v),
        Data::F64(v) => AttrValue::F64(v),
        Data::Char(v) => AttrValue::Text(String::from_utf8_lossy(&v).into_owned()),
        Data::Str(v) => AttrValue::Str(v),
        Data::Values(_) => AttrValue::Str(Vec::new()),
    }
}
