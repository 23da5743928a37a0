//! Synthetic saliency data: scenes of a few bright, distinct objects on muted textured
//! backgrounds, fixations drawn around the objects (more on bigger ones), and maps made the way
//! the real datasets make them — the fixation raster blurred with a Gaussian and scaled to a
//! maximum of 255. Written in the SALICON layout; deterministic in the seed; no downloads.

use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::DataError;

/// What to generate. `Default`: 64 train and 16 val scenes of 256x192, seed 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthOptions {
    pub train: usize,
    pub val: usize,
    pub width: usize,
    pub height: usize,
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            train: 64,
            val: 16,
            width: 256,
            height: 192,
            seed: 0,
        }
    }
}

/// One generated scene.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub image: RgbImage,
    /// Blurred fixation density scaled to max 255.
    pub map: GrayImage,
    /// 255 where a fixation landed, else 0.
    pub fixations: GrayImage,
}

/// Counts of what [`write_synthetic`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSummary {
    pub train: usize,
    pub val: usize,
    pub fixations: usize,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Disc,
    Square,
    Diamond,
    Ring,
}

#[derive(Debug, Clone, Copy)]
struct Object {
    cx: f32,
    cy: f32,
    radius: f32,
    shape: Shape,
    colour: [f32; 3],
    striped: bool,
}

impl Object {
    /// Whether pixel centre `(x, y)` is inside the shape.
    fn covers(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = ((x - self.cx) / self.radius, (y - self.cy) / self.radius);
        match self.shape {
            Shape::Disc => dx * dx + dy * dy <= 1.0,
            Shape::Square => dx.abs() <= 0.85 && dy.abs() <= 0.85,
            Shape::Diamond => dx.abs() + dy.abs() <= 1.1,
            Shape::Ring => (0.3..=1.0).contains(&(dx * dx + dy * dy)),
        }
    }
}

/// Fully saturated, bright colour of hue `h` in `[0, 1)`.
fn bright_colour(hue: f32) -> [f32; 3] {
    let sector = hue * 6.0;
    let f = sector.fract();
    let (hi, lo) = (255.0, 40.0);
    let mid_up = lo + (hi - lo) * f;
    let mid_down = hi - (hi - lo) * f;
    match sector as usize % 6 {
        0 => [hi, mid_up, lo],
        1 => [mid_down, hi, lo],
        2 => [lo, hi, mid_up],
        3 => [lo, mid_down, hi],
        4 => [mid_up, lo, hi],
        _ => [hi, lo, mid_down],
    }
}

/// Generates one scene from its own RNG.
pub fn synth_scene(width: usize, height: usize, rng: &mut ChaCha8Rng) -> Scene {
    let (w, h) = (width as f32, height as f32);
    let short = w.min(h);
    // Muted background: two dark colours blended along a random direction, with faint stripes.
    let base: [[f32; 3]; 2] =
        std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(25.0..105.0)));
    let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let (dir_x, dir_y) = (angle.cos(), angle.sin());
    let stripe_period: f32 = rng.random_range(6.0..20.0);
    let stripe_amp: f32 = rng.random_range(0.0..10.0);

    let count = rng.random_range(1..=3usize);
    let mut objects: Vec<Object> = Vec::with_capacity(count);
    for _ in 0..count {
        for _attempt in 0..20 {
            let radius = rng.random_range(0.08..0.17) * short;
            let cx = rng.random_range(radius..w - radius);
            let cy = rng.random_range(radius..h - radius);
            let shape =
                [Shape::Disc, Shape::Square, Shape::Diamond, Shape::Ring][rng.random_range(0..4)];
            let colour = bright_colour(rng.random());
            let striped = rng.random_bool(0.3);
            let clear = objects.iter().all(|o| {
                ((o.cx - cx).powi(2) + (o.cy - cy).powi(2)).sqrt() > o.radius + radius + 4.0
            });
            if clear {
                objects.push(Object {
                    cx,
                    cy,
                    radius,
                    shape,
                    colour,
                    striped,
                });
                break;
            }
        }
    }

    let mut image = RgbImage::new(width as u32, height as u32);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32, y as f32);
        let t = ((fx / w - 0.5) * dir_x + (fy / h - 0.5) * dir_y + 0.5).clamp(0.0, 1.0);
        let stripe = stripe_amp * ((fx * dir_y - fy * dir_x) / stripe_period).sin();
        let mut colour: [f32; 3] =
            std::array::from_fn(|c| base[0][c] * (1.0 - t) + base[1][c] * t + stripe);
        for object in objects.iter().filter(|o| o.covers(fx, fy)) {
            let band =
                object.striped && ((fx + fy) / (0.25 * object.radius)).floor() as i64 % 2 == 0;
            colour = if band {
                [250.0, 250.0, 250.0]
            } else {
                object.colour
            };
        }
        pixel.0 = colour.map(|v| v.round().clamp(0.0, 255.0) as u8);
    }

    // Fixations: a cluster per object, its size growing with the object; a rare stray one.
    let mut raster = vec![0f32; width * height];
    let mut fixations = GrayImage::new(width as u32, height as u32);
    let mut add = |x: f32, y: f32| {
        let (px, py) = (
            x.round().clamp(0.0, w - 1.0) as usize,
            y.round().clamp(0.0, h - 1.0) as usize,
        );
        raster[py * width + px] += 1.0;
        fixations.put_pixel(px as u32, py as u32, image::Luma([255]));
    };
    for object in &objects {
        let n = (40.0 * object.radius / (0.12 * short)).round() as usize;
        for _ in 0..n {
            let (gx, gy) = gaussian_pair(rng);
            add(
                object.cx + gx * 0.45 * object.radius,
                object.cy + gy * 0.45 * object.radius,
            );
        }
    }
    if rng.random_bool(0.3) {
        add(rng.random_range(0.0..w), rng.random_range(0.0..h));
    }
    let blurred = gaussian_blur(&raster, width, height, 0.035 * w);
    let peak = blurred
        .iter()
        .cloned()
        .fold(0.0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    let map = GrayImage::from_raw(
        width as u32,
        height as u32,
        blurred
            .iter()
            .map(|v| (255.0 * v / peak).round() as u8)
            .collect(),
    )
    .expect("buffer sized for the map");
    Scene {
        image,
        map,
        fixations,
    }
}

/// Two independent standard normal draws (Box-Muller).
fn gaussian_pair(rng: &mut ChaCha8Rng) -> (f32, f32) {
    let u: f32 = rng.random_range(f32::EPSILON..1.0);
    let v: f32 = rng.random();
    let r = (-2.0 * u.ln()).sqrt();
    let (s, c) = (std::f32::consts::TAU * v).sin_cos();
    (r * c, r * s)
}

/// Separable Gaussian blur with edge clamping, kernel radius 3 sigma.
fn gaussian_blur(data: &[f32], width: usize, height: usize, sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let pass = |src: &[f32], along_x: bool| -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        for y in 0..height {
            for x in 0..width {
                let mut sum = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let offset = k as isize - radius;
                    let (sx, sy) = if along_x {
                        (
                            (x as isize + offset).clamp(0, width as isize - 1) as usize,
                            y,
                        )
                    } else {
                        (
                            x,
                            (y as isize + offset).clamp(0, height as isize - 1) as usize,
                        )
                    };
                    sum += weight * src[sy * width + sx];
                }
                out[y * width + x] = sum;
            }
        }
        out
    };
    pass(&pass(data, true), false)
}

/// The RNG of scene `index` of `split` (0 train, 1 val).
fn scene_rng(seed: u64, split: u64, index: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (split << 40) ^ index as u64,
    )
}

/// Writes `images/`, `maps/` and `fixations/` (each with `train/` and `val/`) under `out`:
/// JPEG images (libjpeg-turbo, quality 95, 4:2:2 chroma), PNG maps, binary PNG fixation maps, stems `synth_<split>_<index>`.
pub fn write_synthetic(out: &Path, options: &SynthOptions) -> Result<SynthSummary, DataError> {
    if options.width < 16 || options.height < 16 || options.train == 0 {
        return Err(DataError::Config(format!(
            "synthetic data needs at least one train scene of at least 16x16, got {} train of {}x{}",
            options.train, options.width, options.height
        )));
    }
    let mut fixations = 0;
    for (split_id, split, count) in [(0u64, "train", options.train), (1, "val", options.val)] {
        let dirs: Vec<PathBuf> = ["images", "maps", "fixations"]
            .iter()
            .map(|d| out.join(d).join(split))
            .collect();
        for dir in &dirs {
            std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        }
        let counts: Vec<usize> = (0..count)
            .into_par_iter()
            .map(|i| {
                let scene = synth_scene(
                    options.width,
                    options.height,
                    &mut scene_rng(options.seed, split_id, i),
                );
                let stem = format!("synth_{split}_{i:06}");
                write_jpeg(&dirs[0].join(format!("{stem}.jpg")), &scene.image)?;
                write_png(&dirs[1].join(format!("{stem}.png")), &scene.map)?;
                write_png(&dirs[2].join(format!("{stem}.png")), &scene.fixations)?;
                Ok(scene.fixations.pixels().filter(|p| p.0[0] != 0).count())
            })
            .collect::<Result<_, DataError>>()?;
        fixations += counts.iter().sum::<usize>();
    }
    Ok(SynthSummary {
        train: options.train,
        val: options.val,
        fixations,
    })
}

fn write_jpeg(path: &Path, image: &RgbImage) -> Result<(), DataError> {
    let bytes = crate::jpeg::encode(image.as_raw(), image.width(), image.height(), 3, 95)
        .map_err(|e| DataError::io(path, std::io::Error::other(e)))?;
    std::fs::write(path, bytes).map_err(|e| DataError::io(path, e))
}

fn write_png(path: &Path, image: &GrayImage) -> Result<(), DataError> {
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| DataError::io(path, std::io::Error::other(e)))
}
