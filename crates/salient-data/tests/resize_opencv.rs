//! Resizing and rotation agree with OpenCV (cv2.resize INTER_LINEAR; cv2.warpAffine with the
//! albumentations rotation matrix, INTER_LINEAR, BORDER_REFLECT_101) to within one grey level.
//!
//! How it was checked: `scripts/resize/make_fixture.py` ran OpenCV 5.0.0 on small noisy images at
//! up/down and non-integer ratios (and an exact halving, where OpenCV switches to INTER_AREA) and
//! stored inputs and outputs in `tests/fixtures/opencv_linear.bin`; this test recomputes them.

use std::path::Path;

use salient_data::resize::{resize_u8, View};
use salient_data::warp::{invert, rotation_about_centre, warp_u8};

struct Case {
    rotate: bool,
    src: (usize, usize, usize),
    dst: (usize, usize),
    angle: f32,
    input: Vec<u8>,
    expected: Vec<u8>,
}

fn read_cases() -> Vec<Case> {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opencv_linear.bin"),
    )
    .unwrap();
    assert_eq!(&bytes[..4], b"OCV1");
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let count = u32_at(4);
    let mut at = 8;
    let mut cases = Vec::new();
    for _ in 0..count {
        let rotate = bytes[at] == 1;
        let (sw, sh, cn, dw, dh) = (
            u32_at(at + 1),
            u32_at(at + 5),
            u32_at(at + 9),
            u32_at(at + 13),
            u32_at(at + 17),
        );
        let angle = f32::from_le_bytes(bytes[at + 21..at + 25].try_into().unwrap());
        at += 25;
        let input = bytes[at..at + sw * sh * cn].to_vec();
        at += sw * sh * cn;
        let expected = bytes[at..at + dw * dh * cn].to_vec();
        at += dw * dh * cn;
        cases.push(Case {
            rotate,
            src: (sw, sh, cn),
            dst: (dw, dh),
            angle,
            input,
            expected,
        });
    }
    assert_eq!(at, bytes.len());
    cases
}

#[test]
fn matches_opencv_within_one_grey_level() {
    let cases = read_cases();
    assert!(cases.iter().filter(|c| !c.rotate).count() >= 6 && cases.iter().any(|c| c.rotate));
    for case in cases {
        let (sw, sh, cn) = case.src;
        let (dw, dh) = case.dst;
        let mut out = vec![0u8; dw * dh * cn];
        let view = View::full(&case.input, sw, sh, cn);
        if case.rotate {
            let inverse = invert(&rotation_about_centre(case.angle as f64, sw, sh));
            warp_u8(view, &mut out, dw, dh, &inverse);
        } else {
            resize_u8(view, &mut out, dw, dh);
        }
        let diffs: Vec<i32> = out
            .iter()
            .zip(&case.expected)
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .collect();
        let max = diffs.iter().copied().max().unwrap();
        let exact = diffs.iter().filter(|&&d| d == 0).count() as f64 / diffs.len() as f64;
        let what = if case.rotate {
            format!("rotate {}°", case.angle)
        } else {
            "resize".into()
        };
        eprintln!(
            "{what} {sw}x{sh}x{cn} -> {dw}x{dh}: max diff {max}, {:.1}% exact",
            exact * 100.0
        );
        assert!(
            max <= 1,
            "{what} {sw}x{sh}x{cn} -> {dw}x{dh}: max diff {max}"
        );
    }
}
