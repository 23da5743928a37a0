//! The overlay equals OpenCV's, byte for byte (fixture: scripts/colormap/make_fixture.py).

use image::{GrayImage, RgbImage};
use salient_train::overlay::{blend, jet_lut, overlay, side_by_side};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/opencv_jet.json");
    serde_json::from_str(text).unwrap()
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect()
}

#[test]
fn jet_table_equals_opencv() {
    let f = fixture();
    let expected: Vec<[u8; 3]> = f["jet_rgb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.as_array().unwrap();
            [0, 1, 2].map(|c| e[c].as_u64().unwrap() as u8)
        })
        .collect();
    for (i, (ours, theirs)) in jet_lut().iter().zip(&expected).enumerate() {
        assert_eq!(ours, theirs, "JET entry {i}");
    }
}

#[test]
fn blend_equals_add_weighted() {
    let f = fixture();
    let (a, b, want) = (
        bytes(&f, "blend_a"),
        bytes(&f, "blend_b"),
        bytes(&f, "blend_0p7_0p3"),
    );
    for i in 0..a.len() {
        assert_eq!(
            blend(a[i], b[i]),
            want[i],
            "addWeighted({}, {})",
            a[i],
            b[i]
        );
    }
}

#[test]
fn overlay_equals_opencv_end_to_end() {
    let f = fixture();
    let (h, w) = (
        f["overlay_height"].as_u64().unwrap() as u32,
        f["overlay_width"].as_u64().unwrap() as u32,
    );
    let image = RgbImage::from_raw(w, h, bytes(&f, "overlay_image")).unwrap();
    let map = GrayImage::from_raw(w, h, bytes(&f, "overlay_map")).unwrap();
    let out = overlay(&image, &map);
    assert_eq!(out.into_raw(), bytes(&f, "overlay_rgb"));
    let strip = side_by_side(&[&image, &image]);
    assert_eq!(strip.dimensions(), (2 * w, h));
    assert_eq!(strip.get_pixel(w, 0), image.get_pixel(0, 0));
}
