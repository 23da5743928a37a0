//! `evaluate_split` with a model as the prediction source: a randomly initialised network
//! (32×32 input, so it runs in a moment) scored on a small split; an unreadable image is an
//! error naming it, or a skipped sample under `skip_bad`.

use candle_core::Device;
use image::{GrayImage, Luma, Rgb, RgbImage};
use salient_data::{FixationSource, MapSource, Sample};
use salient_eval::{evaluate_split, EvalConfig, PredictionSource};
use salient_model::{CheckpointMeta, ModelConfig, SaliencyNet};
use salient_train::{InputSize, Overrides, Predictor};

#[test]
fn a_model_is_scored_at_each_image_size_and_bad_images_are_named_or_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut samples = Vec::new();
    for (k, (w, h)) in [(40u32, 30u32), (24, 36), (32, 32)].into_iter().enumerate() {
        let image = root.join(format!("{k}.png"));
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 6) as u8, (y * 6) as u8, 90]))
            .save(&image)
            .unwrap();
        let map = root.join(format!("{k}_map.png"));
        GrayImage::from_fn(w, h, |x, _| Luma([(x * 6) as u8]))
            .save(&map)
            .unwrap();
        let fix = root.join(format!("{k}_fix.png"));
        let mut points = GrayImage::new(w, h);
        points.put_pixel(w / 2, h / 3, Luma([255]));
        points.save(&fix).unwrap();
        samples.push(Sample {
            stem: k.to_string(),
            image,
            map: MapSource::File(map),
            fixations: Some(FixationSource::Map(fix)),
        });
    }
    let checkpoint = root.join("model.safetensors");
    let net = SaliencyNet::new(ModelConfig::default(), 7, &Device::Cpu).unwrap();
    let mut meta = CheckpointMeta::new();
    meta.set_input_size(32, 32).set_normalize("imagenet");
    net.save_checkpoint(&checkpoint, &meta).unwrap();
    let predictor = Predictor::load(&checkpoint, Overrides::default(), &Device::Cpu).unwrap();
    assert_eq!(
        predictor.size(),
        InputSize {
            height: 32,
            width: 32
        }
    );
    let source = |batch_size| PredictionSource::Model {
        predictor: &predictor,
        batch_size,
    };

    let outcome = evaluate_split(&samples, source(2), &EvalConfig::default(), |_| {}).unwrap();
    assert_eq!(outcome.report.images(), 3);
    for summary in &outcome.report.summaries {
        assert!(summary.mean.is_finite(), "{summary:?}");
    }

    std::fs::write(&samples[1].image, b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let err = evaluate_split(&samples, source(2), &EvalConfig::default(), |_| {}).unwrap_err();
    assert_eq!(err.bad_file(), Some(samples[1].image.as_path()));
    let config = EvalConfig {
        skip_bad: true,
        ..EvalConfig::default()
    };
    let outcome = evaluate_split(&samples, source(2), &config, |_| {}).unwrap();
    assert_eq!(outcome.report.images(), 2);
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].path, samples[1].image);
}
