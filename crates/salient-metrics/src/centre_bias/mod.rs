//! The centre bias as pysaliency models it (`pysaliency.baseline_utils.BaselineModel`): the
//! baseline that information gain is measured against, and optionally the source of the shuffled
//! AUC's negatives.
//!
//! The model holds fixations in normalised coordinates (`x / width`, `y / height` of their own
//! image) and turns them into a log-density on any grid, `W × H`:
//!
//! 1. fixation map: each fixation adds 1 at pixel `(⌊x·W⌋, ⌊y·H⌋)` (repeats count; pysaliency's
//!    `fill_fixation_map`);
//! 2. blur: `scipy.ndimage.gaussian_filter` with `σ_x = bandwidth·W`, `σ_y = bandwidth·H`,
//!    `reflect` border, kernel truncated at `int(4σ + 0.5)` pixels (see [`gaussian_filter`]);
//! 3. regularise: `Z = (1 − eps)·Z + eps / (W·H)`;
//! 4. normalise: `log Z − logsumexp(log Z)`.
//!
//! With `keep_aspect`, coordinates are normalised by the larger side of their image and both
//! factors above are the larger side of the grid (`max(W, H)`), so the Gaussian is round.
//!
//! Because the blurred map sums to the number of fixations `M` (the reflect border keeps the
//! mass), the density is `(1 − s)·KDE + s·uniform` with the uniform share
//! `s = eps / ((1 − eps)·M + eps)`; [`eps_for_uniform_share`] converts back.
//!
//! Reference: Kümmerer, Wallis, Bethge, "Information-theoretic model comparison unifies saliency
//! metrics", PNAS 2015 (the centre-bias baseline of IG); pysaliency 0.2.22 `BaselineModel`.
//!
//! [`gaussian_filter`]: crate::gaussian_filter

mod error;
mod file;
mod fit;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

pub use error::CentreBiasError;
pub use fit::{CentreBiasFit, FitOptions, FitPoint};

use crate::gaussian::gaussian_filter;
use crate::map::Fixations;

/// Default kernel width, as a fraction of the image side (σ = 22 px at 800 px): the
/// cross-validated optimum on OSIE (700 images, 98,321 fixations, 10 folds: 0.5701 bits per
/// fixation over uniform, against 0.5680 at 0.018 and 0.5626 at 0.050; docs/metrics.md). For
/// comparison, DeepGaze III's MIT1003 centre bias used 10^-1.67 ≈ 0.021.
pub const DEFAULT_BANDWIDTH: f64 = 0.028;
/// Default `eps` (pysaliency's parameter): ½ gives the uniform floor the mass of one fixation,
/// a uniform share of `1/(M + 1)` for `M` fixations. Small enough to cost nothing where fixations
/// are dense (on OSIE any share ≤ 3e-5 scores the same), large enough that a scored fixation far
/// from every baseline fixation is not credited tens of bits of IG, as pysaliency's own default
/// (`1e-20`) would.
pub const DEFAULT_EPS: f64 = 0.5;

/// The model's parameters; see the module documentation for where each enters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CentreBiasParams {
    /// Width of the Gaussian as a fraction of the grid side: `σ_x = bandwidth·W`,
    /// `σ_y = bandwidth·H` (with `keep_aspect`, both `bandwidth·max(W, H)`). `≥ 0`.
    pub bandwidth: f64,
    /// Weight of the uniform map in `(1 − eps)·Z + eps/(W·H)`, before normalising (pysaliency's
    /// `eps`). In `(0, 1]`: zero would give pixels far from every fixation a log-density of −∞.
    pub eps: f64,
    /// Normalise coordinates by the larger image side (round kernel) instead of per axis.
    pub keep_aspect: bool,
}

impl Default for CentreBiasParams {
    fn default() -> Self {
        Self {
            bandwidth: DEFAULT_BANDWIDTH,
            eps: DEFAULT_EPS,
            keep_aspect: false,
        }
    }
}

impl CentreBiasParams {
    pub(crate) fn validate(&self) -> Result<(), CentreBiasError> {
        if !(self.bandwidth.is_finite() && self.bandwidth >= 0.0) {
            return Err(CentreBiasError::Parameter {
                name: "bandwidth",
                value: self.bandwidth,
                expected: "finite and ≥ 0",
            });
        }
        if !(self.eps > 0.0 && self.eps <= 1.0) {
            return Err(CentreBiasError::Parameter {
                name: "eps",
                value: self.eps,
                expected: "in (0, 1]",
            });
        }
        Ok(())
    }
}

/// pysaliency's `eps` that makes the share `share` of the density uniform for a model of `count`
/// fixations: `eps = s·M / (1 − s + s·M)` (the inverse of `s = eps / ((1 − eps)·M + eps)`).
pub fn eps_for_uniform_share(share: f64, count: usize) -> f64 {
    let m = count as f64;
    share * m / (1.0 - share + share * m)
}

/// The uniform share of the density of a model of `count` fixations with pysaliency's `eps`:
/// `s = eps / ((1 − eps)·M + eps)`.
pub fn uniform_share(eps: f64, count: usize) -> f64 {
    eps / ((1.0 - eps) * count as f64 + eps)
}

/// One image's fixations in 0-based pixel coordinates of the image file, `[x, y]` (x to the
/// right, y down, fractional allowed: the fixated pixel is `(⌊x⌋, ⌊y⌋)`), with the image's size.
#[derive(Debug, Clone, Copy)]
pub struct ImageFixations<'a> {
    pub width: usize,
    pub height: usize,
    pub xy: &'a [[f64; 2]],
}

impl<'a> ImageFixations<'a> {
    /// Views of `(width, height, [x, y] points)` images, as readers hand them over.
    pub fn of_images(images: &'a [(usize, usize, Vec<[f64; 2]>)]) -> Vec<Self> {
        images
            .iter()
            .map(|(width, height, xy)| ImageFixations {
                width: *width,
                height: *height,
                xy,
            })
            .collect()
    }

    /// Checks the size and that every point is finite with `0 ≤ x ≤ width`, `0 ≤ y ≤ height`;
    /// `image` is this image's position, for the error.
    pub(crate) fn validate(&self, image: usize) -> Result<(), CentreBiasError> {
        if self.width == 0 || self.height == 0 {
            return Err(CentreBiasError::EmptyImage {
                image,
                width: self.width,
                height: self.height,
            });
        }
        let inside = |&[x, y]: &[f64; 2]| {
            (0.0..=self.width as f64).contains(&x) && (0.0..=self.height as f64).contains(&y)
        };
        match self.xy.iter().position(|p| !inside(p)) {
            None => Ok(()),
            Some(index) => Err(CentreBiasError::Coordinate {
                image,
                index,
                x: self.xy[index][0],
                y: self.xy[index][1],
                width: self.width,
                height: self.height,
            }),
        }
    }

    /// The divisors pysaliency's `normalize_fixations` uses: `(width, height)`, or the larger side
    /// twice with `keep_aspect`.
    fn normalisers(&self, keep_aspect: bool) -> (f64, f64) {
        if keep_aspect {
            let side = self.width.max(self.height) as f64;
            (side, side)
        } else {
            (self.width as f64, self.height as f64)
        }
    }

    /// The points in normalised coordinates, as `normalize_fixations` computes them.
    pub(crate) fn normalised(&self, keep_aspect: bool) -> impl Iterator<Item = [f64; 2]> + '_ {
        let (nx, ny) = self.normalisers(keep_aspect);
        self.xy.iter().map(move |&[x, y]| [x / nx, y / ny])
    }

    /// Row-major index of each fixated pixel `(⌊x⌋, ⌊y⌋)` on the image's own grid; a point on the
    /// right or bottom edge (`x = width`) counts on the last pixel.
    pub(crate) fn pixel_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.xy.iter().map(|&[x, y]| {
            let px = (x as usize).min(self.width - 1);
            let py = (y as usize).min(self.height - 1);
            py * self.width + px
        })
    }
}

/// Values computed once per grid size and shared between threads; concurrent requests for the
/// same size wait for one computation.
struct PerSize<T> {
    cells: Mutex<HashMap<(usize, usize), SizeCell<T>>>,
}

/// One grid size's value, computed at most once.
type SizeCell<T> = Arc<OnceLock<Arc<[T]>>>;

impl<T> Default for PerSize<T> {
    fn default() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> PerSize<T> {
    fn get_or(&self, size: (usize, usize), compute: impl FnOnce() -> Vec<T>) -> Arc<[T]> {
        let cell = {
            // A panic elsewhere while holding the lock cannot leave the map inconsistent.
            let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(cells.entry(size).or_default())
        };
        Arc::clone(cell.get_or_init(|| compute().into()))
    }
}

/// pysaliency's centre-bias model (`BaselineModel`): fixations in normalised coordinates and the
/// parameters that turn them into a density on any grid (docs/metrics.md: the recipe).
/// Densities are computed once per grid size and cached (`W·H` `f64`s each).
///
/// ```
/// use salient_metrics::{CentreBiasModel, CentreBiasParams, ImageFixations};
/// // Fixations in pixels of their own 40x30 image ([x, y]; pixel (3, 2) twice).
/// let image = ImageFixations { width: 40, height: 30, xy: &[[20.5, 15.0], [3.999, 2.0], [3.0, 2.5]] };
/// let model = CentreBiasModel::from_images(&[image], CentreBiasParams::default(), "example")?;
/// let log_density = model.log_density(64, 48)?; // on any grid: 48 rows of 64, Σ exp = 1
/// let total: f64 = log_density.iter().map(|v| v.exp()).sum();
/// assert!((total - 1.0).abs() < 1e-12);
/// # Ok::<(), salient_metrics::CentreBiasError>(())
/// ```
pub struct CentreBiasModel {
    xy: Vec<[f64; 2]>,
    params: CentreBiasParams,
    source: String,
    log_densities: PerSize<f64>,
    counts: PerSize<u32>,
}

impl fmt::Debug for CentreBiasModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CentreBiasModel")
            .field("fixations", &self.xy.len())
            .field("params", &self.params)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Clone for CentreBiasModel {
    fn clone(&self) -> Self {
        Self {
            xy: self.xy.clone(),
            params: self.params,
            source: self.source.clone(),
            log_densities: PerSize::default(),
            counts: PerSize::default(),
        }
    }
}

impl CentreBiasModel {
    /// A model of fixations already in normalised coordinates `[x, y]` (each in `[0, 1]`; with
    /// `keep_aspect`, divided by the larger side of their image). `source` says where they come
    /// from (it is saved with the model).
    pub fn new(
        xy: Vec<[f64; 2]>,
        params: CentreBiasParams,
        source: impl Into<String>,
    ) -> Result<Self, CentreBiasError> {
        params.validate()?;
        if xy.is_empty() {
            return Err(CentreBiasError::NoFixations);
        }
        let valid = |&[x, y]: &[f64; 2]| (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y);
        if let Some(index) = xy.iter().position(|p| !valid(p)) {
            return Err(CentreBiasError::NormalisedCoordinate {
                index,
                x: xy[index][0],
                y: xy[index][1],
            });
        }
        Ok(Self {
            xy,
            params,
            source: source.into(),
            log_densities: PerSize::default(),
            counts: PerSize::default(),
        })
    }

    /// A model of images' fixations in pixel coordinates, normalised per image as pysaliency's
    /// `normalize_fixations` does (`x / width`, `y / height`; with `params.keep_aspect`, both by
    /// the larger side).
    pub fn from_images(
        images: &[ImageFixations<'_>],
        params: CentreBiasParams,
        source: impl Into<String>,
    ) -> Result<Self, CentreBiasError> {
        for (i, image) in images.iter().enumerate() {
            image.validate(i)?;
        }
        let xy = images
            .iter()
            .flat_map(|image| image.normalised(params.keep_aspect))
            .collect();
        Self::new(xy, params, source)
    }

    /// A model of the fixations the metrics take ([`Fixations`]): their exact coordinates when
    /// given ([`Fixations::with_coordinates`]), else pixel `(x, y)` read as the point `(x, y)`
    /// (what pysaliency does with integer coordinates).
    pub fn from_fixation_grids(
        grids: &[Fixations<'_>],
        params: CentreBiasParams,
        source: impl Into<String>,
    ) -> Result<Self, CentreBiasError> {
        let points: Vec<Vec<[f64; 2]>> = grids
            .iter()
            .map(|g| match g.coordinates() {
                Some(xy) => xy.to_vec(),
                None => g
                    .points()
                    .iter()
                    .map(|f| [f.x as f64, f.y as f64])
                    .collect(),
            })
            .collect();
        let images: Vec<ImageFixations<'_>> = grids
            .iter()
            .zip(&points)
            .map(|(g, xy)| ImageFixations {
                width: g.width(),
                height: g.height(),
                xy,
            })
            .collect();
        Self::from_images(&images, params, source)
    }

    pub fn params(&self) -> CentreBiasParams {
        self.params
    }

    /// The fixations, `[x, y]` in normalised coordinates.
    pub fn fixations(&self) -> &[[f64; 2]] {
        &self.xy
    }

    /// Where the fixations come from (free text, saved with the model).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of fixations.
    pub fn len(&self) -> usize {
        self.xy.len()
    }

    /// Always false: a model has at least one fixation.
    pub fn is_empty(&self) -> bool {
        self.xy.is_empty()
    }

    /// The share of the density that is uniform, `eps / ((1 − eps)·M + eps)`.
    pub fn uniform_share(&self) -> f64 {
        uniform_share(self.params.eps, self.xy.len())
    }

    fn check_grid(width: usize, height: usize) -> Result<(), CentreBiasError> {
        if width == 0 || height == 0 {
            return Err(CentreBiasError::EmptyGrid { width, height });
        }
        Ok(())
    }

    /// The fixation map on a `width × height` grid (row-major, `height·width` counts): pixel
    /// `(⌊x·W⌋, ⌊y·H⌋)` per fixation, as pysaliency's `fill_fixation_map`. These are also the
    /// shuffled AUC's negatives when the baseline's fixations are asked for. Where pysaliency
    /// raises instead: a point on the right/bottom edge (`x = 1`) counts on the last pixel, and
    /// with `keep_aspect` a point beyond a grid of another aspect ratio is left out.
    pub fn fixation_counts(
        &self,
        width: usize,
        height: usize,
    ) -> Result<Arc<[u32]>, CentreBiasError> {
        Self::check_grid(width, height)?;
        Ok(self
            .counts
            .get_or((width, height), || self.compute_counts(width, height)))
    }

    fn compute_counts(&self, width: usize, height: usize) -> Vec<u32> {
        fill_fixation_map(&self.xy, self.params.keep_aspect, width, height)
    }

    /// The natural-log density on a `width × height` grid (row-major, `height·width` values,
    /// `Σ exp = 1`), pysaliency's `BaselineModel.log_density` for a stimulus of that size (to
    /// ≤1e-9 absolute, tested; in practice ~1e-15). Computed once per size.
    pub fn log_density(&self, width: usize, height: usize) -> Result<Arc<[f64]>, CentreBiasError> {
        let counts = self.fixation_counts(width, height)?;
        Ok(self.log_densities.get_or((width, height), || {
            self.compute_log_density(&counts, width, height)
        }))
    }

    fn compute_log_density(&self, counts: &[u32], width: usize, height: usize) -> Vec<f64> {
        let blurred = blur_fixation_map(counts, self.params, width, height);
        log_normalised_mixture(&blurred, self.params.eps)
    }

    /// The density (`exp` of [`Self::log_density`]), summing to 1.
    pub fn density(&self, width: usize, height: usize) -> Result<Vec<f64>, CentreBiasError> {
        Ok(self
            .log_density(width, height)?
            .iter()
            .map(|v| v.exp())
            .collect())
    }
}

/// The factors that map normalised coordinates onto a `width × height` grid: `(W, H)`, or the
/// larger side twice with `keep_aspect`.
fn grid_factors(keep_aspect: bool, width: usize, height: usize) -> (f64, f64) {
    if keep_aspect {
        let side = width.max(height) as f64;
        (side, side)
    } else {
        (width as f64, height as f64)
    }
}

/// Step 1 of the recipe: the fixation map of normalised points on a non-empty grid.
fn fill_fixation_map(xy: &[[f64; 2]], keep_aspect: bool, width: usize, height: usize) -> Vec<u32> {
    let (fx, fy) = grid_factors(keep_aspect, width, height);
    let mut counts = vec![0u32; width * height];
    for &[x, y] in xy {
        let (px, py) = ((x * fx) as usize, (y * fy) as usize);
        let (px, py) = if keep_aspect {
            if px >= width || py >= height {
                continue;
            }
            (px, py)
        } else {
            (px.min(width - 1), py.min(height - 1))
        };
        counts[py * width + px] += 1;
    }
    counts
}

/// Step 2 of the recipe: the fixation map blurred with `σ = bandwidth · factor` per axis.
fn blur_fixation_map(
    counts: &[u32],
    params: CentreBiasParams,
    width: usize,
    height: usize,
) -> Vec<f64> {
    let (fx, fy) = grid_factors(params.keep_aspect, width, height);
    let map: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    gaussian_filter(
        &map,
        width,
        height,
        params.bandwidth * fy,
        params.bandwidth * fx,
    )
    .expect("callers pass a non-empty grid and a map of its size")
}

/// Steps 3–4 of the recipe on a blurred fixation map `z`: `log((1 − eps)·z + eps/N)` minus its
/// logsumexp (scipy's: the maximum taken out before summing the exponentials).
fn log_normalised_mixture(z: &[f64], eps: f64) -> Vec<f64> {
    let floor = eps / z.len() as f64;
    let mut log_z: Vec<f64> = z.iter().map(|&v| (v * (1.0 - eps) + floor).ln()).collect();
    let max = log_z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_sum = log_z.iter().map(|&v| (v - max).exp()).sum::<f64>().ln() + max;
    for v in &mut log_z {
        *v -= log_sum;
    }
    log_z
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(xy: Vec<[f64; 2]>, bandwidth: f64, eps: f64, keep_aspect: bool) -> CentreBiasModel {
        let params = CentreBiasParams {
            bandwidth,
            eps,
            keep_aspect,
        };
        CentreBiasModel::new(xy, params, "test").unwrap()
    }

    #[test]
    fn density_sums_to_one_and_peaks_at_the_fixations() {
        let m = model(
            vec![[0.25, 0.5], [0.25, 0.5], [0.8, 0.1]],
            0.05,
            1e-3,
            false,
        );
        let d = m.density(40, 30).unwrap();
        assert!((d.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let peak = d
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!((peak % 40, peak / 40), (10, 15));
    }

    #[test]
    fn uniform_share_and_eps_are_inverse() {
        let eps = eps_for_uniform_share(0.01, 500);
        assert!((uniform_share(eps, 500) - 0.01).abs() < 1e-15);
        let m = model(vec![[0.5, 0.5]; 500], 0.05, eps, false);
        // Far from the fixations only the uniform share is left: s / N.
        let d = m.density(100, 100).unwrap();
        assert!((d[0] - 0.01 / 1e4).abs() < 1e-15, "{}", d[0]);
    }

    #[test]
    fn edge_points_and_keep_aspect_overflow() {
        let m = model(vec![[1.0, 1.0], [0.0, 0.0]], 0.0, 0.5, false);
        let c = m.fixation_counts(4, 3).unwrap();
        assert_eq!((c[11], c[0], c.iter().sum::<u32>()), (1, 1, 2));
        // keep_aspect: y = 0.9 of the larger side is beyond a landscape grid: left out.
        let m = model(vec![[0.1, 0.9], [0.5, 0.5]], 0.0, 0.5, true);
        let c = m.fixation_counts(40, 30).unwrap();
        assert_eq!((c.iter().sum::<u32>(), c[20 * 40 + 20]), (1, 1));
    }

    #[test]
    fn bad_input_is_an_error() {
        let p = CentreBiasParams::default();
        assert!(matches!(
            CentreBiasModel::new(vec![[f64::NAN, 0.5]], p, "t"),
            Err(CentreBiasError::NormalisedCoordinate { index: 0, .. })
        ));
        assert!(matches!(
            CentreBiasModel::new(vec![], p, "t"),
            Err(CentreBiasError::NoFixations)
        ));
        let bad = CentreBiasParams { eps: 0.0, ..p };
        assert!(matches!(
            CentreBiasModel::new(vec![[0.5, 0.5]], bad, "t"),
            Err(CentreBiasError::Parameter { name: "eps", .. })
        ));
        let image = ImageFixations {
            width: 10,
            height: 10,
            xy: &[[1.0, 2.0], [10.5, 1.0]],
        };
        let err = CentreBiasModel::from_images(&[image], p, "t").unwrap_err();
        assert!(matches!(
            err,
            CentreBiasError::Coordinate {
                image: 0,
                index: 1,
                ..
            }
        ));
        let m = model(vec![[0.5, 0.5]], 0.1, 0.1, false);
        assert!(matches!(
            m.log_density(0, 5),
            Err(CentreBiasError::EmptyGrid { .. })
        ));
    }
}
