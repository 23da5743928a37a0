//! # salient-metrics
//!
//! The standard saliency metrics on plain `f32` slices, equal to the benchmarks' reference
//! implementations (pysaliency 0.2.22, the Tübingen/MIT benchmark code; where pysaliency has no
//! definition, the MIT benchmark's Matlab code as described by Bylinskii et al., "What do different
//! evaluation metrics tell us about saliency models?", TPAMI 2019). No tensor library: any model's
//! output can be scored.
//!
//! | metric | compares the prediction with | definition follows |
//! | --- | --- | --- |
//! | [`cc`] | ground-truth map | pysaliency `CC` (Pearson) |
//! | [`kld`] | ground-truth map | pysaliency `MIT_KLDiv` (ε = 2.2204e-16) |
//! | [`sim`] | ground-truth map | pysaliency `SIM` |
//! | [`nss`] | fixations | pysaliency `NSS` (σ with ddof 0) |
//! | [`auc_judd`] | fixations vs unfixated pixels | pysaliency `AUC_Judd(jitter=False)` |
//! | [`auc_borji`] | fixations vs uniform random pixels | MIT `AUC_Borji.m` (100 splits, step 0.1) |
//! | [`shuffled_auc`] | fixations vs other images' fixations | pysaliency `AUC(nonfixations='shuffled')` |
//! | [`information_gain`] | fixations, over a baseline map or uniform | pysaliency `information_gain` + Bylinskii's ε |
//! | [`information_gain_over_centre_bias`] | fixations, over a [`CentreBiasModel`] | pysaliency `information_gain` against `BaselineModel` |
//!
//! The baseline of IG (Kümmerer, Wallis, Bethge, "Information-theoretic model comparison unifies
//! saliency metrics", PNAS 2015) is the centre bias:
//!
//! | item | what | definition follows |
//! | --- | --- | --- |
//! | [`CentreBiasModel`] | fixations (normalised coordinates) → log-density on any grid; fit, save, load | pysaliency `baseline_utils.BaselineModel` |
//! | [`gaussian_filter`] | separable Gaussian blur, `reflect` border, truncated at 4σ | `scipy.ndimage.gaussian_filter` (defaults) |
//! | [`SaucNegatives`] | the shuffled AUC's negatives: the split's other images or a model's fixations | pysaliency `AUC(nonfixations=...)` |
//!
//! Every function documents its formula, its reference and its value on degenerate input. In short:
//! the prediction is read as `f64`; NaN/inf is an error ([`MetricError::NonFinite`]); a prediction of
//! another size is resized bilinearly to the ground truth's size the way pysaliency does
//! (`scipy.ndimage.zoom(order=1)`, corners aligned, see [`resize_bilinear`]); constant and all-zero
//! maps get defined values (CC 0, NSS 0, AUCs 0.5, KLD/SIM of the uniform distribution); an image
//! without fixations makes the fixation metrics [`MetricError::NoFixations`].
//!
//! Whole datasets: [`evaluate`] scores many images in parallel (rayon) and returns a [`Report`] with
//! mean ± std per metric and every image's values; [`Evaluator`] scores images one at a time, for
//! streaming a dataset from disk. IG is measured against [`IgBaseline`]: by default a centre bias
//! built from the scored split, or a given [`CentreBiasModel`] (another split's, or one loaded from
//! a file), or the uniform distribution. AUC-Judd sorts only the fixated values (the pixels are bucketed
//! by binary search), and the shuffled AUC counts the other images' fixations per pixel once per
//! dataset: all eight metrics cost ~12 ms of CPU per 480×640 image, ~30 s for 5,000 images on two
//! cores (`cargo run --release -p salient-metrics --example bench -- --images 5000`).
//!
//! ```
//! use salient_metrics::{cc, nss, Fixation, Fixations, Map};
//! let pred = [0.0f32, 0.2, 0.9, 0.1];
//! let gt = [0.0f32, 0.1, 1.0, 0.0];
//! let r = cc(Map::new(&pred, 2, 2)?, Map::new(&gt, 2, 2)?)?;
//! assert!(r > 0.9);
//! let fix = [Fixation::new(1, 0)]; // (y, x): the pixel holding 0.9
//! assert!(nss(Map::new(&pred, 2, 2)?, Fixations::new(&fix, 2, 2)?)? > 1.0);
//! # Ok::<(), salient_metrics::MetricError>(())
//! ```

mod auc;
mod batch;
mod centre_bias;
mod density;
mod distribution;
mod error;
mod gaussian;
mod grid;
mod ig;
mod map;
mod metric;
mod nss;
mod pool;
mod resize;
mod single;

pub use auc::borji::{BORJI_SPLITS, BORJI_STEP};
pub use batch::{
    evaluate, EvalError, EvalOptions, Evaluator, IgBaseline, ImageEval, ImageScores, Report,
    SaucNegatives, Summary,
};
pub use centre_bias::{
    eps_for_uniform_share, uniform_share, CentreBiasError, CentreBiasFit, CentreBiasModel,
    CentreBiasParams, FitOptions, FitPoint, ImageFixations, DEFAULT_BANDWIDTH, DEFAULT_EPS,
};
pub use distribution::KLD_EPS;
pub use error::MetricError;
pub use gaussian::{gaussian_filter, GAUSSIAN_TRUNCATE};
pub use map::{fixations_from_binary_map, Fixation, Fixations, Map};
pub use metric::{Metric, MetricSet};
pub use pool::FixationPool;
pub use resize::resize_bilinear;
pub use single::{
    auc_borji, auc_borji_with_negatives, auc_judd, cc, information_gain,
    information_gain_over_centre_bias, kld, nss, shuffled_auc, sim,
};
