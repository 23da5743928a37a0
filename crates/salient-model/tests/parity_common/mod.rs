//! Shared by salient-model's parity tests: the formula weights and input of
//! `scripts/parity/make_fixture.py`, reproduced exactly, and the fixture it wrote.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use salient_model::saliency_net_specs;
/// The comparisons, NaN-aware: shared by every crate's tests.
#[allow(unused_imports)] // each test crate uses a different subset
pub use salient_test_support::{
    assert_close_and_nan_fails, check_close, max_abs, max_abs_diff, rejects_nan, Tolerance,
};

/// The committed fixture, written by `scripts/parity/make_fixture.py`.
pub const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../salient-model/tests/fixtures/parity_reference.st"
);

pub struct Fixture {
    pub tensors: HashMap<String, Tensor>,
    pub meta: HashMap<String, String>,
}

impl Fixture {
    pub fn load() -> Fixture {
        let bytes =
            std::fs::read(FIXTURE).expect("parity fixture (run scripts/parity/make_fixture.py)");
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("fixture header");
        let meta = header.metadata().clone().unwrap_or_default();
        let tensors =
            candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).expect("fixture tensors");
        Fixture { tensors, meta }
    }

    pub fn tensor(&self, name: &str) -> &Tensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks `{name}`"))
    }
}

/// `float32(a + b * sin(0.37 * i + 1.3 * k))` over a tensor's flat elements, with (a, b) by kind.
fn formula_values(name: &str, shape: &[usize], k: usize) -> Vec<f32> {
    let numel: usize = shape.iter().product();
    let (a, b) = if name.ends_with("running_var") {
        (1.0, 0.5)
    } else if name.ends_with("running_mean") {
        (0.0, 0.1)
    } else if shape.len() == 4 {
        let (fan, gain) = if name.starts_with("deconv") {
            ((shape[0] * shape[2] * shape[3]) as f64 / 4.0, 3.0)
        } else {
            let gain = if name.starts_with("conv_0.") {
                10.0
            } else {
                1.0
            };
            ((shape[1] * shape[2] * shape[3]) as f64, gain)
        };
        (0.0, gain / fan.sqrt())
    } else if name.ends_with("weight") {
        (1.0, 0.2)
    } else {
        (0.0, 0.1)
    };
    (0..numel)
        .map(|i| (a + b * (0.37 * i as f64 + 1.3 * k as f64).sin()) as f32)
        .collect()
}

/// Every parameter and buffer in `state_dict` order, filled by the fixture's formula (k = position
/// in the sorted list of names): the eval-forward fixture's weights.
pub fn formula_tensors() -> Vec<(String, Tensor)> {
    let specs = saliency_net_specs();
    let mut sorted: Vec<&str> = specs.iter().map(|(n, _)| n.as_str()).collect();
    sorted.sort_unstable();
    specs
        .iter()
        .map(|(name, shape)| {
            let k = sorted.binary_search(&name.as_str()).unwrap();
            let values = formula_values(name, shape, k);
            (
                name.clone(),
                Tensor::from_vec(values, shape.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect()
}

fn signal(shape: &[usize], freq: f64, phase: f64, offset: f64, amp: f64) -> Tensor {
    let numel: usize = shape.iter().product();
    let v: Vec<f32> = (0..numel)
        .map(|i| (offset + amp * (freq * i as f64 + phase).sin()) as f32)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

pub fn model_input(shape: &[usize]) -> Tensor {
    signal(shape, 0.031, 0.7, 0.5, 0.45)
}

/// Every `stride`-th element of `t`, flattened.
pub fn sample(t: &Tensor, stride: usize) -> Vec<f32> {
    let v = t
        .flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    v.into_iter().step_by(stride).collect()
}

pub fn to_vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}
