//! Turning stored bytes into typed values, and copying chunks into selections.

use crate::array::Data;
use crate::hyperslab::{next_index, DimRange};
use crate::model::DataType;
use crate::{Error, Result};

/// Typed values from bytes stored in the given byte order.
pub fn typed(bytes: &[u8], t: DataType, little_endian: bool) -> Result<Data> {
    macro_rules! conv {
        ($ty:ty, $v:ident) => {{
            const N: usize = std::mem::size_of::<$ty>();
            let it = bytes.chunks_exact(N).map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                if little_endian {
                    <$ty>::from_le_bytes(a)
                } else {
                    <$ty>::from_be_bytes(a)
                }
            });
            Data::$v(it.collect())
        }};
    }
    Ok(match t {
        DataType::I8 => Data::I8(bytes.iter().map(|&b| b as i8).collect()),
        DataType::U8 => Data::U8(bytes.to_vec()),
        DataType::Char => Data::Char(bytes.to_vec()),
        DataType::I16 => conv!(i16, I16),
        DataType::U16 => conv!(u16, U16),
        DataType::I32 => conv!(i32, I32),
        DataType::U32 => conv!(u32, U32),
        DataType::I64 => conv!(i64, I64),
        DataType::U64 => conv!(u64, U64),
        DataType::F32 => conv!(f32, F32),
        DataType::F64 => conv!(f64, F64),
        other => return Err(Error::Internal(format!("no direct decoding of {} values", other.cdl_name()))),
    })
}

/// For each dimension, the (output index, index within the chunk) pairs of the
/// selected indices that fall in the chunk starting at `origin` with size `size`.
pub fn overlap(ranges: &[DimRange], origin: &[usize], size: &[usize]) -> Vec<Vec<(usize, usize)>> {
    ranges
        .iter()
        .zip(origin.iter().zip(size))
        .map(|(r, (&o, &s))| {
            // selected k with o <= start + k*stride < o + s
            let lo = if r.start >= o { 0 } else { (o - r.start).div_ceil(r.stride) };
            let hi = if r.start >= o + s { 0 } else { (o + s - r.start).div_ceil(r.stride).min(r.count) };
            (lo..hi.max(lo)).map(|k| (k, r.at(k) - o)).collect()
        })
        .collect()
}

/// Copy the selected elements of a chunk (row-major, shape `chunk_shape`) into the
/// output (row-major, shape `out_shape`).
pub fn scatter(
    out: &mut Data,
    chunk: &Data,
    pairs: &[Vec<(usize, usize)>],
    out_shape: &[usize],
    chunk_shape: &[usize],
) {
    fn go<T: Copy>(
        out: &mut [T],
        src: &[T],
        pairs: &[Vec<(usize, usize)>],
        out_shape: &[usize],
        chunk_shape: &[usize],
    ) {
        let n = pairs.len();
        if n == 0 {
            if let (Some(o), Some(s)) = (out.first_mut(), src.first()) {
                *o = *s;
            }
            return;
        }
        if pairs.iter().any(Vec::is_empty) {
            return;
        }
        let mut ostride = vec![1usize; n];
        let mut cstride = vec![1usize; n];
        for d in (0..n - 1).rev() {
            ostride[d] = ostride[d + 1] * out_shape[d + 1];
            cstride[d] = cstride[d + 1] * chunk_shape[d + 1];
        }
        let last = &pairs[n - 1];
        // contiguous innermost run when consecutive in both
        let contiguous = last.windows(2).all(|w| w[1].0 == w[0].0 + 1 && w[1].1 == w[0].1 + 1);
        let mut idx = vec![0usize; n - 1];
        loop {
            let mut ob = 0;
            let mut cb = 0;
            for d in 0..n - 1 {
                let (o, c) = pairs[d][idx[d]];
                ob += o * ostride[d];
                cb += c * cstride[d];
            }
            if contiguous {
                let (o0, c0) = last[0];
                let len = last.len();
                out[ob + o0..ob + o0 + len].copy_from_slice(&src[cb + c0..cb + c0 + len]);
            } else {
                for &(o, c) in last {
                    out[ob + o] = src[cb + c];
                }
            }
            if !next_index(&mut idx, |d| pairs[d].len()) {
                return;
            }
        }
    }
    match (out, chunk) {
        (Data::I8(a), Data::I8(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::U8(a), Data::U8(b)) | (Data::Char(a), Data::Char(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::I16(a), Data::I16(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::U16(a), Data::U16(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::I32(a), Data::I32(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::U32(a), Data::U32(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::I64(a), Data::I64(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::U64(a), Data::U64(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::F32(a), Data::F32(b)) => go(a, b, pairs, out_shape, chunk_shape),
        (Data::F64(a), Data::F64(b)) => go(a, b, pairs, out_shape, chunk_shape),
        _ => {}
    }
}

/// Apply the HDF5 shuffle filter for elements of `size` bytes: byte `b` of every
/// element goes to plane `b` (a tail that does not fill an element is kept as is).
pub fn shuffle(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    shuffle_into(data, size, &mut out);
    out
}

/// [`shuffle`] into `out`, which is as long as `data`.
pub fn shuffle_into(data: &[u8], size: usize, out: &mut [u8]) {
    /// Eight elements at a time: each plane gets eight bytes in one write.
    fn planes<const N: usize>(data: &[u8], out: &mut [u8]) {
        let n = data.len() / N;
        let blocks = n / 8;
        for (k, src) in data[..blocks * 8 * N].chunks_exact(8 * N).enumerate() {
            for b in 0..N {
                let mut w = [0u8; 8];
                for (j, x) in w.iter_mut().enumerate() {
                    *x = src[j * N + b];
                }
                out[b * n + k * 8..b * n + k * 8 + 8].copy_from_slice(&w);
            }
        }
        for i in blocks * 8..n {
            for b in 0..N {
                out[b * n + i] = data[i * N + b];
            }
        }
    }
    let n = data.len() / size.max(1);
    if size <= 1 || n == 0 {
        out.copy_from_slice(data);
        return;
    }
    match size {
        2 => planes::<2>(data, out),
        4 => planes::<4>(data, out),
        8 => planes::<8>(data, out),
        _ => {
            for (b, plane) in out[..n * size].chunks_exact_mut(n).enumerate() {
                for (i, x) in plane.iter_mut().enumerate() {
                    *x = data[i * size + b];
                }
            }
        }
    }
    out[n * size..].copy_from_slice(&data[n * size..]);
}

/// Undo the HDF5 shuffle filter of little-endian 4-byte floats, straight into the
/// values.
pub fn unshuffle_f32(data: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; data.len() / 4];
    unshuffle_f32_into(data, 0, &mut out);
    out
}

/// Values `from..from + out.len()` of shuffled little-endian 4-byte floats, into `out`
/// (vectorized: one byte of each value from each of the four planes).
pub fn unshuffle_f32_into(data: &[u8], from: usize, out: &mut [f32]) {
    let n = data.len() / 4;
    let to = from + out.len();
    let plane = |b: usize| &data[b * n + from..b * n + to];
    for ((((o, &a), &b), &c), &d) in out.iter_mut().zip(plane(0)).zip(plane(1)).zip(plane(2)).zip(plane(3)) {
        *o = f32::from_bits(u32::from_le_bytes([a, b, c, d]));
    }
}

/// Undo the HDF5 shuffle filter for elements of `size` bytes.
pub fn unshuffle(data: &[u8], size: usize) -> Vec<u8> {
    /// Eight elements at a time: eight bytes read from each plane at once.
    fn planes<const N: usize>(data: &[u8], out: &mut [u8]) {
        let n = data.len() / N;
        let blocks = n / 8;
        for (k, dst) in out[..blocks * 8 * N].chunks_exact_mut(8 * N).enumerate() {
            for b in 0..N {
                let src = &data[b * n + k * 8..b * n + k * 8 + 8];
                for (j, &x) in src.iter().enumerate() {
                    dst[j * N + b] = x;
                }
            }
        }
        for i in blocks * 8..n {
            for b in 0..N {
                out[i * N + b] = data[b * n + i];
            }
        }
    }
    let n = data.len() / size.max(1);
    if size <= 1 || n == 0 {
        return data.to_vec();
    }
    let mut out = vec![0u8; data.len()];
    match size {
        2 => planes::<2>(data, &mut out),
        4 => planes::<4>(data, &mut out),
        8 => planes::<8>(data, &mut out),
        _ => {
            for b in 0..size {
                let plane = &data[b * n..(b + 1) * n];
                for (i, &x) in plane.iter().enumerate() {
                    out[i * size + b] = x;
                }
            }
        }
    }
    // a tail that does not fill an element is stored as is
    let tail = n * size;
    out[tail..].copy_from_slice(&data[tail..]);
    out
}

/// The chunk-grid coordinates of the chunks a selection touches.
pub fn chunk_coords(ranges: &[DimRange], chunk: &[usize]) -> Vec<Vec<usize>> {
    let per_dim: Vec<Vec<usize>> = ranges
        .iter()
        .zip(chunk)
        .map(|(r, &cs)| {
            let mut v: Vec<usize> = (0..r.count).map(|k| r.at(k) / cs.max(1)).collect();
            v.dedup();
            v
        })
        .collect();
    let mut coords: Vec<Vec<usize>> = vec![vec![]];
    for list in &per_dim {
        coords = coords.iter().flat_map(|c| list.iter().map(move |&i| [c.as_slice(), &[i]].concat())).collect();
    }
    coords
}

/// True when chunks of shape `chunk` each span the selection `ranges` in every
/// dimension but the first, and the selection takes every index along it: the
/// selected values are then the selected rows of the chunks, one chunk after the other.
pub fn whole_rows(ranges: &[DimRange], chunk: &[usize]) -> bool {
    ranges.first().is_some_and(|r| r.stride == 1)
        && ranges.len() == chunk.len()
        && ranges[1..].iter().zip(&chunk[1..]).all(|(r, &c)| r.start == 0 && r.stride == 1 && r.count == c)
}

/// The selection's values from the decoded chunks at `coords`.
pub fn assemble(dtype: DataType, ranges: &[DimRange], chunk: &[usize], coords: &[Vec<usize>], data: &[&Data]) -> Data {
    let out_shape: Vec<usize> = ranges.iter().map(|r| r.count).collect();
    if whole_rows(ranges, chunk) {
        // the selected rows of the chunks, one chunk after the other
        let (r, rows) = (ranges[0], chunk[0]);
        let inner: usize = chunk[1..].iter().product();
        let mut out = Data::with_capacity(dtype, out_shape.iter().product());
        for (c, d) in coords.iter().zip(data) {
            let origin = c[0] * rows;
            let (lo, hi) = (r.start.max(origin) - origin, (r.start + r.count).min(origin + rows) - origin);
            out.extend_from_range(d, lo * inner..hi * inner);
        }
        return out;
    }
    let mut out = Data::zeros(dtype, out_shape.iter().product());
    for (c, d) in coords.iter().zip(data) {
        let origin: Vec<usize> = c.iter().zip(chunk).map(|(c, s)| c * s).collect();
        let pairs = overlap(ranges, &origin, chunk);
        scatter(&mut out, d, &pairs, &out_shape, chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_undone_by_unshuffle() {
        let data: Vec<u8> = (0..83).collect();
        let s = shuffle(&data, 4);
        assert_eq!(&s[..5], &[0, 4, 8, 12, 16]);
        assert_eq!(&s[20..24], &[1, 5, 9, 13]);
        assert_eq!(&s[80..], &[80, 81, 82]);
        assert_eq!(unshuffle(&s, 4), data);
        assert_eq!(shuffle(&data, 1), data);
        for size in [2, 3, 8] {
            assert_eq!(unshuffle(&shuffle(&data, size), size), data, "{size}");
        }
        assert_eq!(shuffle(&data[..2], 4), &data[..2]);
        let floats: Vec<f32> = (0..21).map(|i| i as f32 * 1.5 - 3.0).collect();
        let le: Vec<u8> = floats.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(unshuffle_f32(&shuffle(&le, 4)), floats);
        let mut part = vec![0f32; 5];
        unshuffle_f32_into(&shuffle(&le, 4), 7, &mut part);
        assert_eq!(part, floats[7..12]);
    }

    #[test]
    fn unshuffle_inverts_shuffle() {
        let raw: Vec<u8> = (0..40u8).collect();
        let size = 4;
        let n = raw.len() / size;
        let mut shuffled = vec![0u8; raw.len()];
        for i in 0..n {
            for b in 0..size {
                shuffled[b * n + i] = raw[i * size + b];
            }
        }
        assert_eq!(unshuffle(&shuffled, size), raw);
    }

    #[test]
    fn assemble_whole_rows_and_strided() {
        // a 10 x 4 variable (value 10 * row + col) in chunks of 3 x 4, and 3 x 2
        let value = |r: usize, c: usize| (10 * r + c) as f64;
        for (chunk, ranges) in [
            ([3, 4], [DimRange { start: 2, stride: 1, count: 7 }, DimRange { start: 0, stride: 1, count: 4 }]),
            ([3, 2], [DimRange { start: 2, stride: 1, count: 7 }, DimRange { start: 0, stride: 1, count: 4 }]),
            ([3, 4], [DimRange { start: 1, stride: 2, count: 4 }, DimRange { start: 1, stride: 1, count: 3 }]),
        ] {
            let coords = chunk_coords(&ranges, &chunk);
            let chunks: Vec<Data> = coords
                .iter()
                .map(|c| {
                    let v = (0..chunk[0] * chunk[1])
                        .map(|i| value(c[0] * chunk[0] + i / chunk[1], c[1] * chunk[1] + i % chunk[1]));
                    Data::F64(v.collect())
                })
                .collect();
            let refs: Vec<&Data> = chunks.iter().collect();
            let got = assemble(DataType::F64, &ranges, &chunk, &coords, &refs);
            let want: Vec<f64> = (0..ranges[0].count)
                .flat_map(|i| (0..ranges[1].count).map(move |j| (i, j)))
                .map(|(i, j)| value(ranges[0].at(i), ranges[1].at(j)))
                .collect();
            assert_eq!(got, Data::F64(want), "{chunk:?} {ranges:?}");
        }
    }

    #[test]
    fn scatter_strided() {
        // chunk of 4x4 at origin (4, 0); selection rows 1:3:10 (1,4,7,10), cols 0:2:3 (0,2)
        let ranges = [DimRange { start: 1, stride: 3, count: 4 }, DimRange { start: 0, stride: 2, count: 2 }];
        let pairs = overlap(&ranges, &[4, 0], &[4, 4]);
        assert_eq!(pairs[0], vec![(1, 0), (2, 3)]);
        assert_eq!(pairs[1], vec![(0, 0), (1, 2)]);
        let chunk = Data::I32((0..16).collect());
        let mut out = Data::I32(vec![-1; 8]);
        scatter(&mut out, &chunk, &pairs, &[4, 2], &[4, 4]);
        assert_eq!(out, Data::I32(vec![-1, -1, 0, 2, 12, 14, -1, -1]));
    }
}
