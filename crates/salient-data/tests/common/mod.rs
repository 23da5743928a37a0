//! Helpers that write tiny datasets for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};

/// A `w x h` RGB picture with a gradient and a bright square.
pub fn picture(w: u32, h: u32, tint: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let inside = x > w / 4 && x < w / 2 && y > h / 4 && y < h / 2;
        if inside {
            Rgb([250, 240, tint])
        } else {
            Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, tint / 2])
        }
    })
}

/// A map with a bump at the bright square.
pub fn saliency(w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - w as f32 * 0.375, y as f32 - h as f32 * 0.375);
        Luma([(255.0 * (-(dx * dx + dy * dy) / (0.02 * (w * w) as f32)).exp()) as u8])
    })
}

/// A fixation map with a handful of points.
pub fn fixations(w: u32, h: u32) -> GrayImage {
    let mut g = GrayImage::new(w, h);
    for (x, y) in [
        (w / 3, h / 3),
        (w / 3 + 1, h / 3),
        (w / 2, h / 2),
        (1, 1),
        (w - 2, h - 2),
    ] {
        g.put_pixel(x, y, Luma([255]));
    }
    g
}

/// Writes `image` as a JPEG (libjpeg-turbo, quality 90, 4:2:0): the `image` crate is built
/// without its JPEG codec.
pub fn save_jpeg(image: &RgbImage, path: &Path) {
    let bytes =
        salient_data::jpeg::encode(image.as_raw(), image.width(), image.height(), 3, 90).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub fn mkdir(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    path.to_path_buf()
}

/// Writes `<image_dir>/<stem>.jpg`, `<map_dir>/<stem>.png` and, if given, `<fix_dir>/<stem>.png`.
pub fn write_triple(
    image_dir: &Path,
    map_dir: &Path,
    fix_dir: Option<&Path>,
    stem: &str,
    w: u32,
    h: u32,
) {
    mkdir(image_dir);
    mkdir(map_dir);
    save_jpeg(
        &picture(w, h, stem.len() as u8 * 20),
        &image_dir.join(format!("{stem}.jpg")),
    );
    saliency(w, h)
        .save(map_dir.join(format!("{stem}.png")))
        .unwrap();
    if let Some(fix_dir) = fix_dir {
        mkdir(fix_dir);
        fixations(w, h)
            .save(fix_dir.join(format!("{stem}.png")))
            .unwrap();
    }
}

/// SALICON layout with `n_train` / `n_val` samples of `w x h`, with fixations.
pub fn salicon(root: &Path, n_train: usize, n_val: usize, w: u32, h: u32) {
    for (split, n) in [("train", n_train), ("val", n_val)] {
        for i in 0..n {
            write_triple(
                &root.join("images").join(split),
                &root.join("maps").join(split),
                Some(&root.join("fixations").join(split)),
                &format!("img{i:03}"),
                w,
                h,
            );
        }
    }
}
