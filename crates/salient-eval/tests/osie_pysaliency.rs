//! The real OSIE release read by salient-data's OSIE reader and scored by this crate, against
//! pysaliency on the same fixations (fixture: scripts/metrics/make_baseline_fixture.py, in
//! salient-metrics' tests): the reader's coordinates equal pysaliency's `get_OSIE`, per-image
//! counts equal, and NSS / AUC-Judd of the derived density maps (`fixation_maps/<id>.png`) scored
//! from the reader's fixations equal pysaliency's to 1e-6 relative.

use std::path::Path;

use salient_data::{Dataset, DiscoverOptions, FixationSource, Split};
use salient_eval::{evaluate_split, EvalConfig, PredictionDir, PredictionSource};

#[test]
fn osie_reader_and_scores_equal_pysaliency() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../../../shared/realdata/osie");
    assert!(
        root.join("fixations.mat").is_file(),
        "the real OSIE data is missing at {} (CI copies shared/ beside the clone)",
        root.display()
    );
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(manifest.join("../salient-metrics/tests/fixtures/osie.json"))
            .unwrap(),
    )
    .unwrap();
    let data = Dataset::discover(&root, &DiscoverOptions::for_split(Split::All)).unwrap();
    let all = data.split(Split::All);
    // Every image's fixation count, as pysaliency loads them.
    let counts = fixture["counts"].as_object().unwrap();
    assert_eq!(all.len(), counts.len());
    for sample in all {
        let Some(FixationSource::Points(points)) = &sample.fixations else {
            panic!("{}: coordinates expected", sample.stem);
        };
        assert_eq!(
            points.len() as u64,
            counts[&sample.stem].as_u64().unwrap(),
            "{}",
            sample.stem
        );
    }
    // The fixture's 25 images: the same coordinates, in the same order, and the same scores.
    let images = fixture["images"].as_array().unwrap();
    let chosen: Vec<_> = images
        .iter()
        .map(|image| {
            let id = image["id"].as_str().unwrap();
            all.iter().find(|s| s.stem == id).unwrap().clone()
        })
        .collect();
    for (sample, image) in chosen.iter().zip(images) {
        let Some(FixationSource::Points(points)) = &sample.fixations else {
            unreachable!()
        };
        let xy: Vec<[f64; 2]> = image["xy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect();
        let ours: Vec<[f64; 2]> = points.iter().map(|p| [p.x, p.y]).collect();
        assert_eq!(
            ours, xy,
            "{}: coordinates as pysaliency holds them",
            sample.stem
        );
    }
    let maps = PredictionDir::open(&root.join("fixation_maps")).unwrap();
    let config = EvalConfig {
        metrics: Some("nss,auc_judd".parse().unwrap()),
        allow_missing: false,
        ..EvalConfig::default()
    };
    let outcome = evaluate_split(&chosen, PredictionSource::Folder(maps), &config, |_| {}).unwrap();
    assert_eq!(outcome.report.images(), images.len());
    for (scores, image) in outcome.report.per_image.iter().zip(images) {
        assert_eq!(scores.name, image["id"].as_str().unwrap());
        for (k, name) in ["nss", "auc_judd"].into_iter().enumerate() {
            let ours = scores.values[k].expect("defined");
            let reference = image[name].as_f64().unwrap();
            let rel = (ours - reference).abs() / reference.abs();
            assert!(
                rel <= 1e-6,
                "{} {name}: salient {ours} pysaliency {reference} (relative {rel:.2e})",
                scores.name
            );
        }
    }
}
