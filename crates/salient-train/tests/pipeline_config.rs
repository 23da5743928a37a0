//! The config's `pipeline` and `val_pipeline` reach the loaders that training reads: the same
//! dataset loaded with and without an always-applied horizontal flip gives mirrored batches, in
//! the training and in the validation split.

mod common;

use salient_data::Pipeline;
use salient_train::source::{dataset_sources, BatchSource, HostBatch};
use salient_train::TrainConfig;

const SIDE: usize = 64;

/// The first batch of epoch 0 of the training and the validation loaders `cfg` builds.
fn first_batches(cfg: &TrainConfig) -> (HostBatch, HostBatch) {
    let sources = dataset_sources(cfg).unwrap();
    let first = |source: &dyn BatchSource| source.epoch(0, 0).unwrap().next().unwrap().unwrap();
    let val = sources
        .val
        .as_ref()
        .expect("the synthetic set has a validation split");
    (first(&sources.train), first(val))
}

/// `values` as `width`-wide rows (every plane of every image), each row reversed.
fn mirrored(values: &[f32], width: usize) -> Vec<f32> {
    values
        .chunks(width)
        .flat_map(|row| row.iter().rev().copied())
        .collect()
}

fn assert_mirrored(plain: &HostBatch, flipped: &HostBatch, what: &str) {
    assert_eq!((plain.n, plain.width), (flipped.n, flipped.width), "{what}");
    assert!(
        plain.images != flipped.images,
        "{what}: the flipped pipeline left the images as they were"
    );
    assert!(
        mirrored(&plain.images, plain.width) == flipped.images,
        "{what}: images are not the mirror of the resize-only pipeline's"
    );
    assert!(
        mirrored(&plain.maps, plain.width) == flipped.maps,
        "{what}: maps are not the mirror of the resize-only pipeline's"
    );
}

#[test]
fn train_and_val_pipelines_from_the_config_reach_the_loaders() {
    let dir = tempfile::tempdir().unwrap();
    common::synth(dir.path(), 8, 4, SIDE, 3);
    let with = |train: &str, val: &str| TrainConfig {
        batch_size: 2,
        pipeline: train.parse::<Pipeline>().unwrap(),
        val_pipeline: val.parse::<Pipeline>().unwrap(),
        ..common::config(dir.path(), SIDE)
    };
    let (train_plain, val_plain) = first_batches(&with("resize", "resize"));
    let (train_flipped, val_flipped) = first_batches(&with(
        "resize,horizontal_flip:1",
        "resize,horizontal_flip:1",
    ));
    assert_mirrored(&train_plain, &train_flipped, "training split");
    assert_mirrored(&val_plain, &val_flipped, "validation split");

    // And each pipeline reaches its own split only.
    let (train_only, val_untouched) = first_batches(&with("resize,horizontal_flip:1", "resize"));
    assert_mirrored(
        &train_plain,
        &train_only,
        "training split, train pipeline flipped",
    );
    assert!(
        val_untouched.images == val_plain.images,
        "the training pipeline leaked into validation"
    );
}
