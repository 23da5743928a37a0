//! A model is never scored on its training images by default: train with `--seed 3` on an
//! unsplit layout, then `salient eval --checkpoint` scores exactly the held-out images of that
//! draw (the checkpoint records the split rule), not the seed-0 draw.

use std::path::Path;
use std::process::Command;

use image::{GrayImage, Luma, Rgb, RgbImage};
use salient_data::{Dataset, DiscoverOptions, Split};

fn write_flat_dataset(root: &Path, n: usize) {
    for dir in ["stimuli", "saliency", "fixations"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for i in 0..n {
        let (cx, cy) = (8 + (i as u32 * 5) % 16, 8 + (i as u32 * 3) % 16);
        RgbImage::from_fn(32, 32, |x, y| {
            let near = (x as i32 - cx as i32).abs() < 4 && (y as i32 - cy as i32).abs() < 4;
            Rgb(if near { [250, 240, 30] } else { [20, 30, 40] })
        })
        .save(root.join(format!("stimuli/{i:02}.png")))
        .unwrap();
        GrayImage::from_fn(32, 32, |x, y| {
            let d2 = (x as f32 - cx as f32).powi(2) + (y as f32 - cy as f32).powi(2);
            Luma([(255.0 * (-d2 / 20.0).exp()) as u8])
        })
        .save(root.join(format!("saliency/{i:02}.png")))
        .unwrap();
        let mut fix = GrayImage::new(32, 32);
        fix.put_pixel(cx, cy, Luma([255]));
        fix.save(root.join(format!("fixations/{i:02}.png")))
            .unwrap();
    }
}

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
