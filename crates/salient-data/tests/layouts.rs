//! Discovery of each layout, and the error each kind of bad input produces.

mod common;

use std::path::Path;

use common::{mkdir, salicon, write_triple};
use salient_data::{DataError, Dataset, DiscoverOptions, LayoutKind, Split};

fn discover(root: &Path) -> Result<Dataset, DataError> {
    Dataset::discover(root, &DiscoverOptions::default())
}

#[test]
fn seed_layout_pairs_by_stem() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (split, stems) in [
        ("train", ["a", "b", "c"].as_slice()),
        ("val", ["d"].as_slice()),
    ] {
        for stem in stems {
            write_triple(
                &root.join("image").join(split),
                &root.join("mask").join(split),
                None,
                stem,
                20,
                10,
            );
        }
    }
    let data = discover(root).unwrap();
    assert_eq!(data.layout(), LayoutKind::Seed);
    let train: Vec<_> = data
        .split(Split::Train)
        .iter()
        .map(|s| s.stem.as_str())
        .collect();
    assert_eq!(train, ["a", "b", "c"]);
    assert_eq!(data.split(Split::Val).len(), 1);
    let b = &data.split(Split::Train)[1];
    assert_eq!(b.map.file(), Some(root.join("mask/train/b.png").as_path()));
    assert!(b.fixations.is_none());
}

#[test]
fn salicon_layout_has_fixations() {
    let dir = tempfile::tempdir().unwrap();
    salicon(dir.path(), 3, 2, 24, 16);
    let data = discover(dir.path()).unwrap();
    assert_eq!(data.layout(), LayoutKind::Salicon);
    assert_eq!(data.split(Split::Train).len(), 3);
    assert_eq!(data.split(Split::Val).len(), 2);
    let s = &data.split(Split::Val)[0];
    assert_eq!(
        s.fixations.as_ref().and_then(|f| f.file()),
        Some(dir.path().join("fixations/val/img000.png").as_path())
    );
}

#[test]
fn salicon_wins_over_seed_when_both_exist_and_layout_can_be_forced() {
    let dir = tempfile::tempdir().unwrap();
    salicon(dir.path(), 2, 1, 16, 16);
    write_triple(
        &dir.path().join("image/train"),
        &dir.path().join("mask/train"),
        None,
        "only",
        16,
        16,
    );
    assert_eq!(discover(dir.path()).unwrap().layout(), LayoutKind::Salicon);
    let forced = Dataset::discover(
        dir.path(),
        &DiscoverOptions {
            layout: Some(LayoutKind::Seed),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(forced.layout(), LayoutKind::Seed);
    assert_eq!(forced.split(Split::Train)[0].stem, "only");
    assert!(forced.split(Split::Val).is_empty());
}

fn stimuli(root: &Path, n: usize) {
    for i in 0..n {
        write_triple(
            &root.join("stimuli"),
            &root.join("saliency"),
            Some(&root.join("fixations")),
            &format!("i{i:02}"),
            16,
            12,
        );
    }
}

#[test]
fn stimuli_layout_splits_by_seeded_fraction() {
    let dir = tempfile::tempdir().unwrap();
    stimuli(dir.path(), 10);
    let options = DiscoverOptions {
        val_fraction: 0.3,
        split_seed: 5,
        ..Default::default()
    };
    let a = Dataset::discover(dir.path(), &options).unwrap();
    assert_eq!(a.layout(), LayoutKind::Stimuli);
    assert_eq!(
        (a.split(Split::Train).len(), a.split(Split::Val).len()),
        (7, 3)
    );
    let b = Dataset::discover(dir.path(), &options).unwrap();
    assert_eq!(
        a.split(Split::Val),
        b.split(Split::Val),
        "same seed, same split"
    );
    let other = Dataset::discover(
        dir.path(),
        &DiscoverOptions {
            split_seed: 6,
            ..options
        },
    )
    .unwrap();
    assert_ne!(
        a.split(Split::Val),
        other.split(Split::Val),
        "another seed draws another split"
    );
}

#[test]
fn stimuli_layout_splits_by_list_and_mit_suffixes_pair() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    stimuli(root, 4);
    // MIT1003 names maps <stem>_fixMap.jpg: rename one to check the suffix is understood.
    std::fs::rename(
        root.join("saliency/i01.png"),
        root.join("saliency/i01_fixMap.png"),
    )
    .unwrap();
    let list = root.join("val.txt");
    std::fs::write(&list, "# held out\ni01.jpg\ni03\n").unwrap();
    let data = Dataset::discover(
        root,
        &DiscoverOptions {
            val_list: Some(list.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let val: Vec<_> = data
        .split(Split::Val)
        .iter()
        .map(|s| s.stem.as_str())
        .collect();
    assert_eq!(val, ["i01", "i03"]);
    assert_eq!(
        data.split(Split::Val)[0].map.file(),
        Some(root.join("saliency/i01_fixMap.png").as_path())
    );

    std::fs::write(&list, "nope\n").unwrap();
    let err = Dataset::discover(
        root,
        &DiscoverOptions {
            val_list: Some(list),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, DataError::BadValList { .. }), "{err}");
    assert!(err.to_string().contains("'nope'"), "{err}");
}

#[test]
fn stimuli_layout_with_split_folders_and_nested_categories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for split in ["train", "val"] {
        for cat in ["Action", "Art"] {
            write_triple(
                &root.join("stimuli").join(split).join(cat),
                &root.join("saliency").join(split).join(cat),
                None,
                "001",
                16,
                12,
            );
        }
    }
    let data = discover(root).unwrap();
    let train: Vec<_> = data
        .split(Split::Train)
        .iter()
        .map(|s| s.stem.as_str())
        .collect();
    assert_eq!(train, ["Action/001", "Art/001"]);
    assert_eq!(data.split(Split::Val).len(), 2);
}

#[test]
fn unknown_layout_names_what_it_found() {
    let dir = tempfile::tempdir().unwrap();
    mkdir(&dir.path().join("pictures"));
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let err = discover(dir.path()).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DataError::UnknownLayout { .. }));
    let text = err.to_string();
    assert!(
        text.contains("pictures/") && text.contains("notes.txt"),
        "{text}"
    );
}

#[test]
fn empty_image_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    mkdir(&dir.path().join("images/train"));
    mkdir(&dir.path().join("maps/train"));
    let err = discover(dir.path()).unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(err, DataError::EmptyFolder { ref path } if path.ends_with("images/train")),
        "{err}"
    );
}

#[test]
fn missing_map_names_the_image_and_skip_bad_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    salicon(dir.path(), 3, 0, 16, 16);
    std::fs::remove_file(dir.path().join("maps/train/img001.png")).unwrap();
    let err = discover(dir.path()).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DataError::MissingMap { .. }), "{err}");
    assert!(err.to_string().contains("img001.jpg"), "{err}");

    let data = Dataset::discover(
        dir.path(),
        &DiscoverOptions {
            skip_bad: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(data.split(Split::Train).len(), 2);
    assert_eq!(data.skipped().len(), 1);
    assert!(data.skipped()[0].path.ends_with("images/train/img001.jpg"));
    let report = salient_data::describe_skipped(data.skipped(), 5);
    assert!(
        report.starts_with("1 pair(s) skipped") && report.contains("missing map"),
        "{report}"
    );
}

#[test]
fn size_mismatch_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    salicon(dir.path(), 2, 0, 16, 16);
    common::saliency(20, 16)
        .save(dir.path().join("maps/train/img000.png"))
        .unwrap();
    let err = discover(dir.path()).unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(
            err,
            DataError::SizeMismatch {
                image_size: (16, 16),
                other_size: (20, 16),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("maps/train/img000.png"), "{err}");
}

#[test]
fn unreadable_image_header_is_a_decode_error() {
    let dir = tempfile::tempdir().unwrap();
    salicon(dir.path(), 2, 0, 16, 16);
    std::fs::write(
        dir.path().join("images/train/img001.jpg"),
        b"this is not a jpeg",
    )
    .unwrap();
    let err = discover(dir.path()).unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(err, DataError::Decode { ref path, .. } if path.ends_with("img001.jpg")),
        "{err}"
    );
}

#[test]
fn missing_root_and_missing_map_folder_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = discover(&dir.path().join("absent")).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DataError::MissingRoot { .. }), "{err}");
    salicon(dir.path(), 1, 1, 16, 16);
    std::fs::remove_dir_all(dir.path().join("maps/val")).unwrap();
    let err = discover(dir.path()).unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(err, DataError::MissingDir { ref path, .. } if path.ends_with("maps/val")),
        "{err}"
    );
}

#[test]
fn val_only_dataset_can_be_scored_but_not_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    salicon(root, 0, 2, 24, 16);
    assert!(!root.join("images/train").exists());
    let data = discover(root).unwrap();
    assert_eq!(data.split(Split::Val).len(), 2);
    assert_eq!(data.require(Split::Val).unwrap().len(), 2);
    assert!(data.split(Split::Train).is_empty());
    match data.require(Split::Train) {
        Err(DataError::MissingDir { path, .. }) => assert_eq!(path, root.join("images/train")),
        other => panic!("expected a missing train folder, got {other:?}"),
    }

    // With neither split folder there is nothing to use: the train folder is reported.
    std::fs::remove_dir_all(root.join("images/val")).unwrap();
    match discover(root) {
        Err(DataError::MissingDir { path, .. }) => assert_eq!(path, root.join("images/train")),
        other => panic!("expected a missing train folder, got {other:?}"),
    }
}
