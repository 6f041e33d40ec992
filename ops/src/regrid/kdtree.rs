//! A static k-d tree over points on the unit sphere (as 3-D vectors), for the nearest
//! and the k nearest source cell centres of a target point. Distances are chords; the
//! order is the same as for great-circle distances.

/// A point of the tree: its 3-D position and the caller's index.
#[derive(Clone, Copy, Debug)]
struct Node {
    p: [f64; 3],
    index: u32,
    /// Split axis of the subtree rooted here (0-2).
    axis: u8,
}

/// A k-d tree over unit vectors.
#[derive(Clone, Debug, Default)]
pub struct KdTree {
    /// Nodes in implicit order: the root of `[lo, hi)` is at its middle.
    nodes: Vec<Node>,
}

/// The unit vector of a longitude/latitude in degrees.
pub fn unit(lon: f64, lat: f64) -> [f64; 3] {
    let (l, p) = (lon.to_radians(), lat.to_radians());
    [p.cos() * l.cos(), p.cos() * l.sin(), p.sin()]
}

/// Squared chord between two unit vectors.
pub fn chord2(a: [f64; 3], b: [f64; 3]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// The great-circle angle (radians) of a squared chord.
pub fn angle_of_chord2(c2: f64) -> f64 {
    2.0 * (c2.sqrt() / 2.0).clamp(0.0, 1.0).asin()
}

impl KdTree {
    /// A tree over the points `(lon, lat)` for which `keep(i)` holds.
    pub fn new(lon: &[f64], lat: &[f64], keep: impl Fn(usize) -> bool) -> KdTree {
        let mut nodes: Vec<Node> = (0..lon.len())
            .filter(|&i| keep(i) && lon[i].is_finite() && lat[i].is_finite())
            .map(|i| Node { p: unit(lon[i], lat[i]), index: u32::try_from(i).unwrap_or(u32::MAX), axis: 0 })
            .collect();
        build(&mut nodes);
        KdTree { nodes }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True without points.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The index and squared chord of the point nearest to `q`.
    pub fn nearest(&self, q: [f64; 3]) -> Option<(usize, f64)> {
        let mut best = (usize::MAX, f64::INFINITY);
        self.search1(0, self.nodes.len(), q, &mut best);
        (best.0 != usize::MAX).then_some(best)
    }

    fn search1(&self, lo: usize, hi: usize, q: [f64; 3], best: &mut (usize, f64)) {
        if lo >= hi {
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let n = &self.nodes[mid];
        let d = chord2(n.p, q);
        if d < best.1 || (d == best.1 && (n.index as usize) < best.0) {
            *best = (n.index as usize, d);
        }
        let ax = n.axis as usize;
        let diff = q[ax] - n.p[ax];
        let (first, second) = if diff <= 0.0 { ((lo, mid), (mid + 1, hi)) } else { ((mid + 1, hi), (lo, mid)) };
        self.search1(first.0, first.1, q, best);
        if diff * diff <= best.1 {
            self.search1(second.0, second.1, q, best);
        }
    }

    /// The `k` nearest points to `q` (index, squared chord), nearest first.
    pub fn nearest_k(&self, q: [f64; 3], k: usize) -> Vec<(usize, f64)> {
        let mut best: Vec<(usize, f64)> = Vec::with_capacity(k + 1);
        self.search_k(0, self.nodes.len(), q, k, &mut best);
        best
    }

    fn search_k(&self, lo: usize, hi: usize, q: [f64; 3], k: usize, best: &mut Vec<(usize, f64)>) {
        if lo >= hi || k == 0 {
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let n = &self.nodes[mid];
        let d = chord2(n.p, q);
        let worst = if best.len() < k { f64::INFINITY } else { best[best.len() - 1].1 };
        if d < worst {
            let pos = best.partition_point(|b| b.1 < d || (b.1 == d && b.0 < n.index as usize));
            best.insert(pos, (n.index as usize, d));
            best.truncate(k);
        }
        let ax = n.axis as usize;
        let diff = q[ax] - n.p[ax];
        let (first, second) = if diff <= 0.0 { ((lo, mid), (mid + 1, hi)) } else { ((mid + 1, hi), (lo, mid)) };
        self.search_k(first.0, first.1, q, k, best);
        let worst = if best.len() < k { f64::INFINITY } else { best[best.len() - 1].1 };
        if diff * diff <= worst {
            self.search_k(second.0, second.1, q, k, best);
        }
    }
}

/// Arrange `nodes` so that each range's middle splits it along its widest axis.
fn build(nodes: &mut [Node]) {
    if nodes.len() <= 1 {
        if let Some(n) = nodes.first_mut() {
            n.axis = 0;
        }
        return;
    }
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for n in nodes.iter() {
        for a in 0..3 {
            lo[a] = lo[a].min(n.p[a]);
            hi[a] = hi[a].max(n.p[a]);
        }
    }
    let axis = (0..3).max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b]))).unwrap_or(0);
    let mid = nodes.len() / 2;
    nodes.select_nth_unstable_by(mid, |a, b| a.p[axis].total_cmp(&b.p[axis]));
    #[allow(clippy::cast_possible_truncation)]
    {
        nodes[mid].axis = axis as u8;
    }
    let (left, right) = nodes.split_at_mut(mid);
    build(left);
    build(&mut right[1..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_matches_brute_force() {
        let mut lon = vec![];
        let mut lat = vec![];
        let mut s = 12345u64;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            #[allow(clippy::cast_precision_loss)]
            let r = (s >> 11) as f64 / (1u64 << 53) as f64;
            r
        };
        for _ in 0..2000 {
            lon.push(rnd() * 360.0 - 180.0);
            lat.push((rnd() * 2.0 - 1.0).asin().to_degrees());
        }
        let t = KdTree::new(&lon, &lat, |_| true);
        for _ in 0..300 {
            let q = unit(rnd() * 360.0, rnd() * 180.0 - 90.0);
            let brute: Vec<(usize, f64)> = {
                let mut v: Vec<(usize, f64)> = (0..lon.len()).map(|i| (i, chord2(unit(lon[i], lat[i]), q))).collect();
                v.sort_by(|a, b| a.1.total_cmp(&b.1));
                v.truncate(4);
                v
            };
            assert_eq!(t.nearest(q).map(|x| x.0), Some(brute[0].0));
            let k: Vec<usize> = t.nearest_k(q, 4).iter().map(|x| x.0).collect();
            assert_eq!(k, brute.iter().map(|x| x.0).collect::<Vec<_>>());
        }
    }
}
