//! What the shuffled AUC needs from all images' fixations: one count map per distinct image size.

use std::collections::HashMap;

use crate::map::Fixations;

/// For every image size in a dataset: how many fixations of the whole dataset fall on each pixel,
/// every image's fixations rescaled to that size as pysaliency's `FullShuffledNonfixationProvider`
/// does (`x · W_target / W_source`, truncated; likewise `y`).
#[derive(Debug, Clone, Default)]
pub struct FixationPool {
    counts: HashMap<(usize, usize), Vec<u32>>,
}

/// `⌊v · target / source⌋`, kept on the grid, as `FullShuffledNonfixationProvider` computes it
/// (`x * (W_target / W_source)`, then `astype(int)`).
fn rescale(v: f64, target: usize, source: usize) -> usize {
    let scaled = (v * (target as f64 / source as f64)) as usize;
    scaled.min(target - 1)
}

impl FixationPool {
    /// Pools the fixations of all images; one count map per distinct grid size among them. An
    /// image of another size contributes its exact coordinates rescaled when it has them
    /// ([`Fixations::with_coordinates`]), else its pixels.
    pub fn new(images: &[Fixations<'_>]) -> Self {
        let mut counts: HashMap<(usize, usize), Vec<u32>> = HashMap::new();
        for size in images.iter().map(|f| (f.width(), f.height())) {
            counts
                .entry(size)
                .or_insert_with(|| vec![0; size.0 * size.1]);
        }
        for (&(w, h), map) in counts.iter_mut() {
            for image in images {
                let (iw, ih) = (image.width(), image.height());
                if (iw, ih) == (w, h) {
                    for f in image.points() {
                        map[f.y as usize * w + f.x as usize] += 1;
                    }
                } else if let Some(xy) = image.coordinates() {
                    for &[x, y] in xy {
                        map[rescale(y, h, ih) * w + rescale(x, w, iw)] += 1;
                    }
                } else {
                    for f in image.points() {
                        let (x, y) = (rescale(f.x as f64, w, iw), rescale(f.y as f64, h, ih));
                        map[y * w + x] += 1;
                    }
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
