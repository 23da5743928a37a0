//! A sample's ground truth as the datasets ship it: a continuous saliency map (a file, or built
//! from the fixations by a Gaussian blur) and the fixations (a binary fixation map, or a list of
//! recorded coordinates).
//!
//! Coordinates follow pysaliency: 0-based pixel coordinates of the image file, continuous; the
//! fixated pixel is `(floor(x), floor(y))` (pysaliency's `x_int`, `y_int`). A binary fixation map
//! gives each marked pixel once; a coordinate list keeps repeated fixations on one pixel, as
//! pysaliency counts them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::decode::{image_size, load_fixations, load_map, MapF32};
use crate::error::DataError;

/// One recorded fixation in the image file's pixel coordinates (0-based, continuous).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixationPoint {
    /// Column, pixels from the left edge; the fixated pixel is `floor(x)`.
    pub x: f64,
    /// Row, pixels from the top edge; the fixated pixel is `floor(y)`.
    pub y: f64,
    /// Viewer number as the dataset numbers them (0 when the dataset does not say).
    pub subject: u32,
    /// Onset in the dataset's time unit (milliseconds for the readers here), when recorded.
    pub t: Option<f32>,
    /// Duration in milliseconds, when recorded.
    pub duration: Option<f32>,
}

impl FixationPoint {
    /// A fixation at `(x, y)` with no subject, time or duration.
    pub fn at(x: f64, y: f64) -> Self {
        FixationPoint {
            x,
            y,
            subject: 0,
            t: None,
            duration: None,
        }
    }

    /// The fixated pixel `(floor(x), floor(y))`, if it lies on a `width x height` image.
    pub fn pixel(&self, width: u32, height: u32) -> Option<(u32, u32)> {
        let (x, y) = (self.x.floor(), self.y.floor());
        let inside = x >= 0.0 && y >= 0.0 && x < width as f64 && y < height as f64;
        inside.then_some((x as u32, y as u32))
    }
}

/// The width of the Gaussian that turns fixations into a map. Written `24` (pixels) or `3%` (of
/// the larger side) in configs and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MapSigma {
    /// A fixed standard deviation in pixels of the image file.
    Pixels(f64),
    /// A fraction of the image's larger side (images of mixed sizes get the same visual blur).
    LargerSide(f64),
}

impl MapSigma {
    /// The default for layouts whose authors give none: 3% of the larger side (19 px at
    /// 640×480, 24 px at 800×600 — about one degree of visual angle in the usual set-ups).
    pub const DEFAULT: MapSigma = MapSigma::LargerSide(0.03);

    /// The standard deviation in pixels for a `width x height` image.
    pub fn pixels(self, width: u32, height: u32) -> f64 {
        match self {
            MapSigma::Pixels(p) => p,
            MapSigma::LargerSide(f) => f * width.max(height) as f64,
        }
    }
}

impl fmt::Display for MapSigma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapSigma::Pixels(p) => write!(f, "{p} px"),
            MapSigma::LargerSide(s) => write!(f, "{}% of the larger side", s * 100.0),
        }
    }
}

impl From<MapSigma> for String {
    fn from(sigma: MapSigma) -> String {
        match sigma {
            MapSigma::Pixels(p) => format!("{p}"),
            MapSigma::LargerSide(f) => format!("{}%", f * 100.0),
        }
    }
}

impl TryFrom<String> for MapSigma {
    type Error = DataError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for MapSigma {
    type Err = DataError;
    /// `24` (pixels) or `3%` (of the larger side).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            DataError::Config(format!(
                "map sigma '{s}': expected pixels (e.g. 24) or a percentage of the larger side (e.g. 3%)"
            ))
        };
        let t = s.trim();
        let (number, percent) = match t.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (t.strip_suffix("px").unwrap_or(t).trim(), false),
        };
        let v: f64 = number.parse().map_err(|_| bad())?;
        if !(v.is_finite() && v > 0.0) {
            return Err(bad());
        }
        Ok(if percent {
            MapSigma::LargerSide(v / 100.0)
        } else {
            MapSigma::Pixels(v)
        })
    }
}

/// Where a sample's continuous ground-truth saliency map comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MapSource {
    /// A map file (8/16-bit grey or colour, any format the decoder reads).
    File(PathBuf),
    /// Built from the sample's fixations: their count map blurred by a Gaussian (see
    /// [`fixation_density_map`]).
    FromFixations { sigma: MapSigma },
}

impl MapSource {
    /// The map file, when there is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            MapSource::File(path) => Some(path),
            MapSource::FromFixations { .. } => None,
        }
    }
}

/// Where a sample's fixations come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FixationSource {
    /// A binary fixation map: every non-zero pixel is one fixation (JPEG maps are thresholded,
    /// see [`load_fixations`]).
    Map(PathBuf),
    /// Recorded coordinates, read from the dataset's fixation file by its reader. A point off
    /// the image is an error when the pixels are asked for.
    Points(Arc<[FixationPoint]>),
    /// A SALICON 2017 `.mat` file (`gaze` struct array), read when asked for (see
    /// [`crate::readers::salicon`]).
    SaliconMat(PathBuf),
    /// A CAT2000 `FIXATIONLOCS` `.mat` file (`fixLocs`, a binary map), read when asked for.
    Cat2000Mat(PathBuf),
}

impl FixationSource {
    /// The binary fixation-map image, when the fixations come from one (its size is checked
    /// against the image's up front).
    pub fn file(&self) -> Option<&Path> {
        match self {
            FixationSource::Map(path) => Some(path),
            _ => None,
        }
    }

    /// The file the fixations are read from, if any (for messages).
    pub fn path(&self) -> Option<&Path> {
        match self {
            FixationSource::Map(p)
            | FixationSource::SaliconMat(p)
            | FixationSource::Cat2000Mat(p) => Some(p),
            FixationSource::Points(_) => None,
        }
    }
}

/// A sample's fixations as pixels of its image: what the metrics consume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixationPixels {
    pub width: u32,
    pub height: u32,
    /// `(x, y)` of every fixation; repeated pixels kept for coordinate lists.
    pub pixels: Vec<(u32, u32)>,
}

/// The fixated pixels of a coordinate list on a `width x height` image; a point off the image is
/// an error naming `image` (readers clip or drop such points before they get here).
pub fn points_to_pixels(
    image: &Path,
    points: &[FixationPoint],
    (width, height): (u32, u32),
) -> Result<Vec<(u32, u32)>, DataError> {
    points
        .iter()
        .map(|p| {
            p.pixel(width, height).ok_or_else(|| {
                DataError::decode(
                    image,
                    format!(
                        "fixation at ({}, {}) lies outside the {width}x{height} image",
                        p.x, p.y
                    ),
                )
            })
        })
        .collect()
}

/// The sample's fixations on its image's pixel grid, or `None` when it has none. A fixation map
/// must have the image's size (the error names both files).
pub fn load_fixation_pixels(
    image: &Path,
    source: Option<&FixationSource>,
) -> Result<Option<FixationPixels>, DataError> {
    let Some(source) = source else {
        return Ok(None);
    };
    let (width, height) = image_size(image)?;
    let pixels = fixation_pixels_on(image, source, (width, height))?;
    Ok(Some(FixationPixels {
        width,
        height,
        pixels,
    }))
}

/// The fixated pixels `(x, y)` of `source` on its `width x height` image.
pub(crate) fn fixation_pixels_on(
    image: &Path,
    source: &FixationSource,
    (width, height): (u32, u32),
) -> Result<Vec<(u32, u32)>, DataError> {
    let check = |path: &Path, size: (usize, usize)| {
        if size != (width as usize, height as usize) {
            return Err(DataError::SizeMismatch {
                image: image.to_path_buf(),
                image_size: (width, height),
                other: path.to_path_buf(),
                other_size: (size.0 as u32, size.1 as u32),
            });
        }
        Ok(())
    };
    match source {
        FixationSource::Map(path) => {
            let map = load_fixations(path)?;
            check(path, (map.width, map.height))?;
            Ok(map.points().into_iter().map(|(y, x)| (x, y)).collect())
        }
        FixationSource::Cat2000Mat(path) => {
            let map = crate::readers::cat2000::read_fixlocs(path)?;
            check(path, (map.width, map.height))?;
            Ok(map.points().into_iter().map(|(y, x)| (x, y)).collect())
        }
        FixationSource::SaliconMat(path) => {
            let points = crate::readers::salicon::read_gaze(path, (width, height))?;
            points_to_pixels(path, &points, (width, height))
        }
        FixationSource::Points(points) => points_to_pixels(image, points, (width, height)),
    }
}

/// Fixations as continuous coordinates, with their image's `(width, height)`.
pub type PointsOnImage = (Vec<FixationPoint>, (u32, u32));

/// The sample's fixations as continuous coordinates with its image's `(width, height)`, for
/// models fitted on coordinates (the centre bias); binary maps give each marked pixel's
/// top-left corner `(x, y)`, which has the same `floor`.
pub fn load_fixation_points(
    image: &Path,
    source: Option<&FixationSource>,
) -> Result<Option<PointsOnImage>, DataError> {
    let Some(source) = source else {
        return Ok(None);
    };
    let size = image_size(image)?;
    let points = match source {
        FixationSource::Points(points) => {
            // Validated like the pixels are, so a bad point is reported the same way.
            points_to_pixels(image, points, size)?;
            points.to_vec()
        }
        FixationSource::SaliconMat(path) => crate::readers::salicon::read_gaze(path, size)?,
        other => fixation_pixels_on(image, other, size)?
            .into_iter()
            .map(|(x, y)| FixationPoint::at(x as f64, y as f64))
            .collect(),
    };
    Ok(Some((points, size)))
}

/// The sample's continuous ground-truth map in `[0, 1]` at the image's size: the map file, or the
/// fixation density built from its fixations.
pub fn load_ground_truth_map(
    image: &Path,
    map: &MapSource,
    fixations: Option<&FixationSource>,
) -> Result<MapF32, DataError> {
    match map {
        MapSource::File(path) => load_map(path),
        MapSource::FromFixations { sigma } => {
            let pixels = load_fixation_pixels(image, fixations)?.ok_or_else(|| {
                DataError::MissingFixations {
                    image: image.to_path_buf(),
                }
            })?;
            Ok(fixation_density_map(
                &pixels.pixels,
                pixels.width as usize,
                pixels.height as usize,
                sigma.pixels(pixels.width, pixels.height),
            ))
        }
    }
}

/// How far the Gaussian of a built map reaches, in standard deviations (scipy's `gaussian_filter`
/// with `truncate=3.5`, as the OSIE maps in ../shared/realdata were made; 4σ would change values
/// by under 0.2% of the peak).
pub const MAP_TRUNCATE: f64 = 3.5;

/// The empirical saliency map of a fixation list: the count of fixations on each pixel, blurred
/// with a Gaussian of `sigma` pixels (zero outside the image, kernel cut at [`MAP_TRUNCATE`]σ —
/// scipy `gaussian_filter(counts, sigma, mode='constant', truncate=3.5)`), scaled to a maximum of 1.
/// No fixation gives an all-zero map. Computed as a sum of one separable kernel per fixated
/// pixel, so the cost is `fixations × (2r+1)²`, not `pixels × (2r+1)`.
pub fn fixation_density_map(
    pixels: &[(u32, u32)],
    width: usize,
    height: usize,
    sigma: f64,
) -> MapF32 {
    let mut out = MapF32::zeros(width, height);
    if pixels.is_empty() || width == 0 || height == 0 {
        return out;
    }
    let (radius, kernel) = map_kernel(sigma);
    let mut acc = vec![0f64; width * height];
    for &(px, py) in pixels {
        let (px, py) = (px as isize, py as isize);
        let (y0, y1) = ((py - radius).max(0), (py + radius).min(height as isize - 1));
        let (x0, x1) = ((px - radius).max(0), (px + radius).min(width as isize - 1));
        for y in y0..=y1 {
            let wy = kernel[(y - py + radius) as usize];
            let row = &mut acc[y as usize * width..(y as usize + 1) * width];
            for x in x0..=x1 {
                row[x as usize] += wy * kernel[(x - px + radius) as usize];
            }
        }
    }
    let peak = acc.iter().cloned().fold(0.0, f64::max);
    if peak > 0.0 {
        for (o, a) in out.data.iter_mut().zip(&acc) {
            *o = (a / peak) as f32;
        }
    }
    out
}

/// The empirical-map kernel: its radius `⌊3.5σ + ½⌋` and the unnormalised Gaussian weights
/// `exp(−d² / 2σ²)` for `d = −radius..=radius`.
fn map_kernel(sigma: f64) -> (isize, Vec<f64>) {
    let sigma = sigma.max(1e-6);
    let radius = (MAP_TRUNCATE * sigma + 0.5) as isize;
    let kernel = (-radius..=radius)
        .map(|d| (-0.5 * (d * d) as f64 / (sigma * sigma)).exp())
        .collect();
    (radius, kernel)
}

/// `map` blurred with the empirical-map kernel of [`fixation_density_map`] (Gaussian of `sigma`
/// pixels, zero outside the image, cut at [`MAP_TRUNCATE`]σ, weights normalised to sum 1 per
/// axis): scipy `gaussian_filter(map, sigma, mode='constant', truncate=3.5)`. Used to turn a
/// predicted fixation density into the map that CC, KLD and SIM score best (Kümmerer et al.,
/// ECCV 2018).
pub fn blur_like_empirical_maps(map: &MapF32, sigma: f64) -> MapF32 {
    let (w, h) = (map.width, map.height);
    let (radius, mut kernel) = map_kernel(sigma);
    let total: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    let along = |get: &dyn Fn(isize) -> f64, len: usize, at: usize| -> f64 {
        let at = at as isize;
        let (lo, hi) = ((at - radius).max(0), (at + radius).min(len as isize - 1));
        (lo..=hi)
            .map(|i| kernel[(i - at + radius) as usize] * get(i))
            .sum()
    };
    let mut rows = vec![0f64; w * h];
    for y in 0..h {
        let row = &map.data[y * w..(y + 1) * w];
        for x in 0..w {
            rows[y * w + x] = along(&|i| f64::from(row[i as usize]), w, x);
        }
    }
    let mut out = MapF32::zeros(w, h);
    for x in 0..w {
        for y in 0..h {
            out.data[y * w + x] = along(&|i| rows[i as usize * w + x], h, y) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blurring a map with one fixated pixel equals the empirical map of that fixation (up to
    /// scale), and a constant map keeps its value away from the border.
    #[test]
    fn blurring_a_map_is_the_empirical_kernel() {
        let (w, h) = (40, 30);
        let mut spike = MapF32::zeros(w, h);
        spike.data[12 * w + 25] = 1.0;
        let blurred = blur_like_empirical_maps(&spike, 3.0);
        let built = fixation_density_map(&[(25, 12)], w, h, 3.0);
        // The maps are non-negative: the largest magnitude is the peak (NaN if any is NaN).
        let peak = salient_test_support::max_abs(&blurred.data) as f32;
        let scaled: Vec<f32> = blurred.data.iter().map(|a| a / peak).collect();
        let tol = salient_test_support::Tolerance::Abs(1e-6);
        salient_test_support::assert_close_and_nan_fails(
            "blurred spike",
            &scaled,
            &built.data,
            tol,
        );
        let flat = MapF32 {
            width: w,
            height: h,
            data: vec![2.0; w * h],
        };
        let blurred = blur_like_empirical_maps(&flat, 3.0);
        assert!((blurred.data[15 * w + 20] - 2.0).abs() < 1e-5);
        assert!(blurred.data[0] < 1.5, "zero outside the image");
    }

    /// The built map equals a direct 2-D blur of the count map (zero padding, same truncation),
    /// repeated fixations counting twice.
    #[test]
    fn density_map_is_the_blurred_count_map() {
        let (w, h, sigma) = (23usize, 17usize, 2.0);
        let pixels = [(0u32, 0u32), (5, 7), (5, 7), (22, 16), (11, 3)];
        let built = fixation_density_map(&pixels, w, h, sigma);
        let mut counts = vec![0f64; w * h];
        for &(x, y) in &pixels {
            counts[y as usize * w + x as usize] += 1.0;
        }
        let r = (MAP_TRUNCATE * sigma + 0.5) as isize;
        let g = |d: isize| (-0.5 * (d * d) as f64 / (sigma * sigma)).exp();
        let mut direct = vec![0f64; w * h];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut s = 0.0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (sx, sy) = (x + dx, y + dy);
                        if sx >= 0 && sy >= 0 && sx < w as isize && sy < h as isize {
                            s += g(dx) * g(dy) * counts[sy as usize * w + sx as usize];
                        }
                    }
                }
                direct[y as usize * w + x as usize] = s;
            }
        }
        let peak = salient_test_support::max_abs(&direct);
        let direct: Vec<f64> = direct.iter().map(|d| d / peak).collect();
        let built_f64: Vec<f64> = built.data.iter().map(|&b| f64::from(b)).collect();
        let tol = salient_test_support::Tolerance::Abs(1e-6);
        salient_test_support::assert_close_and_nan_fails("built map", &built_f64, &direct, tol);
        // The doubled fixation is the peak.
        assert_eq!(built.data[7 * w + 5], 1.0);
    }

    #[test]
    fn fixated_pixel_is_the_floor_and_off_image_points_are_refused() {
        assert_eq!(FixationPoint::at(3.999, 0.0).pixel(4, 1), Some((3, 0)));
        assert_eq!(FixationPoint::at(4.0, 0.0).pixel(4, 1), None);
        assert_eq!(FixationPoint::at(-0.01, 0.0).pixel(4, 1), None);
        let e = points_to_pixels(Path::new("a.jpg"), &[FixationPoint::at(9.5, 1.0)], (4, 4))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.jpg") && e.contains("outside the 4x4 image"),
            "{e}"
        );
    }

    #[test]
    fn no_fixation_gives_an_all_zero_map() {
        let map = fixation_density_map(&[], 5, 4, 3.0);
        assert!(map.data.iter().all(|&v| v == 0.0));
    }
}
