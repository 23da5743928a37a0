//! A map read into `f64` (as numpy reads it for pysaliency), checked for NaN/inf and brought to a
//! target size: the single place where predictions are validated and resized. Its minimum,
//! maximum and sum are taken in the same pass, since nearly every metric needs one of them.

use crate::error::MetricError;
use crate::map::Map;
use crate::resize::resize_bilinear;

/// Map values in `f64`, row-major, with their size and summary statistics.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    pub values: Vec<f64>,
    pub width: usize,
    pub height: usize,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
}

impl Grid {
    /// Reads `map` into `f64`, failing on the first non-finite value (`what` names the map in the
    /// error), then resizes it bilinearly to `width x height` if its size differs.
    pub fn read(
        map: Map<'_>,
        what: &'static str,
        width: usize,
        height: usize,
    ) -> Result<Self, MetricError> {
        let data = map.data();
        // One vectorisable pass converts and checks; the position is looked up only on failure.
        let mut all_finite = true;
        let mut values: Vec<f64> = data
            .iter()
            .map(|&v| {
                all_finite &= v.is_finite();
                v as f64
            })
            .collect();
        if !all_finite {
            let i = data.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(MetricError::NonFinite {
                what,
                y: i / map.width(),
                x: i % map.width(),
                value: data[i],
            });
        }
        if (map.width(), map.height()) != (width, height) {
            values = resize_bilinear(&values, map.width(), map.height(), width, height);
        }
        Ok(Self::from_values(values, width, height))
    }

    /// Reads `map` at its own size.
    pub fn read_native(map: Map<'_>, what: &'static str) -> Result<Self, MetricError> {
        Self::read(map, what, map.width(), map.height())
    }

    /// Takes min, max and sum in four interleaved lanes (vectorisable; the sum's rounding differs
    /// from a sequential one only in the last bits).
    fn from_values(values: Vec<f64>, width: usize, height: usize) -> Self {
        const LANES: usize = 4;
        let mut min = [f64::INFINITY; LANES];
        let mut max = [f64::NEG_INFINITY; LANES];
        let mut sum = [0.0f64; LANES];
        let chunks = values.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for k in 0..LANES {
                let v = chunk[k];
                min[k] = if v < min[k] { v } else { min[k] };
                max[k] = if v > max[k] { v } else { max[k] };
                sum[k] += v;
            }
        }
        for (k, &v) in tail.iter().enumerate() {
            min[k] = min[k].min(v);
            max[k] = max[k].max(v);
            sum[k] += v;
        }
        Self {
            width,
            height,
            min: min.iter().copied().fold(f64::INFINITY, f64::min),
            max: max.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            sum: (sum[0] + sum[1]) + (sum[2] + sum[3]),
            values,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn mean(&self) -> f64 {
        self.sum / self.len() as f64
    }

    pub fn is_constant(&self) -> bool {
        self.min == self.max
    }
}
