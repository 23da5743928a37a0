//! Every metric against pysaliency's values (tests/fixtures/reference.json, written by
//! scripts/metrics/make_fixture.py): agreement to 1e-6 relative. The maps are rebuilt here from
//! the fixture's recipes, bit for bit as the script built them.

use salient_metrics::{
    auc_borji_with_negatives, auc_judd, cc, evaluate, information_gain, kld, nss, shuffled_auc,
    sim, EvalOptions, Fixation, Fixations, IgBaseline, ImageEval, Map, Metric, MetricSet,
};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash_at(seed: u64, i: u64) -> u64 {
    splitmix64((seed << 32).wrapping_add(i))
}

fn unit(seed: u64, i: u64) -> f64 {
    (hash_at(seed, i) >> 40) as f64 / 16_777_216.0
}

/// A map recipe of the fixture, built as `build` in make_fixture.py builds it.
fn build(recipe: &Value, w: usize, h: usize) -> Vec<f32> {
    let f = |v: &Value| v.as_f64().unwrap();
    match recipe["kind"].as_str().unwrap() {
        "values" => recipe["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| f(v) as f32)
            .collect(),
        "constant" => vec![f(&recipe["value"]) as f32; w * h],
        "random" => {
            let seed = recipe["seed"].as_u64().unwrap();
            (0..(w * h) as u64).map(|i| unit(seed, i) as f32).collect()
        }
        "bumps" => {
            let bumps: Vec<[f64; 4]> = recipe["bumps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| std::array::from_fn(|k| f(&b[k])))
                .collect();
            let noise = recipe
                .get("noise")
                .map(|n| (n[0].as_u64().unwrap(), f(&n[1])));
            let offset = recipe.get("offset").map(f).unwrap_or(0.0);
            let quantize = recipe
                .get("quantize")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (0..w * h)
                .map(|i| {
                    let (y, x) = ((i / w) as f64, (i % w) as f64);
                    let mut acc = 0.0;
                    for &[cy, cx, s, a] in &bumps {
                        let (dx, dy) = (x - cx, y - cy);
                        let r2 = dx * dx + dy * dy;
                        acc += a / (1.0 + r2 / (s * s));
                    }
                    if let Some((seed, amp)) = noise {
                        acc += amp * unit(seed, i as u64);
                    }
                    acc += offset;
                    let v = acc as f32;
                    if quantize {
                        ((v as f64 * 255.0 + 0.5).floor() / 255.0) as f32
                    } else {
                        v
                    }
                })
                .collect()
        }
        other => panic!("unknown recipe {other}"),
    }
}

struct Case {
    name: String,
    width: usize,
    height: usize,
    pred_width: usize,
    pred_height: usize,
    pred: Vec<f32>,
    gt: Vec<f32>,
    baseline: Vec<f32>,
    fixations: Vec<Fixation>,
    reference: Value,
    raw: Value,
}

impl Case {
    fn pred(&self) -> Map<'_> {
        Map::new(&self.pred, self.pred_width, self.pred_height).unwrap()
    }
    fn gt(&self) -> Map<'_> {
        Map::new(&self.gt, self.width, self.height).unwrap()
    }
    fn fix(&self) -> Fixations<'_> {
        Fixations::new(&self.fixations, self.width, self.height).unwrap()
    }
    fn expected(&self, metric: &str) -> f64 {
        self.reference[metric].as_f64().unwrap()
    }
}

fn load_cases() -> Vec<Case> {
    let text = include_str!("fixtures/reference.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let u = |k: &str| c[k].as_u64().unwrap() as usize;
            let (w, h) = (u("width"), u("height"));
            let (pw, ph) = (u("pred_width"), u("pred_height"));
            Case {
                name: c["name"].as_str().unwrap().to_string(),
                width: w,
                height: h,
                pred_width: pw,
                pred_height: ph,
                pred: build(&c["pred"], pw, ph),
                gt: build(&c["gt"], w, h),
                baseline: build(&c["baseline"], w, h),
                fixations: c["fixations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        Fixation::new(p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32)
                    })
                    .collect(),
                reference: c["reference"].clone(),
                raw: c.clone(),
            }
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

/// Checks `got` against the reference and returns the relative difference.
fn check(case: &Case, metric: &str, got: f64) -> f64 {
    let want = case.expected(metric);
    let diff = relative_difference(got, want);
    assert!(
        diff <= TOLERANCE,
        "{} {metric}: got {got:.12}, pysaliency {want:.12} (relative difference {diff:.2e})",
        case.name
    );
    diff
}

#[test]
fn maps_are_rebuilt_exactly_as_the_script_built_them() {
    for case in load_cases() {
        for (what, map) in [
            ("pred", &case.pred),
            ("gt", &case.gt),
            ("baseline", &case.baseline),
        ] {
            let sum: f64 = map.iter().map(|&v| v as f64).sum();
            let want = case.raw["checksum"][what].as_f64().unwrap();
            assert!(
                relative_difference(sum, want) < 1e-12,
                "{} {what}: sum {sum} vs {want}",
                case.name
            );
        }
    }
}

#[test]
fn resizing_matches_scipy_zoom() {
    for case in load_cases() {
        let pred64: Vec<f64> = case.pred.iter().map(|&v| v as f64).collect();
        let resized = salient_metrics::resize_bilinear(
            &pred64,
            case.pred_width,
            case.pred_height,
            case.width,
            case.height,
        );
        let sum: f64 = resized.iter().sum();
        let want = case.raw["resized_pred_sum"].as_f64().unwrap();
        assert!(
            relative_difference(sum, want) < 1e-12,
            "{}: {sum} vs {want}",
            case.name
        );
    }
}

#[test]
fn every_metric_agrees_with_pysaliency() {
    let cases = load_cases();
    let mut worst: Vec<(&str, f64)> = Vec::new();
    let mut record =
        |metric: &'static str, diff: f64| match worst.iter_mut().find(|(m, _)| *m == metric) {
            Some((_, w)) => *w = w.max(diff),
            None => worst.push((metric, diff)),
        };
    for (i, case) in cases.iter().enumerate() {
        record("cc", check(case, "cc", cc(case.pred(), case.gt()).unwrap()));
        record(
            "kld",
            check(case, "kld", kld(case.pred(), case.gt()).unwrap()),
        );
        record(
            "sim",
            check(case, "sim", sim(case.pred(), case.gt()).unwrap()),
        );
        record(
            "nss",
            check(case, "nss", nss(case.pred(), case.fix()).unwrap()),
        );
        record(
            "auc_judd",
            check(case, "auc_judd", auc_judd(case.pred(), case.fix()).unwrap()),
        );

        // AUC-Borji with the draws the script fed its transcription of AUC_Borji.m.
        let n = case.fixations.len() as u64;
        let pixels = (case.width * case.height) as u64;
        let splits: Vec<Vec<Fixation>> = (0..100u64)
            .map(|s| {
                (0..n)
                    .map(|k| {
                        let idx = (hash_at(1000 + i as u64, s * n + k) % pixels) as usize;
                        Fixation::new((idx / case.width) as u32, (idx % case.width) as u32)
                    })
                    .collect()
            })
            .collect();
        let borji = auc_borji_with_negatives(case.pred(), case.fix(), &splits).unwrap();
        record("auc_borji", check(case, "auc_borji", borji));

        // Shuffled AUC: negatives = the other cases' fixations, rescaled as pysaliency does.
        let negatives: Vec<Fixation> = cases
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .flat_map(|(_, other)| {
                let fx = case.width as f64 / other.width as f64;
                let fy = case.height as f64 / other.height as f64;
                other
                    .fixations
                    .iter()
                    .map(move |f| Fixation::new((f.y as f64 * fy) as u32, (f.x as f64 * fx) as u32))
            })
            .collect();
        let sauc = shuffled_auc(case.pred(), case.fix(), &negatives).unwrap();
        record("sauc", check(case, "sauc", sauc));

        let baseline = Map::new(&case.baseline, case.width, case.height).unwrap();
        let ig = information_gain(case.pred(), case.fix(), Some(baseline)).unwrap();
        record("ig", check(case, "ig", ig));
    }
    for (metric, diff) in worst {
        println!("largest relative difference vs pysaliency: {metric:>9} {diff:.3e}");
    }
}

#[test]
fn the_batch_api_gives_the_same_values() {
    let cases = load_cases();
    let images: Vec<ImageEval<'_>> = cases
        .iter()
        .map(|c| ImageEval {
            name: &c.name,
            prediction: c.pred(),
            saliency: Some(c.gt()),
            fixations: Some(c.fix()),
        })
        .collect();
    let metrics: MetricSet = "cc,kld,sim,nss,auc_judd,sauc,auc_borji,ig".parse().unwrap();
    let options = EvalOptions {
        ig_baseline: IgBaseline::Uniform,
        ..EvalOptions::default()
    };
    let report = evaluate(&images, &metrics, &options).unwrap();
    assert_eq!(report.images(), cases.len());
    for (case, scores) in cases.iter().zip(&report.per_image) {
        assert_eq!(scores.name, case.name);
        for metric in ["cc", "kld", "sim", "nss", "auc_judd", "sauc"] {
            let k = metrics.position(metric.parse().unwrap()).unwrap();
            check(case, metric, scores.values[k].unwrap());
        }
        // Seeded random negatives: close to the given-negatives reference, not equal (the
        // 100-split mean varies by a std of ~0.004 between draws with 30 fixations).
        let borji = scores.values[metrics.position(Metric::AucBorji).unwrap()].unwrap();
        assert!(
            (borji - case.expected("auc_borji")).abs() < 0.025,
            "{}: {borji}",
            case.name
        );
        // Uniform baseline: IG = mean log2(P(f) · pixels).
        let ig = scores.values[metrics.position(Metric::Ig).unwrap()].unwrap();
        let uniform_ig = information_gain(case.pred(), case.fix(), None).unwrap();
        assert_eq!(ig, uniform_ig);
    }
    let mean_cc = cases.iter().map(|c| c.expected("cc")).sum::<f64>() / cases.len() as f64;
    let summary = report.summary(Metric::Cc).unwrap();
    assert!((summary.mean - mean_cc).abs() < 1e-9);
    assert_eq!((summary.count, summary.skipped), (cases.len(), 0));
}
