//! Construction, counts, input checks, loading and saving of `SaliencyNet`.

mod parity_common;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use parity_common::*;
use salient_model::{
    resnet50_backbone_specs, CheckpointMeta, FreezePolicy, Head, Mode, ModelConfig, ModelError,
    SaliencyNet, META_HEAD,
};

fn cfg(freeze: FreezePolicy) -> ModelConfig {
    ModelConfig {
        freeze,
        ..ModelConfig::default()
    }
}

/// The values of the network's tensor `name`, flattened.
fn values_of(net: &SaliencyNet, name: &str) -> Vec<f32> {
    let (_, tensor) = net.tensors().into_iter().find(|(n, _)| n == name).unwrap();
    to_vec(&tensor)
}

fn save(tensors: &[(String, Tensor)], path: &Path) {
    safetensors::serialize_to_file(tensors.iter().map(|(n, t)| (n.as_str(), t)), None, path)
        .unwrap();
}

#[test]
fn parameter_counts_follow_the_freeze_policy() {
    let net = SaliencyNet::new(ModelConfig::default(), 0, &Device::Cpu).unwrap();
    let counts = net.parameter_counts();
    assert_eq!((counts.total, counts.trainable), (32_581_794, 31_136_866));
    let trainable: usize = net
        .trainable_vars()
        .iter()
        .map(|(_, v)| v.elem_count())
        .sum();
    assert_eq!(trainable, 31_136_866);
    let names: Vec<String> = net.trainable_vars().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "trainable_vars sorted by name"
    );
    assert!(names.iter().all(|n| !n.contains("running")));
    let none =
        SaliencyNet::from_tensors(cfg(FreezePolicy::None), net.tensors(), &Device::Cpu).unwrap();
    assert_eq!(none.parameter_counts().trainable, 32_581_794);
    let backbone =
        SaliencyNet::from_tensors(cfg(FreezePolicy::Backbone), net.tensors(), &Device::Cpu)
            .unwrap();
    assert_eq!(
        backbone.parameter_counts().trainable,
        32_581_794 - 23_508_032
    );
}

#[test]
fn same_seed_same_weights() {
    let a = SaliencyNet::new(ModelConfig::default(), 7, &Device::Cpu).unwrap();
    let b = SaliencyNet::new(ModelConfig::default(), 7, &Device::Cpu).unwrap();
    let c = SaliencyNet::new(ModelConfig::default(), 8, &Device::Cpu).unwrap();
    let first = |n: &SaliencyNet, name: &str| {
        to_vec(&n.tensors().into_iter().find(|(k, _)| k == name).unwrap().1)
    };
    for name in ["conv1.weight", "deconv0.0.weight", "conv_0.0.weight"] {
        assert_eq!(first(&a, name), first(&b, name));
        assert_ne!(first(&a, name), first(&c, name));
    }
    // PyTorch's default bound for the decoder: 1 / sqrt(fan_in); BN weight 1.
    let w = first(&a, "conv_5.0.weight");
    let bound = 1.0 / f64::from(2048f32.sqrt());
    assert!(max_abs(&w) <= bound && max_abs(&w) > 0.9 * bound);
    assert!(first(&a, "conv_5.1.weight").iter().all(|&v| v == 1.0));
}

#[test]
fn input_must_be_rgb_with_sides_multiple_of_32() {
    let net = SaliencyNet::new(ModelConfig::default(), 0, &Device::Cpu).unwrap();
    for shape in [
        [1, 3, 64, 48],
        [1, 3, 40, 64],
        [1, 1, 64, 64],
        [0, 3, 64, 64],
    ] {
        let x = Tensor::zeros(&shape, DType::F32, &Device::Cpu).unwrap();
        let err = net.forward(&x, Mode::Eval).unwrap_err();
        assert!(matches!(err, ModelError::InputShape(_)), "{shape:?}: {err}");
        assert!(err.to_string().contains("multiples of 32"));
    }
    let y = net
        .forward(
            &Tensor::zeros((1, 3, 32, 64), DType::F32, &Device::Cpu).unwrap(),
            Mode::Eval,
        )
        .unwrap();
    assert_eq!(y.dims(), &[1, 1, 32, 64]);
}

#[test]
fn checkpoint_round_trip_keeps_every_tensor_and_the_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let net =
        SaliencyNet::from_tensors(ModelConfig::default(), formula_tensors(), &Device::Cpu).unwrap();
    let mut meta = CheckpointMeta::new();
    meta.set_input_size(256, 320)
        .set_normalize("none")
        .set("epoch", "3");
    net.save_checkpoint(&path, &meta).unwrap();
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left behind");
    let (loaded, meta) =
        SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &Device::Cpu).unwrap();
    assert_eq!(meta.input_size(), Some((256, 320)));
    assert_eq!(meta.normalize().as_deref(), Some("none"));
    assert_eq!(meta.freeze(), Some(FreezePolicy::Layer2));
    assert_eq!(meta.get("epoch"), Some("3"));
    for ((n1, t1), (n2, t2)) in net.tensors().iter().zip(loaded.tensors()) {
        assert_eq!(n1, &n2);
        assert_eq!(to_vec(t1), to_vec(&t2), "{n1}");
    }
}

#[test]
fn pytorch_state_dict_with_num_batches_tracked_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torch.safetensors");
    let mut tensors = formula_tensors();
    let counters: Vec<(String, Tensor)> = tensors
        .iter()
        .filter(|(n, _)| n.ends_with(".running_var"))
        .map(|(n, _)| {
            let name = n.replace(".running_var", ".num_batches_tracked");
            (name, Tensor::new(5i64, &Device::Cpu).unwrap())
        })
        .collect();
    tensors.extend(counters);
    save(&tensors, &path);
    let (net, meta) =
        SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &Device::Cpu).unwrap();
    assert!(meta.is_empty());
    let w = net
        .tensors()
        .into_iter()
        .find(|(n, _)| n == "layer3.2.bn2.running_var")
        .unwrap()
        .1;
    let expected = formula_tensors()
        .into_iter()
        .find(|(n, _)| n == "layer3.2.bn2.running_var")
        .unwrap()
        .1;
    assert_eq!(to_vec(&w), to_vec(&expected));
}

#[test]
fn checkpoint_with_foreign_or_missing_tensor_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let mut tensors = formula_tensors();
    tensors.push((
        "head.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    ));
    save(&tensors, &path);
    let err = SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &Device::Cpu)
        .err()
        .unwrap();
    assert!(err.to_string().contains("head.weight"), "{err}");
    tensors.pop();
    tensors.retain(|(n, _)| n != "deconv2.1.running_mean");
    save(&tensors, &path);
    let err = SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &Device::Cpu)
        .err()
        .unwrap();
    assert!(
        matches!(err, ModelError::MissingTensor { ref name, .. } if name == "deconv2.1.running_mean"),
        "{err}"
    );
}

fn backbone_file(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> std::path::PathBuf {
    let path = dir.join("resnet50.safetensors");
    let mut tensors: Vec<(String, Tensor)> = resnet50_backbone_specs()
        .into_iter()
        .map(|(n, s)| (n, Tensor::full(0.5f32, s, &Device::Cpu).unwrap()))
        .collect();
    tensors.push((
        "fc.weight".into(),
        Tensor::zeros((1000, 2048), DType::F32, &Device::Cpu).unwrap(),
    ));
    tensors.push((
        "fc.bias".into(),
        Tensor::zeros(1000, DType::F32, &Device::Cpu).unwrap(),
    ));
    tensors.push((
        "bn1.num_batches_tracked".into(),
        Tensor::new(1i64, &Device::Cpu).unwrap(),
    ));
    edit(&mut tensors);
    save(&tensors, &path);
    path
}

#[test]
fn backbone_loads_ignoring_fc_and_keeps_the_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let path = backbone_file(dir.path(), |_| {});
    let mut net = SaliencyNet::new(ModelConfig::default(), 0, &Device::Cpu).unwrap();
    let decoder_before = to_vec(
        &net.tensors()
            .into_iter()
            .find(|(n, _)| n == "conv_5.0.weight")
            .unwrap()
            .1,
    );
    net.load_backbone(&path).unwrap();
    let get = |name: &str| values_of(&net, name);
    assert!(get("layer4.2.conv3.weight").iter().all(|&v| v == 0.5));
    assert!(get("bn1.running_var").iter().all(|&v| v == 0.5));
    assert_eq!(get("conv_5.0.weight"), decoder_before);
}

#[test]
fn backbone_missing_or_misshaped_tensor_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = SaliencyNet::new(ModelConfig::default(), 0, &Device::Cpu).unwrap();
    let path = backbone_file(dir.path(), |t| {
        t.retain(|(n, _)| n != "layer3.4.bn2.running_mean")
    });
    let err = net.load_backbone(&path).unwrap_err();
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{err}");
    assert!(
        err.to_string().contains("layer3.4.bn2.running_mean"),
        "{err}"
    );

    let path = backbone_file(dir.path(), |t| {
        let slot = t
            .iter_mut()
            .find(|(n, _)| n == "layer2.1.conv2.weight")
            .unwrap();
        slot.1 = Tensor::zeros((128, 128, 1, 3), DType::F32, &Device::Cpu).unwrap();
    });
    let err = net.load_backbone(&path).unwrap_err();
    assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("layer2.1.conv2.weight"), "{err}");

    let path = backbone_file(dir.path(), |t| {
        let slot = t.iter_mut().find(|(n, _)| n == "bn1.bias").unwrap();
        slot.1 = Tensor::new(&[f32::NAN; 64], &Device::Cpu).unwrap();
    });
    let err = net.load_backbone(&path).unwrap_err();
    assert!(err.to_string().contains("bn1.bias"), "{err}");

    std::fs::write(
        dir.path().join("junk.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let err = net
        .load_backbone(&dir.path().join("junk.safetensors"))
        .unwrap_err();
    assert!(err.to_string().contains("junk.safetensors"), "{err}");
    let err = net
        .load_backbone(&dir.path().join("absent.safetensors"))
        .unwrap_err();
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
}

#[test]
fn train_mode_updates_running_stats_of_trainable_bn_only() {
    let net =
        SaliencyNet::from_tensors(ModelConfig::default(), formula_tensors(), &Device::Cpu).unwrap();
    let get = |name: &str| values_of(&net, name);
    let frozen_before = get("layer2.0.bn1.running_mean");
    let trainable_before = get("layer3.0.bn1.running_mean");
    let x = model_input(&[2, 3, 64, 64]);
    net.forward(&x, Mode::Train).unwrap();
    assert_eq!(get("layer2.0.bn1.running_mean"), frozen_before);
    assert_ne!(get("layer3.0.bn1.running_mean"), trainable_before);
    let after_train = get("layer3.0.bn1.running_mean");
    net.forward(&x, Mode::Eval).unwrap();
    assert_eq!(
        get("layer3.0.bn1.running_mean"),
        after_train,
        "eval leaves running stats alone"
    );
}

/// Eval mode is inference: no autograd graph (which would keep every activation alive until the
/// output is dropped), whichever parameters are trainable. Train mode records one for them.
#[test]
fn eval_forward_records_no_graph_train_forward_does() {
    let x = model_input(&[2, 3, 64, 64]);
    for freeze in [FreezePolicy::None, FreezePolicy::Layer2] {
        let net = SaliencyNet::from_tensors(cfg(freeze), formula_tensors(), &Device::Cpu).unwrap();
        assert!(
            !net.forward(&x, Mode::Eval).unwrap().track_op(),
            "{freeze:?}"
        );
        assert!(
            net.forward(&x, Mode::Train).unwrap().track_op(),
            "{freeze:?}"
        );
    }
}

fn density_cfg() -> ModelConfig {
    ModelConfig {
        head: Head::Density,
        ..ModelConfig::default()
    }
}

/// A density-head network: its output is a log-density (Σ exp = 1 per image, f32 to 1e-5) at
/// square and non-square sizes; it saves and loads back with every tensor, and the head is read
/// from the file (a seed-head config loading it still gets the density head). A seed-head file
/// loads as the seed head.
#[test]
fn density_head_integrates_to_one_and_round_trips_through_a_checkpoint() {
    let dev = Device::Cpu;
    let net = SaliencyNet::new(density_cfg(), 7, &dev).unwrap();
    assert_eq!(net.head(), Head::Density);
    net.set_density_sigma(0.05).unwrap();
    let prior: Vec<f32> = (0..32 * 32)
        .map(|i| -(((i % 32) as f32 - 12.0).powi(2) + ((i / 32) as f32 - 18.0).powi(2)) / 90.0)
        .collect();
    net.set_density_prior(&prior).unwrap();
    for (h, w) in [(32, 32), (64, 96), (96, 64)] {
        let x = Tensor::randn(0f32, 1.0, (2, 3, h, w), &dev).unwrap();
        let y = net.forward(&x, Mode::Eval).unwrap();
        assert_eq!(y.dims(), &[2, 1, h, w]);
        let sums: Vec<f32> = y.exp().unwrap().sum((1, 2, 3)).unwrap().to_vec1().unwrap();
        for s in sums {
            assert!((s - 1.0).abs() <= 1e-5, "{h}x{w}: Σ density = {s}");
        }
    }
    assert!((net.density_sigma().unwrap().unwrap() - 0.05).abs() < 1e-6);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("density.safetensors");
    net.save_checkpoint(&path, &CheckpointMeta::new()).unwrap();
    let meta = CheckpointMeta::from_file(&path).unwrap();
    assert_eq!(meta.get(META_HEAD), Some("density"));
    let (loaded, _) = SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &dev).unwrap();
    assert_eq!(loaded.head(), Head::Density);
    assert_eq!(net.tensors().len(), loaded.tensors().len());
    for ((n1, t1), (n2, t2)) in net.tensors().iter().zip(loaded.tensors()) {
        assert_eq!(n1, &n2);
        assert_eq!(to_vec(t1), to_vec(&t2), "{n1}");
    }
    assert!(loaded
        .tensors()
        .iter()
        .all(|(n, _)| !n.starts_with("conv_0.")));

    let seed = SaliencyNet::new(ModelConfig::default(), 7, &dev).unwrap();
    let seed_path = dir.path().join("seed.safetensors");
    seed.save_checkpoint(&seed_path, &CheckpointMeta::new())
        .unwrap();
    let (loaded, _) = SaliencyNet::load_checkpoint(&seed_path, density_cfg(), &dev).unwrap();
    assert_eq!(loaded.head(), Head::Seed);
    assert!(loaded.set_density_sigma(0.03).is_err());
}

/// A file whose `salient.head` names the density head but holds the seed's tensors is refused
/// naming the missing tensor; an unknown head is refused naming the key.
#[test]
fn head_metadata_and_tensors_must_agree() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let seed = SaliencyNet::new(ModelConfig::default(), 1, &dev).unwrap();
    let path = dir.path().join("lying.safetensors");
    // The seed head's tensors under `salient.head = head`; the error loading them.
    let load_with_head = |head: &str| {
        let meta: std::collections::HashMap<String, String> =
            [(META_HEAD.to_string(), head.to_string())].into();
        safetensors::serialize_to_file(
            seed.tensors().iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            &path,
        )
        .unwrap();
        SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &dev)
            .err()
            .unwrap()
            .to_string()
    };
    let err = load_with_head("density");
    assert!(
        err.contains("unexpected tensor `conv_0.") && err.contains("with the density head"),
        "{err}"
    );
    let err = load_with_head("sigmoid");
    assert!(err.contains("sigmoid") && err.contains(META_HEAD), "{err}");
}
