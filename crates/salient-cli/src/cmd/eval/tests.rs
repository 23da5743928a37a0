//! `salient eval --predictions` end to end on a small SALICON-layout folder written here.

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage};

use super::{run, Args, BaselineArg, SplitArg};
use crate::model_args::ModelArgs;

const W: u32 = 16;
const H: u32 = 12;

/// A smooth blob centred at (cy, cx), 8-bit.
fn blob(cy: f32, cx: f32) -> GrayImage {
    GrayImage::from_fn(W, H, |x, y| {
        let d2 = (y as f32 - cy).powi(2) + (x as f32 - cx).powi(2);
        Luma([(255.0 * (-d2 / 12.0).exp()).round() as u8])
    })
}

fn write_dataset(root: &Path, stems: &[&str]) {
    for split in ["train", "val"] {
        for dir in ["images", "maps", "fixations"] {
            std::fs::create_dir_all(root.join(dir).join(split)).unwrap();
        }
        for (k, stem) in stems.iter().enumerate() {
            let (cy, cx) = (3.0 + k as f32, 4.0 + 2.0 * k as f32);
            RgbImage::from_pixel(W, H, Rgb([100, 120, 140]))
                .save(root.join("images").join(split).join(format!("{stem}.png")))
                .unwrap();
            blob(cy, cx)
                .save(root.join("maps").join(split).join(format!("{stem}.png")))
                .unwrap();
            let mut fix = GrayImage::new(W, H);
            fix.put_pixel(cx as u32, cy as u32, Luma([255]));
            fix.put_pixel(cx as u32 + 1, cy as u32, Luma([255]));
            fix.save(
                root.join("fixations")
                    .join(split)
                    .join(format!("{stem}.png")),
            )
            .unwrap();
        }
    }
}

fn write_npy_f32(path: &Path, map: &GrayImage) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({H}, {W}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for p in map.pixels() {
        bytes.extend_from_slice(&(p[0] as f32 / 255.0).to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

fn args(data: &Path, predictions: &Path, json: &Path) -> Args {
    Args {
        data: data.to_path_buf(),
        split: SplitArg::Val,
        split_options: Default::default(),
        checkpoint: None,
        model: ModelArgs {
            size: None,
            normalize: None,
            device: "cpu".parse().unwrap(),
            precision: Default::default(),
            batch_size: 4,
        },
        predictions: Some(predictions.to_path_buf()),
        metrics: None,
        json: Some(json.to_path_buf()),
        ig_baseline: BaselineArg::Centre,
        seed: 42,
        allow_missing: false,
        quiet: true,
    }
}

#[test]
fn scores_png_and_npy_predictions_and_writes_json() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, preds, json) = (
        tmp.path().join("data"),
        tmp.path().join("preds"),
        tmp.path().join("out/scores.json"),
    );
    write_dataset(&data, &["a", "b", "c"]);
    std::fs::create_dir_all(&preds).unwrap();
    // a: the ground truth itself (PNG), b: the ground truth as .npy, c: a half-size PNG
    std::fs::copy(data.join("maps/val/a.png"), preds.join("a.png")).unwrap();
    write_npy_f32(&preds.join("b.npy"), &blob(4.0, 6.0));
    image::imageops::resize(
        &blob(5.0, 8.0),
        W / 2,
        H / 2,
        image::imageops::FilterType::Triangle,
    )
    .save(preds.join("c.png"))
    .unwrap();

    run(args(&data, &preds, &json)).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["images"], 3);
    let metrics = report["metrics"].as_object().unwrap();
    for name in [
        "cc",
        "kld",
        "nss",
        "sim",
        "auc_judd",
        "auc_borji",
        "sauc",
        "ig",
    ] {
        let m = &metrics[name];
        assert!(m["mean"].as_f64().unwrap().is_finite(), "{name}: {m}");
        assert!(m["std"].as_f64().unwrap() >= 0.0, "{name}: {m}");
    }
    // Predicting the ground truth itself is a perfect CC, whether read from PNG or npy.
    for stem in ["a", "b"] {
        let cc = report["per_image"][stem]["cc"].as_f64().unwrap();
        assert!((cc - 1.0).abs() < 1e-6, "{stem}: {cc}");
    }
    let cc_c = report["per_image"]["c"]["cc"].as_f64().unwrap();
    assert!(cc_c > 0.8 && cc_c < 1.0, "resized prediction: {cc_c}");
}

#[test]
fn missing_predictions_and_checkpoints_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, preds, json) = (
        tmp.path().join("data"),
        tmp.path().join("preds"),
        tmp.path().join("s.json"),
    );
    write_dataset(&data, &["a", "b"]);
    std::fs::create_dir_all(&preds).unwrap();
    std::fs::copy(data.join("maps/val/a.png"), preds.join("a.png")).unwrap();

    let err = run(args(&data, &preds, &json)).unwrap_err().to_string();
    assert!(
        err.contains("1 of 2 samples") && err.contains("--allow-missing"),
        "{err}"
    );

    let mut partial = args(&data, &preds, &json);
    partial.allow_missing = true;
    partial.metrics = Some("cc,nss".into());
    run(partial).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["images"], 1);
    assert_eq!(report["metrics"].as_object().unwrap().len(), 2);

    let mut bad = args(&data, &preds, &json);
    bad.metrics = Some("cc,auc".into());
    assert!(run(bad).unwrap_err().to_string().contains("unknown metric"));

    let mut model = args(&data, &preds, &json);
    model.predictions = None;
    model.checkpoint = Some(tmp.path().join("model.safetensors"));
    let err = format!("{:#}", run(model).unwrap_err());
    assert!(err.contains("model.safetensors"), "{err}");

    // A NaN in a prediction names the image.
    write_npy_f32(&tmp.path().join("nan.npy"), &blob(1.0, 1.0));
    let mut nan_map = std::fs::read(tmp.path().join("nan.npy")).unwrap();
    let last = nan_map.len() - 4;
    nan_map[last..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(preds.join("b.npy"), nan_map).unwrap();
    let err = format!("{:#}", run(args(&data, &preds, &json)).unwrap_err());
    assert!(
        err.contains("scoring b") && err.contains("non-finite"),
        "{err}"
    );
}
