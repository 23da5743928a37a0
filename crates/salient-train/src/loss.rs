//! Training losses as candle ops (so they have gradients), and the weighted sums written as text:
//! `mse`, `bce`, `kld`, `cc`, `nss`, `kld+0.5cc`, `0.1*nss+kld`.
//!
//! Every loss takes the prediction `(N,1,H,W)` in `(0,1)` (the sigmoid output), the ground-truth map
//! `(N,1,H,W)` in `[0,1]` and, for `nss`, the binary fixation map of the same shape; it returns a scalar
//! to minimise. Per-image losses are averaged over the batch. Signs: `cc` is `1 − CC` and `nss` is
//! `−NSS`, so that every term decreases as the prediction improves.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// Machine epsilon of the MIT benchmark's KLD (`eps` of MATLAB doubles), as pysaliency uses.
pub const KLD_EPS: f64 = 2.2204e-16;
/// Keeps `log` finite in BCE, as PyTorch's `BCELoss` clamps its logs at −100 (e^−100 ≈ 3.7e−44).
const BCE_CLAMP: f64 = 1e-7;
/// Guards divisions by a zero variance or sum (constant or empty maps).
const DIV_EPS: f64 = 1e-12;

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
}

impl LossKind {
    /// The name used in loss strings.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::Bce => "bce",
            LossKind::Kld => "kld",
            LossKind::Cc => "cc",
            LossKind::Nss => "nss",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            LossKind::Mse,
            LossKind::Bce,
            LossKind::Kld,
            LossKind::Cc,
            LossKind::Nss,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// The loss value for a batch (scalar tensor).
    pub fn compute(
        self,
        pred: &Tensor,
        target: &Tensor,
        fixations: Option<&Tensor>,
    ) -> Result<Tensor, TrainError> {
        let value = match self {
            LossKind::Mse => (pred - target)?.sqr()?.mean_all()?,
            LossKind::Bce => bce(pred, target)?,
            LossKind::Kld => kld(pred, target)?,
            LossKind::Cc => cc(pred, target)?.affine(-1.0, 1.0)?.mean_all()?,
            LossKind::Nss => {
                let fix = fixations.ok_or_else(|| {
                    TrainError::Config(
                        "loss `nss` needs fixation maps, and this dataset has none".into(),
                    )
                })?;
                nss(pred, fix)?.affine(-1.0, 0.0)?.mean_all()?
            }
        };
        Ok(value)
    }
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

    /// True when a term needs fixation maps.
    pub fn needs_fixations(&self) -> bool {
        self.terms.iter().any(|(_, k)| *k == LossKind::Nss)
    }

    /// The weighted sum for a batch (scalar tensor, F32).
    pub fn compute(
        &self,
        pred: &Tensor,
        target: &Tensor,
        fixations: Option<&Tensor>,
    ) -> Result<Tensor, TrainError> {
        let mut total: Option<Tensor> = None;
        for (weight, kind) in &self.terms {
            let term = kind
                .compute(pred, target, fixations)?
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
                    "unknown loss {name:?} (known: mse, bce, kld, cc, nss)"
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
        for kind in [
            LossKind::Mse,
            LossKind::Bce,
            LossKind::Kld,
            LossKind::Cc,
            LossKind::Nss,
        ] {
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

    #[test]
    fn nss_without_fixations_is_a_clear_error() {
        let p = tensor(values(0.3, 0.1, 0.9));
        let e = LossKind::Nss.compute(&p, &p, None).unwrap_err();
        assert!(e.to_string().contains("fixation"), "{e}");
    }
}
