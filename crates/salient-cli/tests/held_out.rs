//! A model is never scored on its training images by default: train with `--seed 3` on an
//! unsplit layout, then `salient eval --checkpoint` scores exactly the held-out images of that
//! draw (the checkpoint records the split rule), not the seed-0 draw.

mod common;

use std::path::Path;
use std::process::Command;

use common::write_flat_dataset;
use salient_data::{Dataset, DiscoverOptions, Split};

fn stems(data: &Path, split: Split, seed: u64) -> Vec<String> {
    let options = DiscoverOptions {
        split_seed: seed,
        val_fraction: 0.25,
        ..DiscoverOptions::for_split(split)
    };
    let dataset = Dataset::discover(data, &options).unwrap();
    dataset
        .split(split)
        .iter()
        .map(|s| s.stem.clone())
        .collect()
}

#[test]
fn eval_holds_out_the_images_the_model_was_not_trained_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    write_flat_dataset(&data, 12);
    let salient = env!("CARGO_BIN_EXE_salient");
    let status = Command::new(salient)
        .args(["train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .args([
            "--seed",
            "3",
            "--val-fraction",
            "0.25",
            "--epochs",
            "1",
            "--size",
            "32x32",
            "--batch-size",
            "3",
            "--max-steps",
            "1",
            "--backbone-init",
            "random",
            "--freeze",
            "none",
            "--device",
            "cpu",
            "--quiet",
            "--threads",
            "1",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let json = tmp.path().join("eval.json");
    let out = Command::new(salient)
        .args(["eval", "--data"])
        .arg(&data)
        .arg("--checkpoint")
        .arg(run.join("checkpoints/last.safetensors"))
        .arg("--json")
        .arg(&json)
        .args(["--device", "cpu", "--quiet", "--metrics", "cc,nss"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the split rule the model was trained with") && stdout.contains("seed 3"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut scored: Vec<String> = report["per_image"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    scored.sort();
    let (val, train) = (stems(&data, Split::Val, 3), stems(&data, Split::Train, 3));
    assert_eq!(scored, val, "the seed-3 held-out images");
    assert!(
        scored.iter().all(|s| !train.contains(s)),
        "no training image scored"
    );
    assert_ne!(val, stems(&data, Split::Val, 0), "seed 0 would draw others");
}
