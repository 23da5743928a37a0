//! `evaluate_split` end to end on small splits written here: every prediction format, the
//! matching rules, and the messages and counts for every kind of bad or missing input.

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};
use salient_data::{FixationSource, MapSource, Sample};
use salient_eval::{
    evaluate_split, EvalConfig, EvalError, EvalOutcome, PredictionDir, PredictionSource,
};
use salient_metrics::{Metric, MetricSet};

const W: u32 = 16;
const H: u32 = 12;

/// A smooth blob centred at (cy, cx), 8-bit.
fn blob(cy: f32, cx: f32) -> GrayImage {
    GrayImage::from_fn(W, H, |x, y| {
        let d2 = (y as f32 - cy).powi(2) + (x as f32 - cx).powi(2);
        Luma([(255.0 * (-d2 / 12.0).exp()).round() as u8])
    })
}

fn centre(k: usize) -> (f32, f32) {
    (3.0 + k as f32, 4.0 + 2.0 * k as f32)
}

/// Samples `stems` under `root`: image, ground-truth map (a blob) and a two-point fixation map
/// (none with `fixations: false`).
fn write_split(root: &Path, stems: &[&str], fixations: bool) -> Vec<Sample> {
    for dir in ["images", "maps", "fixations"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    stems
        .iter()
        .enumerate()
        .map(|(k, stem)| {
            let (cy, cx) = centre(k);
            let image = root.join("images").join(format!("{stem}.png"));
            RgbImage::from_pixel(W, H, Rgb([100, 120, 140]))
                .save(&image)
                .unwrap();
            let map = root.join("maps").join(format!("{stem}.png"));
            blob(cy, cx).save(&map).unwrap();
            let fix = root.join("fixations").join(format!("{stem}.png"));
            let mut points = GrayImage::new(W, H);
            points.put_pixel(cx as u32, cy as u32, Luma([255]));
            points.put_pixel(cx as u32 + 1, cy as u32, Luma([255]));
            points.save(&fix).unwrap();
            Sample {
                stem: stem.to_string(),
                image,
                map: MapSource::File(map),
                fixations: fixations.then_some(FixationSource::Map(fix)),
            }
        })
        .collect()
}

fn npy_bytes(map: &GrayImage, poison: Option<f32>) -> Vec<u8> {
    let mut data: Vec<f32> = map.pixels().map(|p| p[0] as f32 / 255.0).collect();
    if let Some(value) = poison {
        *data.last_mut().unwrap() = value;
    }
    let map = salient_data::MapF32 {
        width: W as usize,
        height: H as usize,
        data,
    };
    let mut bytes = Vec::new();
    salient_eval::npy::write_map(&mut bytes, &map).unwrap();
    bytes
}

fn folder(dir: &Path) -> PredictionSource<'static> {
    PredictionSource::Folder(PredictionDir::open(dir).unwrap())
}

fn run(samples: &[Sample], dir: &Path, config: &EvalConfig) -> Result<EvalOutcome, EvalError> {
    evaluate_split(samples, folder(dir), config, |_| {})
}

fn cc_of(outcome: &EvalOutcome, stem: &str) -> f64 {
    let k = outcome.report.metrics.position(Metric::Cc).unwrap();
    let image = outcome.report.per_image.iter().find(|s| s.name == stem);
    image.unwrap().values[k].unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    samples: Vec<Sample>,
    data: PathBuf,
    preds: PathBuf,
}

fn fixture(stems: &[&str]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (data, preds) = (tmp.path().join("data"), tmp.path().join("preds"));
    let samples = write_split(&data, stems, true);
    std::fs::create_dir_all(&preds).unwrap();
    Fixture {
        _tmp: tmp,
        samples,
        data,
        preds,
    }
}

#[test]
fn scores_png_jpeg_and_npy_predictions() {
    let f = fixture(&["a", "b", "c", "d"]);
    // a: the ground truth itself (PNG), b: the same as .npy, c: a half-size PNG, d: a JPEG
    std::fs::copy(f.data.join("maps/a.png"), f.preds.join("a.png")).unwrap();
    let (cy, cx) = centre(1);
    std::fs::write(f.preds.join("b.npy"), npy_bytes(&blob(cy, cx), None)).unwrap();
    let (cy, cx) = centre(2);
    image::imageops::resize(
        &blob(cy, cx),
        W / 2,
        H / 2,
        image::imageops::FilterType::Triangle,
    )
    .save(f.preds.join("c.png"))
    .unwrap();
    let (cy, cx) = centre(3);
    // A colour JPEG prediction, written by libjpeg-turbo (the `image` crate has no JPEG codec here).
    let rgb = image::DynamicImage::ImageLuma8(blob(cy, cx)).to_rgb8();
    let bytes = salient_data::jpeg::encode(rgb.as_raw(), rgb.width(), rgb.height(), 3, 95).unwrap();
    std::fs::write(f.preds.join("d.jpg"), bytes).unwrap();

    let mut chunks = Vec::new();
    let outcome = evaluate_split(&f.samples, folder(&f.preds), &EvalConfig::default(), |n| {
        chunks.push(n)
    })
    .unwrap();
    assert_eq!(chunks, [4]);
    assert_eq!(outcome.report.images(), 4);
    assert_eq!(outcome.report.metrics, MetricSet::all());
    for (metric, summary) in outcome
        .report
        .metrics
        .metrics()
        .iter()
        .zip(&outcome.report.summaries)
    {
        assert!(
            summary.mean.is_finite() && summary.count == 4,
            "{metric}: {summary:?}"
        );
    }
    // The ground truth itself is a perfect CC, read from PNG or .npy.
    for stem in ["a", "b"] {
        let cc = cc_of(&outcome, stem);
        assert!((cc - 1.0).abs() < 1e-6, "{stem}: {cc}");
    }
    let cc_c = cc_of(&outcome, "c");
    assert!(cc_c > 0.8 && cc_c < 1.0, "resized prediction: {cc_c}");
    // JPEG: lossy, so close to but not exactly the ground truth.
    let cc_d = cc_of(&outcome, "d");
    assert!(cc_d > 0.99 && cc_d < 1.0, "JPEG prediction: {cc_d}");
    assert!(outcome.missing.is_empty() && outcome.skipped.is_empty());
    assert_eq!(outcome.unmatched_predictions, 0);
}

#[test]
fn missing_predictions_fail_unless_allowed_and_extra_files_are_counted() {
    let f = fixture(&["a", "b", "c"]);
    std::fs::copy(f.data.join("maps/a.png"), f.preds.join("a.png")).unwrap();
    // b only as a GIF: unsupported, named; two files match no sample.
    std::fs::write(f.preds.join("b.gif"), b"GIF89a").unwrap();
    std::fs::copy(f.data.join("maps/a.png"), f.preds.join("zzz.png")).unwrap();
    std::fs::copy(f.data.join("maps/a.png"), f.preds.join("a_overlay.png")).unwrap();
    std::fs::write(f.preds.join("notes.txt"), b"not a prediction").unwrap();

    let err = run(&f.samples, &f.preds, &EvalConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("for 2 of 3 samples (first: b, c)"), "{err}");
    assert!(
        err.contains("b.gif") && err.contains("predictions must be .png, .jpg or .npy"),
        "{err}"
    );

    let config = EvalConfig {
        allow_missing: true,
        metrics: Some("cc,nss".parse().unwrap()),
        ..EvalConfig::default()
    };
    let outcome = run(&f.samples, &f.preds, &config).unwrap();
    assert_eq!(outcome.report.images(), 1);
    assert_eq!(outcome.report.metrics.len(), 2);
    assert_eq!(outcome.missing, ["b", "c"]);
    assert_eq!(outcome.unmatched_predictions, 2);
    assert_eq!(outcome.unsupported, [f.preds.join("b.gif")]);

    // Nothing but unsupported files: named as such.
    let gifs = f.data.join("gifs");
    std::fs::create_dir_all(&gifs).unwrap();
    std::fs::write(gifs.join("a.gif"), b"GIF89a").unwrap();
    let err = PredictionDir::open(&gifs).unwrap_err().to_string();
    assert!(
        err.contains("a.gif") && err.contains("predictions must be"),
        "{err}"
    );
}

#[test]
fn a_bad_prediction_names_the_prediction_file_and_bad_ground_truth_names_its_file() {
    let f = fixture(&["a", "b"]);
    std::fs::copy(f.data.join("maps/a.png"), f.preds.join("a.png")).unwrap();
    let (cy, cx) = centre(1);
    std::fs::write(
        f.preds.join("b.npy"),
        npy_bytes(&blob(cy, cx), Some(f32::NAN)),
    )
    .unwrap();
    let err = run(&f.samples, &f.preds, &EvalConfig::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("prediction {}", f.preds.join("b.npy").display()))
            && text.contains("non-finite value NaN at pixel (y=11, x=15)"),
        "{text}"
    );
    assert!(!text.contains("maps"), "names the ground truth: {text}");
    assert_eq!(err.bad_file(), Some(f.preds.join("b.npy").as_path()));

    // A corrupt prediction file, a corrupt ground-truth map: each names its own file.
    std::fs::write(f.preds.join("b.npy"), b"\x93NUMPY garbage").unwrap();
    let text = run(&f.samples, &f.preds, &EvalConfig::default())
        .unwrap_err()
        .to_string();
    assert!(text.contains("b.npy") && !text.contains("maps"), "{text}");
    std::fs::write(f.preds.join("b.npy"), npy_bytes(&blob(cy, cx), None)).unwrap();
    let png = std::fs::read(f.data.join("maps/b.png")).unwrap();
    std::fs::write(f.data.join("maps/b.png"), &png[..png.len() / 2]).unwrap();
    let text = run(&f.samples, &f.preds, &EvalConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(&f.data.join("maps/b.png").display().to_string()) && !text.contains("preds"),
        "{text}"
    );
}

#[test]
fn skip_bad_lists_bad_files_and_scores_the_rest() {
    let f = fixture(&["a", "b", "c", "d"]);
    for stem in ["a", "b", "c"] {
        std::fs::copy(
            f.data.join(format!("maps/{stem}.png")),
            f.preds.join(format!("{stem}.png")),
        )
        .unwrap();
    }
    // b: a NaN prediction; c: a corrupt ground-truth map; d: a corrupt fixation map.
    std::fs::write(f.preds.join("b.npy"), b"").unwrap();
    std::fs::remove_file(f.preds.join("b.png")).unwrap();
    let (cy, cx) = centre(1);
    std::fs::write(
        f.preds.join("b.npy"),
        npy_bytes(&blob(cy, cx), Some(f32::INFINITY)),
    )
    .unwrap();
    std::fs::write(f.data.join("maps/c.png"), b"\x89PNG\r\n\x1a\n broken").unwrap();
    std::fs::write(f.data.join("fixations/d.png"), b"not a png").unwrap();
    std::fs::copy(f.data.join("maps/a.png"), f.preds.join("d.png")).unwrap();

    let strict = run(&f.samples, &f.preds, &EvalConfig::default()).unwrap_err();
    assert!(strict.to_string().contains("fixations/d.png"), "{strict}");

    let config = EvalConfig {
        skip_bad: true,
        ..EvalConfig::default()
    };
    let outcome = run(&f.samples, &f.preds, &config).unwrap();
    assert_eq!(outcome.report.images(), 1);
    assert_eq!(outcome.report.per_image[0].name, "a");
    let mut skipped: Vec<PathBuf> = outcome.skipped.iter().map(|s| s.path.clone()).collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            f.data.join("fixations/d.png"),
            f.data.join("maps/c.png"),
            f.preds.join("b.npy"),
        ]
    );
    for s in &outcome.skipped {
        assert!(s.reason.contains(&s.path.display().to_string()), "{s:?}");
    }

    // Everything bad: an error, not an empty report.
    let config = EvalConfig {
        skip_bad: true,
        ..EvalConfig::default()
    };
    let err = run(&f.samples[1..], &f.preds, &config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("all 3 were skipped"), "{err}");
}

#[test]
fn metrics_follow_what_the_split_supports() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, preds) = (tmp.path().join("data"), tmp.path().join("preds"));
    let samples = write_split(&data, &["a", "b"], false);
    std::fs::create_dir_all(&preds).unwrap();
    for stem in ["a", "b"] {
        std::fs::copy(
            data.join(format!("maps/{stem}.png")),
            preds.join(format!("{stem}.png")),
        )
        .unwrap();
    }
    let outcome = run(&samples, &preds, &EvalConfig::default()).unwrap();
    assert!(outcome.without_fixations);
    let names: Vec<&str> = outcome
        .report
        .metrics
        .metrics()
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(names, ["cc", "kld", "sim"]);

    let config = EvalConfig {
        metrics: Some("cc,nss,sauc".parse().unwrap()),
        ..EvalConfig::default()
    };
    let err = run(&samples, &preds, &config).unwrap_err().to_string();
    assert!(err.contains("nss, sauc need fixations"), "{err}");
}

/// Fixation maps with no fixation: the fixation metrics are defined on no image (count 0, mean
/// NaN, serialised as null), the run still succeeds.
#[test]
fn a_metric_defined_on_no_image_has_count_zero() {
    let f = fixture(&["a", "b"]);
    for stem in ["a", "b"] {
        GrayImage::new(W, H)
            .save(f.data.join(format!("fixations/{stem}.png")))
            .unwrap();
        std::fs::copy(
            f.data.join(format!("maps/{stem}.png")),
            f.preds.join(format!("{stem}.png")),
        )
        .unwrap();
    }
    let config = EvalConfig {
        metrics: Some("cc,nss".parse().unwrap()),
        ..EvalConfig::default()
    };
    let outcome = run(&f.samples, &f.preds, &config).unwrap();
    let nss = outcome.report.summary(Metric::Nss).unwrap();
    assert_eq!((nss.count, nss.skipped), (0, 2));
    let json = serde_json::to_value(&outcome.report).unwrap();
    assert!(json["metrics"]["nss"]["mean"].is_null(), "{json}");
}
