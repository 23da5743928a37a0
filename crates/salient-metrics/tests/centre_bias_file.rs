//! Saving and loading a centre-bias model: the round trip is exact, and every kind of bad file is
//! an error that names the file, never a panic.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use salient_metrics::{CentreBiasError, CentreBiasModel, CentreBiasParams};

fn model() -> CentreBiasModel {
    let xy = vec![
        [0.1, 0.2],
        [0.5, 0.5],
        [0.5, 0.5],
        [0.999, 0.0],
        [1.0 / 3.0, 0.7],
    ];
    let params = CentreBiasParams {
        bandwidth: 0.0731,
        eps: 1.0 / 7.0,
        keep_aspect: true,
    };
    CentreBiasModel::new(xy, params, "unit test, ünïcode").unwrap()
}

/// A safetensors file with the given tensor and metadata.
fn write_raw(path: &Path, dtype: Dtype, shape: Vec<usize>, data: &[u8], meta: &[(&str, &str)]) {
    let view = TensorView::new(dtype, shape, data).unwrap();
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    std::fs::write(
        path,
        safetensors::serialize([("fixations", view)], Some(meta)).unwrap(),
    )
    .unwrap();
}

const META: [(&str, &str); 7] = [
    ("format", "salient-centre-bias"),
    ("version", "1"),
    ("bandwidth", "0.05"),
    ("eps", "0.5"),
    ("keep_aspect", "false"),
    ("count", "2"),
    ("source", "test"),
];

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn load_error(path: &Path) -> String {
    let err = CentreBiasModel::load(path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "the error does not name the file: {text}"
    );
    text
}

#[test]
fn a_saved_model_loads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("centre_bias.safetensors");
    let original = model();
    original.save(&path).unwrap();
    let loaded = CentreBiasModel::load(&path).unwrap();
    assert_eq!(loaded.fixations(), original.fixations());
    assert_eq!(loaded.params(), original.params());
    assert_eq!(loaded.source(), original.source());
    for (w, h) in [(40, 30), (7, 19)] {
        assert_eq!(
            *loaded.log_density(w, h).unwrap(),
            *original.log_density(w, h).unwrap()
        );
    }
    // Saving again replaces the file; no temporary file is left behind.
    original.save(&path).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");

    let missing = dir.path().join("absent.safetensors");
    let err = CentreBiasModel::load(&missing).unwrap_err();
    assert!(matches!(err, CentreBiasError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.safetensors"), "{err}");

    std::fs::write(&path, b"not a safetensors file at all").unwrap();
    println!("garbage: {}", load_error(&path));

    let good = f64_bytes(&[0.1, 0.2, 0.3, 0.4]);
    write_raw(&path, Dtype::F64, vec![2, 2], &good, &META);
    CentreBiasModel::load(&path).expect("the well-formed variant loads");

    write_raw(&path, Dtype::F64, vec![1, 4], &good, &META);
    let text = load_error(&path);
    assert!(text.contains("shape"), "{text}");
    println!("wrong shape: {text}");

    write_raw(&path, Dtype::F32, vec![2, 4], &good, &META);
    println!("wrong dtype: {}", load_error(&path));

    let nan = f64_bytes(&[0.1, f64::NAN, 0.3, 0.4]);
    write_raw(&path, Dtype::F64, vec![2, 2], &nan, &META);
    let text = load_error(&path);
    assert!(text.contains("NaN"), "{text}");
    println!("NaN: {text}");

    let outside = f64_bytes(&[0.1, 1.5, 0.3, 0.4]);
    write_raw(&path, Dtype::F64, vec![2, 2], &outside, &META);
    println!("outside [0, 1]: {}", load_error(&path));

    let mut meta = META;
    meta[3] = ("eps", "0");
    write_raw(&path, Dtype::F64, vec![2, 2], &good, &meta);
    println!("eps 0: {}", load_error(&path));

    let mut meta = META;
    meta[2] = ("bandwidth", "wide");
    write_raw(&path, Dtype::F64, vec![2, 2], &good, &meta);
    println!("bandwidth text: {}", load_error(&path));

    write_raw(&path, Dtype::F64, vec![2, 2], &good, &META[1..]);
    let text = load_error(&path);
    assert!(text.contains("format"), "{text}");

    let mut meta = META;
    meta[5] = ("count", "3");
    write_raw(&path, Dtype::F64, vec![2, 2], &good, &meta);
    println!("count mismatch: {}", load_error(&path));
}

#[test]
fn saving_into_a_missing_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/cb.safetensors");
    let err = model().save(&path).unwrap_err();
    assert!(err.to_string().contains("cb.safetensors"), "{err}");
}
