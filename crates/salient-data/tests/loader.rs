//! The loader: shapes, determinism across thread counts, binary fixations, errors and skip_bad.

mod common;

use salient_data::{
    Batch, DataError, Dataset, DiscoverOptions, Loader, LoaderConfig, Normalize, Split,
};

fn config(threads: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size: 3,
        height: 24,
        width: 32,
        seed: 11,
        threads,
        with_fixations: true,
        ..Default::default()
    }
}

fn all_batches(loader: &Loader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).collect::<Result<Vec<_>, _>>().unwrap()
}

fn dataset(n: usize) -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    common::salicon(dir.path(), n, 1, 40, 30);
    let data = Dataset::discover(dir.path(), &DiscoverOptions::default()).unwrap();
    (dir, data)
}

#[test]
fn batches_are_nchw_and_drop_last() {
    let (_dir, data) = dataset(7);
    let loader = Loader::new(data.split(Split::Train), config(2)).unwrap();
    assert_eq!(loader.batches_per_epoch(), 2);
    let batches = all_batches(&loader, 0);
    assert_eq!(batches.len(), 2);
    for b in &batches {
        assert_eq!((b.n, b.height, b.width), (3, 24, 32));
        assert_eq!(b.images.len(), 3 * 3 * 24 * 32);
        assert_eq!(b.maps.len(), 3 * 24 * 32);
        assert_eq!(b.stems.len(), 3);
        assert!(b.maps.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let keep_last = Loader::new(
        data.split(Split::Train),
        LoaderConfig {
            drop_last: false,
            ..config(1)
        },
    )
    .unwrap();
    let sizes: Vec<usize> = all_batches(&keep_last, 0).iter().map(|b| b.n).collect();
    assert_eq!(sizes, [3, 3, 1]);
}

#[test]
fn byte_identical_across_thread_counts_and_different_across_epochs() {
    let (_dir, data) = dataset(6);
    let one = all_batches(
        &Loader::new(data.split(Split::Train), config(1)).unwrap(),
        3,
    );
    let two = all_batches(
        &Loader::new(data.split(Split::Train), config(2)).unwrap(),
        3,
    );
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.stems, b.stems);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.images), bits(&b.images));
        assert_eq!(bits(&a.maps), bits(&b.maps));
        assert_eq!(a.fixations, b.fixations);
    }
    let other_epoch = all_batches(
        &Loader::new(data.split(Split::Train), config(2)).unwrap(),
        4,
    );
    assert_ne!(
        one[0].images, other_epoch[0].images,
        "epochs draw different augmentations/orders"
    );
}

#[test]
fn fixations_stay_binary_through_augmentation() {
    let (_dir, data) = dataset(6);
    let loader = Loader::new(data.split(Split::Train), config(2)).unwrap();
    let mut total = 0.0;
    for epoch in 0..3 {
        for batch in all_batches(&loader, epoch) {
            let fix = batch.fixations.expect("fixations requested");
            assert!(fix.iter().all(|&v| v == 0.0 || v == 1.0));
            total += fix.iter().sum::<f32>();
        }
    }
    assert!(total > 0.0, "some fixations survive");
}

#[test]
fn eval_config_keeps_order_and_every_sample_and_normalises() {
    let (_dir, data) = dataset(5);
    let cfg = LoaderConfig {
        normalize: Normalize::Unit,
        ..LoaderConfig::eval(24, 32, 2)
    };
    let loader = Loader::new(data.split(Split::Train), cfg).unwrap();
    let batches = all_batches(&loader, 0);
    let stems: Vec<String> = batches.iter().flat_map(|b| b.stems.clone()).collect();
    assert_eq!(stems, ["img000", "img001", "img002", "img003", "img004"]);
    assert!(batches[0].images.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(batches[0].fixations.is_none());
}

#[test]
fn truncated_image_fails_the_epoch_or_is_skipped() {
    let (dir, data) = dataset(6);
    let bad = dir.path().join("images/train/img002.jpg");
    let bytes = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() - 40]).unwrap();
    let cfg = LoaderConfig {
        shuffle: false,
        ..config(2)
    };
    let results: Vec<_> = Loader::new(data.split(Split::Train), cfg.clone())
        .unwrap()
        .epoch(0)
        .collect();
    let err = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("an error");
    assert!(
        matches!(err, DataError::Decode { path, .. } if path == &bad),
        "{err}"
    );
    assert!(results.last().unwrap().is_err(), "the error ends the epoch");

    let loader = Loader::new(
        data.split(Split::Train),
        LoaderConfig {
            skip_bad: true,
            ..cfg
        },
    )
    .unwrap();
    let sizes: Vec<usize> = all_batches(&loader, 0).iter().map(|b| b.n).collect();
    assert_eq!(sizes, [2, 3]);
    let skipped = loader.skipped();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].path, bad);
}

#[test]
fn bad_configs_are_errors() {
    let (_dir, data) = dataset(2);
    let samples = data.split(Split::Train);
    assert!(Loader::new(
        samples,
        LoaderConfig {
            batch_size: 0,
            ..config(1)
        }
    )
    .is_err());
    let no_resize = LoaderConfig {
        pipeline: "horizontal_flip".parse().unwrap_or_default(),
        ..config(1)
    };
    let mut no_resize = no_resize;
    no_resize.pipeline.ops.remove(0);
    assert!(matches!(
        Loader::new(samples, no_resize),
        Err(DataError::Config(_))
    ));
    let mut missing = samples.to_vec();
    missing[0].fixations = None;
    assert!(matches!(
        Loader::new(&missing, config(1)),
        Err(DataError::MissingFixations { .. })
    ));
}

#[test]
fn prepare_image_resizes_and_normalises() {
    let image = common::picture(40, 30, 100);
    let chw = salient_data::prepare_image(&image, (12, 16), Normalize::Imagenet);
    assert_eq!(chw.len(), 3 * 12 * 16);
    let resized = salient_data::resize_rgb8(&image, 16, 12);
    let red = resized.get_pixel(5, 7).0[0] as f32 / 255.0;
    assert!((chw[7 * 16 + 5] - (red - 0.485) / 0.229).abs() < 1e-5);
}
