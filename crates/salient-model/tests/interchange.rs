//! Checkpoint interchange with PyTorch, both ways, against fixtures written by
//! `scripts/parity/make_fixture.py` (its header says how to remake and re-check them):
//!
//! - PyTorch -> Rust: `torch_state_dict.safetensors.gz` is the seed's state_dict exactly as
//!   `safetensors.torch.save_file` wrote it (float16, `num_batches_tracked` included, gzipped for
//!   git); [`SaliencyNet::load_checkpoint`] loads it and predicts PyTorch's eval outputs.
//! - Rust -> PyTorch: a checkpoint written by [`SaliencyNet::save_checkpoint`] (formula weights)
//!   was loaded by PyTorch with `load_state_dict(strict=True)`, which recorded its tensor digest
//!   and eval output in `rust_checkpoint_reference.st`; this test writes the same checkpoint again,
//!   checks it has that digest (so PyTorch's result applies to it) and predicts PyTorch's output.

mod parity_common;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use candle_core::Device;
use parity_common::*;
use salient_model::{saliency_net_specs, CheckpointMeta, Mode, ModelConfig, SaliencyNet};
use sha2::{Digest, Sha256};

/// Largest absolute difference from PyTorch's eval output (a saliency map in (0, 1)), as in
/// `parity_forward`: float32 convolutions summed in another order differ by ~1e-6; a misplaced
/// tensor, a transposed kernel or a BatchNorm statistic read from the wrong slot moves outputs by
/// more than 1e-2.
const OUTPUT_TOLERANCE: Tolerance = Tolerance::Abs(1e-4);

fn fixture_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A safetensors fixture's tensors and metadata.
fn read_fixture(
    name: &str,
) -> (
    HashMap<String, candle_core::Tensor>,
    HashMap<String, String>,
) {
    let bytes = std::fs::read(fixture_path(name))
        .unwrap_or_else(|e| panic!("{name}: {e} (see scripts/parity/make_fixture.py)"));
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    (tensors, meta)
}

/// SHA-256 over the file's tensors in name order, each as `name NUL dtype NUL shape NUL bytes`
/// (the script's `tensor_digest`; the file's own bytes vary because its metadata is a hash map).
fn tensor_digest(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors = st.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hash = Sha256::new();
    for (name, view) in tensors {
        let shape: Vec<String> = view.shape().iter().map(usize::to_string).collect();
        hash.update(format!("{name}\0{:?}\0{}\0", view.dtype(), shape.join(",")));
        hash.update(view.data());
    }
    format!("{:x}", hash.finalize())
}

fn assert_predicts(net: &SaliencyNet, (h, w): (usize, usize), expected: &[f32], what: &str) {
    let y = net
        .forward(&model_input(&[2, 3, h, w]), Mode::Eval)
        .unwrap();
    assert_eq!(y.dims(), &[2, 1, h, w]);
    // NaN-aware, and shown to refuse this output with a NaN in it.
    let what = format!("{what} {h}x{w} against PyTorch");
    let diff = assert_close_and_nan_fails(&what, &to_vec(&y), expected, OUTPUT_TOLERANCE);
    println!("{what}: max abs diff {diff:e}");
}

#[test]
fn pytorch_state_dict_loads_and_predicts_pytorch_outputs() {
    let (reference, meta) = read_fixture("torch_state_dict_reference.st");
    let mut gz = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(fixture_path("torch_state_dict.safetensors.gz")).unwrap(),
    )
    .read_to_end(&mut gz)
    .unwrap();
    // The bytes loaded are the ones torch's save_file wrote.
    assert_eq!(gz.len().to_string(), meta["file_bytes"]);
    assert_eq!(format!("{:x}", Sha256::digest(&gz)), meta["file_sha256"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.safetensors");
    std::fs::write(&path, &gz).unwrap();

    // A real state_dict: every parameter and buffer in float16, plus a num_batches_tracked
    // counter (int64) per BatchNorm, and no metadata.
    let st = safetensors::SafeTensors::deserialize(&gz).unwrap();
    let specs = saliency_net_specs();
    let counters = st
        .names()
        .iter()
        .filter(|n| n.ends_with(".num_batches_tracked"))
        .count();
    assert_eq!(
        counters,
        specs
            .iter()
            .filter(|(n, _)| n.ends_with(".running_var"))
            .count()
    );
    assert_eq!(st.len(), specs.len() + counters);
    assert_eq!(meta["tensors"], st.len().to_string());
    assert!(specs
        .iter()
        .all(|(n, _)| st.tensor(n).unwrap().dtype() == safetensors::Dtype::F16));

    let (net, file_meta) =
        SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &Device::Cpu).unwrap();
    assert!(file_meta.is_empty(), "torch wrote no metadata");
    for (h, w) in [(64, 64), (64, 96)] {
        let expected = to_vec(&reference[&format!("pytorch_eval_{h}x{w}")]);
        assert_predicts(&net, (h, w), &expected, "PyTorch checkpoint");
    }
}

#[test]
fn rust_checkpoint_is_the_one_pytorch_loaded_and_predicts_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rust.safetensors");
    let net =
        SaliencyNet::from_tensors(ModelConfig::default(), formula_tensors(), &Device::Cpu).unwrap();
    let mut ckpt_meta = CheckpointMeta::new();
    ckpt_meta.set_input_size(64, 64).set_normalize("none");
    net.save_checkpoint(&path, &ckpt_meta).unwrap();
    // To (re)check it with PyTorch: scripts/parity/make_fixture.py --check-rust-checkpoint FILE.
    if let Some(keep) = std::env::var_os("SALIENT_KEEP_CHECKPOINT") {
        std::fs::copy(&path, keep).unwrap();
    }
    let (reference, meta) = read_fixture("rust_checkpoint_reference.st");
    let digest = tensor_digest(&path);
    assert_eq!(
        digest, meta["tensor_sha256"],
        "the checkpoint written now is not the one PyTorch loaded: rerun the Rust -> PyTorch \
         steps in scripts/parity/make_fixture.py's header"
    );
    assert_eq!(meta["tensors"], saliency_net_specs().len().to_string());

    let (loaded, _) =
        SaliencyNet::load_checkpoint(&path, ModelConfig::default(), &Device::Cpu).unwrap();
    let expected = to_vec(&reference["pytorch_eval_64x64"]);
    assert_predicts(&loaded, (64, 64), &expected, "Rust checkpoint");
}
