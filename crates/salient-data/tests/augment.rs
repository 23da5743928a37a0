//! Pipelines as data: TOML and compact forms, presets, validation, and joint geometry.

use salient_data::{apply_pipeline, sample_rng, Frame, Normalize, Op, Pipeline};

#[derive(serde::Deserialize)]
struct Config {
    pipeline: Pipeline,
    normalize: Normalize,
}

#[test]
fn toml_pipeline_with_defaults() {
    let text = r#"
normalize = "unit"
[[pipeline]]
op = "resize"
[[pipeline]]
op = "random_sized_crop"
p = 0.25
[[pipeline]]
op = "rotate"
"#;
    let config: Config = toml::from_str(text).unwrap();
    assert_eq!(config.normalize, Normalize::Unit);
    assert_eq!(
        config.pipeline.ops,
        vec![
            Op::Resize,
            Op::RandomSizedCrop {
                min_scale: 0.9375,
                max_scale: 1.0,
                p: 0.25
            },
            Op::Rotate {
                limit: 10.0,
                p: 0.6
            }
        ]
    );
    let bad = "normalize = \"unit\"\n[[pipeline]]\nop = \"rotate\"\nangle = 3\n";
    assert!(
        toml::from_str::<Config>(bad).is_err(),
        "unknown fields are refused"
    );
}

#[test]
fn presets_and_compact_form() {
    assert_eq!(
        Pipeline::seed_train().to_string(),
        "resize,random_sized_crop:0.4,horizontal_flip:0.5,rotate:0.6"
    );
    assert_eq!("train".parse::<Pipeline>().unwrap(), Pipeline::seed_train());
    assert_eq!("val".parse::<Pipeline>().unwrap().ops, vec![Op::Resize]);
    let p: Pipeline = "resize, hflip:1".parse().unwrap();
    assert_eq!(p.ops, vec![Op::Resize, Op::HorizontalFlip { p: 1.0 }]);
    assert!("resize,spin"
        .parse::<Pipeline>()
        .unwrap_err()
        .to_string()
        .contains("'spin'"));
    assert!("rotate"
        .parse::<Pipeline>()
        .unwrap_err()
        .to_string()
        .contains("start with resize"));
    assert!("resize,rotate:2".parse::<Pipeline>().is_err());
    assert_eq!("unit".parse::<Normalize>().unwrap(), Normalize::Unit);
    assert_eq!(Normalize::default(), Normalize::Imagenet);
    assert!("imagenet2".parse::<Normalize>().is_err());
}

/// An image whose red channel, map and fixations all mark the same pixel: after any geometry the
/// three must still agree.
fn marked_frame(w: usize, h: usize, x: usize, y: usize) -> Frame {
    let mut rgb = vec![0u8; w * h * 3];
    let mut map = vec![0f32; w * h];
    for dy in 0..3 {
        for dx in 0..3 {
            rgb[((y + dy - 1) * w + x + dx - 1) * 3] = 255;
            map[(y + dy - 1) * w + x + dx - 1] = 1.0;
        }
    }
    Frame {
        width: w,
        height: h,
        rgb,
        map,
        fixations: Some(vec![(x as f32, y as f32)]),
    }
}

#[test]
fn one_geometry_for_image_map_and_fixations() {
    let pipeline = Pipeline {
        ops: vec![
            Op::Resize,
            Op::HorizontalFlip { p: 1.0 },
            Op::Rotate {
                limit: 10.0,
                p: 1.0,
            },
        ],
    };
    for index in 0..8 {
        let frame = marked_frame(60, 40, 20, 12);
        let out = apply_pipeline(&pipeline, frame, 40, 60, &mut sample_rng(1, 0, index));
        let centroid = |v: &[f32]| {
            let total: f32 = v.iter().sum();
            let x = v
                .iter()
                .enumerate()
                .map(|(i, &w)| w * (i % 60) as f32)
                .sum::<f32>()
                / total;
            let y = v
                .iter()
                .enumerate()
                .map(|(i, &w)| w * (i / 60) as f32)
                .sum::<f32>()
                / total;
            (x, y)
        };
        let red: Vec<f32> = out.rgb.chunks(3).map(|p| p[0] as f32).collect();
        let mut raster = vec![0f32; 60 * 40];
        out.fixation_raster(&mut raster);
        let (map, image, fix) = (centroid(&out.map), centroid(&red), centroid(&raster));
        let near =
            |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).abs() <= 0.75 && (a.1 - b.1).abs() <= 0.75;
        assert!(near(map, image), "map {map:?} vs image {image:?}");
        assert!(near(map, fix), "map {map:?} vs fixation {fix:?}");
        let at = |(x, y): (f32, f32)| (x.round() as i32, y.round() as i32);
        assert!(at(fix).0 > 30, "flipped to the right half");
    }
}

#[test]
fn crop_and_resize_keep_fixations_binary_and_points_inside() {
    let pipeline = Pipeline::seed_train();
    for index in 0..20 {
        let frame = marked_frame(50, 50, 25, 25);
        let out = apply_pipeline(&pipeline, frame, 32, 32, &mut sample_rng(9, 2, index));
        assert_eq!(
            (out.width, out.height, out.rgb.len(), out.map.len()),
            (32, 32, 32 * 32 * 3, 32 * 32)
        );
        let mut raster = vec![0f32; 32 * 32];
        out.fixation_raster(&mut raster);
        assert_eq!(
            raster.iter().filter(|&&v| v == 1.0).count(),
            1,
            "the centre fixation survives once"
        );
    }
}

#[test]
fn sample_rng_depends_on_every_key_part() {
    use rand::Rng;
    let draw = |s, e, i| sample_rng(s, e, i).random::<u64>();
    assert_eq!(draw(1, 2, 3), draw(1, 2, 3));
    assert_ne!(draw(1, 2, 3), draw(1, 2, 4));
    assert_ne!(draw(1, 2, 3), draw(1, 3, 3));
    assert_ne!(draw(1, 2, 3), draw(2, 2, 3));
}

#[test]
fn source_path_matches_frame_path() {
    use salient_data::{apply_pipeline_to_source, MapPixels, Source};
    let (w, h) = (37, 29);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 31) % 253) as u8).collect();
    let bytes: Vec<u8> = (0..w * h).map(|i| ((i * 7) % 256) as u8).collect();
    let source = Source {
        width: w,
        height: h,
        rgb: rgb.clone(),
        map: MapPixels::U8(bytes.clone()),
        fixations: None,
    };
    let frame = Frame {
        width: w,
        height: h,
        rgb,
        map: bytes.iter().map(|&b| b as f32 / 255.0).collect(),
        fixations: None,
    };
    for index in 0..6 {
        let a = apply_pipeline_to_source(
            &Pipeline::seed_train(),
            &source,
            16,
            20,
            &mut sample_rng(4, 1, index),
        );
        let b = apply_pipeline(
            &Pipeline::seed_train(),
            frame.clone(),
            16,
            20,
            &mut sample_rng(4, 1, index),
        );
        assert_eq!(a.rgb, b.rgb);
        assert!(a.map.iter().zip(&b.map).all(|(x, y)| (x - y).abs() < 1e-5));
    }
}
