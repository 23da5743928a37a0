//! Training losses as candle ops (so they have gradients), and the weighted sums written as text:
//! `mse`, `bce`, `kld`, `cc`, `nss`, `sim`, `nll`, `kld+0.5cc`, `nll+0.5cc`, `0.1*nss+kld`.
//!
//! Every loss takes the network's output `(N,1,H,W)`, the ground-truth map `(N,1,H,W)` in `[0,1]`
//! and, for `nss` and `nll`, the binary fixation map of the same shape; it returns a scalar to
//! minimise. Per-image losses are averaged over the batch. Signs: `cc` is `1 − CC`, `sim` is
//! `1 − SIM` and `nss` is `−NSS`, so that every term decreases as the prediction improves.
//!
//! What the output is depends on the head ([`Head`], [`LossSpec::compute_for`]): the seed head's
//! saliency map in `(0,1)`, or the density head's log-density. `kld`, `cc`, `nss` and `sim` take
//! the density itself (`exp` of the output) from the density head; `nll` takes the log-density,
//! and from the seed head uses its map normalised to sum 1 as the density. `mse` and `bce`
//! compare values in `[0,1]` with the map, which a density (summing to 1) is not: the density head
//! refuses them.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Tensor};
use salient_model::Head;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Machine epsilon of the MIT benchmark's KLD (`eps` of MATLAB doubles), as pysaliency uses.
pub const KLD_EPS: f64 = 2.2204e-16;
/// Keeps `log` finite in BCE, as PyTorch's `BCELoss` clamps its logs at −100 (e^−100 ≈ 3.7e−44).
const BCE_CLAMP: f64 = 1e-7;
/// Guards divisions by a zero variance or sum (constant or empty maps).
const DIV_EPS: f64 = 1e-12;
/// Keeps `ln` finite where a seed-head map is exactly 0 (its sigmoid underflowed) in `nll`.
const LOG_FLOOR: f64 = 1e-30;

/// One loss function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Mean squared error over pixels (the seed's `nn.MSELoss`).
    Mse,
    /// Binary cross-entropy over pixels, the map as soft target.
    Bce,
    /// Kullback–Leibler divergence KL(GT ‖ prediction) of the sum-normalised maps (MIT variant).
    Kld,
    /// `1 − CC`, CC the Pearson correlation of prediction and map per image.
    Cc,
    /// `−NSS`: mean standardised prediction at fixated pixels (needs fixation maps).
    Nss,
    /// `1 − SIM`, SIM the histogram intersection `Σ min(P, Q)` of the sum-normalised maps.
    Sim,
    /// Negative log-likelihood of the fixations under the predicted density, in bits per fixation
    /// relative to a uniform density: per image `−(1/F) Σ_fixated log2(p · H·W)`, averaged over
    /// the images that have fixations (0 = as good as uniform, negative = better; pysaliency's
    /// `log_likelihood`, negated). Needs fixation maps.
    Nll,
}

/// The losses in the order they are listed in messages.
const ALL_KINDS: [LossKind; 7] = [
    LossKind::Mse,
    LossKind::Bce,
    LossKind::Kld,
    LossKind::Cc,
    LossKind::Nss,
    LossKind::Sim,
    LossKind::Nll,
];

impl LossKind {
    /// The name used in loss strings.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::Bce => "bce",
            LossKind::Kld => "kld",
            LossKind::Cc => "cc",
            LossKind::Nss => "nss",
            LossKind::Sim => "sim",
            LossKind::Nll => "nll",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        ALL_KINDS.into_iter().find(|k| k.name() == name)
    }

    /// Whether the loss needs the binary fixation maps.
    pub fn needs_fixations(self) -> bool {
        matches!(self, LossKind::Nss | LossKind::Nll)
    }

    /// Whether the loss can train `head` (the density head refuses `mse` and `bce`).
    pub fn fits(self, head: Head) -> bool {
        head == Head::Seed || !matches!(self, LossKind::Mse | LossKind::Bce)
    }

    /// The loss value for a batch (scalar tensor), `pred` a seed-head saliency map in `(0,1)`.
    pub fn compute(
        self,
        pred: &Tensor,
        target: &Tensor,
        fixations: Option<&Tensor>,
    ) -> Result<Tensor, TrainError> {
        self.compute_for(Head::Seed, pred, target, fixations)
    }

    /// The loss value for a batch of `head`'s `output` (see the module docs).
    pub fn compute_for(
        self,
        head: Head,
        output: &Tensor,
        target: &Tensor,
        fixations: Option<&Tensor>,
    ) -> Result<Tensor, TrainError> {
        if !self.fits(head) {
            return Err(unfit(self, head));
        }
        let fixations = || {
            fixations.ok_or_else(|| {
                TrainError::Config(format!(
                    "loss `{}` needs fixation maps, and this dataset has none",
                    self.name()
                ))
            })
        };
        // The map the map-comparing losses see: the saliency map, or the density itself.
        let map = || -> candle_core::Result<Tensor> {
            match head {
                Head::Seed => Ok(output.clone()),
                Head::Density => output.exp(),
            }
        };
        let value = match self {
            LossKind::Mse => (output - target)?.sqr()?.mean_all()?,
            LossKind::Bce => bce(output, target)?,
            LossKind::Kld => kld(&map()?, target)?,
            LossKind::Cc => cc(&map()?, target)?.affine(-1.0, 1.0)?.mean_all()?,
            LossKind::Nss => nss(&map()?, fixations()?)?.affine(-1.0, 0.0)?.mean_all()?,
            LossKind::Sim => sim(&map()?, target)?.affine(-1.0, 1.0)?.mean_all()?,
            LossKind::Nll => nll_bits(&log_density(head, output)?, fixations()?)?,
        };
        Ok(value)
    }
}

fn unfit(kind: LossKind, head: Head) -> TrainError {
    TrainError::Config(format!(
        "loss `{}` compares a map in [0, 1] with the ground truth; the {head} head predicts a          density (summing to 1 over the pixels): use nll, kld, cc, nss or sim",
        kind.name()
    ))
}

/// The natural-log density of an output: the density head's own, or the seed head's map
/// normalised to sum 1 per image (floored at 1e-30 before the log).
fn log_density(head: Head, output: &Tensor) -> candle_core::Result<Tensor> {
    match head {
        Head::Density => Ok(output.clone()),
        Head::Seed => {
            let p = output.clamp(LOG_FLOOR, f64::INFINITY)?;
            let total = per_image(&p)?
                .sum_keepdim(1)?
                .reshape((p.dim(0)?, 1, 1, 1))?;
            p.log()?.broadcast_sub(&total.log()?)
        }
    }
}

/// `nll` in bits per fixation relative to uniform (see [`LossKind::Nll`]); 0 when no image of
/// the batch has fixations.
fn nll_bits(log_density: &Tensor, fixations: &Tensor) -> candle_core::Result<Tensor> {
    let lp = per_image(log_density)?;
    let pixels = lp.dim(1)? as f64;
    let f = per_image(fixations)?.to_dtype(lp.dtype())?;
    let count = f.sum(1)?;
    let has = count.gt(0.0)?.to_dtype(lp.dtype())?;
    // Mean log-likelihood per fixation of each image, + ln(H·W) so that uniform scores 0.
    let per_fixation =
        ((&lp * &f)?.sum(1)? / count.clamp(1.0, f64::INFINITY)?)?.affine(1.0, pixels.ln())?;
    let images = has.sum_all()?.clamp(1.0, f64::INFINITY)?;
    ((per_fixation * has)?.sum_all()? / images)?.affine(-1.0 / std::f64::consts::LN_2, 0.0)
}

/// SIM per image, shape `(N,)`: `Σ min(P, Q)` of the sum-normalised maps (Judd et al.'s
/// similarity, the MIT benchmark's `SIM`).
fn sim(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let p = per_image(pred)?;
    let q = per_image(target)?;
    let p = p.broadcast_div(&p.sum_keepdim(1)?.affine(1.0, DIV_EPS)?)?;
    let q = q.broadcast_div(&q.sum_keepdim(1)?.affine(1.0, DIV_EPS)?)?;
    p.minimum(&q)?.sum(1)
}

/// `(N, …)` → `(N, K)`: one row per image.
fn per_image(t: &Tensor) -> candle_core::Result<Tensor> {
    t.flatten_from(1)
}

fn bce(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let p = pred.clamp(BCE_CLAMP, 1.0 - BCE_CLAMP)?;
    let pos = (target * p.log()?)?;
    let neg = (target.affine(-1.0, 1.0)? * p.affine(-1.0, 1.0)?.log()?)?;
    (pos + neg)?.mean_all()?.neg()
}

/// KL(Q ‖ P) with Q the map and P the prediction, each normalised to sum 1 per image:
/// `Σ Q · ln(ε + Q / (P + ε))`, the MIT saliency benchmark's definition.
fn kld(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let p = per_image(pred)?;
    let q = per_image(target)?;
    let p = p.broadcast_div(&p.sum_keepdim(1)?.affine(1.0, DIV_EPS)?)?;
    let q = q.broadcast_div(&q.sum_keepdim(1)?.affine(1.0, DIV_EPS)?)?;
    let ratio = (&q / p.affine(1.0, KLD_EPS)?)?;
    (q * ratio.affine(1.0, KLD_EPS)?.log()?)?.sum(1)?.mean_all()
}

/// Pearson correlation per image, shape `(N,)`.
fn cc(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    let p = per_image(pred)?;
    let q = per_image(target)?;
    let p = p.broadcast_sub(&p.mean_keepdim(1)?)?;
    let q = q.broadcast_sub(&q.mean_keepdim(1)?)?;
    let cov = (&p * &q)?.sum(1)?;
    let norm = (p.sqr()?.sum(1)? * q.sqr()?.sum(1)?)?
        .affine(1.0, DIV_EPS)?
        .sqrt()?;
    cov / norm
}

/// NSS per image, shape `(N,)`: the prediction standardised (population std, as pysaliency) and
/// averaged over fixated pixels. An image without fixations contributes 0.
fn nss(pred: &Tensor, fixations: &Tensor) -> candle_core::Result<Tensor> {
    let p = per_image(pred)?;
    let f = per_image(fixations)?.to_dtype(p.dtype())?;
    let centred = p.broadcast_sub(&p.mean_keepdim(1)?)?;
    let std = centred
        .sqr()?
        .mean_keepdim(1)?
        .affine(1.0, DIV_EPS)?
        .sqrt()?;
    let standard = centred.broadcast_div(&std)?;
    let count = f.sum(1)?.clamp(1.0, f64::INFINITY)?;
    (standard * f)?.sum(1)? / count
}

/// A weighted sum of losses, written `kld+0.5cc` or `0.5*cc + kld`.
#[derive(Debug, Clone, PartialEq)]
pub struct LossSpec {
    /// `(weight, loss)` terms, summed.
    pub terms: Vec<(f64, LossKind)>,
}

impl LossSpec {
    /// The seed's loss.
    pub fn mse() -> Self {
        LossSpec {
            terms: vec![(1.0, LossKind::Mse)],
        }
    }

    /// The default loss of a head: the seed's `mse` for the seed head; for the density head `nll`,
    /// the fixations' log-likelihood, which a density is fitted by (DeepGaze, UNISAL).
    pub fn default_for(head: Head) -> Self {
        match head {
            Head::Seed => Self::mse(),
            Head::Density => LossSpec {
                terms: vec![(1.0, LossKind::Nll)],
            },
        }
    }

    /// True when a term needs fixation maps.
    pub fn needs_fixations(&self) -> bool {
        self.terms.iter().any(|(_, k)| k.needs_fixations())
    }

    /// An error naming the first term that cannot train `head`.
    pub fn check_head(&self, head: Head) -> Result<(), TrainError> {
        match self.terms.iter().find(|(_, k)| !k.fits(head)) {
            Some((_, kind)) => Err(unfit(*kind, head)),
            None => Ok(()),
        }
    }

    /// The weighted sum for a batch (scalar tensor, F32) of seed-head saliency maps.
    pub fn compute(
        &self,
        pred: &Tensor,
        target: &Tensor,
        fixations: Option<&Tensor>,
    ) -> Result<Tensor, TrainError> {
        self.compute_for(Head::Seed, pred, target, fixations)
    }

    /// The weighted sum for a batch of `head`'s `output` (scalar tensor, F32).
    pub fn compute_for(
        &self,
        head: Head,
        output: &Tensor,
        target: &Tensor,
        fixations: Option<&Tensor>,
    ) -> Result<Tensor, TrainError> {
        let mut total: Option<Tensor> = None;
        for (weight, kind) in &self.terms {
            let term = kind
                .compute_for(head, output, target, fixations)?
                .affine(*weight, 0.0)?;
            total = Some(match total {
                None => term,
                Some(t) => (t + term)?,
            });
        }
        let total = total.ok_or_else(|| TrainError::Config("empty loss".into()))?;
        Ok(total.to_dtype(DType::F32)?)
    }
}

impl FromStr for LossSpec {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |msg: String| TrainError::Config(format!("loss {s:?}: {msg}"));
        let mut terms = Vec::new();
        for raw in s.split('+') {
            let term: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            if term.is_empty() {
                return Err(bad("empty term (expected e.g. `kld+0.5cc`)".into()));
            }
            let split = term
                .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
                .or_else(|| term.find(|c: char| c.is_ascii_alphabetic()))
                .ok_or_else(|| bad(format!("term {term:?} names no loss")))?;
            let (weight_text, name) = term.split_at(split);
            let weight_text = weight_text.trim_end_matches('*');
            let weight = if weight_text.is_empty() {
                1.0
            } else {
                weight_text
                    .parse::<f64>()
                    .map_err(|_| bad(format!("weight {weight_text:?} is not a number")))?
            };
            if !weight.is_finite() || weight <= 0.0 {
                return Err(bad(format!("weight {weight} must be positive")));
            }
            let kind = LossKind::from_name(name).ok_or_else(|| {
                bad(format!(
                    "unknown loss {name:?} (known: mse, bce, kld, cc, nss, sim, nll)"
                ))
            })?;
            terms.push((weight, kind));
        }
        Ok(LossSpec { terms })
    }
}

impl fmt::Display for LossSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (weight, kind)) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            if *weight != 1.0 {
                write!(f, "{weight}")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl Serialize for LossSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for LossSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    const N: usize = 2;
    const H: usize = 3;
    const W: usize = 4;

    fn values(offset: f64, lo: f64, hi: f64) -> Vec<f64> {
        (0..N * H * W)
            .map(|i| lo + (hi - lo) * (0.5 + 0.5 * ((i as f64) * 1.7 + offset).sin()))
            .collect()
    }

    fn tensor(v: Vec<f64>) -> Tensor {
        Tensor::from_vec(v, (N, 1, H, W), &Device::Cpu).unwrap()
    }

    fn fixations() -> Tensor {
        let f: Vec<f64> = (0..N * H * W)
            .map(|i| if i % 5 == 1 { 1.0 } else { 0.0 })
            .collect();
        tensor(f)
    }

    fn value(kind: LossKind, p: &[f64], t: &[f64]) -> f64 {
        let fix = fixations();
        kind.compute(&tensor(p.to_vec()), &tensor(t.to_vec()), Some(&fix))
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// Each loss's autograd gradient equals central finite differences (f64, small tensors).
    #[test]
    fn gradients_match_finite_differences() {
        let p0 = values(0.3, 0.1, 0.9);
        let t = values(1.1, 0.0, 1.0);
        for kind in ALL_KINDS {
            let var = Var::from_tensor(&tensor(p0.clone())).unwrap();
            let fix = fixations();
            let loss = kind
                .compute(var.as_tensor(), &tensor(t.clone()), Some(&fix))
                .unwrap();
            let grads = loss.backward().unwrap();
            let g: Vec<f64> = grads
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let h = 1e-6;
            for i in 0..p0.len() {
                let mut up = p0.clone();
                up[i] += h;
                let mut down = p0.clone();
                down[i] -= h;
                let numeric = (value(kind, &up, &t) - value(kind, &down, &t)) / (2.0 * h);
                assert!(
                    (numeric - g[i]).abs() <= 1e-6 + 1e-5 * numeric.abs(),
                    "{}: d/dp[{i}] autograd {} vs numeric {numeric}",
                    kind.name(),
                    g[i]
                );
            }
        }
    }

    /// Values against sums written out by hand on a 1×1×1×2 example.
    #[test]
    fn values_match_hand_computation() {
        let dev = Device::Cpu;
        let p = Tensor::from_vec(vec![0.25f64, 0.75], (1, 1, 1, 2), &dev).unwrap();
        let t = Tensor::from_vec(vec![0.0f64, 1.0], (1, 1, 1, 2), &dev).unwrap();
        let f = Tensor::from_vec(vec![0.0f64, 1.0], (1, 1, 1, 2), &dev).unwrap();
        let get = |k: LossKind| {
            k.compute(&p, &t, Some(&f))
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        assert!((get(LossKind::Mse) - 0.0625).abs() < 1e-12);
        assert!((get(LossKind::Bce) - (-(0.75f64).ln())).abs() < 1e-6);
        // P = (0.25, 0.75), Q = (0, 1): KLD = 1·ln(1/0.75).
        assert!((get(LossKind::Kld) - (1.0f64 / 0.75).ln()).abs() < 1e-9);
        // Two points are perfectly correlated: 1 − CC = 0.
        assert!(get(LossKind::Cc).abs() < 1e-9);
        // Standardised prediction is (−1, 1); the fixation is on the second: NSS = 1.
        assert!((get(LossKind::Nss) + 1.0).abs() < 1e-9);
    }

    #[test]
    fn weighted_sums_parse_print_and_add() {
        let spec: LossSpec = "kld+0.5cc".parse().unwrap();
        assert_eq!(spec.terms, vec![(1.0, LossKind::Kld), (0.5, LossKind::Cc)]);
        assert_eq!(spec.to_string(), "kld+0.5cc");
        let spec2: LossSpec = " 0.5*cc + 2e-1 nss".parse().unwrap();
        assert_eq!(spec2.terms, vec![(0.5, LossKind::Cc), (0.2, LossKind::Nss)]);
        assert!(spec2.needs_fixations());
        for bad in ["", "kld+", "foo", "-1cc", "0cc", "x2cc"] {
            assert!(
                bad.parse::<LossSpec>().is_err(),
                "{bad:?} should be rejected"
            );
        }
        let p = tensor(values(0.3, 0.1, 0.9));
        let t = tensor(values(1.1, 0.0, 1.0));
        let sum = spec
            .compute(&p, &t, None)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let parts = value(
            LossKind::Kld,
            &values(0.3, 0.1, 0.9),
            &values(1.1, 0.0, 1.0),
        ) + 0.5 * value(LossKind::Cc, &values(0.3, 0.1, 0.9), &values(1.1, 0.0, 1.0));
        assert!((sum - parts).abs() < 1e-5, "{sum} vs {parts}");
    }

    /// `nll` by hand: the density (.1, .2 / .3, .4) with fixations on .2 and .4 scores
    /// `−½ (log2(0.2·4) + log2(0.4·4)) = −½ log2 1.28` bits; an image without fixations is left
    /// out of the mean, not counted as 0. The same from the seed head's map (normalised).
    #[test]
    fn nll_matches_hand_computation_in_bits_per_fixation() {
        let dev = Device::Cpu;
        let expected = -0.5 * 1.28f64.log2(); // -0.17807190511263765
        let density = [0.1f64, 0.2, 0.3, 0.4];
        let fix = [0.0f64, 1.0, 0.0, 1.0];
        let log_density: Vec<f64> = density.iter().map(|p| p.ln()).collect();
        let one = |v: &[f64]| Tensor::from_vec(v.to_vec(), (1, 1, 2, 2), &dev).unwrap();
        let got = LossKind::Nll
            .compute_for(
                Head::Density,
                &one(&log_density),
                &one(&density),
                Some(&one(&fix)),
            )
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        // A second image without fixations changes nothing.
        let two =
            |a: &[f64], b: &[f64]| Tensor::from_vec([a, b].concat(), (2, 1, 2, 2), &dev).unwrap();
        let got = LossKind::Nll
            .compute_for(
                Head::Density,
                &two(&log_density, &log_density),
                &two(&density, &density),
                Some(&two(&fix, &[0.0; 4])),
            )
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        // The seed head's map (any scale) is normalised into the same density.
        let map: Vec<f64> = density.iter().map(|p| p * 2.0).collect();
        let got = LossKind::Nll
            .compute_for(Head::Seed, &one(&map), &one(&density), Some(&one(&fix)))
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    /// SIM by hand, and the density head's map losses see the density (`exp` of its output).
    #[test]
    fn sim_and_density_head_losses_see_the_density() {
        let dev = Device::Cpu;
        let p = Tensor::from_vec(vec![0.25f64, 0.75], (1, 1, 1, 2), &dev).unwrap();
        let t = Tensor::from_vec(vec![0.5f64, 0.5], (1, 1, 1, 2), &dev).unwrap();
        // min(.25, .5) + min(.75, .5) = .75 → 1 − SIM = .25.
        let sim = LossKind::Sim
            .compute(&p, &t, None)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((sim - 0.25).abs() < 1e-9, "{sim}");
        let log_p = p.log().unwrap();
        for kind in [LossKind::Kld, LossKind::Cc, LossKind::Sim] {
            let seed = kind
                .compute(&p, &t, None)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            let density = kind
                .compute_for(Head::Density, &log_p, &t, None)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert!(
                (seed - density).abs() < 1e-12,
                "{}: {seed} vs {density}",
                kind.name()
            );
        }
    }

    #[test]
    fn density_head_refuses_mse_and_bce_by_name() {
        for text in ["mse", "kld+0.5bce"] {
            let spec: LossSpec = text.parse().unwrap();
            let e = spec.check_head(Head::Density).unwrap_err().to_string();
            assert!(e.contains("density head") && e.contains("use nll"), "{e}");
            assert!(spec.check_head(Head::Seed).is_ok());
        }
        assert_eq!(LossSpec::default_for(Head::Density).to_string(), "nll");
        assert_eq!(LossSpec::default_for(Head::Seed).to_string(), "mse");
        assert!("nll+0.5cc".parse::<LossSpec>().unwrap().needs_fixations());
    }

    #[test]
    fn nss_without_fixations_is_a_clear_error() {
        let p = tensor(values(0.3, 0.1, 0.9));
        let e = LossKind::Nss.compute(&p, &p, None).unwrap_err();
        assert!(e.to_string().contains("fixation"), "{e}");
    }
}
