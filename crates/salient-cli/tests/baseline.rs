//! `salient baseline` writes pysaliency's centre bias of a split; `salient eval` measures IG
//! against the other split's centre bias by default, against a file when given one, and scores
//! the baseline itself with `--score-baseline`.

mod common;

use std::path::Path;

use common::{run_in as salient, text};
use image::{Rgb, RgbImage};

/// 12 images of 40x30 with fixations near the centre, split 8 / 4 by list files.
fn dataset(root: &Path) {
    std::fs::create_dir_all(root.join("stimuli")).unwrap();
    std::fs::create_dir_all(root.join("splits")).unwrap();
    let mut csv = String::from("image,x,y,subject\n");
    let (mut train, mut val) = (String::new(), String::new());
    for i in 0..12 {
        let name = format!("{i:02}.png");
        RgbImage::from_pixel(40, 30, Rgb([i as u8 * 10, 80, 120]))
            .save(root.join("stimuli").join(&name))
            .unwrap();
        for k in 0..5 {
            csv.push_str(&format!(
                "{name},{},{},{}\n",
                15 + (i + k) % 10,
                10 + (i * k) % 10,
                k + 1
            ));
        }
        if i < 8 { &mut train } else { &mut val }.push_str(&format!("{name}\n"));
    }
    std::fs::write(root.join("fixations.csv"), csv).unwrap();
    std::fs::write(root.join("splits/train.txt"), train).unwrap();
    std::fs::write(root.join("splits/val.txt"), val).unwrap();
}

#[test]
fn baseline_file_and_other_split_centre_bias() {
    let tmp = tempfile::tempdir().unwrap();
    dataset(&tmp.path().join("d"));
    let out = salient(
        &[
            "baseline",
            "--data",
            "d",
            "--split",
            "train",
            "--out",
            "cb.safetensors",
        ],
        tmp.path(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("centre bias of 40 fixations on 8 images"), "{t}");

    let scored = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--data",
            "d",
            "--split",
            "val",
            "--score-baseline",
            "--json",
            "e.json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let out = salient(&args, tmp.path());
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(tmp.path().join("e.json")).unwrap())
                .unwrap();
        (t, json)
    };
    // Default: the train split's centre bias, built on the fly; scored against itself IG is 0
    // (up to the f32 rounding of the density handed over as a map: relative 6e-8).
    let (t, json) = scored(&[]);
    assert!(t.contains("fixations from the train split of d"), "{t}");
    assert!(
        t.contains("predictions from the centre-bias baseline"),
        "{t}"
    );
    let ig = json["metrics"]["ig"]["mean"].as_f64().unwrap();
    assert!(
        ig.abs() < 1e-6,
        "the baseline has no information over itself: {ig}"
    );
    // The file written above is the same model.
    let (t, json_file) = scored(&["--baseline-file", "cb.safetensors"]);
    assert!(t.contains("40 fixations from the train split of d"), "{t}");
    assert_eq!(json["metrics"]["nss"], json_file["metrics"]["nss"]);
    // Uniform baseline: the centre bias carries information over it.
    let (_, uniform) = scored(&["--baseline", "uniform", "--baseline-file", "cb.safetensors"]);
    assert!(
        uniform["metrics"]["ig"]["mean"].as_f64().unwrap() > 0.1,
        "{uniform}"
    );
    // --split all has no other split: said so, scored against its own fixations.
    let out = salient(
        &[
            "eval",
            "--data",
            "d",
            "--split",
            "all",
            "--score-baseline",
            "--quiet",
        ],
        tmp.path(),
    );
    assert!(
        !out.status.success() || text(&out).contains("--split all has no other split"),
        "{}",
        text(&out)
    );
}
