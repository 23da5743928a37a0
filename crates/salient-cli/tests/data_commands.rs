//! `salient data check|split|synth` as a user runs them.

mod common;

use std::path::Path;

use common::{run_in as salient, text};
use image::{Rgb, RgbImage};

/// A generic-layout dataset: 10 images of 40x30 under stimuli/, fixations.csv with two viewers.
fn csv_dataset(root: &Path) {
    std::fs::create_dir_all(root.join("stimuli/sub")).unwrap();
    let mut csv = String::from("image,x,y,subject\n");
    for i in 0..10 {
        let name = if i < 5 {
            format!("{i}.png")
        } else {
            format!("sub/{i}.png")
        };
        RgbImage::from_pixel(40, 30, Rgb([i as u8 * 20, 50, 90]))
            .save(root.join("stimuli").join(&name))
            .unwrap();
        csv.push_str(&format!(
            "{name},{}.5,10,1\n{name},20,{}.25,2\n",
            i + 3,
            i + 1
        ));
    }
    std::fs::write(root.join("fixations.csv"), csv).unwrap();
}

#[test]
fn check_reports_the_dataset_and_exits_non_zero_on_a_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    csv_dataset(&data);
    let out = salient(&["data", "check", "d"], tmp.path());
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for want in [
        "layout: csv",
        "split rule: a seeded draw (seed 0) holding out 10% for validation",
        "maps: built from the fixations (Gaussian, sigma = 3% of the larger side)",
        "train        9  40x30",
        "val          1  40x30",
        "problems: none",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
    // Fixations per image 2, viewers per image 2.
    assert!(
        t.lines()
            .any(|l| l.starts_with("train") && l.contains(" 18 ") && l.contains("2    ")),
        "{t}"
    );

    // A fixation off its image and a truncated image: both named, exit code 1.
    let mut csv = std::fs::read_to_string(data.join("fixations.csv")).unwrap();
    csv.push_str("3.png,41,5,1\n");
    std::fs::write(data.join("fixations.csv"), csv).unwrap();
    let bytes = std::fs::read(data.join("stimuli/sub/7.png")).unwrap();
    std::fs::write(data.join("stimuli/sub/7.png"), &bytes[..bytes.len() / 2]).unwrap();
    let out = salient(&["data", "check", "d"], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("problems: 2"), "{t}");
    assert!(
        t.contains("3.png") && t.contains("outside the 40x30 image"),
        "{t}"
    );
    assert!(t.contains("sub/7.png"), "{t}");
}

#[test]
fn split_writes_list_files_that_training_and_eval_then_use() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    csv_dataset(&data);
    let out = salient(
        &[
            "data",
            "split",
            "d",
            "--val-fraction",
            "0.2",
            "--test-fraction",
            "0.1",
            "--seed",
            "7",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let read = |s: &str| {
        std::fs::read_to_string(data.join("splits").join(format!("{s}.txt")))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (train, val, test) = (read("train"), read("val"), read("test"));
    assert_eq!((train.len(), val.len(), test.len()), (7, 2, 1));
    assert!(train
        .iter()
        .chain(&val)
        .chain(&test)
        .any(|n| n.starts_with("sub/")));
    // Refuses to overwrite without --force.
    let again = salient(&["data", "split", "d"], tmp.path());
    assert!(
        !again.status.success() && text(&again).contains("--force"),
        "{}",
        text(&again)
    );
    // The lists are now the split rule.
    let out = salient(&["data", "check", "d"], tmp.path());
    let t = text(&out);
    assert!(t.contains("split rule: the list files in d/splits"), "{t}");
    assert!(t.contains("test         1"), "{t}");
}

#[test]
fn synth_writes_a_salicon_layout_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let out = salient(
        &[
            "data", "synth", "--out", "s", "--train", "3", "--val", "2", "--size", "64x48",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("wrote 3 train + 2 val scenes of 64x48"));
    let check = salient(&["data", "check", "s"], tmp.path());
    assert!(text(&check).contains("layout: salicon"), "{}", text(&check));
}
