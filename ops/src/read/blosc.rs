//! Blosc (v1 format) decompression through c-blosc, the only codec cirrus decodes
//! with C code it links itself (`blosc-src` builds the bundled sources with its lz4,
//! zlib and zstd back ends). The context API is used: no global state, no lock.

#![allow(unsafe_code)]

use std::os::raw::c_void;

/// The decompressed bytes of one Blosc buffer, which must be exactly `src` long
/// (as a stored Zarr chunk is) and decompress to at most `max` bytes.
pub fn decompress(src: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut nbytes = 0usize;
    // SAFETY: `src` is a live slice and `blosc_cbuffer_validate` reads at most
    // `src.len()` bytes of it (it refuses buffers shorter than a header first).
    let valid = unsafe { blosc_src::blosc_cbuffer_validate(src.as_ptr().cast::<c_void>(), src.len(), &mut nbytes) };
    if valid < 0 {
        return Err("not a Blosc buffer (or its length does not match its header)".into());
    }
    if nbytes > max {
        return Err(format!("a Blosc buffer claims {nbytes} bytes, more than the {max} of a chunk"));
    }
    let mut out = vec![0u8; nbytes];
    // SAFETY: the header was validated against `src.len()` above, so c-blosc reads
    // within `src`; it writes at most `out.len()` bytes into `out`.
    let got = unsafe {
        blosc_src::blosc_decompress_ctx(src.as_ptr().cast::<c_void>(), out.as_mut_ptr().cast::<c_void>(), out.len(), 1)
    };
    match usize::try_from(got) {
        Ok(n) if n == nbytes => Ok(out),
        _ if nbytes == 0 && got == 0 => Ok(out),
        _ => Err(format!("corrupt Blosc buffer (c-blosc returned {got})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer compressed by c-blosc itself with each back end and shuffle mode
    /// decompresses to the input.
    #[test]
    fn round_trips_each_compressor() {
        let values: Vec<u8> = (0..40_000u32).flat_map(|i| ((i % 977) as f32 * 0.25).to_le_bytes()).collect();
        for name in ["blosclz", "lz4", "lz4hc", "zlib", "zstd"] {
            for shuffle in [0, 1, 2] {
                let mut dest = vec![0u8; values.len() + 16];
                let cname = std::ffi::CString::new(name).expect("name");
                // SAFETY: valid input and output slices with their lengths.
                let n = unsafe {
                    blosc_src::blosc_compress_ctx(
                        5,
                        shuffle,
                        4,
                        values.len(),
                        values.as_ptr().cast(),
                        dest.as_mut_ptr().cast(),
                        dest.len(),
                        cname.as_ptr(),
                        0,
                        1,
                    )
                };
                assert!(n > 0, "{name} compressed");
                let n = usize::try_from(n).expect("size");
                assert_eq!(
                    decompress(&dest[..n], values.len()).expect("decompress"),
                    values,
                    "{name} shuffle {shuffle}"
                );
                assert!(decompress(&dest[..n - 1], values.len()).is_err(), "truncated {name}");
                assert!(decompress(&dest[..n], values.len() - 1).is_err(), "too large {name}");
            }
        }
        assert!(decompress(b"not blosc at all", 100).is_err());
        assert!(decompress(&[], 100).is_err());
    }
}
