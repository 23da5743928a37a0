//! Degenerate and bad inputs: each gets a defined value or a clear error, never NaN or a panic.

use salient_metrics::{
    auc_borji, auc_judd, cc, evaluate, information_gain, kld, nss, shuffled_auc, sim, EvalOptions,
    Fixation, Fixations, ImageEval, Map, Metric, MetricError, MetricSet,
};

fn peaked(w: usize, h: usize) -> Vec<f32> {
    (0..w * h)
        .map(|i| {
            let (y, x) = ((i / w) as f32, (i % w) as f32);
            1.0 / (1.0 + ((y - 3.0).powi(2) + (x - 4.0).powi(2)) / 4.0)
        })
        .collect()
}

const W: usize = 10;
const H: usize = 8;

fn fixations() -> Vec<Fixation> {
    vec![
        Fixation::new(3, 4),
        Fixation::new(2, 5),
        Fixation::new(6, 1),
    ]
}

#[test]
fn constant_prediction_has_chance_values() {
    let pred = vec![0.7f32; W * H];
    let gt = peaked(W, H);
    let fix = fixations();
    let p = Map::new(&pred, W, H).unwrap();
    let g = Map::new(&gt, W, H).unwrap();
    let f = Fixations::new(&fix, W, H).unwrap();
    assert_eq!(cc(p, g).unwrap(), 0.0);
    assert_eq!(nss(p, f).unwrap(), 0.0);
    assert_eq!(auc_judd(p, f).unwrap(), 0.5);
    assert_eq!(auc_borji(p, f, 7).unwrap(), 0.5);
    let negatives = [Fixation::new(0, 0), Fixation::new(7, 9)];
    assert_eq!(shuffled_auc(p, f, &negatives).unwrap(), 0.5);
    // A constant map is the uniform distribution: IG over the uniform baseline is 0.
    assert!(information_gain(p, f, None).unwrap().abs() < 1e-12);
    let (k, s) = (kld(p, g).unwrap(), sim(p, g).unwrap());
    assert!(k.is_finite() && k > 0.0 && s > 0.0 && s < 1.0);
}

#[test]
fn constant_ground_truth_gives_zero_correlation() {
    let pred = peaked(W, H);
    let gt = vec![3.0f32; W * H];
    let p = Map::new(&pred, W, H).unwrap();
    assert_eq!(cc(p, Map::new(&gt, W, H).unwrap()).unwrap(), 0.0);
}

#[test]
fn all_zero_maps_are_uniform_distributions() {
    let zeros = vec![0.0f32; W * H];
    let z = Map::new(&zeros, W, H).unwrap();
    assert!((sim(z, z).unwrap() - 1.0).abs() < 1e-12);
    assert!(kld(z, z).unwrap().abs() < 1e-12);
    assert_eq!(cc(z, z).unwrap(), 0.0);
    let gt = peaked(W, H);
    let k = kld(z, Map::new(&gt, W, H).unwrap()).unwrap();
    assert!(k.is_finite() && k > 0.0);
}

#[test]
fn zero_prediction_at_a_fixation_keeps_ig_finite() {
    let mut pred = peaked(W, H);
    pred[3 * W + 4] = 0.0;
    let fix = fixations();
    let ig = information_gain(
        Map::new(&pred, W, H).unwrap(),
        Fixations::new(&fix, W, H).unwrap(),
        None,
    )
    .unwrap();
    assert!(ig.is_finite() && ig < -10.0, "ε bounds the penalty: {ig}");
}

#[test]
fn no_fixations_is_a_named_error_and_skipped_in_batches() {
    let pred = peaked(W, H);
    let p = Map::new(&pred, W, H).unwrap();
    let none = Fixations::new(&[], W, H).unwrap();
    assert_eq!(nss(p, none), Err(MetricError::NoFixations(Metric::Nss)));
    assert_eq!(
        auc_judd(p, none),
        Err(MetricError::NoFixations(Metric::AucJudd))
    );
    assert_eq!(
        auc_borji(p, none, 1),
        Err(MetricError::NoFixations(Metric::AucBorji))
    );
    assert_eq!(
        shuffled_auc(p, none, &[]),
        Err(MetricError::NoFixations(Metric::Sauc))
    );
    assert_eq!(
        information_gain(p, none, None),
        Err(MetricError::NoFixations(Metric::Ig))
    );

    let fix = fixations();
    let images = [
        ImageEval {
            name: "empty",
            prediction: p,
            saliency: Some(p),
            fixations: Some(none),
        },
        ImageEval {
            name: "full",
            prediction: p,
            saliency: Some(p),
            fixations: Some(Fixations::new(&fix, W, H).unwrap()),
        },
    ];
    let report = evaluate(&images, &MetricSet::all(), &EvalOptions::default()).unwrap();
    let nss_summary = report.summary(Metric::Nss).unwrap();
    assert_eq!((nss_summary.count, nss_summary.skipped), (1, 1));
    assert_eq!(report.per_image[0].values[2], None);
    assert_eq!(report.summary(Metric::Cc).unwrap().count, 2);
}

#[test]
fn non_finite_values_are_errors_naming_the_pixel() {
    let gt = peaked(W, H);
    let fix = fixations();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut pred = peaked(W, H);
        pred[2 * W + 7] = bad;
        let p = Map::new(&pred, W, H).unwrap();
        let err = cc(p, Map::new(&gt, W, H).unwrap()).unwrap_err();
        match err {
            MetricError::NonFinite { what, y, x, .. } => {
                assert_eq!((what, y, x), ("prediction", 2, 7));
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
        assert!(err.to_string().contains("(y=2, x=7)"), "{err}");
        let f = Fixations::new(&fix, W, H).unwrap();
        assert!(matches!(auc_judd(p, f), Err(MetricError::NonFinite { .. })));
        // and in the ground truth
        let g = Map::new(&pred, W, H).unwrap();
        let clean = peaked(W, H);
        assert!(matches!(
            kld(Map::new(&clean, W, H).unwrap(), g),
            Err(MetricError::NonFinite {
                what: "ground-truth map",
                ..
            })
        ));
    }
}

#[test]
fn a_smaller_prediction_is_resized_to_the_ground_truth() {
    let (w, h) = (20, 16);
    let gt = peaked(w, h);
    let small = peaked(W, H);
    let small64: Vec<f64> = small.iter().map(|&v| v as f64).collect();
    let resized: Vec<f32> = salient_metrics::resize_bilinear(&small64, W, H, w, h)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let g = Map::new(&gt, w, h).unwrap();
    let direct = cc(Map::new(&small, W, H).unwrap(), g).unwrap();
    let by_hand = cc(Map::new(&resized, w, h).unwrap(), g).unwrap();
    assert!((direct - by_hand).abs() < 1e-6, "{direct} vs {by_hand}");
}

#[test]
fn malformed_inputs_are_errors() {
    assert!(matches!(
        Map::new(&[0.0; 5], 2, 3),
        Err(MetricError::Shape { len: 5, .. })
    ));
    assert!(Map::new(&[], 0, 0).is_err());
    assert_eq!(
        Fixations::new(&[Fixation::new(8, 0)], W, H).unwrap_err(),
        MetricError::FixationOutOfBounds {
            y: 8,
            x: 0,
            width: W,
            height: H
        }
    );
    let pred = peaked(W, H);
    let p = Map::new(&pred, W, H).unwrap();
    let fix = fixations();
    let f = Fixations::new(&fix, W, H).unwrap();
    assert_eq!(
        shuffled_auc(p, f, &[]),
        Err(MetricError::NoNegatives(Metric::Sauc))
    );
    assert!(shuffled_auc(p, f, &[Fixation::new(0, 99)]).is_err());
    let missing = ImageEval {
        name: "no-gt",
        prediction: p,
        saliency: None,
        fixations: Some(f),
    };
    let err = evaluate(&[missing], &"cc".parse().unwrap(), &EvalOptions::default()).unwrap_err();
    assert_eq!(err.image, "no-gt");
    assert!(matches!(
        err.source,
        MetricError::MissingInput {
            metric: Metric::Cc,
            ..
        }
    ));
}

#[test]
fn every_pixel_fixated_leaves_judd_without_negatives() {
    let (w, h) = (3, 2);
    let pred = [0.1f32, 0.5, 0.2, 0.9, 0.3, 0.4];
    let all: Vec<Fixation> = (0..h as u32)
        .flat_map(|y| (0..w as u32).map(move |x| Fixation::new(y, x)))
        .collect();
    assert_eq!(
        auc_judd(
            Map::new(&pred, w, h).unwrap(),
            Fixations::new(&all, w, h).unwrap()
        ),
        Err(MetricError::NoNegatives(Metric::AucJudd))
    );
}

#[test]
fn borji_is_deterministic_per_seed() {
    let pred = peaked(W, H);
    let fix = fixations();
    let p = Map::new(&pred, W, H).unwrap();
    let f = Fixations::new(&fix, W, H).unwrap();
    assert_eq!(auc_borji(p, f, 5).unwrap(), auc_borji(p, f, 5).unwrap());
    let a = auc_borji(p, f, 5).unwrap();
    assert!(a > 0.5 && a <= 1.0, "{a}");
}

#[test]
fn reports_do_not_depend_on_the_thread_count() {
    let preds: Vec<Vec<f32>> = (0..6)
        .map(|k| {
            peaked(W, H)
                .iter()
                .map(|v| v + k as f32 * 0.01 * v * v)
                .collect()
        })
        .collect();
    let gt = peaked(W, H);
    let fix = fixations();
    let images: Vec<ImageEval<'_>> = preds
        .iter()
        .map(|p| ImageEval {
            name: "x",
            prediction: Map::new(p, W, H).unwrap(),
            saliency: Some(Map::new(&gt, W, H).unwrap()),
            fixations: Some(Fixations::new(&fix, W, H).unwrap()),
        })
        .collect();
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| evaluate(&images, &MetricSet::all(), &EvalOptions::default()).unwrap())
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn report_serialises_as_documented() {
    let pred = peaked(W, H);
    let fix = fixations();
    let p = Map::new(&pred, W, H).unwrap();
    let images = [ImageEval {
        name: "img1",
        prediction: p,
        saliency: Some(p),
        fixations: Some(Fixations::new(&fix, W, H).unwrap()),
    }];
    let metrics: MetricSet = "nss,cc".parse().unwrap();
    let report = evaluate(&images, &metrics, &EvalOptions::default()).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["images"], 1);
    assert_eq!(json["metrics"]["cc"]["mean"], 1.0);
    assert_eq!(json["metrics"]["cc"]["std"], 0.0);
    assert!(json["metrics"]["nss"]["mean"].as_f64().unwrap() > 0.0);
    assert_eq!(json["per_image"]["img1"]["cc"], 1.0);
    let keys: Vec<&String> = json["metrics"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2);
}
