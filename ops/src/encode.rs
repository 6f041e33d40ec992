//! Encoders: write selections of a dataset in each protocol's wire format, streaming
//! block by block to any `std::io::Write`.

pub mod dap2;
pub mod dap4;
pub mod netcdf;
pub mod text;
pub mod xdr;
