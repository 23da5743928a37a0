//! Borrowed views of a saliency map and of a fixation list, validated once at construction.

use crate::error::MetricError;

/// A row-major `height x width` map of `f32` values (a prediction, a ground-truth saliency map or
/// a baseline). Any scale: every metric is invariant to the scale it needs to be.
#[derive(Debug, Clone, Copy)]
pub struct Map<'a> {
    data: &'a [f32],
    width: usize,
    height: usize,
}

impl<'a> Map<'a> {
    /// Checks that `data` holds exactly `width * height > 0` values. Finiteness is checked when a
    /// metric reads the map, where the error can name the pixel.
    pub fn new(data: &'a [f32], width: usize, height: usize) -> Result<Self, MetricError> {
        if width == 0 || height == 0 || data.len() != width * height {
            return Err(MetricError::Shape {
                what: "map",
                len: data.len(),
                width,
                height,
            });
        }
        Ok(Self {
            data,
            width,
            height,
        })
    }

    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }
}

/// One fixation, in integer pixel coordinates of its fixation map (row `y`, column `x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fixation {
    pub y: u32,
    pub x: u32,
}

impl Fixation {
    pub fn new(y: u32, x: u32) -> Self {
        Self { y, x }
    }
}

impl From<(u32, u32)> for Fixation {
    /// From `(y, x)`.
    fn from((y, x): (u32, u32)) -> Self {
        Self { y, x }
    }
}

/// The fixations of one image together with the size of the grid they live on (the ground-truth
/// size the prediction is resized to). Duplicates count as separate fixations, as in pysaliency;
/// a list made from a binary fixation map has none. Optionally the fixations' exact coordinates
/// come along ([`Fixations::with_coordinates`]): the shuffled AUC rescales those, not the pixels,
/// to other images' sizes, and the in-split centre bias normalises those, as pysaliency does.
#[derive(Debug, Clone, Copy)]
pub struct Fixations<'a> {
    points: &'a [Fixation],
    coordinates: Option<&'a [[f64; 2]]>,
    width: usize,
    height: usize,
}

impl<'a> Fixations<'a> {
    /// Checks that the grid is non-empty and every point lies on it. An empty list is allowed
    /// here; the fixation-based metrics then answer [`MetricError::NoFixations`].
    pub fn new(points: &'a [Fixation], width: usize, height: usize) -> Result<Self, MetricError> {
        if width == 0 || height == 0 {
            return Err(MetricError::Shape {
                what: "fixation map",
                len: 0,
                width,
                height,
            });
        }
        if let Some(bad) = points
            .iter()
            .find(|f| f.x as usize >= width || f.y as usize >= height)
        {
            return Err(MetricError::FixationOutOfBounds {
                y: bad.y,
                x: bad.x,
                width,
                height,
            });
        }
        Ok(Self {
            points,
            coordinates: None,
            width,
            height,
        })
    }

    /// Fixations with their exact coordinates: `xy[i]` = `[x, y]` of fixation `i` in 0-based
    /// pixel coordinates of the grid, fractional allowed, and `points[i]` its pixel
    /// `(⌊x⌋, ⌊y⌋)` (pysaliency's `x_int`, `y_int`). Checks as [`Fixations::new`], and that the
    /// two lists have the same length and agree (a NaN coordinate never does).
    pub fn with_coordinates(
        points: &'a [Fixation],
        xy: &'a [[f64; 2]],
        width: usize,
        height: usize,
    ) -> Result<Self, MetricError> {
        let fixations = Self::new(points, width, height)?;
        if xy.len() != points.len() {
            return Err(MetricError::Coordinates {
                index: xy.len().min(points.len()),
                x: f64::NAN,
                y: f64::NAN,
                reason: "the coordinate and pixel lists differ in length",
            });
        }
        let floor_is = |v: f64, p: u32| v.is_finite() && v >= 0.0 && v.floor() == p as f64;
        if let Some(index) = points
            .iter()
            .zip(xy)
            .position(|(p, &[x, y])| !(floor_is(x, p.x) && floor_is(y, p.y)))
        {
            return Err(MetricError::Coordinates {
                index,
                x: xy[index][0],
                y: xy[index][1],
                reason: "its pixel is not (floor(x), floor(y))",
            });
        }
        Ok(Self {
            coordinates: Some(xy),
            ..fixations
        })
    }

    pub fn points(&self) -> &'a [Fixation] {
        self.points
    }

    /// The exact coordinates `[x, y]`, if given.
    pub fn coordinates(&self) -> Option<&'a [[f64; 2]]> {
        self.coordinates
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// Row-major pixel index of each fixation.
    pub(crate) fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.points
            .iter()
            .map(|f| f.y as usize * self.width + f.x as usize)
    }
}

/// The fixations of a binary fixation map (any value > 0 is a fixated pixel, as in the MIT
/// benchmark's `fixationMap > 0`), in row-major order.
pub fn fixations_from_binary_map(map: &[f32], width: usize) -> Vec<Fixation> {
    map.iter()
        .enumerate()
        .filter(|(_, &v)| v > 0.0)
        .map(|(i, _)| Fixation::new((i / width) as u32, (i % width) as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_must_floor_to_their_pixels() {
        let pixels = [Fixation::new(2, 3), Fixation::new(0, 0)];
        let ok = [[3.999, 2.0], [0.0, 0.999]];
        let f = Fixations::with_coordinates(&pixels, &ok, 5, 4).unwrap();
        assert_eq!(f.coordinates(), Some(&ok[..]));
        let off_by_one = [[4.0, 2.0], [0.0, 0.5]];
        let nan = [[3.5, 2.5], [f64::NAN, 0.0]];
        for (bad, index) in [(&off_by_one, 0), (&nan, 1)] {
            match Fixations::with_coordinates(&pixels, bad, 5, 4) {
                Err(MetricError::Coordinates { index: i, .. }) => assert_eq!(i, index),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            Fixations::with_coordinates(&pixels, &ok[..1], 5, 4),
            Err(MetricError::Coordinates { .. })
        ));
    }
}
