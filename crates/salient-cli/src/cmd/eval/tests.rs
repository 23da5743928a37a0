//! `salient eval` end to end on a small SALICON-layout folder written here: the flags, the
//! printed report and the JSON. The scoring itself is tested in salient-eval.

use std::path::Path;

use image::{GrayImage, Luma, Rgb, RgbImage};

use super::{format_table, run, run_to, Args, BaselineArg, SaucNegativesArg, SplitArg};
use crate::model_args::{LoadArgs, ModelArgs};

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

/// `map` / 255 as a float32 `.npy`, its last value replaced by `last` when given.
fn write_npy(path: &Path, map: &GrayImage, last: Option<f32>) {
    let mut data: Vec<f32> = map.pixels().map(|p| p[0] as f32 / 255.0).collect();
    if let Some(value) = last {
        *data.last_mut().unwrap() = value;
    }
    let map = salient_data::MapF32 {
        width: W as usize,
        height: H as usize,
        data,
    };
    let file = std::fs::File::create(path).unwrap();
    salient_eval::npy::write_map(file, &map).unwrap();
}

fn args(data: &Path, predictions: &Path, json: &Path) -> Args {
    Args {
        data: data.to_path_buf(),
        split: SplitArg::Val,
        split_options: Default::default(),
        checkpoint: None,
        model: ModelArgs {
            load: LoadArgs {
                size: None,
                normalize: None,
                device: "cpu".parse().unwrap(),
                precision: Default::default(),
            },
            batch_size: 4,
        },
        predictions: Some(predictions.to_path_buf()),
        metrics: None,
        json: Some(json.to_path_buf()),
        baseline: BaselineArg::Centre,
        baseline_file: None,
        baseline_data: None,
        sauc_negatives: SaucNegativesArg::Split,
        score_baseline: false,
        seed: 42,
        allow_missing: false,
        skip_bad: false,
        quiet: true,
    }
}

/// What `salient eval` prints.
fn printed(args: Args) -> anyhow::Result<String> {
    let mut out = Vec::new();
    run_to(args, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
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
    write_npy(&preds.join("b.npy"), &blob(4.0, 6.0), None);
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
    let out = printed(partial).unwrap();
    assert!(
        out.contains("1 samples had no prediction and were left out (first: b)"),
        "{out}"
    );
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

    // A NaN in a prediction names the prediction file, not the ground truth.
    write_npy(&preds.join("b.npy"), &blob(1.0, 1.0), Some(f32::NAN));
    let err = format!("{:#}", run(args(&data, &preds, &json)).unwrap_err());
    assert!(
        err.contains(&format!("prediction {}", preds.join("b.npy").display()))
            && err.contains("non-finite value NaN")
            && err.contains("--skip-bad"),
        "{err}"
    );
    assert!(!err.contains("maps/val/b.png"), "{err}");
}

/// Unsupported files are named, extra predictions counted, bad files skipped and listed under
/// --skip-bad; JPEG predictions are read.
#[test]
fn the_report_counts_what_was_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, preds, json) = (
        tmp.path().join("data"),
        tmp.path().join("preds"),
        tmp.path().join("s.json"),
    );
    write_dataset(&data, &["a", "b", "c", "d"]);
    std::fs::create_dir_all(&preds).unwrap();
    std::fs::copy(data.join("maps/val/a.png"), preds.join("a.png")).unwrap();
    // A grey JPEG prediction (libjpeg-turbo: the `image` crate has no JPEG codec here).
    let grey = blob(4.0, 6.0);
    let bytes =
        salient_data::jpeg::encode(grey.as_raw(), grey.width(), grey.height(), 1, 95).unwrap();
    std::fs::write(preds.join("b.jpg"), bytes).unwrap();
    std::fs::write(preds.join("c.gif"), b"GIF89a").unwrap();
    write_npy(&preds.join("d.npy"), &blob(6.0, 10.0), Some(f32::INFINITY));
    std::fs::copy(data.join("maps/val/a.png"), preds.join("extra.png")).unwrap();

    // Without --allow-missing, the GIF is named as the likely reason c has no prediction.
    let err = run(args(&data, &preds, &json)).unwrap_err().to_string();
    assert!(
        err.contains("(first: c)")
            && err.contains("c.gif")
            && err.contains("predictions must be .png, .jpg or .npy"),
        "{err}"
    );

    let mut lenient = args(&data, &preds, &json);
    lenient.allow_missing = true;
    lenient.skip_bad = true;
    lenient.metrics = Some("cc,nss".into());
    let out = printed(lenient).unwrap();
    for line in [
        "salient eval: 2 images of",
        "1 samples had no prediction and were left out (first: c)",
        "1 prediction files match no sample of this split",
        "1 files not read (predictions must be .png, .jpg or .npy):",
        &format!("  {}", preds.join("c.gif").display()),
        "bad input (--skip-bad): 1 pair(s) skipped",
        &format!(
            "prediction {}: non-finite value inf",
            preds.join("d.npy").display()
        ),
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cc_b = report["per_image"]["b"]["cc"].as_f64().unwrap();
    assert!(cc_b > 0.99, "JPEG prediction of the ground truth: {cc_b}");
}

/// A metric defined on no image prints n/a, not NaN; the JSON has null.
#[test]
fn a_metric_defined_on_no_image_prints_n_a() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, preds, json) = (
        tmp.path().join("data"),
        tmp.path().join("preds"),
        tmp.path().join("s.json"),
    );
    write_dataset(&data, &["a", "b"]);
    std::fs::create_dir_all(&preds).unwrap();
    for stem in ["a", "b"] {
        GrayImage::new(W, H)
            .save(data.join(format!("fixations/val/{stem}.png")))
            .unwrap();
        std::fs::copy(
            data.join(format!("maps/val/{stem}.png")),
            preds.join(format!("{stem}.png")),
        )
        .unwrap();
    }
    let mut a = args(&data, &preds, &json);
    a.metrics = Some("cc,nss".into());
    let out = printed(a).unwrap();
    assert!(!out.contains("NaN"), "{out}");
    let nss = out.lines().find(|l| l.starts_with("nss")).unwrap();
    assert_eq!(
        nss,
        "nss ↑              n/a       n/a       0  (defined on 0 images; 2 without fixations or negatives)"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["metrics"]["nss"]["mean"].is_null(), "{report}");
}

#[test]
fn table_rows_give_mean_std_and_count() {
    use salient_metrics::{ImageScores, MetricSet, Report};
    let metrics: MetricSet = "cc,kld".parse().unwrap();
    let per_image = vec![
        ImageScores {
            name: "a".into(),
            values: vec![Some(0.5), None],
        },
        ImageScores {
            name: "b".into(),
            values: vec![Some(0.7), None],
        },
    ];
    let table = format_table(&Report::new(metrics, per_image), None);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[1], "cc ↑            0.6000    0.1000       2");
    assert_eq!(
        lines[2],
        "kld ↓              n/a       n/a       0  (defined on 0 images; 2 without fixations or negatives)"
    );
}

/// A run's optimiser-state file given as the model (a `*.safetensors` glob over `checkpoints/`
/// picks it up) says what it is and names the model beside it, in eval as in inspect.
#[test]
fn an_optimiser_state_file_is_not_taken_for_a_model() {
    use candle_core::{Device, Tensor};
    use salient_train::state::{save_state, Position};

    let tmp = tempfile::tempdir().unwrap();
    let (data, json) = (tmp.path().join("data"), tmp.path().join("s.json"));
    write_dataset(&data, &["a"]);
    let checkpoints = tmp.path().join("run/checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let state = checkpoints.join("last.state.safetensors");
    let m = Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap();
    save_state(&state, &[("m.a".into(), m)], &Position::start(0)).unwrap();
    let model = checkpoints.join("last.safetensors");
    std::fs::write(&model, b"a model checkpoint").unwrap();
    let expected = format!(
        "{} is the optimiser state of a training run, not a model checkpoint; the model is {}",
        state.display(),
        model.display()
    );

    let mut eval = args(&data, &data, &json);
    eval.predictions = None;
    eval.checkpoint = Some(state.clone());
    let err = format!("{:#}", run(eval).unwrap_err());
    assert!(err.contains(&expected), "{err}");

    let inspect = crate::cmd::inspect::Args {
        checkpoint: Some(state),
        freeze: None,
        head: None,
    };
    let err = format!("{:#}", crate::cmd::inspect::run(inspect).unwrap_err());
    assert!(err.contains(&expected), "{err}");
}
