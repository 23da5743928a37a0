//! The density head and its `nll` loss against the PyTorch reference
//! (`scripts/parity/make_density_fixture.py`, fixture in salient-model's tests): the forward pass
//! (log-density) at three sizes, square and not, the loss, and the gradients of the readout, the
//! blur's σ and the centre-bias prior. Tolerances are stated beside each check; every comparison
//! fails on NaN (salient-test-support) and is shown, on the output it compared, to refuse that
//! output with a NaN in it.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, Var};
use salient_model::density::{bilinear_matrix, gaussian_blur_matrix, head_forward, sigma_pixels};
use salient_model::Head;
use salient_test_support::{assert_close_and_nan_fails, max_abs, Tolerance};
use salient_train::LossKind;

/// The f32 head against float64 PyTorch: the reference itself measured 1.4e-6 between its f32 and
/// f64 heads; a transposed axis, a wrong border rule or a truncated blur is off by > 1e-2.
const FORWARD_TOLERANCE: Tolerance = Tolerance::Abs(1e-4);
/// `nll` in bits per fixation, relative.
const NLL_TOLERANCE: f64 = 1e-5;
/// Gradients, relative to each tensor's largest reference gradient.
const GRAD_TOLERANCE: f64 = 1e-4;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../salient-model/tests/fixtures/density_reference.st")
}

struct Fixture {
    tensors: HashMap<String, Tensor>,
    cases: Vec<serde_json::Value>,
    stride: usize,
}

impl Fixture {
    fn load() -> Self {
        let path = fixture_path();
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        Self {
            tensors,
            cases: serde_json::from_str(&meta["cases"]).unwrap(),
            stride: meta["u_sample_stride"].parse().unwrap(),
        }
    }

    fn get(&self, name: &str) -> &Tensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"))
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// The decoder features of the fixture's formula (see the script), f32.
fn features(n: usize, h: usize, w: usize) -> Tensor {
    let c = 32;
    let mut u = Vec::with_capacity(n * c * h * w);
    for ni in 0..n {
        for ci in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let i = ((ni * c + ci) * h + y) * w + x;
                    let v = 0.5 * (0.013 * i as f64 + 0.3 * ci as f64).sin()
                        + 0.3
                            * (0.11 * y as f64 - 0.07 * x as f64
                                + 0.5 * ci as f64
                                + 0.9 * ni as f64)
                                .cos();
                    u.push(v as f32);
                }
            }
        }
    }
    Tensor::from_vec(u, (n, c, h, w), &Device::Cpu).unwrap()
}

#[test]
fn density_head_matches_pytorch_forward_loss_and_gradients() {
    let fixture = Fixture::load();
    assert_eq!(fixture.cases.len(), 3);
    for case in &fixture.cases {
        let name = case["name"].as_str().unwrap();
        let dim = |k: &str| case[k].as_u64().unwrap() as usize;
        let (n, h, w) = (dim("n"), dim("h"), dim("w"));
        let param = |p: &str| {
            Var::from_tensor(
                &fixture
                    .get(&format!("{name}.{p}"))
                    .to_dtype(DType::F32)
                    .unwrap(),
            )
            .unwrap()
        };
        let (weight, log_sigma, prior) = (
            param("density.readout.weight"),
            param("density.blur.log_sigma"),
            param("density.prior.log_density"),
        );
        let u = features(n, h, w);
        let sample: Vec<f64> = values(&u).into_iter().step_by(fixture.stride).collect();
        let expected_sample = values(fixture.get(&format!("{name}.u_sample")));
        assert_eq!(
            sample, expected_sample,
            "{name}: the features' formula differs from the script's"
        );

        let out = head_forward(
            &u,
            weight.as_tensor(),
            log_sigma.as_tensor(),
            prior.as_tensor(),
        )
        .unwrap();
        assert_eq!(out.dims(), &[n, 1, h, w]);
        let diff = assert_close_and_nan_fails(
            &format!("{name}: log-density"),
            &values(&out),
            &values(fixture.get(&format!("{name}.log_density"))),
            FORWARD_TOLERANCE,
        );
        println!("{name}: log-density max abs diff {diff:e}");

        let fixations = fixture
            .get(&format!("{name}.fixations"))
            .to_dtype(DType::F32)
            .unwrap();
        let loss = LossKind::Nll
            .compute_for(Head::Density, &out, &fixations, Some(&fixations))
            .unwrap();
        let nll = values(&loss)[0];
        let expected = values(fixture.get(&format!("{name}.nll")))[0];
        let rel = (nll - expected).abs() / expected.abs();
        println!("{name}: nll {nll} bits vs {expected} (rel {rel:e})");
        assert!(rel <= NLL_TOLERANCE, "{name}: nll {nll} vs {expected}");

        let grads = loss.backward().unwrap();
        for (label, var) in [
            ("density.readout.weight", &weight),
            ("density.blur.log_sigma", &log_sigma),
            ("density.prior.log_density", &prior),
        ] {
            let ours = values(grads.get(var.as_tensor()).expect("a gradient"));
            let reference = values(fixture.get(&format!("{name}.grad.{label}")));
            let scale = max_abs(&reference);
            let what = format!("{name}: d nll / d {label} (largest {scale:e})");
            let tol = Tolerance::Abs(GRAD_TOLERANCE * scale);
            let diff = assert_close_and_nan_fails(&what, &ours, &reference, tol);
            println!("{what}: max abs diff {diff:e}");
        }
    }
}

/// The blur and resize matrices on their own (the n1_h96_w128 case's `B_W`, and `R_W` for 128).
#[test]
fn blur_and_resize_matrices_match_pytorch() {
    let fixture = Fixture::load();
    let log_sigma = fixture
        .get("n1_h96_w128.density.blur.log_sigma")
        .to_dtype(DType::F64)
        .unwrap();
    let sigma = sigma_pixels(&log_sigma, 96, 128).unwrap();
    let blur = gaussian_blur_matrix(128, &sigma).unwrap();
    let exact = Tolerance::Abs(1e-12);
    let want = values(fixture.get("blur_matrix_w128"));
    assert_close_and_nan_fails("B_W", &values(&blur), &want, exact);
    let resize = bilinear_matrix(128, 32, DType::F64, &Device::Cpu).unwrap();
    let want = values(fixture.get("resize_matrix_w128"));
    assert_close_and_nan_fails("R_W", &values(&resize), &want, exact);
}
