//! Area under the ROC curve, the three ways the benchmarks define it: fixated pixels against
//! unfixated ones with the fixated values as thresholds (Judd), against uniformly drawn pixels with
//! thresholds every 0.1 (Borji), and against other images' fixations (shuffled).

pub(crate) mod borji;
pub(crate) mod judd;
pub(crate) mod shuffled;

/// The fixated values, sorted and grouped, with a constant-time lookup of how many distinct
/// fixated values are ≤ any value: what lets the exact AUCs pass over the map once without
/// sorting it.
pub(crate) struct Positives {
    /// Distinct fixated values, ascending.
    pub distinct: Vec<f64>,
    /// `below_or_at[j]` = number of fixations (duplicates counted) with value ≤ `distinct[j]`.
    pub below_or_at: Vec<u64>,
    /// Number of fixations.
    pub total: u64,
    /// Bucket index over `distinct`: bucket `b` starts at `first[b]`.
    first: Vec<u32>,
    last_bucket: usize,
    lo: f64,
    scale: f64,
}

impl Positives {
    pub fn new(mut values: Vec<f64>) -> Self {
        values.sort_unstable_by(f64::total_cmp);
        let mut distinct: Vec<f64> = Vec::new();
        let mut below_or_at: Vec<u64> = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            if distinct.last() == Some(&v) {
                *below_or_at.last_mut().expect("pushed with distinct") = i as u64 + 1;
            } else {
                distinct.push(v);
                below_or_at.push(i as u64 + 1);
            }
        }
        let buckets = (2 * distinct.len()).max(16);
        let (lo, hi) = match (distinct.first(), distinct.last()) {
            (Some(&lo), Some(&hi)) => (lo, hi),
            _ => (0.0, 0.0),
        };
        let scale = if hi > lo {
            buckets as f64 / (hi - lo)
        } else {
            0.0
        };
        let mut positives = Self {
            distinct,
            below_or_at,
            total: values.len() as u64,
            first: Vec::new(),
            last_bucket: buckets - 1,
            lo,
            scale,
        };
        // first[b] = number of distinct values whose bucket is < b.
        let mut first = vec![0u32; buckets + 1];
        for &t in &positives.distinct {
            first[positives.bucket(t) + 1] += 1;
        }
        for b in 1..first.len() {
            first[b] += first[b - 1];
        }
        positives.first = first;
        positives
    }

    /// The bucket of `v`, clamped to the table; monotone non-decreasing in `v`, which is all the
    /// exactness of [`Self::count_le`] rests on.
    #[inline]
    fn bucket(&self, v: f64) -> usize {
        // Clamped in floating point (max/min are monotone), so the conversion never saturates.
        ((v - self.lo) * self.scale).clamp(0.0, self.last_bucket as f64) as usize
    }

    /// Number of distinct fixated values ≤ `v`. Values in lower buckets are all ≤ `v` and values
    /// in higher buckets all > `v` (monotone buckets), so only `v`'s own bucket is scanned.
    #[inline]
    pub fn count_le(&self, v: f64) -> usize {
        if v < self.lo {
            return 0;
        }
        let b = self.bucket(v);
        let (start, end) = (self.first[b] as usize, self.first[b + 1] as usize);
        start
            + self.distinct[start..end]
                .iter()
                .take_while(|&&t| t <= v)
                .count()
    }

    /// Number of fixations (duplicates counted) with value ≥ `distinct[j]`.
    pub fn at_or_above(&self, j: usize) -> u64 {
        self.total - if j == 0 { 0 } else { self.below_or_at[j - 1] }
    }
}

/// Trapezoidal area under the polyline through `(0,0)`, `points` and `(1,1)`, as `np.trapz(y, x)`.
pub(crate) fn trapezoid_area(points: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (mut area, mut last) = (0.0, (0.0, 0.0));
    for (x, y) in points.chain(std::iter::once((1.0, 1.0))) {
        area += (x - last.0) * (y + last.1) / 2.0;
        last = (x, y);
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_le_equals_a_linear_count() {
        let values = vec![0.5, 0.1, 0.1, 0.9, 0.3, 0.5, 0.5, 1e-9, 0.3000001];
        let p = Positives::new(values);
        assert_eq!(p.distinct.len(), 6);
        assert_eq!(p.total, 9);
        for v in [
            -1.0, 0.0, 1e-9, 0.05, 0.1, 0.2, 0.3, 0.3000001, 0.4, 0.5, 0.7, 0.9, 2.0,
        ] {
            let want = p.distinct.iter().filter(|&&t| t <= v).count();
            assert_eq!(p.count_le(v), want, "v = {v}");
        }
        assert_eq!(p.at_or_above(0), 9);
        assert_eq!(p.at_or_above(5), 1);
    }

    #[test]
    fn a_single_value_works() {
        let p = Positives::new(vec![0.4, 0.4]);
        assert_eq!(
            (p.count_le(0.39), p.count_le(0.4), p.count_le(1.0)),
            (0, 1, 1)
        );
    }
}
