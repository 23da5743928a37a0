//! Turning a saliency map into a probability distribution over pixels.

use crate::grid::Grid;

/// pysaliency's `convert_saliency_map_to_density(map, minimum_value=0)`: shift the map by its
/// minimum if that is negative, then divide by the sum; a map that sums to zero (all zeros)
/// becomes the uniform distribution. This is also what the MIT benchmark's `KLdiv.m` and
/// `similarity.m` do for non-negative maps (Bylinskii et al., TPAMI 2019, §3).
/// Computed per pixel on demand: no density map is allocated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Density {
    shift: f64,
    sum: f64,
    uniform: f64,
}

impl Density {
    pub fn of(grid: &Grid) -> Self {
        let (shift, sum) = if grid.min < 0.0 {
            (grid.min, grid.values.iter().map(|&v| v - grid.min).sum())
        } else {
            (0.0, grid.sum)
        };
        Self {
            shift,
            sum,
            uniform: 1.0 / grid.len() as f64,
        }
    }

    /// The density of a pixel whose map value is `v`.
    #[inline]
    pub fn at(&self, v: f64) -> f64 {
        if self.sum != 0.0 {
            (v - self.shift) / self.sum
        } else {
            self.uniform
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::Map;

    fn grid(values: &[f32]) -> Grid {
        Grid::read_native(Map::new(values, values.len(), 1).unwrap(), "test").unwrap()
    }

    #[test]
    fn sums_to_one_and_shifts_negative_maps() {
        let d = Density::of(&grid(&[-1.0, 0.0, 1.0]));
        assert_eq!(
            [d.at(-1.0), d.at(0.0), d.at(1.0)],
            [0.0, 1.0 / 3.0, 2.0 / 3.0]
        );
    }

    #[test]
    fn all_zero_map_is_uniform() {
        assert_eq!(Density::of(&grid(&[0.0; 4])).at(0.0), 0.25);
    }
}
