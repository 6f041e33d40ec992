//! Index selections: one strided range per dimension.

use crate::model::Variable;
use crate::{Error, Result};

/// A strided index range along one dimension: `start, start+stride, ...` (`count` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DimRange {
    pub start: usize,
    pub stride: usize,
    pub count: usize,
}

impl DimRange {
    /// The whole dimension of length `len`.
    pub fn full(len: usize) -> Self {
        DimRange { start: 0, stride: 1, count: len }
    }

    /// A single index.
    pub fn index(i: usize) -> Self {
        DimRange { start: i, stride: 1, count: 1 }
    }

    /// From an inclusive `start:stride:stop` triple, checked against `len`.
    pub fn from_inclusive(var: &Variable, dim: usize, start: usize, stride: usize, stop: usize) -> Result<Self> {
        let len = var.shape[dim];
        if stride == 0 {
            return Err(Error::InvalidRange {
                variable: var.name.clone(),
                start,
                stride,
                stop,
                reason: "stride must be at least 1",
            });
        }
        if start > stop {
            return Err(Error::InvalidRange {
                variable: var.name.clone(),
                start,
                stride,
                stop,
                reason: "start is greater than stop",
            });
        }
        if stop >= len {
            return Err(Error::IndexOutOfRange {
                variable: var.name.clone(),
                dim: var.dims[dim].clone(),
                start,
                stride,
                stop,
                size: len,
            });
        }
        Ok(DimRange { start, stride, count: (stop - start) / stride + 1 })
    }

    /// The last index selected (start when empty).
    pub fn last(&self) -> usize {
        self.start + self.count.saturating_sub(1) * self.stride
    }

    /// The `k`-th index selected.
    pub fn at(&self, k: usize) -> usize {
        self.start + k * self.stride
    }

    /// Compose: select `inner` (relative indices) out of this range.
    pub fn compose(&self, inner: &DimRange) -> DimRange {
        DimRange { start: self.at(inner.start), stride: self.stride * inner.stride, count: inner.count }
    }
}

/// A selection of a whole variable: one range per dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hyperslab(pub Vec<DimRange>);

impl Hyperslab {
    /// The whole of a variable with this shape.
    pub fn full(shape: &[usize]) -> Self {
        Hyperslab(shape.iter().map(|&n| DimRange::full(n)).collect())
    }

    /// The shape of the selected block.
    pub fn shape(&self) -> Vec<usize> {
        self.0.iter().map(|r| r.count).collect()
    }

    /// Number of elements selected.
    pub fn len(&self) -> usize {
        self.0.iter().map(|r| r.count).product()
    }

    /// True when nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Check that the slab fits the variable.
    pub fn check(&self, var: &Variable) -> Result<()> {
        if self.0.len() != var.shape.len() {
            return Err(Error::RankMismatch { variable: var.name.clone(), rank: var.shape.len(), given: self.0.len() });
        }
        for (d, r) in self.0.iter().enumerate() {
            if r.count > 0 && r.last() >= var.shape[d] {
                return Err(Error::IndexOutOfRange {
                    variable: var.name.clone(),
                    dim: var.dims[d].clone(),
                    start: r.start,
                    stride: r.stride,
                    stop: r.last(),
                    size: var.shape[d],
                });
            }
        }
        Ok(())
    }

    /// Split into consecutive sub-slabs (in row-major order) of at most `max_elems`
    /// elements each (at least one innermost row each), for streaming in bounded memory.
    pub fn blocks(&self, max_elems: usize) -> Vec<Hyperslab> {
        let n = self.0.len();
        if n == 0 || self.is_empty() {
            return vec![self.clone()];
        }
        // Find the outermost dimension `d` whose inner part fits; split along it.
        let mut inner = 1usize;
        let mut d = n;
        while d > 0 {
            let next = inner.saturating_mul(self.0[d - 1].count);
            if next > max_elems.max(1) {
                break;
            }
            inner = next;
            d -= 1;
        }
        if d == 0 {
            return vec![self.clone()];
        }
        // Dimension d-1 is split into runs of `per` indices; dims before it index by index.
        let split = d - 1;
        let per = (max_elems.max(1) / inner.max(1)).max(1);
        let mut out = Vec::new();
        let outer: Vec<usize> = self.0[..split].iter().map(|r| r.count).collect();
        let mut idx = vec![0usize; split];
        loop {
            let mut k = 0;
            while k < self.0[split].count {
                let c = per.min(self.0[split].count - k);
                let mut ranges = Vec::with_capacity(n);
                for (j, &i) in idx.iter().enumerate() {
                    ranges.push(DimRange { start: self.0[j].at(i), stride: 1, count: 1 });
                }
                let r = self.0[split];
                ranges.push(DimRange { start: r.at(k), stride: r.stride, count: c });
                ranges.extend_from_slice(&self.0[split + 1..]);
                out.push(Hyperslab(ranges));
                k += c;
            }
            if !next_index(&mut idx, |j| outer[j]) {
                return out;
            }
        }
    }
}

/// Advance a multi-index to the next one in row-major order (index `d` stays below
/// `len(d)`); false when it wraps around after the last one.
pub fn next_index(idx: &mut [usize], len: impl Fn(usize) -> usize) -> bool {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < len(d) {
            return true;
        }
        idx[d] = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_in_order() {
        let slab = Hyperslab(vec![
            DimRange { start: 1, stride: 2, count: 3 },
            DimRange { start: 0, stride: 1, count: 4 },
            DimRange { start: 2, stride: 3, count: 5 },
        ]);
        for max in [1, 3, 5, 7, 20, 25, 60, 1000] {
            let blocks = slab.blocks(max);
            let total: usize = blocks.iter().map(Hyperslab::len).sum();
            assert_eq!(total, slab.len(), "max {max}");
            // enumerate all indices in order and compare with the full slab
            let mut got = Vec::new();
            for b in &blocks {
                assert!(b.len() <= max.max(5), "block too big for max {max}");
                for i in 0..b.0[0].count {
                    for j in 0..b.0[1].count {
                        for k in 0..b.0[2].count {
                            got.push((b.0[0].at(i), b.0[1].at(j), b.0[2].at(k)));
                        }
                    }
                }
            }
            let mut want = Vec::new();
            for i in 0..3 {
                for j in 0..4 {
                    for k in 0..5 {
                        want.push((slab.0[0].at(i), slab.0[1].at(j), slab.0[2].at(k)));
                    }
                }
            }
            assert_eq!(got, want, "max {max}");
        }
    }
}
