//! Metrics on JPEG ground truth equal pysaliency's (relative difference ≤ 1e-6) when the maps are
//! decoded by salient-data: the fixture (`scripts/jpeg/make_metric_fixture.py`,
//! tests/fixtures/jpeg_metrics/) scored PIL-decoded maps, turned grey with the same float32
//! arithmetic as `load_map`, so only the JPEG decoder can make the scores differ. JPEG maps are
//! also used as predictions (as `salient eval --predictions` reads them), so NSS, AUC-Judd and IG
//! depend on the decoder too. zune-jpeg, the decoder before libjpeg-turbo, was off by up to 2.0e-3
//! relative here (IG; 3.7e-4 NSS, 2.3e-4 CC); libjpeg-turbo is within 2e-12.

use std::path::{Path, PathBuf};

use salient_data::load_map;
use salient_metrics::{auc_judd, cc, information_gain, kld, nss, sim, Fixation, Fixations, Map};

const TOLERANCE: f64 = 1e-6;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg_metrics")
}

fn reference() -> toml::Table {
    let text = std::fs::read_to_string(fixture_dir().join("reference.toml")).unwrap();
    text.parse().unwrap()
}

fn number(value: &toml::Value) -> f64 {
    value
        .as_float()
        .or_else(|| value.as_integer().map(|v| v as f64))
        .unwrap()
}

/// The prediction recipe: Σ a / (1 + r² / s²) over the bumps, plus an offset, in f64 in the
/// script's order, then f32: bit for bit what numpy built.
fn prediction(table: &toml::Table, width: usize, height: usize) -> Vec<f32> {
    let bumps: Vec<Vec<f64>> = table["prediction_bumps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_array().unwrap().iter().map(number).collect())
        .collect();
    let offset = number(&table["prediction_offset"]);
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let mut acc = 0.0f64;
            for b in &bumps {
                let (dx, dy) = (x as f64 - b[1], y as f64 - b[0]);
                let r2 = dx * dx + dy * dy;
                acc += b[3] / (1.0 + r2 / (b[2] * b[2]));
            }
            out.push((acc + offset) as f32);
        }
    }
    out
}

fn sum(values: &[f32]) -> f64 {
    values.iter().map(|&v| v as f64).sum()
}

#[test]
fn metrics_on_jpeg_ground_truth_equal_pysaliency() {
    let table = reference();
    let (width, height) = (
        table["width"].as_integer().unwrap() as usize,
        table["height"].as_integer().unwrap() as usize,
    );
    let pred = prediction(&table, width, height);
    assert_eq!(
        sum(&pred),
        number(&table["prediction_sum"]),
        "prediction rebuilt"
    );
    let map = |name: &str| -> Vec<f32> {
        if name == "prediction" {
            return pred.clone();
        }
        let decoded = load_map(&fixture_dir().join(name)).unwrap();
        assert_eq!((decoded.width, decoded.height), (width, height), "{name}");
        decoded.data
    };
    let fixations = |key: &str| -> Vec<Fixation> {
        table[&format!("fixations_{key}")]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let p = p.as_array().unwrap();
                Fixation::new(
                    p[0].as_integer().unwrap() as u32,
                    p[1].as_integer().unwrap() as u32,
                )
            })
            .collect()
    };
    let mut worst = (0.0f64, String::new());
    for case in table["case"].as_array().unwrap() {
        let case = case.as_table().unwrap();
        let (p_name, g_name) = (
            case["prediction"].as_str().unwrap(),
            case["ground_truth"].as_str().unwrap(),
        );
        let (p, g) = (map(p_name), map(g_name));
        let points = fixations(case["fixations"].as_str().unwrap());
        let pm = Map::new(&p, width, height).unwrap();
        let gm = Map::new(&g, width, height).unwrap();
        let fx = Fixations::new(&points, width, height).unwrap();
        let scores = [
            ("cc", cc(pm, gm).unwrap()),
            ("kld", kld(pm, gm).unwrap()),
            ("sim", sim(pm, gm).unwrap()),
            ("nss", nss(pm, fx).unwrap()),
            ("auc_judd", auc_judd(pm, fx).unwrap()),
            ("ig", information_gain(pm, fx, None).unwrap()),
        ];
        for (metric, got) in scores {
            let want = number(&case[metric]);
            let diff = ((got - want) / want).abs();
            eprintln!("{p_name:>11} vs {g_name:<10} {metric:>8}: {got:.12} pysaliency {want:.12} rel {diff:.1e}");
            assert!(
                diff <= TOLERANCE,
                "{p_name} vs {g_name} {metric}: got {got:.12}, pysaliency {want:.12} \
                 (relative difference {diff:.2e})"
            );
            if diff > worst.0 {
                worst = (diff, format!("{p_name} vs {g_name} {metric}"));
            }
        }
    }
    eprintln!("largest relative difference: {:.2e} ({})", worst.0, worst.1);
}

/// The decoded maps themselves: their sums equal the PIL-decoded maps' sums (a quick check that
/// points at the decoder, not the metrics, when the test above fails).
#[test]
fn decoded_map_sums_equal_pil() {
    let table = reference();
    for (name, want) in table["map_sums"].as_table().unwrap() {
        let got = sum(&load_map(&fixture_dir().join(name)).unwrap().data);
        assert_eq!(got, number(want), "{name}: sum of the decoded map");
    }
}
