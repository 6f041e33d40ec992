//! Values of a variable at a set of horizontal grid cells, over a selection of its other
//! dimensions (time, level): what point, series, trajectory and area queries read. The
//! cells' bounding box is read in blocks along the first dimension when it is compact,
//! else each cell on its own, so memory stays bounded whatever the number of steps.

use crate::cf::Decode;
use crate::hyperslab::{DimRange, Hyperslab};
use crate::model::{Dataset, Variable};
use crate::read::Reader;
use crate::selection::DimSel;
use crate::{Error, Result};

/// Values read per block (about 32 MB of f64).
const BLOCK_VALUES: usize = 1 << 22;
/// Bytes of decoded chunks one block may need.
const DECODED_BLOCK_BYTES: usize = 64 << 20;

/// The values of `var` (whose last two dimensions are the grid's y and x) at `cells`
/// (y, x), over `outer` (the selection of each of its other dimensions, in order):
/// decoded (scale, offset), missing values as NaN, in row-major order of the outer
/// selections with the cells innermost.
pub fn at_cells(
    reader: &Reader,
    ds: &Dataset,
    var: &Variable,
    outer: &[DimSel],
    cells: &[(usize, usize)],
) -> Result<Vec<f64>> {
    let rank = var.dims.len();
    if rank != outer.len() + 2 {
        return Err(Error::Internal(format!(
            "'{}' has {rank} dimensions, the point selection {}",
            var.name,
            outer.len() + 2
        )));
    }
    let ncells = cells.len();
    let counts: Vec<usize> = outer.iter().map(DimSel::count).collect();
    let total: usize = counts.iter().product();
    let mut out = vec![f64::NAN; total * ncells];
    if ncells == 0 || total == 0 {
        return Ok(out);
    }
    let (ny, nx) = (var.shape[rank - 2], var.shape[rank - 1]);
    if let Some(&(y, x)) = cells.iter().find(|&&(y, x)| y >= ny || x >= nx) {
        return Err(Error::Internal(format!("cell ({y}, {x}) is outside the {ny}x{nx} grid of '{}'", var.name)));
    }
    let y0 = cells.iter().map(|c| c.0).min().unwrap_or(0);
    let y1 = cells.iter().map(|c| c.0).max().unwrap_or(0);
    let x0 = cells.iter().map(|c| c.1).min().unwrap_or(0);
    let x1 = cells.iter().map(|c| c.1).max().unwrap_or(0);
    let (bh, bw) = (y1 - y0 + 1, x1 - x0 + 1);
    let boxed = bh * bw <= 65_536 || bh * bw <= 16 * ncells;
    let per_read = if boxed { bh * bw } else { 1 };
    let inner: usize = counts.iter().skip(1).product::<usize>().max(1);
    // steps per read: bounded by the values returned and by the chunks decoded for them
    // (one-step chunks of whole fields: a point series decodes a field per step)
    let decoded_per_step = var.chunks.as_ref().filter(|c| c.len() == rank && c.iter().all(|&n| n > 0)).map(|c| {
        let cover = |lo: usize, hi: usize, n: usize| (hi / n - lo / n + 1) * n;
        let mut b = cover(y0, y1, c[rank - 2]) * cover(x0, x1, c[rank - 1]) * var.dtype.size().max(1);
        for d in 1..rank - 2 {
            b *= counts[d].div_ceil(c[d]) * c[d];
        }
        b / c[0]
    });
    let by_chunks = decoded_per_step.map_or(usize::MAX, |b| (DECODED_BLOCK_BYTES / b.max(1)).max(1));
    let block = (BLOCK_VALUES / (per_read * inner)).clamp(1, by_chunks);
    let decode = Decode::of(var);
    // output strides of the outer dimensions
    let mut strides = vec![1usize; outer.len()];
    for d in (0..outer.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * counts[d + 1];
    }
    // every combination of runs of the outer dimensions, the first split in blocks
    let mut runs: Vec<Vec<(usize, DimRange)>> = outer.iter().map(DimSel::runs).collect();
    if let Some(first) = runs.first_mut() {
        *first = first
            .iter()
            .flat_map(|&(off, r)| {
                (0..r.count.div_ceil(block)).map(move |b| {
                    let k = b * block;
                    (off + k, DimRange { start: r.at(k), stride: r.stride, count: (r.count - k).min(block) })
                })
            })
            .collect();
    }
    let mut pick = vec![0usize; runs.len()];
    loop {
        let pieces: Vec<(usize, DimRange)> = pick.iter().enumerate().map(|(d, &k)| runs[d][k]).collect();
        let local: Vec<usize> = pieces.iter().map(|(_, r)| r.count).collect();
        let nlocal: usize = local.iter().product();
        // the output offset of each local outer index
        let place: Vec<usize> = (0..nlocal)
            .map(|mut k| {
                let mut o = 0;
                for d in (0..local.len()).rev() {
                    o += (pieces[d].0 + k % local[d]) * strides[d];
                    k /= local[d];
                }
                o
            })
            .collect();
        let slab =
            |ys: DimRange, xs: DimRange| Hyperslab(pieces.iter().map(|(_, r)| *r).chain([ys, xs]).collect::<Vec<_>>());
        if boxed {
            let a = reader.read(
                ds,
                var,
                &slab(DimRange { start: y0, stride: 1, count: bh }, DimRange { start: x0, stride: 1, count: bw }),
            )?;
            let v = decode.decode(&a.data, "read at points")?;
            for (k, &o) in place.iter().enumerate() {
                for (c, &(y, x)) in cells.iter().enumerate() {
                    out[o * ncells + c] = v[k * per_read + (y - y0) * bw + (x - x0)];
                }
            }
        } else {
            for (c, &(y, x)) in cells.iter().enumerate() {
                let a = reader.read(ds, var, &slab(DimRange::index(y), DimRange::index(x)))?;
                let v = decode.decode(&a.data, "read at points")?;
                for (k, &o) in place.iter().enumerate() {
                    out[o * ncells + c] = v[k];
                }
            }
        }
        // next combination
        let mut d = runs.len();
        loop {
            if d == 0 {
                return Ok(out);
            }
            d -= 1;
            pick[d] += 1;
            if pick[d] < runs[d].len() {
                break;
            }
            pick[d] = 0;
        }
    }
}
