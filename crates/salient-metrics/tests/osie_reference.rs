//! The fixation metrics on real eye-tracking data (OSIE, Xu et al., JoV 2014) against pysaliency:
//! tests/fixtures/osie.json (written by scripts/metrics/make_baseline_fixture.py, which documents
//! its fields) holds 25 images' fixations as pysaliency's OSIE loader reads them and pysaliency's
//! NSS, AUC-Judd and IG (over a centre bias) of the derived fixation-density maps
//! `fixation_maps/<id>.png`; the maps are read here from the OSIE folder beside the repository
//! (`../shared/realdata/osie`). Without that folder the test fails and says so: it never skips.
//!
//! Tolerance 1e-6 relative, as tests/reference.rs.

use std::path::{Path, PathBuf};

use salient_metrics::{
    auc_judd, information_gain_over_centre_bias, nss, CentreBiasModel, CentreBiasParams, Fixation,
    Fixations, ImageFixations, Map,
};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn osie_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/realdata/osie");
    assert!(
        dir.join("fixation_maps").is_dir(),
        "the OSIE data is missing: expected {} (with fixation_maps/<id>.png), i.e. shared/realdata/osie \
         beside the repository clone; see scripts/metrics/make_baseline_fixture.py",
        dir.display()
    );
    dir
}

/// An 8-bit greyscale PNG as `f32` values 0..=255 (NSS and AUC do not depend on the scale, so
/// this scores the same as pysaliency's `png / 255`).
fn read_grey_png(path: &Path) -> (Vec<f32>, usize, usize) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = reader.info();
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Grayscale, png::BitDepth::Eight),
        "{}",
        path.display()
    );
    let (w, h) = (info.width as usize, info.height as usize);
    let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
    reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (buf.iter().map(|&v| v as f32).collect(), w, h)
}

struct Image {
    id: String,
    width: usize,
    height: usize,
    xy: Vec<[f64; 2]>,
    reference: Value,
}

fn images(doc: &Value) -> Vec<Image> {
    doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|im| Image {
            id: im["id"].as_str().unwrap().to_string(),
            width: im["width"].as_u64().unwrap() as usize,
            height: im["height"].as_u64().unwrap() as usize,
            xy: im["xy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
                .collect(),
            reference: im.clone(),
        })
        .collect()
}

#[test]
fn the_fixture_counts_match_the_osie_readme() {
    let doc: Value = serde_json::from_str(include_str!("fixtures/osie.json")).unwrap();
    let counts = doc["counts"].as_object().unwrap();
    assert_eq!(counts.len(), 700);
    let values: Vec<u64> = counts.values().map(|v| v.as_u64().unwrap()).collect();
    // README: 98,321 fixations, 111-179 per image.
    assert_eq!(values.iter().sum::<u64>(), 98_321);
    assert_eq!(
        (values.iter().min(), values.iter().max()),
        (Some(&111), Some(&179))
    );
    for image in images(&doc) {
        assert_eq!(image.xy.len() as u64, counts[&image.id].as_u64().unwrap());
        assert_eq!(image.reference["count"], counts[&image.id]);
    }
}

#[test]
fn nss_auc_judd_and_ig_equal_pysaliency_on_osie() {
    let dir = osie_dir();
    let doc: Value = serde_json::from_str(include_str!("fixtures/osie.json")).unwrap();
    let images = images(&doc);
    let cb = &doc["centre_bias"];
    let params = CentreBiasParams {
        bandwidth: cb["bandwidth"].as_f64().unwrap(),
        eps: cb["eps"].as_f64().unwrap(),
        keep_aspect: cb["keep_aspect"].as_bool().unwrap(),
    };
    let views: Vec<ImageFixations<'_>> = images
        .iter()
        .map(|im| ImageFixations {
            width: im.width,
            height: im.height,
            xy: &im.xy,
        })
        .collect();
    let centre_bias = CentreBiasModel::from_images(&views, params, "OSIE fixture").unwrap();
    let mut worst = [0.0f64; 3];
    for image in &images {
        let path = dir.join("fixation_maps").join(format!("{}.png", image.id));
        let (values, w, h) = read_grey_png(&path);
        assert_eq!((w, h), (image.width, image.height), "{}", path.display());
        let pixels: Vec<Fixation> = image
            .xy
            .iter()
            .map(|&[x, y]| Fixation::new(y.floor() as u32, x.floor() as u32))
            .collect();
        let fixations = Fixations::with_coordinates(&pixels, &image.xy, w, h).unwrap();
        let map = Map::new(&values, w, h).unwrap();
        let got = [
            nss(map, fixations).unwrap(),
            auc_judd(map, fixations).unwrap(),
            information_gain_over_centre_bias(map, fixations, &centre_bias).unwrap(),
        ];
        for (k, metric) in ["nss", "auc_judd", "ig_centre_bias"].iter().enumerate() {
            let want = image.reference[metric].as_f64().unwrap();
            let diff = ((got[k] - want) / want).abs();
            assert!(
                diff <= TOLERANCE,
                "OSIE {} {metric}: got {:.12}, pysaliency {want:.12} (relative difference {diff:.2e})",
                image.id,
                got[k]
            );
            worst[k] = worst[k].max(diff);
        }
    }
    println!(
        "OSIE, {} images: largest relative difference vs pysaliency: nss {:.2e}, auc_judd {:.2e}, \
         ig {:.2e}",
        images.len(),
        worst[0],
        worst[1],
        worst[2]
    );
}
