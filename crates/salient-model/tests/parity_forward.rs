//! Eval-mode forward parity with PyTorch (fixture from scripts/parity/make_fixture.py), and the
//! network's tensor inventory against the PyTorch state_dict. The comparison fails on NaN, and
//! the test proves it on the output it compared.

mod parity_common;

use candle_core::Device;
use parity_common::*;
use salient_model::{saliency_net_specs, Mode, ModelConfig, SaliencyNet};

/// Every element of the saliency map within 1e-4 of PyTorch's (absolute; the map is in (0, 1)).
const FORWARD_TOLERANCE: Tolerance = Tolerance::Abs(1e-4);

fn formula_net() -> SaliencyNet {
    SaliencyNet::from_tensors(ModelConfig::default(), formula_tensors(), &Device::Cpu).unwrap()
}

#[test]
fn eval_forward_matches_pytorch_at_64_and_96x128() {
    let fixture = Fixture::load();
    let net = formula_net();
    for (h, w) in [(64, 64), (96, 128)] {
        let y = net
            .forward(&model_input(&[2, 3, h, w]), Mode::Eval)
            .unwrap();
        assert_eq!(y.dims(), &[2, 1, h, w]);
        let expected = to_vec(fixture.tensor(&format!("eval_{h}x{w}")));
        let what = format!("eval {h}x{w}");
        let diff = assert_close_and_nan_fails(&what, &to_vec(&y), &expected, FORWARD_TOLERANCE);
        println!("{what}: max abs diff {diff:e}");
    }
}

#[test]
fn tensor_names_shapes_and_order_match_pytorch_state_dict() {
    let fixture = Fixture::load();
    let torch: Vec<(String, Vec<usize>)> =
        serde_json::from_str(&fixture.meta["state_dict"]).expect("state_dict metadata");
    assert_eq!(saliency_net_specs(), torch);
}
