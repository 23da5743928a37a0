//! The centre-bias baseline and the fixation metrics on repeated and fractional fixations, against
//! pysaliency (tests/fixtures/centre_bias.json, written by scripts/metrics/make_baseline_fixture.py;
//! its header documents the fields).
//!
//! Tolerances: log-densities ≤ 1e-9 absolute (rounding alone gives ~1e-15; a wrong border, radius
//! or normalisation moves them by 1e-3 or more); metrics ≤ 1e-6 relative, as tests/reference.rs.

use std::sync::Arc;

use salient_metrics::{
    auc_judd, evaluate, information_gain_over_centre_bias, nss, CentreBiasModel, CentreBiasParams,
    EvalOptions, Evaluator, Fixation, Fixations, IgBaseline, ImageEval, ImageFixations, Map,
    MetricSet, SaucNegatives,
};
use salient_test_support::{assert_close_and_nan_fails, Tolerance};
use serde_json::Value;

const LOG_DENSITY_TOLERANCE: f64 = 1e-9;
const METRIC_TOLERANCE: f64 = 1e-6;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/centre_bias.json")).unwrap()
}

fn points(v: &Value) -> Vec<[f64; 2]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
        .collect()
}

fn size(v: &Value) -> (usize, usize) {
    (
        v["width"].as_u64().unwrap() as usize,
        v["height"].as_u64().unwrap() as usize,
    )
}

/// The images of a source set: (width, height, points).
fn images_of(v: &Value) -> Vec<(usize, usize, Vec<[f64; 2]>)> {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|im| {
            let (w, h) = size(im);
            (w, h, points(&im["xy"]))
        })
        .collect()
}

fn views(images: &[(usize, usize, Vec<[f64; 2]>)]) -> Vec<ImageFixations<'_>> {
    images
        .iter()
        .map(|(w, h, xy)| ImageFixations {
            width: *w,
            height: *h,
            xy,
        })
        .collect()
}

/// The fixture's models, built in Rust from the same fixations and parameters.
fn models(doc: &Value) -> Vec<(String, Arc<CentreBiasModel>, Value)> {
    doc["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let source = images_of(&doc["sources"][m["source"].as_str().unwrap()]);
            let params = CentreBiasParams {
                bandwidth: m["bandwidth"].as_f64().unwrap(),
                eps: m["eps"].as_f64().unwrap(),
                keep_aspect: m["keep_aspect"].as_bool().unwrap(),
            };
            let model = CentreBiasModel::from_images(&views(&source), params, "fixture").unwrap();
            (
                m["name"].as_str().unwrap().to_string(),
                Arc::new(model),
                m.clone(),
            )
        })
        .collect()
}

fn relative_difference(got: f64, want: f64) -> f64 {
    if want == 0.0 {
        got.abs()
    } else {
        ((got - want) / want).abs()
    }
}

#[test]
fn log_densities_equal_pysaliency_baseline_model() {
    let doc = fixture();
    for (name, model, m) in models(&doc) {
        for grid in m["grids"].as_array().unwrap() {
            let (w, h) = size(grid);
            let want: Vec<f64> = grid["log_density"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let got = model.log_density(w, h).unwrap();
            let what = format!("{name} on {w}x{h}: log-density (element y·{w} + x)");
            let tol = Tolerance::Abs(LOG_DENSITY_TOLERANCE);
            let worst = assert_close_and_nan_fails(&what, &got, &want, tol);
            println!("{name:>8} {w}x{h}: largest |Δ log-density| {worst:.2e}");
        }
    }
}

/// A scored image: its grid, fixations (pixels and exact coordinates) and prediction.
struct Scored {
    width: usize,
    height: usize,
    xy: Vec<[f64; 2]>,
    pixels: Vec<Fixation>,
    prediction: Vec<f32>,
    reference: Value,
}

impl Scored {
    fn fixations(&self) -> Fixations<'_> {
        Fixations::with_coordinates(&self.pixels, &self.xy, self.width, self.height).unwrap()
    }
    fn prediction(&self) -> Map<'_> {
        Map::new(&self.prediction, self.width, self.height).unwrap()
    }
    fn check(&self, image: usize, metric: &str, got: f64) {
        let want = self.reference[metric].as_f64().unwrap();
        let diff = relative_difference(got, want);
        assert!(
            diff <= METRIC_TOLERANCE,
            "scored image {image} {metric}: got {got:.12}, pysaliency {want:.12} \
             (relative difference {diff:.2e})"
        );
        println!("scored image {image} {metric:>13}: relative difference {diff:.2e}");
    }
}

/// The prediction recipe of the fixture, computed as the script computes it.
fn build_prediction(recipe: &Value, w: usize, h: usize) -> Vec<f32> {
    let bumps: Vec<[f64; 4]> = recipe["bumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| std::array::from_fn(|k| b[k].as_f64().unwrap()))
        .collect();
    let offset = recipe["offset"].as_f64().unwrap();
    (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            let mut acc = 0.0;
            for &[cx, cy, s, a] in &bumps {
                let (dx, dy) = (x - cx, y - cy);
                acc += a / (1.0 + (dx * dx + dy * dy) / (s * s));
            }
            (acc + offset) as f32
        })
        .collect()
}

fn scored(doc: &Value) -> Vec<Scored> {
    doc["scored"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .zip(doc["scored_reference"].as_array().unwrap())
        .map(|(im, reference)| {
            let (width, height) = size(im);
            let xy = points(&im["xy"]);
            let pixels = xy
                .iter()
                .map(|&[x, y]| Fixation::new(y.floor() as u32, x.floor() as u32))
                .collect();
            Scored {
                width,
                height,
                prediction: build_prediction(&im["prediction"], width, height),
                xy,
                pixels,
                reference: reference.clone(),
            }
        })
        .collect()
}

#[test]
fn the_fixture_has_repeated_pixels_and_fractional_coordinates() {
    for image in scored(&fixture()) {
        let mut pixels = image.pixels.clone();
        pixels.sort();
        pixels.dedup();
        assert!(pixels.len() + 3 <= image.pixels.len(), "few repeats");
        assert!(image.xy.iter().any(|p| p[0].fract() > 0.99));
    }
}

#[test]
fn fixation_metrics_equal_pysaliency_on_repeated_and_fractional_fixations() {
    let doc = fixture();
    let images = scored(&doc);
    let models = models(&doc);
    let model = |name: &str| {
        Arc::clone(
            &models
                .iter()
                .find(|(n, _, _)| n == name)
                .expect("model in fixture")
                .1,
        )
    };
    for (i, image) in images.iter().enumerate() {
        image.check(
            i,
            "nss",
            nss(image.prediction(), image.fixations()).unwrap(),
        );
        image.check(
            i,
            "auc_judd",
            auc_judd(image.prediction(), image.fixations()).unwrap(),
        );
        for name in ["narrow", "wide", "default", "sparse"] {
            let ig = information_gain_over_centre_bias(
                image.prediction(),
                image.fixations(),
                &model(name),
            )
            .unwrap();
            image.check(i, &format!("ig_{name}"), ig);
        }
    }

    // The batch API: sAUC against the other images (rescaled exact coordinates), IG against a
    // given model, against the in-split default, against the uniform baseline, and sAUC against
    // a model's fixations.
    let evals: Vec<ImageEval<'_>> = images
        .iter()
        .enumerate()
        .map(|(i, s)| ImageEval {
            name: ["a", "b"][i],
            prediction: s.prediction(),
            saliency: None,
            fixations: Some(s.fixations()),
        })
        .collect();
    let metrics: MetricSet = "nss,auc_judd,sauc,ig".parse().unwrap();
    let column = |report: &salient_metrics::Report, metric: &str, i: usize| {
        report.per_image[i].values[metrics.position(metric.parse().unwrap()).unwrap()].unwrap()
    };
    for (baseline, key) in [
        (IgBaseline::Model(model("narrow")), "ig_narrow"),
        (IgBaseline::Model(model("sparse")), "ig_sparse"),
        (IgBaseline::CentreBias, "ig_in_split"),
        (IgBaseline::Uniform, "ig_uniform"),
    ] {
        let options = EvalOptions {
            ig_baseline: baseline,
            ..EvalOptions::default()
        };
        let report = evaluate(&evals, &metrics, &options).unwrap();
        for (i, image) in images.iter().enumerate() {
            image.check(i, "nss", column(&report, "nss", i));
            image.check(i, "auc_judd", column(&report, "auc_judd", i));
            image.check(i, "sauc", column(&report, "sauc", i));
            image.check(i, key, column(&report, "ig", i));
        }
    }
    let grids: Vec<Fixations<'_>> = images.iter().map(Scored::fixations).collect();
    let evaluator = Evaluator::with_sauc_negatives(
        "sauc".parse().unwrap(),
        EvalOptions::default(),
        &grids,
        SaucNegatives::BaselineFixations(model("narrow")),
    );
    for (i, (image, eval)) in images.iter().zip(&evals).enumerate() {
        let scores = evaluator.score(i, eval).unwrap();
        image.check(i, "sauc_baseline", scores.values[0].unwrap());
    }
}
