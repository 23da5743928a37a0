mod parity_common;
use candle_core::Device;
use parity_common::*;
use salient_model::{FreezePolicy, Mode, ModelConfig, SaliencyNet};
#[test]
fn dbg() {
    for freeze in [FreezePolicy::Backbone, FreezePolicy::Layer3, FreezePolicy::Layer2, FreezePolicy::None] {
        let net = SaliencyNet::from_tensors(ModelConfig { freeze, dropout: 0.0 }, formula_tensors(), &Device::Cpu).unwrap();
        let y = net.forward(&model_input(&[2, 3, 64, 64]), Mode::Train).unwrap();
        let t = model_target(y.dims());
        let l = (&y - &t).unwrap().sqr().unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
        println!("{freeze}: {l}");
    }
}
