//! What the dataset-level metrics need from all images' fixations: the shuffled-AUC negatives and
//! the centre-bias baseline of IG, one count map per distinct image size.

use std::collections::HashMap;

use crate::map::Fixations;

/// Width of the centre-bias Gaussian as a fraction of the larger image side (32 px at 640×480).
pub const CENTRE_BIAS_SIGMA_FRACTION: f64 = 0.05;

/// For every image size in a dataset: how many fixations of the whole dataset fall on each pixel,
/// every image's fixations rescaled to that size as pysaliency's `FullShuffledNonfixationProvider`
/// does (`x · W_target / W_source`, truncated; likewise `y`).
#[derive(Debug, Clone, Default)]
pub struct FixationPool {
    counts: HashMap<(usize, usize), Vec<u32>>,
}

fn rescale(v: u32, target: usize, source: usize) -> usize {
    let scaled = (v as f64 * (target as f64 / source as f64)) as usize;
    scaled.min(target - 1)
}

impl FixationPool {
    /// Pools the fixations of all images; one count map per distinct grid size among them.
    pub fn new(images: &[Fixations<'_>]) -> Self {
        let mut counts: HashMap<(usize, usize), Vec<u32>> = HashMap::new();
        for size in images.iter().map(|f| (f.width(), f.height())) {
            counts
                .entry(size)
                .or_insert_with(|| vec![0; size.0 * size.1]);
        }
        for (&(w, h), map) in counts.iter_mut() {
            for image in images {
                let same = (image.width(), image.height()) == (w, h);
                for f in image.points() {
                    let (x, y) = if same {
                        (f.x as usize, f.y as usize)
                    } else {
                        (
                            rescale(f.x, w, image.width()),
                            rescale(f.y, h, image.height()),
                        )
                    };
                    map[y * w + x] += 1;
                }
            }
        }
        Self { counts }
    }

    /// The count map for a grid size, if some image of the pool has that size.
    pub fn counts(&self, width: usize, height: usize) -> Option<&[u32]> {
        self.counts.get(&(width, height)).map(Vec::as_slice)
    }

    /// Total number of pooled fixations.
    pub fn total(&self) -> u64 {
        self.counts
            .values()
            .next()
            .map(|c| c.iter().map(|&v| v as u64).sum())
            .unwrap_or(0)
    }
}

/// The dataset's centre bias, a baseline density for IG: the pooled fixation counts blurred with a
/// Gaussian of σ = [`CENTRE_BIAS_SIGMA_FRACTION`] × the larger side (zero outside the image), as
/// a density over pixels. It includes the scored image's own fixations (no leave-one-out): over a
/// dataset of thousands of images that is a 1/N share; on a handful of images it makes IG
/// conservative. Built once per image size.
#[derive(Debug, Default)]
pub struct CentreBias {
    maps: HashMap<(usize, usize), Vec<f64>>,
}

impl CentreBias {
    pub fn new(pool: &FixationPool) -> Self {
        let maps = pool
            .counts
            .iter()
            .map(|(&(w, h), counts)| {
                let sigma = CENTRE_BIAS_SIGMA_FRACTION * w.max(h) as f64;
                let values: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
                let blurred = gaussian_blur(&values, w, h, sigma);
                let total: f64 = blurred.iter().sum();
                let density: Vec<f64> = if total > 0.0 {
                    blurred.iter().map(|&v| v / total).collect()
                } else {
                    vec![1.0 / (w * h) as f64; w * h]
                };
                ((w, h), density)
            })
            .collect();
        Self { maps }
    }

    /// The baseline density on a grid of this size, if the pool had images of that size.
    pub fn density(&self, width: usize, height: usize) -> Option<&[f64]> {
        self.maps.get(&(width, height)).map(Vec::as_slice)
    }
}

/// Separable Gaussian blur, kernel truncated at 3σ, zero padding.
fn gaussian_blur(src: &[f64], w: usize, h: usize, sigma: f64) -> Vec<f64> {
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let blur_line = |line: &dyn Fn(usize) -> f64, n: usize, out: &mut dyn FnMut(usize, f64)| {
        for i in 0..n {
            let mut acc = 0.0;
            for (k, &wgt) in kernel.iter().enumerate() {
                let j = i as isize + k as isize - radius;
                if j >= 0 && (j as usize) < n {
                    acc += wgt * line(j as usize);
                }
            }
            out(i, acc);
        }
    };
    let mut rows = vec![0.0; w * h];
    for y in 0..h {
        blur_line(&|x| src[y * w + x], w, &mut |x, v| rows[y * w + x] = v);
    }
    let mut out = vec![0.0; w * h];
    for x in 0..w {
        blur_line(&|y| rows[y * w + x], h, &mut |y, v| out[y * w + x] = v);
    }
    out
}
