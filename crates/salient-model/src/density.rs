//! The density head: from the decoder's last features to a fixation density, as the models that
//! lead the MIT/Tübingen benchmark predict one (DeepGaze II/IIE: Kümmerer et al., ICCV 2017 and
//! 2022; the evaluation of densities: Kümmerer, Wallis & Bethge, ECCV 2018).
//!
//! `(N, 32, H, W)` features →
//! 1. **readout**: a bias-free 3×3 convolution to one logit map `z` (`density.readout.weight`,
//!    `(1, 32, 3, 3)`; no BatchNorm, no activation, so logits can go as low as the data asks);
//! 2. **blur**: `z_b = B_H · z · B_Wᵀ` per image, `B_L[i, j] = g(i − j) / Σ_k g(i − k)` with
//!    `g(d) = exp(−d² / 2σ²)` over the `L` pixels of the map (a Gaussian renormalised at the
//!    border, no truncation), `σ = exp(density.blur.log_sigma) · max(H, W)` pixels: σ is learned
//!    as a fraction of the map's larger side, so a model trained at one size blurs alike at any;
//! 3. **centre-bias log-prior**: `density.prior.log_density`, `(1, 1, 32, 32)` over normalised
//!    image coordinates, resized to `(H, W)` bilinearly with half-pixel centres (PyTorch's
//!    `interpolate(mode="bilinear", align_corners=False)`) and added to `z_b`;
//! 4. **log-softmax** over the `H·W` pixels of each image.
//!
//! The output is the natural-log density `(N, 1, H, W)`: `Σ exp = 1` per image, in units of
//! probability per pixel. Blur and resize are written as products with small `(L, L)` and
//! `(L, 32)` matrices, so both are ordinary GEMMs with candle's own gradients (σ's gradient flows
//! through the matrix entries), and cost `N·H·W·(H + W)` multiply-adds: a fraction of a percent of
//! the network's.
//!
//! The reference implementation is `scripts/parity/make_density_fixture.py` (PyTorch); the tests
//! compare with its fixture.

use candle_core::{DType, Device, Result, Tensor, D};

use crate::conv::Conv2d;
use crate::store::TensorStore;

/// Side of the centre-bias prior's grid (normalised coordinates: the grid spans the image).
pub const PRIOR_GRID: usize = 32;
/// The blur's σ (a fraction of the map's larger side) before training sets it from the dataset.
pub const DEFAULT_SIGMA_FRACTION: f64 = 0.03;
/// Channels of the decoder's last features, the readout's input.
pub const FEATURE_CHANNELS: usize = 32;

/// Tensor names of the head (also its `state_dict` entries, after the decoder's).
pub const READOUT_WEIGHT: &str = "density.readout.weight";
pub const LOG_SIGMA: &str = "density.blur.log_sigma";
pub const PRIOR_LOG_DENSITY: &str = "density.prior.log_density";

/// The head's parameters as `(name, shape)`, in `state_dict` order.
pub fn density_head_specs() -> Vec<(String, Vec<usize>)> {
    vec![
        (READOUT_WEIGHT.to_string(), vec![1, FEATURE_CHANNELS, 3, 3]),
        (LOG_SIGMA.to_string(), vec![1]),
        (
            PRIOR_LOG_DENSITY.to_string(),
            vec![1, 1, PRIOR_GRID, PRIOR_GRID],
        ),
    ]
}

/// The density head's layers, built from the network's tensor store.
pub(crate) struct DensityHead {
    readout: Conv2d,
    log_sigma: Tensor,
    prior: Tensor,
}

impl DensityHead {
    pub fn new(store: &TensorStore) -> Result<Self> {
        Ok(Self {
            readout: Conv2d::new(store, "density.readout", 1, 1)?,
            log_sigma: store.compute(LOG_SIGMA)?,
            prior: store.compute(PRIOR_LOG_DENSITY)?,
        })
    }

    /// `(N, 32, H, W)` features → `(N, 1, H, W)` log-density (f32).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        let logits = self.readout.forward(features)?.to_dtype(DType::F32)?;
        log_density(&logits, &self.log_sigma, &self.prior)
    }
}

/// The whole head on `(N, 32, H, W)` features with the given parameters (steps 1–4), computing
/// the readout with the network's convolution kernels: what the network's head computes in f32,
/// for tests against the reference.
pub fn head_forward(
    features: &Tensor,
    readout_weight: &Tensor,
    log_sigma: &Tensor,
    prior: &Tensor,
) -> Result<Tensor> {
    let spec = crate::kernels::ConvSpec {
        kind: crate::kernels::ConvKind::Conv,
        stride: 1,
        padding: 1,
    };
    let logits = crate::kernels::convolution(features, readout_weight, spec)?;
    log_density(&logits, log_sigma, prior)
}

/// Steps 2–4 of the head: `(N, 1, H, W)` logits, `log_sigma` `(1,)` and the prior
/// `(1, 1, G, G)` → `(N, 1, H, W)` log-density. Every input may track gradients; all must share
/// one float dtype (f64 in the finite-difference tests).
pub fn log_density(logits: &Tensor, log_sigma: &Tensor, prior: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = logits.dims4()?;
    if c != 1 {
        candle_core::bail!("density head: logits must have 1 channel, got {c}");
    }
    let blurred = blur(logits, log_sigma)?;
    let prior = resize_prior(prior, h, w)?.reshape((1, 1, h, w))?;
    log_softmax_over_pixels(&blurred.broadcast_add(&prior)?, n, h, w)
}

/// The blur's σ in pixels for an `h × w` map: `exp(log_sigma) · max(h, w)`, shape `(1,)`.
pub fn sigma_pixels(log_sigma: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    log_sigma.exp()?.affine(h.max(w) as f64, 0.0)
}

/// Step 2: `(N, 1, H, W)` → `B_H · z · B_Wᵀ` per image.
pub fn blur(logits: &Tensor, log_sigma: &Tensor) -> Result<Tensor> {
    let (n, _, h, w) = logits.dims4()?;
    let sigma = sigma_pixels(log_sigma, h, w)?;
    let bw = gaussian_blur_matrix(w, &sigma)?;
    let bh = gaussian_blur_matrix(h, &sigma)?;
    // Along rows: (N·H, W) · B_Wᵀ. Along columns: transpose to (N·W, H), · B_Hᵀ, transpose back.
    let along_w = logits.reshape((n * h, w))?.matmul(&bw.t()?.contiguous()?)?;
    let columns = along_w
        .reshape((n, h, w))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((n * w, h))?;
    columns
        .matmul(&bh.t()?.contiguous()?)?
        .reshape((n, w, h))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((n, 1, h, w))
}

/// `B_L`, `(len, len)`: row `i` holds `exp(−(i − j)² / 2σ²)` over `j`, normalised to sum 1.
/// `sigma` is `(1,)` pixels; the matrix has its dtype and device and carries its gradient.
pub fn gaussian_blur_matrix(len: usize, sigma: &Tensor) -> Result<Tensor> {
    let squared: Vec<f64> = (0..len * len)
        .map(|k| {
            let d = (k / len) as f64 - (k % len) as f64;
            d * d
        })
        .collect();
    let squared = Tensor::from_vec(squared, (len, len), sigma.device())?.to_dtype(sigma.dtype())?;
    let two_var = sigma.sqr()?.affine(2.0, 0.0)?.reshape((1, 1))?;
    let weights = squared.broadcast_div(&two_var)?.neg()?.exp()?;
    weights.broadcast_div(&weights.sum_keepdim(1)?)
}

/// `R`, `(out_len, in_len)`: bilinear interpolation with half-pixel centres (PyTorch's
/// `align_corners=False` rule: source `(i + ½)·in/out − ½`, clamped below at 0), as a constant
/// matrix so that resizing is a product.
pub fn bilinear_matrix(
    out_len: usize,
    in_len: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut r = vec![0f64; out_len * in_len];
    let scale = in_len as f64 / out_len as f64;
    for i in 0..out_len {
        let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(in_len - 1);
        let i1 = (i0 + 1).min(in_len - 1);
        let t = src - i0 as f64;
        r[i * in_len + i0] += 1.0 - t;
        r[i * in_len + i1] += t;
    }
    Tensor::from_vec(r, (out_len, in_len), device)?.to_dtype(dtype)
}

/// Step 3's resize: the `(1, 1, G, G)` prior → `(h, w)`, `R_H · P · R_Wᵀ`.
pub fn resize_prior(prior: &Tensor, h: usize, w: usize) -> Result<Tensor> {
    let (_, _, gh, gw) = prior.dims4()?;
    let rh = bilinear_matrix(h, gh, prior.dtype(), prior.device())?;
    let rw = bilinear_matrix(w, gw, prior.dtype(), prior.device())?;
    rh.matmul(&prior.reshape((gh, gw))?)?
        .matmul(&rw.t()?.contiguous()?)
}

/// Step 4: log-softmax over each image's pixels. The maximum is subtracted as a constant (the
/// result does not depend on it), so it adds nothing to the gradient.
fn log_softmax_over_pixels(x: &Tensor, n: usize, h: usize, w: usize) -> Result<Tensor> {
    let flat = x.reshape((n, h * w))?;
    let max = flat.max_keepdim(D::Minus1)?.detach();
    let shifted = flat.broadcast_sub(&max)?;
    let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&log_sum)?.reshape((n, 1, h, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// Deterministic, non-symmetric values (no RNG, so failures reproduce).
    fn wave(shape: &[usize], a: f64, b: f64, dtype: DType) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|i| (a * i as f64 + b).sin() + 0.3 * (0.37 * i as f64).cos())
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    fn scalar(t: &Tensor) -> f64 {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()[0]
    }

    /// The density integrates to 1 per image in f32, square and not, whatever the blur.
    #[test]
    fn density_integrates_to_one_at_several_sizes() {
        let prior = wave(&[1, 1, PRIOR_GRID, PRIOR_GRID], 0.05, 0.1, DType::F32);
        for (n, h, w, sigma) in [
            (2, 32, 32, 0.03),
            (1, 64, 96, 0.01),
            (3, 96, 64, 0.2),
            (1, 224, 320, 0.03),
        ] {
            let logits = wave(&[n, 1, h, w], 0.011, 0.7, DType::F32)
                .affine(6.0, 0.0)
                .unwrap();
            let log_sigma = Tensor::new(&[(sigma as f32).ln()], &Device::Cpu).unwrap();
            let out = log_density(&logits, &log_sigma, &prior).unwrap();
            assert_eq!(out.dims(), &[n, 1, h, w]);
            let sums: Vec<f32> = out
                .exp()
                .unwrap()
                .sum((1, 2, 3))
                .unwrap()
                .to_vec1()
                .unwrap();
            for (i, s) in sums.iter().enumerate() {
                let err = (s - 1.0).abs();
                assert!(err <= 1e-5, "{n}x{h}x{w} image {i}: Σ density = {s}");
            }
        }
    }

    /// Rows of the blur sum to 1; a tiny σ leaves the map as it is; σ's fraction is of the
    /// larger side.
    #[test]
    fn blur_matrix_rows_are_normalised_gaussians() {
        let sigma = Tensor::new(&[2.0f64], &Device::Cpu).unwrap();
        let b = gaussian_blur_matrix(7, &sigma)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        for row in &b {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // Interior row 3: g(d) = exp(-d²/8) over d = -3..=3, normalised.
        let g: Vec<f64> = (-3i32..=3).map(|d| (-(d * d) as f64 / 8.0).exp()).collect();
        let total: f64 = g.iter().sum();
        for (j, gj) in g.iter().enumerate() {
            assert!((b[3][j] - gj / total).abs() < 1e-12);
        }
        let tiny = Tensor::new(&[0.05f64], &Device::Cpu).unwrap();
        let identity = gaussian_blur_matrix(5, &tiny)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        for (i, row) in identity.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        let ls = Tensor::new(&[0.1f64.ln()], &Device::Cpu).unwrap();
        assert!((scalar(&sigma_pixels(&ls, 64, 96).unwrap()) - 9.6).abs() < 1e-12);
    }

    /// Bilinear weights as PyTorch's `align_corners=False`: doubling puts ¾ on the near source
    /// pixel, edges clamp, and equal sizes are the identity.
    #[test]
    fn bilinear_matrix_follows_half_pixel_centres() {
        let r = bilinear_matrix(4, 2, DType::F64, &Device::Cpu)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        let expected = [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]];
        for (row, want) in r.iter().zip(expected) {
            for (v, e) in row.iter().zip(want) {
                assert!((v - e).abs() < 1e-12, "{r:?}");
            }
        }
        let same = bilinear_matrix(3, 3, DType::F64, &Device::Cpu)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        for (i, row) in same.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert_eq!(*v, f64::from(u8::from(i == j)));
            }
        }
    }

    /// `loss = Σ weights · log_density`, in f64, for finite differences.
    fn weighted_loss(
        logits: &Tensor,
        log_sigma: &Tensor,
        prior: &Tensor,
        weights: &Tensor,
    ) -> Tensor {
        (log_density(logits, log_sigma, prior).unwrap() * weights)
            .unwrap()
            .sum_all()
            .unwrap()
    }

    /// The gradients of the blur's σ, the prior and the logits equal central finite differences
    /// (f64, step 1e-5: agreement to ~1e-8 relative expected; 1e-6 asserted).
    #[test]
    fn blur_prior_and_logit_gradients_match_finite_differences() {
        let (n, h, w) = (2, 32, 64);
        let logits = Var::from_tensor(
            &wave(&[n, 1, h, w], 0.023, 0.4, DType::F64)
                .affine(3.0, 0.0)
                .unwrap(),
        )
        .unwrap();
        let log_sigma =
            Var::from_tensor(&Tensor::new(&[0.05f64.ln()], &Device::Cpu).unwrap()).unwrap();
        let prior = Var::from_tensor(&wave(
            &[1, 1, PRIOR_GRID, PRIOR_GRID],
            0.071,
            1.1,
            DType::F64,
        ))
        .unwrap();
        // Weights like a fixation map (few large entries) plus a small dense part, so every pixel
        // matters and the softmax's normalisation is exercised.
        let weights = wave(&[n, 1, h, w], 0.29, 0.0, DType::F64)
            .affine(0.1, 0.0)
            .unwrap();
        let grads = weighted_loss(
            logits.as_tensor(),
            log_sigma.as_tensor(),
            prior.as_tensor(),
            &weights,
        )
        .backward()
        .unwrap();
        let eps = 1e-5;
        let loss_at =
            |l: &Tensor, s: &Tensor, p: &Tensor| scalar(&weighted_loss(l, s, p, &weights));
        let check = |name: &str, analytic: f64, numeric: f64| {
            let scale = analytic.abs().max(numeric.abs()).max(1e-3);
            let rel = (analytic - numeric).abs() / scale;
            assert!(
                rel <= 1e-6,
                "{name}: analytic {analytic:e}, finite difference {numeric:e} (rel {rel:e})"
            );
        };
        // σ.
        let g = scalar(grads.get(log_sigma.as_tensor()).unwrap());
        let plus = log_sigma.as_tensor().affine(1.0, eps).unwrap();
        let minus = log_sigma.as_tensor().affine(1.0, -eps).unwrap();
        let numeric = (loss_at(logits.as_tensor(), &plus, prior.as_tensor())
            - loss_at(logits.as_tensor(), &minus, prior.as_tensor()))
            / (2.0 * eps);
        check("log_sigma", g, numeric);
        assert!(
            g.abs() > 1e-3,
            "σ's gradient is {g}: the test would not see a wrong one"
        );
        // Prior and logits: a few entries each (corners, centre, off-diagonal).
        let prior_grad = grads
            .get(prior.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let logit_grad = grads
            .get(logits.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let bump = |t: &Tensor, i: usize, d: f64| {
            let mut v = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            v[i] += d;
            Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
        };
        for i in [0, 31, 5 * 32 + 17, 16 * 32 + 16, 32 * 32 - 1] {
            let numeric = (loss_at(
                logits.as_tensor(),
                log_sigma.as_tensor(),
                &bump(prior.as_tensor(), i, eps),
            ) - loss_at(
                logits.as_tensor(),
                log_sigma.as_tensor(),
                &bump(prior.as_tensor(), i, -eps),
            )) / (2.0 * eps);
            check(&format!("prior[{i}]"), prior_grad[i], numeric);
        }
        for i in [0, 63, 17 * 64 + 5, h * w + 3 * 64 + 40, n * h * w - 1] {
            let numeric = (loss_at(
                &bump(logits.as_tensor(), i, eps),
                log_sigma.as_tensor(),
                prior.as_tensor(),
            ) - loss_at(
                &bump(logits.as_tensor(), i, -eps),
                log_sigma.as_tensor(),
                prior.as_tensor(),
            )) / (2.0 * eps);
            check(&format!("logits[{i}]"), logit_grad[i], numeric);
        }
    }

    /// Adding a constant to the prior or to the logits changes nothing (only differences
    /// matter), and a uniform prior with constant logits gives the uniform density.
    #[test]
    fn constants_do_not_matter_and_flat_inputs_give_the_uniform_density() {
        let (h, w) = (32, 64);
        let logits = wave(&[1, 1, h, w], 0.03, 0.2, DType::F64);
        let prior = wave(&[1, 1, PRIOR_GRID, PRIOR_GRID], 0.05, 0.1, DType::F64);
        let ls = Tensor::new(&[0.03f64.ln()], &Device::Cpu).unwrap();
        let a = log_density(&logits, &ls, &prior).unwrap();
        let b = log_density(
            &logits.affine(1.0, 5.0).unwrap(),
            &ls,
            &prior.affine(1.0, -3.0).unwrap(),
        )
        .unwrap();
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let tol = salient_test_support::Tolerance::Abs(1e-12);
        salient_test_support::assert_close_and_nan_fails(
            "shifted inputs",
            &values(&a),
            &values(&b),
            tol,
        );
        let flat = log_density(
            &Tensor::zeros((1, 1, h, w), DType::F64, &Device::Cpu).unwrap(),
            &ls,
            &Tensor::zeros((1, 1, PRIOR_GRID, PRIOR_GRID), DType::F64, &Device::Cpu).unwrap(),
        )
        .unwrap();
        let uniform = vec![-((h * w) as f64).ln(); h * w];
        salient_test_support::assert_close_and_nan_fails(
            "flat inputs",
            &values(&flat),
            &uniform,
            tol,
        );
    }
}
