//! Headers of files on object storage, read from bytes: the NetCDF-3 layout parser
//! (`netcdf3::layout_of_bytes`) and the NetCDF-3/HDF5 header reader the catalog uses for
//! objects (`fast_header::read_bytes_info`). Never a panic, whatever the bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cirrus_ops::netcdf3::layout_of_bytes(data);
    let _ = cirrus_ops::catalog::fast_header::read_bytes_info(data.to_vec());
});
