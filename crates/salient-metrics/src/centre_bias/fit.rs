//! Choosing the centre bias's bandwidth and uniform share by cross-validation: the parameters
//! whose model best predicts the fixations of images it was not built from.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::{
    blur_fixation_map, eps_for_uniform_share, fill_fixation_map, CentreBiasError, CentreBiasModel,
    CentreBiasParams, ImageFixations,
};

/// The candidate parameters and the folds of [`CentreBiasModel::fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// Number of folds (at least 2; fewer images with fixations than folds means leave-one-out).
    /// Image `i` (counting only images with fixations) is held out in fold `i mod folds`.
    pub folds: usize,
    /// Candidate bandwidths (fractions of the image side).
    pub bandwidths: Vec<f64>,
    /// Candidate uniform shares `s` of the density, in `(0, 1]` (the model's `eps` follows from
    /// `s` and the number of fixations, see [`eps_for_uniform_share`]).
    pub uniform_shares: Vec<f64>,
    pub keep_aspect: bool,
}

impl Default for FitOptions {
    /// 10 folds; bandwidths `10^-2.5 … 10^-0.5` in quarter decades (0.0032 … 0.32, 9 values);
    /// uniform shares `10^-8 … 10^-1` in half decades (15 values): the ranges pysaliency's
    /// cross-validated fit searches (log-bandwidth in [-3, 0]) without their extremes, where a
    /// kernel is either narrower than a pixel or wider than the image.
    fn default() -> Self {
        Self {
            folds: 10,
            bandwidths: (0..=8)
                .map(|k| 10f64.powf(-2.5 + 0.25 * k as f64))
                .collect(),
            uniform_shares: (0..=14)
                .map(|k| 10f64.powf(-8.0 + 0.5 * k as f64))
                .collect(),
            keep_aspect: false,
        }
    }
}

/// One candidate and its cross-validated score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitPoint {
    pub bandwidth: f64,
    pub uniform_share: f64,
    /// Mean over all held-out fixations of `log2 p(f) − log2(1 / (W·H))`: the information gain of
    /// the held-out model over the uniform distribution, in bits per fixation.
    pub bits: f64,
}

/// The result of [`CentreBiasModel::fit`]: the model built from all fixations with the best
/// parameters, the best point, and every candidate's score (bandwidth-major order).
#[derive(Debug, Clone)]
pub struct CentreBiasFit {
    pub model: CentreBiasModel,
    pub best: FitPoint,
    pub grid: Vec<FitPoint>,
    /// Folds actually used.
    pub folds: usize,
}

/// A held-out image: its grid size and the pixel index of each of its fixations.
struct HeldOut {
    size: (usize, usize),
    pixels: Vec<usize>,
}

impl FitOptions {
    fn validate(&self) -> Result<(), CentreBiasError> {
        let fail = |why: &str| Err(CentreBiasError::Fit(why.to_string()));
        if self.folds < 2 {
            return fail("at least 2 folds are needed");
        }
        if self.bandwidths.is_empty() || self.uniform_shares.is_empty() {
            return fail("no candidate bandwidths or uniform shares");
        }
        if let Some(b) = self
            .bandwidths
            .iter()
            .find(|b| !(b.is_finite() && **b >= 0.0))
        {
            return fail(&format!("candidate bandwidth {b} is not finite and ≥ 0"));
        }
        if let Some(s) = self
            .uniform_shares
            .iter()
            .find(|s| !(**s > 0.0 && **s <= 1.0))
        {
            return fail(&format!("candidate uniform share {s} is not in (0, 1]"));
        }
        Ok(())
    }
}

impl CentreBiasModel {
    /// Fits bandwidth and uniform share by maximising the held-out log-likelihood, `k`-fold over
    /// images: for each fold, the model built from the other folds' fixations (with the same
    /// recipe) is evaluated at the held-out fixations' pixels on their own images' grids; the
    /// candidate with the highest mean over all held-out fixations wins (the first one on a tie).
    /// Then the model is built from all fixations with the winner's bandwidth and the `eps` that
    /// gives its uniform share.
    ///
    /// pysaliency's cross-validated fit (`CrossvalMultipleRegularizations`, leave-one-image-out)
    /// scores a continuous Gaussian KDE mixed with a normalised uniform density and searches
    /// continuously; this scores the very model that is then used, on a grid, and `folds` bounds
    /// the cost (one blur per fold, bandwidth and held-out image size: OSIE's 700 images, 10
    /// folds, the default grid (135 points) take 12 s on two cores in a release build).
    pub fn fit(
        images: &[ImageFixations<'_>],
        options: &FitOptions,
        source: impl Into<String>,
    ) -> Result<CentreBiasFit, CentreBiasError> {
        options.validate()?;
        for (i, image) in images.iter().enumerate() {
            image.validate(i)?;
        }
        let used: Vec<&ImageFixations<'_>> = images.iter().filter(|i| !i.xy.is_empty()).collect();
        if used.len() < 2 {
            return Err(CentreBiasError::Fit(format!(
                "cross-validation needs at least 2 images with fixations, got {}",
                used.len()
            )));
        }
        let folds = options.folds.min(used.len());
        let keep_aspect = options.keep_aspect;
        let normalised: Vec<Vec<[f64; 2]>> = used
            .iter()
            .map(|image| image.normalised(keep_aspect).collect())
            .collect();

        // Per fold: the training points and the held-out images grouped by size.
        let fold_data: Vec<(Vec<[f64; 2]>, Vec<HeldOut>)> = (0..folds)
            .map(|fold| {
                let train: Vec<[f64; 2]> = normalised
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % folds != fold)
                    .flat_map(|(_, xy)| xy.iter().copied())
                    .collect();
                let mut by_size: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
                for image in used.iter().skip(fold).step_by(folds) {
                    by_size
                        .entry((image.width, image.height))
                        .or_default()
                        .extend(image.pixel_indices());
                }
                let held_out = by_size
                    .into_iter()
                    .map(|(size, pixels)| HeldOut { size, pixels })
                    .collect();
                (train, held_out)
            })
            .collect();

        let shares = &options.uniform_shares;
        let tasks: Vec<(usize, usize)> = (0..options.bandwidths.len())
            .flat_map(|b| (0..folds).map(move |f| (b, f)))
            .collect();
        // Each task: Σ over its held-out fixations of ln p(f) + ln(W·H), per candidate share.
        let sums: Vec<(usize, Vec<f64>)> = tasks
            .par_iter()
            .map(|&(b, fold)| {
                let params = CentreBiasParams {
                    bandwidth: options.bandwidths[b],
                    eps: 1.0,
                    keep_aspect,
                };
                let (train, held_out) = &fold_data[fold];
                let mut totals = vec![0.0; shares.len()];
                for h in held_out {
                    let (w, hgt) = h.size;
                    let counts = fill_fixation_map(train, keep_aspect, w, hgt);
                    let blurred = blur_fixation_map(&counts, params, w, hgt);
                    let mass: f64 = blurred.iter().sum();
                    let n = (w * hgt) as f64;
                    for (total, &s) in totals.iter_mut().zip(shares) {
                        *total += h
                            .pixels
                            .iter()
                            .map(|&i| {
                                let kde = if mass > 0.0 {
                                    blurred[i] / mass
                                } else {
                                    1.0 / n
                                };
                                ((1.0 - s) * kde + s / n).ln() + n.ln()
                            })
                            .sum::<f64>();
                    }
                }
                (b, totals)
            })
            .collect();

        let fixations: usize = normalised.iter().map(Vec::len).sum();
        let scale = 1.0 / (fixations as f64 * std::f64::consts::LN_2);
        let mut grid = Vec::with_capacity(options.bandwidths.len() * shares.len());
        for (b, &bandwidth) in options.bandwidths.iter().enumerate() {
            for (k, &uniform_share) in shares.iter().enumerate() {
                let total: f64 = sums
                    .iter()
                    .filter(|(tb, _)| *tb == b)
                    .map(|(_, t)| t[k])
                    .sum();
                grid.push(FitPoint {
                    bandwidth,
                    uniform_share,
                    bits: total * scale,
                });
            }
        }
        // The first of the highest scores (a NaN score, impossible for valid input, never wins).
        let mut best = grid[0];
        for p in &grid[1..] {
            if p.bits > best.bits {
                best = *p;
            }
        }
        let params = CentreBiasParams {
            bandwidth: best.bandwidth,
            eps: eps_for_uniform_share(best.uniform_share, fixations),
            keep_aspect,
        };
        let model = CentreBiasModel::new(normalised.concat(), params, source)?;
        Ok(CentreBiasFit {
            model,
            best,
            grid,
            folds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixations scattered around the centre with a known spread: the fit prefers a bandwidth
    /// near the spread over far narrower or wider ones.
    #[test]
    fn the_fit_finds_the_spread_of_the_fixations() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        // Sums of uniforms: roughly Gaussian with σ = 0.1 of the side.
        let images: Vec<Vec<[f64; 2]>> = (0..12)
            .map(|_| {
                (0..40)
                    .map(|_| {
                        let gx: f64 = (0..12).map(|_| next()).sum::<f64>() - 6.0;
                        let gy: f64 = (0..12).map(|_| next()).sum::<f64>() - 6.0;
                        [
                            (0.5 + 0.1 * gx).clamp(0.0, 1.0) * 40.0,
                            (0.5 + 0.1 * gy).clamp(0.0, 1.0) * 30.0,
                        ]
                    })
                    .collect()
            })
            .collect();
        let views: Vec<ImageFixations<'_>> = images
            .iter()
            .map(|xy| ImageFixations {
                width: 40,
                height: 30,
                xy,
            })
            .collect();
        let options = FitOptions {
            folds: 4,
            bandwidths: vec![0.01, 0.03, 0.1, 0.3],
            uniform_shares: vec![1e-6, 1e-3, 0.1],
            keep_aspect: false,
        };
        let fit = CentreBiasModel::fit(&views, &options, "synthetic").unwrap();
        assert_eq!(fit.grid.len(), 12);
        assert_eq!(fit.folds, 4);
        assert!(
            fit.best.bandwidth == 0.03 || fit.best.bandwidth == 0.1,
            "{:?}",
            fit.best
        );
        assert!(fit.best.bits > 0.5, "{:?}", fit.best);
        assert_eq!(fit.model.len(), 12 * 40);
        assert!((fit.model.uniform_share() - fit.best.uniform_share).abs() < 1e-12);

        // Every score is the held-out information gain of the very model the parameters make:
        // rebuild it per fold (image i held out in fold i mod 4) and score its log-density.
        for point in &fit.grid {
            let mut total = 0.0;
            for fold in 0..4 {
                let train: Vec<ImageFixations<'_>> = views
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 4 != fold)
                    .map(|(_, v)| *v)
                    .collect();
                let count: usize = train.iter().map(|v| v.xy.len()).sum();
                let params = CentreBiasParams {
                    bandwidth: point.bandwidth,
                    eps: eps_for_uniform_share(point.uniform_share, count),
                    keep_aspect: false,
                };
                let model = CentreBiasModel::from_images(&train, params, "fold").unwrap();
                let log_density = model.log_density(40, 30).unwrap();
                for held_out in views.iter().skip(fold).step_by(4) {
                    total += held_out
                        .pixel_indices()
                        .map(|i| (log_density[i] + 1200f64.ln()) / std::f64::consts::LN_2)
                        .sum::<f64>();
                }
            }
            let bits = total / (12.0 * 40.0);
            assert!(
                (bits - point.bits).abs() < 1e-9,
                "{point:?}: rebuilt models score {bits}"
            );
        }
    }

    #[test]
    fn too_few_images_is_an_error() {
        let one = [ImageFixations {
            width: 4,
            height: 4,
            xy: &[[1.0, 1.0]],
        }];
        let err = CentreBiasModel::fit(&one, &FitOptions::default(), "x").unwrap_err();
        assert!(err.to_string().contains("at least 2 images"), "{err}");
    }
}
