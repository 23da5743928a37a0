//! The density head end to end through the binary: `train --head density` (prior and blur from
//! the training data, default loss `nll`), `inspect` naming the head, `eval` scoring each metric
//! on its derived map (table and JSON say which), and `predict --output density|log-density`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{salient, write_flat_dataset};

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    format!("{stdout}{stderr}")
}

fn train(data: &Path, run: &Path, head: &str) -> String {
    ok(salient()
        .args(["train", "--data"])
        .arg(data)
        .arg("--out")
        .arg(run)
        .args([
            "--head",
            head,
            "--epochs",
            "1",
            "--size",
            "32x32",
            "--batch-size",
            "3",
        ])
        .args([
            "--max-steps",
            "2",
            "--backbone-init",
            "random",
            "--freeze",
            "none",
        ])
        .args([
            "--device",
            "cpu",
            "--quiet",
            "--threads",
            "1",
            "--val-fraction",
            "0.25",
        ])
        .output()
        .unwrap())
}

fn read_npy(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    npyz::NpyFile::new(&bytes[..])
        .unwrap()
        .into_vec::<f32>()
        .unwrap()
}

#[test]
fn density_head_trains_inspects_evaluates_and_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    write_flat_dataset(&data, 12);
    let log = train(&data, &run, "density");
    assert!(
        log.contains("centre-bias prior from 9 training fixations"),
        "{log}"
    );
    assert!(log.contains("blur sigma starts at 3.00%"), "{log}");
    let checkpoint = run.join("checkpoints/last.safetensors");
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        config.contains("head = \"density\"") && config.contains("loss = \"nll\""),
        "{config}"
    );

    let inspect = ok(salient().arg("inspect").arg(&checkpoint).output().unwrap());
    assert!(
        inspect.contains("head: density (outputs a log fixation density"),
        "{inspect}"
    );
    assert!(inspect.contains("density blur sigma: "), "{inspect}");
    assert!(inspect.contains("salient.head: density"), "{inspect}");

    let json = tmp.path().join("eval.json");
    let eval = ok(salient()
        .args(["eval", "--data"])
        .arg(&data)
        .arg("--checkpoint")
        .arg(&checkpoint)
        .arg("--json")
        .arg(&json)
        .args(["--device", "cpu", "--quiet", "--metrics", "cc,nss,sauc,ig"])
        .output()
        .unwrap());
    assert!(
        eval.contains("a fixation density: each metric on the map derived"),
        "{eval}"
    );
    let row = |name: &str| {
        eval.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("cc ").ends_with("density ⊛ empirical-map kernel (σ 3% of the larger side)"),
        "{eval}"
    );
    assert!(row("nss ").ends_with("  density"), "{eval}");
    assert!(
        row("sauc ").ends_with("log density − log centre bias"),
        "{eval}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["maps"]["nss"], "density");
    assert_eq!(report["maps"]["sauc"], "log density − log centre bias");

    let image = data.join("stimuli/00.png");
    for output in ["density", "log-density"] {
        let out = tmp.path().join(output);
        ok(salient()
            .args(["predict", "--checkpoint"])
            .arg(&checkpoint)
            .arg("--input")
            .arg(&image)
            .arg("--out")
            .arg(&out)
            .args(["--format", "npy", "--output", output, "--device", "cpu"])
            .output()
            .unwrap());
        let values = read_npy(&out.join("00.npy"));
        assert_eq!(values.len(), 32 * 32);
        let total: f64 = values
            .iter()
            .map(|&v| f64::from(if output == "density" { v } else { v.exp() }))
            .sum();
        assert!((total - 1.0).abs() <= 1e-4, "{output}: sums to {total}");
    }
    let png = ok(salient()
        .args(["predict", "--checkpoint"])
        .arg(&checkpoint)
        .arg("--input")
        .arg(&image)
        .arg("--out")
        .arg(tmp.path().join("png"))
        .args(["--output", "density", "--overlay", "--device", "cpu"])
        .output()
        .unwrap());
    assert!(
        png.contains("density PNGs are scaled to each map's maximum"),
        "{png}"
    );
    let map = image::open(tmp.path().join("png/00.png"))
        .unwrap()
        .to_luma8();
    assert_eq!(
        map.pixels().map(|p| p[0]).max(),
        Some(255),
        "scaled to its maximum"
    );
}

/// The seed head is the default and says so; the density head refuses the seed's `mse`.
#[test]
fn seed_head_is_the_default_and_density_refuses_mse() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, run) = (tmp.path().join("data"), tmp.path().join("run"));
    write_flat_dataset(&data, 8);
    train(&data, &run, "seed");
    let inspect = ok(salient()
        .arg("inspect")
        .arg(run.join("checkpoints/last.safetensors"))
        .output()
        .unwrap());
    assert!(
        inspect.contains("head: seed (outputs a saliency map in (0, 1))"),
        "{inspect}"
    );
    let out = salient()
        .args(["train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(tmp.path().join("bad"))
        .args([
            "--head", "density", "--loss", "mse", "--device", "cpu", "--quiet",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loss `mse`") && stderr.contains("use nll"),
        "{stderr}"
    );
}
