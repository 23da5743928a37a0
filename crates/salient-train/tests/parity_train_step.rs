//! Three training steps against PyTorch (`scripts/parity/make_train_fixture.py`, float64), for the
//! seed head with `mse` and the density head with `nll`: seed freeze, train mode, three batches,
//! Adam lr 1e-3, betas (0.8, 0.95), eps 1e-8, weight decay 0.01 (L2, as `salient train`'s
//! optimiser). Each step runs salient's own training step, as the trainer does:
//! `SaliencyNet::forward(Mode::Train)`, `LossSpec::compute_for`, `backward`, `Adam::step`.
//!
//! Checked against the fixture: the loss of every step; the gradients of the tracked tensors at
//! steps 1 and 3; Adam's moments and the parameters after step 3; BatchNorm running statistics
//! after step 3; frozen tensors that must not move. The fixture samples every `stride`-th element
//! of each tracked tensor. Every comparison fails on NaN (`!within(diff, tol)`).
//!
//! Conditioning (see the script's header): activations sit far from the ReLU/LeakyReLU kinks and
//! weights are hashed, so PyTorch's own float32 run agrees with its float64 one to ≤ 2.0e-5 of each
//! tracked gradient's largest value (median ~4e-6; the figures are in the fixture's metadata,
//! `<head>.f32_vs_f64`): each tolerance below is ≥ 5× PyTorch's float32 error and far below what
//! the fault it is named for does. Ours, measured: gradients ≤ 2.1e-5, moments ≤ 1.1e-5,
//! parameters ≤ 2.4e-4 lr, running statistics ≤ 5.6e-6, losses ≤ 1.4e-6.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use salient_model::{net_specs, Head, Mode, ModelConfig, SaliencyNet};
use salient_train::optim::{Adam, AdamConfig};
use salient_train::LossSpec;

/// Loss of each step, relative. PyTorch float32: ≤ 3.1e-7. Catches a wrong forward pass or loss,
/// and (steps 2, 3) wrongly updated weights anywhere in the network.
const LOSS_TOLERANCE: f64 = 1e-5;
/// Gradients: max |ours − PyTorch| over the samples, relative to the samples' largest |gradient|.
/// PyTorch float32: ≤ 2.0e-5. Catches backward faults: a BatchNorm backward without its
/// `x̂·Σg'x̂/M` term is off by 1.0, a LeakyReLU negative slope doubled in the backward pass by 2.4;
/// a detached prior or blur σ leaves no gradient at all (and moves every other check).
const GRAD_TOLERANCE: f64 = 1e-4;
/// Adam's first and second moments after step 3 (`m.<name>`, `v.<name>`), relative to the samples'
/// largest value, on the well-conditioned elements (below). PyTorch float32: ≤ 1.1e-5. Betas
/// (0.9, 0.999) instead of (0.8, 0.95) change m by up to 0.46 and v by 0.98 of their largest value,
/// weight decay 0 by 1.0: a β ignored (v with β1: 2.5), a weight decay dropped or decoupled
/// (1.0), a missing second bias correction (0.16 of v) fail here.
const MOMENT_TOLERANCE: f64 = 1e-4;
/// Parameters after step 3 on the well-conditioned elements (the fixture's `mask`: |g + wd·p| ≥ 1%
/// of the tensor's largest at each step), in units of lr. PyTorch float32: ≤ 2.7e-4 lr. Betas
/// (0.9, 0.999) move them by up to 0.24 lr, weight decay 0 by 6 lr, a missing second bias
/// correction by 7 lr: catches the update rule (bias corrections, eps, lr, L2 or decoupled decay).
const PARAM_TOLERANCE_LR: f64 = 5e-3;
/// Every sampled parameter after step 3, in units of lr: three Adam updates of at most ~1.2 lr each
/// in either direction. Only catches NaN and gross faults (lr ×10): elements whose update is
/// `m / sqrt(v)` of numbers near zero can flip under float32 rounding.
const PARAM_SANITY_LR: f64 = 7.0;
/// Running statistics after step 3: max |ours − PyTorch| relative to the largest movement of the
/// samples from their initial value. PyTorch float32: ≤ 3.7e-6. Momentum 0.2 instead of 0.1 is off
/// by 0.8 of the movement, the biased batch variance in the update of `running_var` by up to 3.8e-2
/// (layer3.5.bn3: 32 samples per channel).
const RUNNING_TOLERANCE: f64 = 1e-4;

const LR: f64 = 1e-3;
const STEPS: usize = 3;
const BATCH: usize = 2;
const SIZE: usize = 64;

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/train_step_reference.st")
}

struct Fixture {
    tensors: HashMap<String, Tensor>,
    meta: HashMap<String, String>,
    strides: HashMap<String, usize>,
}

impl Fixture {
    fn load() -> Self {
        let path = fixture_path();
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} ({e}): run make_train_fixture.py", path.display()));
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap_or_default();
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
        let strides = serde_json::from_str(&meta["strides"]).unwrap();
        Self {
            tensors,
            meta,
            strides,
        }
    }

    fn values(&self, key: &str) -> Vec<f64> {
        values(
            self.tensors
                .get(key)
                .unwrap_or_else(|| panic!("fixture lacks `{key}`")),
        )
    }

    fn names(&self, key: &str) -> Vec<String> {
        serde_json::from_str(&self.meta[key]).unwrap()
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn sample(t: &Tensor, stride: usize) -> Vec<f64> {
    values(t).into_iter().step_by(stride).collect()
}

/// `max |a − b|` over the elements where `keep` holds, NaN if any compared element is NaN.
fn max_abs_diff_where(a: &[f64], b: &[f64], keep: impl Fn(usize) -> bool) -> f64 {
    assert_eq!(a.len(), b.len(), "sample counts differ");
    let mut worst = 0.0f64;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if keep(i) {
            let d = (x - y).abs();
            if d.is_nan() {
                return f64::NAN;
            }
            worst = worst.max(d);
        }
    }
    worst
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    max_abs_diff_where(a, b, |_| true)
}

/// `diff <= tol`, false when `diff` is NaN: every check below goes through it.
fn within(diff: f64, tol: f64) -> bool {
    diff <= tol
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

// ---- The fixture's formulas (scripts/parity/make_train_fixture.py), reproduced exactly ----

fn fnv1a64(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// `u` in [0, 1): the top 24 bits of splitmix64(fnv1a64(name) + i).
fn hash_uniform(name: &str, i: usize) -> f64 {
    let mut z = fnv1a64(name)
        .wrapping_add(i as u64)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f64 / f64::from(1u32 << 24)
}

/// `float32(a + b (2u − 1))` over `n` elements.
fn hashed(name: &str, n: usize, a: f64, b: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (a + b * (2.0 * hash_uniform(name, i) - 1.0)) as f32)
        .collect()
}

fn is_frozen(name: &str) -> bool {
    ["conv1.", "bn1.", "layer1.", "layer2."]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The centre-bias prior of make_density_fixture.py, (1, 1, 32, 32).
fn prior_values() -> Vec<f32> {
    let mut v = Vec::with_capacity(32 * 32);
    for r in 0..32 {
        for s in 0..32 {
            let (r, s) = (f64::from(r), f64::from(s));
            let (a, b) = ((s - 17.5) / 9.0, (r - 14.0) / 7.0);
            let x = -0.5 * (a * a) - 0.5 * (b * b) + 0.15 * (0.9 * r + 0.4 * s).sin() + 0.02 * s;
            v.push(x as f32);
        }
    }
    v
}

/// A parameter or buffer filled by the fixture's formula.
fn formula(name: &str, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let values = if name == "density.blur.log_sigma" {
        vec![0.03f64.ln() as f32; n]
    } else if name == "density.prior.log_density" {
        prior_values()
    } else if name == "density.readout.weight" {
        hashed(name, n, 0.0, (3.0f64 / 288.0).sqrt())
    } else if shape.len() == 4 {
        let fan = if name.starts_with("deconv") {
            (shape[0] * shape[2] * shape[3]) as f64 / 4.0
        } else {
            (shape[1] * shape[2] * shape[3]) as f64
        };
        hashed(name, n, 0.0, (3.0 / fan).sqrt())
    } else if name.ends_with("running_var") {
        hashed(name, n, 1.0, 0.5)
    } else if name.ends_with("running_mean") {
        hashed(name, n, 0.0, 0.1)
    } else if is_frozen(name) {
        if name.ends_with("weight") {
            hashed(name, n, 1.0, 0.2)
        } else {
            hashed(name, n, 0.0, 0.1)
        }
    } else if name.ends_with("bn3.weight") {
        hashed(name, n, 0.15, 0.015)
    } else if name.ends_with("weight") {
        hashed(name, n, 1.0, 0.1)
    } else if name.starts_with("layer") {
        if name.ends_with("bn3.bias") {
            hashed(name, n, 0.0, 0.1)
        } else {
            hashed(name, n, 4.0, 0.1)
        }
    } else {
        // Decoder BatchNorm bias: channel c in the negative regime when c % 4 == 0. The script
        // adds ±6 to the float64 jitter before rounding to float32.
        (0..n)
            .map(|c| {
                let sign = if c % 4 == 0 { -1.0 } else { 1.0 };
                let jitter = 0.1 * (2.0 * hash_uniform(name, c) - 1.0);
                (jitter + 6.0 * sign) as f32
            })
            .collect()
    };
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn network_tensors(head: Head) -> Vec<(String, Tensor)> {
    net_specs(head)
        .into_iter()
        .map(|(name, shape)| {
            let t = formula(&name, &shape);
            (name, t)
        })
        .collect()
}

/// Step `s`'s input (N, 3, 64, 64), target map and fixations (N, 1, 64, 64).
fn batch(step: usize) -> (Tensor, Tensor, Tensor) {
    let image = |name: &str, c: usize, a: f64, b: f64| {
        let n = BATCH * c * SIZE * SIZE;
        Tensor::from_vec(hashed(name, n, a, b), (BATCH, c, SIZE, SIZE), &Device::Cpu).unwrap()
    };
    let x = image(&format!("input/{step}"), 3, 0.5, 0.45);
    let t = image(&format!("target/{step}"), 1, 0.35, 0.2);
    let mut fix = vec![0f32; BATCH * SIZE * SIZE];
    for b in 0..BATCH {
        if step == 0 && b == 1 {
            continue; // an image without fixations: nll leaves it out
        }
        let mut set = |y: usize, x: usize| fix[(b * SIZE + y) * SIZE + x] = 1.0;
        for j in 0..6 {
            set(
                (11 + 23 * j + 7 * b + 3 * step) % SIZE,
                (3 + 41 * j + 13 * b + 5 * step) % SIZE,
            );
        }
        if b == 0 {
            set(0, SIZE - 1);
        }
    }
    let fix = Tensor::from_vec(fix, (BATCH, 1, SIZE, SIZE), &Device::Cpu).unwrap();
    (x, t, fix)
}

fn adam_config(fixture: &Fixture) -> AdamConfig {
    let adam: serde_json::Value = serde_json::from_str(&fixture.meta["adam"]).unwrap();
    let cfg = AdamConfig {
        lr: LR,
        beta1: 0.8,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.01,
        decoupled_weight_decay: false,
    };
    let f = |k: &str| adam[k].as_f64().unwrap();
    assert_eq!(
        (
            f("lr"),
            adam["betas"][0].as_f64().unwrap(),
            adam["betas"][1].as_f64().unwrap()
        ),
        (cfg.lr, cfg.beta1, cfg.beta2),
        "fixture made with another Adam"
    );
    assert_eq!((f("eps"), f("weight_decay")), (cfg.eps, cfg.weight_decay));
    assert_eq!(adam["decoupled"], serde_json::Value::Bool(false));
    cfg
}

/// Runs the three steps of `head` and compares; returns the failures.
fn check_head(fixture: &Fixture, head: Head) -> Vec<String> {
    let key = head.as_str();
    let mut failures = Vec::new();
    let mut fail = |msg: String| {
        println!("  FAIL {msg}");
        failures.push(format!("{key}: {msg}"));
    };
    let tracked = fixture.names(&format!("{key}.tracked"));
    let running = fixture.names(&format!("{key}.running"));
    let initial: HashMap<String, Tensor> = network_tensors(head).into_iter().collect();
    for name in &tracked {
        let ours = sample(&initial[name], fixture.strides[name]);
        assert_eq!(
            ours,
            fixture.values(&format!("init.{name}")),
            "{name}: the weight formula differs from the script's"
        );
    }
    let cfg = ModelConfig {
        head,
        ..ModelConfig::default()
    };
    let net = SaliencyNet::from_tensors(cfg, network_tensors(head), &Device::Cpu).unwrap();
    let vars = net.trainable_vars();
    let var_of: HashMap<String, candle_core::Var> = vars.iter().cloned().collect();
    let mut adam = Adam::new(vars, adam_config(fixture)).unwrap();
    // The loss `salient train --head <head>` uses by default.
    let spec = LossSpec::default_for(head);
    let losses: Vec<f64> = serde_json::from_str(&fixture.meta[&format!("{key}.losses")]).unwrap();

    println!("== {key} head, loss {spec} ==");
    assert_eq!(losses.len(), STEPS);
    for (step, &expected) in losses.iter().enumerate() {
        let (x, target, fixations) = batch(step);
        let out = net.forward(&x, Mode::Train).unwrap();
        let loss = spec
            .compute_for(head, &out, &target, Some(&fixations))
            .unwrap();
        let value = f64::from(loss.to_scalar::<f32>().unwrap());
        let rel = (value - expected).abs() / expected.abs();
        println!(
            "step {}: loss {value} vs {expected} (rel {rel:.1e})",
            step + 1
        );
        if !within(rel, LOSS_TOLERANCE) {
            fail(format!("step {} loss rel {rel:e}", step + 1));
        }
        let grads = loss.backward().unwrap();
        if step == 0 || step == 2 {
            for name in &tracked {
                let Some(grad) = grads.get(var_of[name].as_tensor()) else {
                    fail(format!("step {}: no gradient for {name}", step + 1));
                    continue;
                };
                let ours = sample(grad, fixture.strides[name]);
                let theirs = fixture.values(&format!("{key}.grad{}.{name}", step + 1));
                let rel = max_abs_diff(&ours, &theirs) / max_abs(&theirs);
                println!("  grad{} {name}: {rel:.1e} of max|g|", step + 1);
                if !within(rel, GRAD_TOLERANCE) {
                    fail(format!("grad step {} {name}: {rel:e}", step + 1));
                }
            }
        }
        adam.step(&grads).unwrap();
    }

    let now: HashMap<String, Tensor> = net.tensors().into_iter().collect();
    let state: HashMap<String, Tensor> = adam.state_tensors().unwrap().into_iter().collect();
    for name in &tracked {
        let stride = fixture.strides[name];
        let keep = fixture.values(&format!("{key}.mask.{name}"));
        let kept = |i: usize| keep[i] != 0.0;
        let mut report = format!("  after step 3 {name}:");
        for moment in ["m", "v"] {
            let ours = sample(&state[&format!("{moment}.{name}")], stride);
            let theirs = fixture.values(&format!("{key}.{moment}.{name}"));
            let rel = max_abs_diff_where(&ours, &theirs, kept) / max_abs(&theirs);
            report += &format!(" {moment} {rel:.1e}");
            if !within(rel, MOMENT_TOLERANCE) {
                fail(format!("{moment} {name}: {rel:e} of its largest value"));
            }
        }
        let ours = sample(&now[name], stride);
        let theirs = fixture.values(&format!("{key}.after.{name}"));
        let precise = max_abs_diff_where(&ours, &theirs, kept) / LR;
        let sanity = max_abs_diff(&ours, &theirs) / LR;
        let moved = max_abs_diff(&sample(&initial[name], stride), &theirs) / LR;
        println!(
            "{report} param {precise:.1e} lr on {} of {} samples (all: {sanity:.1e} lr; PyTorch \
             moved it by up to {moved:.2} lr)",
            keep.iter().filter(|k| **k != 0.0).count(),
            keep.len()
        );
        if !within(precise, PARAM_TOLERANCE_LR) || !within(sanity, PARAM_SANITY_LR) {
            fail(format!(
                "param {name}: {precise:e} lr (well conditioned), {sanity:e} lr (all)"
            ));
        }
    }
    for name in &running {
        let stride = fixture.strides[name];
        let ours = sample(&now[name], stride);
        let theirs = fixture.values(&format!("{key}.after.{name}"));
        let moved = max_abs_diff(&sample(&initial[name], stride), &theirs);
        let rel = max_abs_diff(&ours, &theirs) / moved;
        println!("  running {name}: {rel:.1e} of its movement ({moved:.2e})");
        if !within(rel, RUNNING_TOLERANCE) {
            fail(format!("running statistic {name}: {rel:e} of its movement"));
        }
    }
    // Frozen tensors (seed freeze: conv1, bn1, layer1, layer2) keep their values exactly, running
    // statistics included: their BatchNorm layers run in inference mode.
    for (name, value) in &now {
        if is_frozen(name) && values(value) != values(&initial[name]) {
            fail(format!("frozen {name} moved"));
        }
    }
    failures
}

#[test]
fn three_training_steps_match_pytorch_for_both_heads() {
    let fixture = Fixture::load();
    let mut failures = check_head(&fixture, Head::Seed);
    failures.extend(check_head(&fixture, Head::Density));
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The fixture's batches are the formula's (the script stores every 101st value of each).
#[test]
fn batches_follow_the_fixture_formula() {
    let fixture = Fixture::load();
    let stride: usize = fixture.meta["input_sample_stride"].parse().unwrap();
    for step in 0..STEPS {
        let (x, t, _) = batch(step);
        assert_eq!(sample(&x, stride), fixture.values(&format!("input.{step}")));
        assert_eq!(
            sample(&t, stride),
            fixture.values(&format!("target.{step}"))
        );
    }
}

#[test]
fn comparisons_fail_on_nan() {
    assert!(!within(max_abs_diff(&[0.0, f64::NAN], &[0.0, 0.0]), 1.0));
    assert!(!within(max_abs_diff(&[0.0, 0.0], &[f64::NAN, 0.0]), 1.0));
    assert!(!within(
        max_abs_diff_where(&[f64::NAN], &[0.0], |_| true),
        1.0
    ));
    assert!(!within(f64::NAN / 1.0, 1.0));
}
