//! Augmentation pipelines as data: a list of geometric ops applied jointly to an image (bilinear,
//! 8-bit as OpenCV does), its saliency map (bilinear, `f32`) and its fixations (carried as points,
//! so they stay binary and none is smeared).
//!
//! A pipeline is written in a config as TOML (`[[pipeline]]` tables with `op = "resize"` etc.) or
//! as a compact string (`"train"`, `"val"`, or `"resize,horizontal_flip:0.5,rotate:0.6"`). The
//! geometry of each op is drawn once per sample from that sample's own RNG, so the result depends
//! only on `(seed, epoch, sample index)`, never on thread scheduling.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::decode::MapPixels;
use crate::error::DataError;
use crate::prepare::Source;
use crate::resize::{resize_f32, resize_to_f32, resize_u8, View};
use crate::scratch;
use crate::warp::{apply, invert, rotation_about_centre, warp_rgb_and_map};

fn default_crop_min() -> f64 {
    240.0 / 256.0
}
fn one() -> f64 {
    1.0
}
fn crop_p() -> f64 {
    0.4
}
fn flip_p() -> f64 {
    0.5
}
fn rotate_limit() -> f64 {
    10.0
}
fn rotate_p() -> f64 {
    0.6
}

/// One step of a pipeline. Defaults are the seed's (albumentations) values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Resize to the target size (OpenCV `INTER_LINEAR`). Always applied.
    Resize,
    /// With probability `p`, crop a window whose height is drawn uniformly in
    /// `[min_scale, max_scale] x current height` (the target's aspect ratio, random position) and
    /// resize it back to the target: albumentations' `RandomSizedCrop((240, 256), 256x256)`.
    RandomSizedCrop {
        #[serde(default = "default_crop_min")]
        min_scale: f64,
        #[serde(default = "one")]
        max_scale: f64,
        #[serde(default = "crop_p")]
        p: f64,
    },
    /// With probability `p`, mirror left-right.
    HorizontalFlip {
        #[serde(default = "flip_p")]
        p: f64,
    },
    /// With probability `p`, rotate by an angle uniform in `[-limit, limit]` degrees about the
    /// centre (bilinear, reflect-101 border, the size kept).
    Rotate {
        #[serde(default = "rotate_limit")]
        limit: f64,
        #[serde(default = "rotate_p")]
        p: f64,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Resize => "resize",
            Op::RandomSizedCrop { .. } => "random_sized_crop",
            Op::HorizontalFlip { .. } => "horizontal_flip",
            Op::Rotate { .. } => "rotate",
        }
    }

    fn probability(&self) -> Option<f64> {
        match self {
            Op::Resize => None,
            Op::RandomSizedCrop { p, .. } | Op::HorizontalFlip { p } | Op::Rotate { p, .. } => {
                Some(*p)
            }
        }
    }

    fn with_probability(&self, p: f64) -> Op {
        match self.clone() {
            Op::Resize => Op::Resize,
            Op::RandomSizedCrop {
                min_scale,
                max_scale,
                ..
            } => Op::RandomSizedCrop {
                min_scale,
                max_scale,
                p,
            },
            Op::HorizontalFlip { .. } => Op::HorizontalFlip { p },
            Op::Rotate { limit, .. } => Op::Rotate { limit, p },
        }
    }

    fn default_named(name: &str) -> Option<Op> {
        Some(match name {
            "resize" => Op::Resize,
            "random_sized_crop" | "crop" => Op::RandomSizedCrop {
                min_scale: default_crop_min(),
                max_scale: 1.0,
                p: crop_p(),
            },
            "horizontal_flip" | "hflip" | "flip" => Op::HorizontalFlip { p: flip_p() },
            "rotate" => Op::Rotate {
                limit: rotate_limit(),
                p: rotate_p(),
            },
            _ => return None,
        })
    }
}

/// An ordered list of ops; the first must be `resize` so every later op sees the target size.
/// In a config it is either a list of op tables (`[[pipeline]]` in TOML) or the compact text
/// form ([`Pipeline::from_str`]); either is checked when read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Pipeline {
    pub ops: Vec<Op>,
}

impl<'de> Deserialize<'de> for Pipeline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Ops(Vec<Op>),
        }
        let pipeline = match Written::deserialize(d)? {
            Written::Text(text) => text.parse().map_err(serde::de::Error::custom)?,
            Written::Ops(ops) => Pipeline { ops },
        };
        pipeline.validate().map_err(serde::de::Error::custom)?;
        Ok(pipeline)
    }
}

impl Pipeline {
    /// The seed's training augmentation: resize, random sized crop (p 0.4), horizontal flip
    /// (p 0.5), rotate ±10° (p 0.6).
    pub fn seed_train() -> Self {
        Pipeline {
            ops: ["resize", "random_sized_crop", "horizontal_flip", "rotate"]
                .iter()
                .map(|n| Op::default_named(n).expect("known op"))
                .collect(),
        }
    }

    /// Validation / inference: resize only.
    pub fn seed_val() -> Self {
        Pipeline {
            ops: vec![Op::Resize],
        }
    }

    /// A named preset: `train` or `val` (alias `resize`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "train" => Some(Self::seed_train()),
            "val" | "resize" => Some(Self::seed_val()),
            _ => None,
        }
    }

    /// Checks probabilities, ranges and that the pipeline starts with `resize`.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.ops.first() != Some(&Op::Resize) {
            return Err(DataError::Config(format!(
                "an augmentation pipeline must start with resize (got: {self})"
            )));
        }
        for op in &self.ops {
            if let Some(p) = op.probability() {
                if !(0.0..=1.0).contains(&p) {
                    return Err(DataError::Config(format!(
                        "{}: p must be in [0, 1], got {p}",
                        op.name()
                    )));
                }
            }
            match *op {
                Op::RandomSizedCrop {
                    min_scale,
                    max_scale,
                    ..
                } if !(min_scale > 0.0 && min_scale <= max_scale && max_scale <= 1.0) => {
                    return Err(DataError::Config(format!(
                        "random_sized_crop: need 0 < min_scale <= max_scale <= 1, got {min_scale}..{max_scale}"
                    )));
                }
                Op::Rotate { limit, .. } if !(0.0..=180.0).contains(&limit) => {
                    return Err(DataError::Config(format!(
                        "rotate: limit must be in [0, 180] degrees, got {limit}"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Self::seed_train()
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .ops
            .iter()
            .map(|op| match op.probability() {
                Some(p) => format!("{}:{p}", op.name()),
                None => op.name().to_string(),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `train`, `val`, or comma-separated op names each with an optional `:p`
/// (e.g. `resize,horizontal_flip:0.5,rotate`); other parameters take their defaults.
impl FromStr for Pipeline {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(preset) = Pipeline::preset(s.trim()) {
            return Ok(preset);
        }
        let ops = s
            .split(',')
            .map(|part| {
                let (name, p) = match part.trim().split_once(':') {
                    Some((name, p)) => (name.trim(), Some(p.trim())),
                    None => (part.trim(), None),
                };
                let op = Op::default_named(name).ok_or_else(|| {
                    DataError::Config(format!(
                        "unknown augmentation op '{name}' (expected resize, random_sized_crop, horizontal_flip, rotate, or a preset: train, val)"
                    ))
                })?;
                match p {
                    None => Ok(op),
                    Some(p) => {
                        let p: f64 = p
                            .parse()
                            .map_err(|_| DataError::Config(format!("{name}: probability '{p}' is not a number")))?;
                        if op == Op::Resize {
                            return Err(DataError::Config("resize takes no probability".into()));
                        }
                        Ok(op.with_probability(p))
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pipeline = Pipeline { ops };
        pipeline.validate()?;
        Ok(pipeline)
    }
}

/// The per-sample random stream: a ChaCha8 generator keyed by `(seed, epoch, index)`.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(b"salient\x01");
    ChaCha8Rng::from_seed(key)
}

/// One sample in flight: interleaved RGB8, a float map of the same size, and fixations as
/// `(x, y)` pixel-centre coordinates when the sample has them.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    pub map: Vec<f32>,
    pub fixations: Option<Vec<(f32, f32)>>,
}

impl Frame {
    /// Rasterises the fixations into a binary `height x width` grid (1.0 where fixated).
    pub fn fixation_raster(&self, out: &mut [f32]) {
        out.fill(0.0);
        for &(x, y) in self.fixations.iter().flatten() {
            let (px, py) = ((x + 0.5).floor(), (y + 0.5).floor());
            if px >= 0.0 && py >= 0.0 && (px as usize) < self.width && (py as usize) < self.height {
                out[py as usize * self.width + px as usize] = 1.0;
            }
        }
    }

    /// Hands the pixel buffers to this thread's spare pool, for the next frame to reuse.
    pub(crate) fn recycle(self) {
        scratch::give(self.rgb, self.map);
    }

    fn keep_points_inside(&mut self) {
        let (w, h) = (self.width as f32, self.height as f32);
        if let Some(points) = &mut self.fixations {
            points.retain(|&(x, y)| x >= -0.5 && y >= -0.5 && x < w - 0.5 && y < h - 0.5);
        }
    }
}

/// Runs `pipeline` (which starts with `resize`, see [`Pipeline::validate`]) on a freshly decoded
/// source: the first resize reads the stored map depth directly, so no full-size float copy of
/// the map is made. Same result as [`apply_pipeline`] on the equivalent [`Frame`].
pub fn apply_pipeline_to_source(
    pipeline: &Pipeline,
    source: &Source,
    target_h: usize,
    target_w: usize,
    rng: &mut ChaCha8Rng,
) -> Frame {
    let (w, h) = (source.width, source.height);
    let mut rgb = scratch::bytes(target_w * target_h * 3);
    resize_u8(
        View::full(&source.rgb, w, h, 3),
        &mut rgb,
        target_w,
        target_h,
    );
    let mut map = scratch::floats(target_w * target_h);
    match &source.map {
        MapPixels::U8(bytes) => resize_to_f32(
            View::full(bytes, w, h, 1),
            &mut map,
            target_w,
            target_h,
            1.0 / 255.0,
        ),
        MapPixels::F32(values) => {
            resize_f32(View::full(values, w, h, 1), &mut map, target_w, target_h)
        }
    }
    let (sx, sy) = (target_w as f32 / w as f32, target_h as f32 / h as f32);
    let fixations = source.fixations.as_ref().map(|points| {
        points
            .iter()
            .map(|&(x, y)| ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5))
            .collect()
    });
    let mut frame = Frame {
        width: target_w,
        height: target_h,
        rgb,
        map,
        fixations,
    };
    frame.keep_points_inside();
    let rest = match pipeline.ops.split_first() {
        Some((Op::Resize, rest)) => rest,
        _ => &pipeline.ops[..],
    };
    apply_ops(rest, frame, target_h, target_w, rng)
}

/// Runs `pipeline` on `frame`, producing a `target_w x target_h` frame. `rng` is the sample's
/// own stream; every op draws the same number of values whether or not it fires.
pub fn apply_pipeline(
    pipeline: &Pipeline,
    frame: Frame,
    target_h: usize,
    target_w: usize,
    rng: &mut ChaCha8Rng,
) -> Frame {
    apply_ops(&pipeline.ops, frame, target_h, target_w, rng)
}

fn apply_ops(
    ops: &[Op],
    mut frame: Frame,
    target_h: usize,
    target_w: usize,
    rng: &mut ChaCha8Rng,
) -> Frame {
    for op in ops {
        frame = match *op {
            Op::Resize => replace(frame, |f| {
                scale_window(f, (0, 0, f.width, f.height), target_w, target_h)
            }),
            Op::RandomSizedCrop {
                min_scale,
                max_scale,
                p,
            } => {
                let fire = rng.random::<f64>() < p;
                let unit_height: f64 = rng.random();
                let (y_start, x_start): (f64, f64) = (rng.random(), rng.random());
                if !fire {
                    frame
                } else {
                    let window = crop_window(
                        &frame,
                        min_scale,
                        max_scale,
                        unit_height,
                        (y_start, x_start),
                        target_w,
                        target_h,
                    );
                    replace(frame, |f| scale_window(f, window, target_w, target_h))
                }
            }
            Op::HorizontalFlip { p } => {
                if rng.random::<f64>() < p {
                    flip(frame)
                } else {
                    frame
                }
            }
            Op::Rotate { limit, p } => {
                let fire = rng.random::<f64>() < p;
                let angle = (rng.random::<f64>() * 2.0 - 1.0) * limit;
                if fire {
                    replace(frame, |f| rotate(f, angle))
                } else {
                    frame
                }
            }
        };
    }
    frame
}

/// Builds the next frame from `frame`, then hands `frame`'s buffers back for reuse.
fn replace(frame: Frame, next: impl FnOnce(&Frame) -> Frame) -> Frame {
    let out = next(&frame);
    frame.recycle();
    out
}

/// `(x, y, w, h)` of a crop whose height is uniform in the scaled range and whose width keeps
/// the target aspect ratio; the position follows albumentations (`int((H - h + 1) * u)`).
fn crop_window(
    frame: &Frame,
    min_scale: f64,
    max_scale: f64,
    unit_height: f64,
    (y_start, x_start): (f64, f64),
    target_w: usize,
    target_h: usize,
) -> (usize, usize, usize, usize) {
    let lo = ((min_scale * frame.height as f64).round() as usize).clamp(1, frame.height);
    let hi = ((max_scale * frame.height as f64).round() as usize).clamp(lo, frame.height);
    let crop_h = (lo + (unit_height * (hi - lo + 1) as f64) as usize).min(hi);
    let crop_w = ((crop_h as f64 * target_w as f64 / target_h as f64).round() as usize)
        .clamp(1, frame.width);
    let y = (((frame.height - crop_h + 1) as f64 * y_start) as usize).min(frame.height - crop_h);
    let x = (((frame.width - crop_w + 1) as f64 * x_start) as usize).min(frame.width - crop_w);
    (x, y, crop_w, crop_h)
}

/// Resizes the window `(x, y, w, h)` of every plane to `out_w x out_h`.
fn scale_window(
    frame: &Frame,
    (x, y, w, h): (usize, usize, usize, usize),
    out_w: usize,
    out_h: usize,
) -> Frame {
    let mut rgb = scratch::bytes(out_w * out_h * 3);
    resize_u8(
        View::full(&frame.rgb, frame.width, frame.height, 3).window(x, y, w, h),
        &mut rgb,
        out_w,
        out_h,
    );
    let mut map = scratch::floats(out_w * out_h);
    resize_f32(
        View::full(&frame.map, frame.width, frame.height, 1).window(x, y, w, h),
        &mut map,
        out_w,
        out_h,
    );
    let (sx, sy) = (out_w as f32 / w as f32, out_h as f32 / h as f32);
    let fixations = frame.fixations.as_ref().map(|points| {
        points
            .iter()
            .map(|&(px, py)| {
                (
                    (px - x as f32 + 0.5) * sx - 0.5,
                    (py - y as f32 + 0.5) * sy - 0.5,
                )
            })
            .collect()
    });
    let mut out = Frame {
        width: out_w,
        height: out_h,
        rgb,
        map,
        fixations,
    };
    out.keep_points_inside();
    out
}

fn flip(mut frame: Frame) -> Frame {
    let w = frame.width;
    for row in frame.rgb.chunks_exact_mut(w * 3) {
        for x in 0..w / 2 {
            let (a, b) = (x * 3, (w - 1 - x) * 3);
            for c in 0..3 {
                row.swap(a + c, b + c);
            }
        }
    }
    for row in frame.map.chunks_exact_mut(w) {
        row.reverse();
    }
    if let Some(points) = &mut frame.fixations {
        for point in points.iter_mut() {
            point.0 = (w - 1) as f32 - point.0;
        }
    }
    frame
}

/// Rotates image and map in one pass over the output (one coordinate computation per pixel).
fn rotate(frame: &Frame, angle: f64) -> Frame {
    let (w, h) = (frame.width, frame.height);
    let forward = rotation_about_centre(angle, w, h);
    let inverse = invert(&forward);
    let mut rgb = scratch::bytes(w * h * 3);
    let mut map = scratch::floats(w * h);
    warp_rgb_and_map((w, h), &frame.rgb, &frame.map, &inverse, &mut rgb, &mut map);
    let fixations = frame.fixations.as_ref().map(|points| {
        points
            .iter()
            .map(|&(x, y)| {
                let (nx, ny) = apply(&forward, x as f64, y as f64);
                (nx as f32, ny as f32)
            })
            .collect()
    });
    let mut out = Frame {
        width: w,
        height: h,
        rgb,
        map,
        fixations,
    };
    out.keep_points_inside();
    out
}
