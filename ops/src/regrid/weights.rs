//! Regridding weights: a sparse matrix (compressed rows, one row per target cell) and
//! its application to 2-D fields with adaptive masking.

use crate::{Error, Result};
use rayon::prelude::*;
use std::io::{Read, Write};
use std::path::Path;

/// A sparse weight matrix: target cell `t` is `sum(val[k] * src[col[k]])` for `k` in
/// `row[t]..row[t + 1]`. For nearest and bilinear the weights of a covered target sum
/// to 1; for conservative they are the fractions of the target cell's area covered by
/// each source cell (summing to the covered fraction).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    pub n_src: usize,
    pub n_dst: usize,
    pub row: Vec<u64>,
    pub col: Vec<u32>,
    pub val: Vec<f64>,
}

const MAGIC: &[u8; 8] = b"CRWGT01\n";

/// The part of the source grid that weights use: rows `y0..y0+ny`, columns
/// `x0..x0+nx` (of a grid `nx_full` wide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub y0: usize,
    pub ny: usize,
    pub x0: usize,
    pub nx: usize,
}

impl Weights {
    /// Build from per-target lists of (source, weight).
    pub fn from_rows(n_src: usize, rows: Vec<Vec<(u32, f64)>>) -> Weights {
        let mut w = Weights { n_src, n_dst: rows.len(), row: Vec::with_capacity(rows.len() + 1), ..Weights::default() };
        let nnz: usize = rows.iter().map(Vec::len).sum();
        w.col.reserve(nnz);
        w.val.reserve(nnz);
        w.row.push(0);
        for r in rows {
            for (c, v) in r {
                w.col.push(c);
                w.val.push(v);
            }
            w.row.push(w.col.len() as u64);
        }
        w
    }

    /// Build from (target, source, weight) triples in any order.
    pub fn from_triples(n_src: usize, n_dst: usize, mut t: Vec<(u32, u32, f64)>) -> Weights {
        t.par_sort_unstable_by_key(|e| (e.0, e.1));
        let mut w = Weights { n_src, n_dst, row: vec![0; n_dst + 1], ..Weights::default() };
        w.col = t.iter().map(|e| e.1).collect();
        w.val = t.iter().map(|e| e.2).collect();
        for e in &t {
            w.row[e.0 as usize + 1] += 1;
        }
        for i in 0..n_dst {
            w.row[i + 1] += w.row[i];
        }
        w
    }

    /// Number of stored weights.
    pub fn nnz(&self) -> usize {
        self.col.len()
    }

    /// Approximate memory size in bytes.
    pub fn bytes(&self) -> usize {
        self.row.len() * 8 + self.col.len() * 12 + 64
    }

    /// The (source, weight) pairs of target `t`.
    pub fn row_of(&self, t: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        #[allow(clippy::cast_possible_truncation)]
        let (a, b) = (self.row[t] as usize, self.row[t + 1] as usize);
        self.col[a..b].iter().zip(&self.val[a..b]).map(|(&c, &v)| (c as usize, v))
    }

    /// Sum of the weights of each target.
    pub fn row_sums(&self) -> Vec<f64> {
        (0..self.n_dst).map(|t| self.row_of(t).map(|(_, v)| v).sum()).collect()
    }

    /// The smallest window of a `ny_full` x `nx_full` source grid holding every source
    /// cell used, and the weights re-indexed to it.
    pub fn windowed(&self, nx_full: usize) -> (Window, Weights) {
        let nx_full = nx_full.max(1);
        let (mut y0, mut y1, mut x0, mut x1) = (usize::MAX, 0, usize::MAX, 0);
        for &c in &self.col {
            let (y, x) = (c as usize / nx_full, c as usize % nx_full);
            y0 = y0.min(y);
            y1 = y1.max(y);
            x0 = x0.min(x);
            x1 = x1.max(x);
        }
        if y0 == usize::MAX {
            let win = Window { y0: 0, ny: 1, x0: 0, nx: 1 };
            return (win, Weights { n_src: 1, ..self.clone() });
        }
        let win = Window { y0, ny: y1 - y0 + 1, x0, nx: x1 - x0 + 1 };
        let col = self
            .col
            .iter()
            .map(|&c| {
                let (y, x) = (c as usize / nx_full, c as usize % nx_full);
                u32::try_from((y - y0) * win.nx + (x - x0)).unwrap_or(u32::MAX)
            })
            .collect();
        (win, Weights { n_src: win.ny * win.nx, n_dst: self.n_dst, row: self.row.clone(), col, val: self.val.clone() })
    }

    /// Apply to one field (`NaN` = missing) into `out`: a target gets the weighted mean
    /// of its valid sources when their weight reaches `threshold` (`> 0` when the
    /// threshold is 0), else `NaN`.
    pub fn apply(&self, src: &[f64], threshold: f64, out: &mut [f64]) {
        let go = |t0: usize, chunk: &mut [f64]| {
            for (i, o) in chunk.iter_mut().enumerate() {
                let t = t0 + i;
                #[allow(clippy::cast_possible_truncation)]
                let (a, b) = (self.row[t] as usize, self.row[t + 1] as usize);
                let mut s = 0.0;
                let mut wv = 0.0;
                for k in a..b {
                    let x = src[self.col[k] as usize];
                    if !x.is_nan() {
                        s += self.val[k] * x;
                        wv += self.val[k];
                    }
                }
                *o = if wv > 0.0 && wv >= threshold - 1e-9 { s / wv } else { f64::NAN };
            }
        };
        const CHUNK: usize = 8192;
        if self.n_dst > 2 * CHUNK {
            out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| go(c * CHUNK, chunk));
        } else {
            go(0, out);
        }
    }

    /// Write to a file (atomically: a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            f.write_all(MAGIC)?;
            for n in [self.n_src as u64, self.n_dst as u64, self.col.len() as u64] {
                f.write_all(&n.to_le_bytes())?;
            }
            for r in &self.row {
                f.write_all(&r.to_le_bytes())?;
            }
            for c in &self.col {
                f.write_all(&c.to_le_bytes())?;
            }
            for v in &self.val {
                f.write_all(&v.to_le_bytes())?;
            }
            f.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Write { path: path.to_path_buf(), message: e.to_string() }
        })
    }

    /// Read a file written by [`Weights::save`].
    pub fn load(path: &Path) -> Result<Weights> {
        let bad = |m: &str| Error::File { path: path.to_path_buf(), message: m.to_string() };
        let mut bytes = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut bytes)?;
        if bytes.len() < 32 || &bytes[..8] != MAGIC {
            return Err(bad("not a cirrus weights file"));
        }
        let u = |i: usize| u64::from_le_bytes(bytes[8 + 8 * i..16 + 8 * i].try_into().unwrap_or([0; 8]));
        let (n_src, n_dst, nnz) = (u(0), u(1), u(2));
        let (n_src, n_dst, nnz) = (
            usize::try_from(n_src).map_err(|_| bad("size"))?,
            usize::try_from(n_dst).map_err(|_| bad("size"))?,
            usize::try_from(nnz).map_err(|_| bad("size"))?,
        );
        let need = 32 + (n_dst + 1) * 8 + nnz * 12;
        if bytes.len() != need {
            return Err(bad("truncated weights file"));
        }
        let mut p = 32;
        let mut row = Vec::with_capacity(n_dst + 1);
        for _ in 0..=n_dst {
            row.push(u64::from_le_bytes(bytes[p..p + 8].try_into().unwrap_or([0; 8])));
            p += 8;
        }
        let mut col = Vec::with_capacity(nnz);
        for _ in 0..nnz {
            col.push(u32::from_le_bytes(bytes[p..p + 4].try_into().unwrap_or([0; 4])));
            p += 4;
        }
        let mut val = Vec::with_capacity(nnz);
        for _ in 0..nnz {
            val.push(f64::from_le_bytes(bytes[p..p + 8].try_into().unwrap_or([0; 8])));
            p += 8;
        }
        let w = Weights { n_src, n_dst, row, col, val };
        if w.row.last().copied() != Some(nnz as u64)
            || w.row.windows(2).any(|r| r[1] < r[0])
            || w.col.iter().any(|&c| c as usize >= n_src.max(1))
        {
            return Err(bad("inconsistent weights file"));
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_with_adaptive_masking() {
        // two targets: the mean of sources 0,1 (half each); source 2 with 0.3 of its area
        let w = Weights::from_rows(3, vec![vec![(0, 0.5), (1, 0.5)], vec![(2, 0.3)]]);
        let mut out = vec![0.0; 2];
        w.apply(&[1.0, 3.0, 5.0], 0.5, &mut out);
        assert_eq!(out[0], 2.0);
        assert!(out[1].is_nan(), "covered 0.3 < 0.5");
        w.apply(&[1.0, f64::NAN, 5.0], 0.5, &mut out);
        assert_eq!(out[0], 1.0, "renormalised over the valid half");
        w.apply(&[1.0, f64::NAN, 5.0], 0.6, &mut out);
        assert!(out[0].is_nan());
        w.apply(&[1.0, 3.0, 5.0], 0.0, &mut out);
        assert_eq!(out[1], 5.0);
    }

    #[test]
    fn triples_windows_and_files() {
        let w = Weights::from_triples(12, 2, vec![(1, 7, 0.25), (0, 5, 1.0), (1, 10, 0.75)]);
        assert_eq!(w.row, vec![0, 1, 3]);
        assert_eq!(w.col, vec![5, 7, 10]);
        let (win, local) = w.windowed(4);
        assert_eq!(win, Window { y0: 1, ny: 2, x0: 1, nx: 3 });
        assert_eq!(local.col, vec![0, 2, 4]);
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("w.bin");
        w.save(&p).expect("save");
        assert_eq!(Weights::load(&p).expect("load"), w);
        std::fs::write(&p, b"CRWGT01\nxxxx").expect("write");
        assert!(Weights::load(&p).is_err());
    }
}
