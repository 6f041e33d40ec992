//! Engine errors keep the library failure they come from as their `source`.

use cirrus_ops::error::LibraryError;
use cirrus_ops::netcdf_io::NcFile;
use cirrus_ops::{Error, ErrorKind};
use std::error::Error as _;

#[test]
fn a_file_libnetcdf_cannot_open_keeps_the_status_as_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not-netcdf.nc");
    std::fs::write(&path, b"this is not a NetCDF file at all").expect("write");
    let Err(e) = NcFile::open(&path) else { panic!("opening garbage should fail") };
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(matches!(e, Error::ReadFailed { .. }), "{e:?}");
    let source = e.source().expect("a source");
    let lib = source.downcast_ref::<LibraryError>().expect("a library error");
    let LibraryError::Netcdf { code, message } = lib else { panic!("not a NetCDF status: {lib:?}") };
    assert!(*code < 0 && !message.is_empty(), "{code} {message}");
    // the message names the file, the step and libnetcdf's words
    let text = e.to_string();
    assert!(text.contains("not-netcdf.nc") && text.contains("open") && text.contains(message.as_str()), "{text}");
}
