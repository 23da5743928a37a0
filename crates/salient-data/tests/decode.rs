//! Every colour model decodes to RGB8 / unit floats; truncated and corrupt files are errors.

mod common;

use std::path::Path;

use image::{ImageBuffer, Luma, LumaA, Rgba};
use salient_data::{load_fixations, load_map, load_rgb8, DataError};

#[test]
fn grey_png_becomes_rgb_with_equal_channels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.png");
    ImageBuffer::from_fn(5, 3, |x, _| Luma([x as u8 * 50]))
        .save(&path)
        .unwrap();
    let rgb = load_rgb8(&path).unwrap();
    assert_eq!(rgb.dimensions(), (5, 3));
    assert_eq!(rgb.get_pixel(4, 1).0, [200, 200, 200]);
}

#[test]
fn rgba_drops_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    ImageBuffer::from_fn(4, 4, |x, _| Rgba([10, 20 * x as u8, 30, 0]))
        .save(&path)
        .unwrap();
    let rgb = load_rgb8(&path).unwrap();
    assert_eq!(rgb.get_pixel(3, 0).0, [10, 60, 30]);
}

#[test]
fn sixteen_bit_png_image_and_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.png");
    ImageBuffer::from_fn(3, 2, |x, _| Luma([[0u16, 32768, 65535][x as usize]]))
        .save(&path)
        .unwrap();
    let rgb = load_rgb8(&path).unwrap();
    assert_eq!(rgb.get_pixel(1, 0).0[0], 128);
    assert_eq!(rgb.get_pixel(2, 1).0, [255, 255, 255]);
    let map = load_map(&path).unwrap();
    assert_eq!((map.width, map.height), (3, 2));
    assert_eq!(map.data[0], 0.0);
    assert!((map.data[1] - 0.5).abs() < 1e-4);
    assert_eq!(map.data[2], 1.0);
}

#[test]
fn grey_alpha_map_uses_grey() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("la.png");
    ImageBuffer::from_fn(2, 1, |x, _| LumaA([x as u8 * 255, 7]))
        .save(&path)
        .unwrap();
    assert_eq!(load_map(&path).unwrap().data, vec![0.0, 1.0]);
}

#[test]
fn cmyk_jpeg_converts_to_rgb() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cmyk.jpg");
    let rgb = load_rgb8(&path).unwrap();
    assert_eq!(rgb.dimensions(), (16, 8));
    let close = |a: [u8; 3], b: [u8; 3]| {
        a.iter()
            .zip(b)
            .all(|(&x, y)| (x as i32 - y as i32).abs() <= 16)
    };
    // Left half is red ink-wise, right half blue (PIL reads them as (255,0,0) and (0,0,255)).
    assert!(
        close(rgb.get_pixel(3, 4).0, [255, 0, 0]),
        "{:?}",
        rgb.get_pixel(3, 4)
    );
    assert!(
        close(rgb.get_pixel(12, 4).0, [0, 0, 255]),
        "{:?}",
        rgb.get_pixel(12, 4)
    );
}

#[test]
fn fixations_are_binary_with_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.png");
    let mut g = image::GrayImage::new(6, 4);
    g.put_pixel(5, 1, Luma([1]));
    g.put_pixel(2, 3, Luma([255]));
    g.save(&path).unwrap();
    let fix = load_fixations(&path).unwrap();
    assert_eq!(fix.points(), vec![(1, 5), (3, 2)]);
    assert_eq!(fix.count(), 2);
    assert!(fix.data.iter().all(|&v| v <= 1));
}

#[test]
fn truncated_jpeg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jpg");
    common::save_jpeg(&common::picture(64, 48, 9), &path);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_rgb8(&path).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DataError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn truncated_png_and_empty_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.png");
    common::saliency(64, 48).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_map(&path).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, DataError::Decode { .. }), "{err}");
    std::fs::write(&path, b"").unwrap();
    assert!(load_map(&path).unwrap_err().to_string().contains("empty"));
    let missing = load_map(&dir.path().join("none.png")).unwrap_err();
    eprintln!("{missing}");
    assert!(matches!(missing, DataError::Io { .. }), "{missing}");
}
