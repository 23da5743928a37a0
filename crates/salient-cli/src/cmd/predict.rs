//! `salient predict`: Predict saliency maps (and overlays) for an image or a folder.
//!
//! Maps are written at each image's original resolution: `<stem>.png` (8-bit, `round(255·map)`) or
//! `<stem>.npy` (float32, `H×W`, values in `[0,1]`); `--overlay` adds `<stem>_overlay.png` (JET,
//! 0.7/0.3 as the seed); `--gt DIR` adds `<stem>_triptych.png` = `[image | GT overlay | prediction
//! overlay]`, the ground truth found in DIR by file stem.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use image::{GrayImage, RgbImage};
use indicatif::{ProgressBar, ProgressStyle};
use salient_data::{load_map, load_rgb8, resize_map, MapF32};
use salient_train::overlay::{map_to_u8, overlay, side_by_side};

use crate::model_args::ModelArgs;

/// Image extensions read from folders.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MapFormat {
    Png,
    Npy,
}

#[derive(clap::Args)]
pub struct Args {
    /// Model checkpoint (.safetensors, seed naming).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// An image, or a folder of images.
    #[arg(long)]
    pub input: PathBuf,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Map file format.
    #[arg(long, value_enum, default_value = "png")]
    pub format: MapFormat,
    /// Also write the JET heatmap blended over the image.
    #[arg(long)]
    pub overlay: bool,
    /// Folder of ground-truth maps (same stems): also write [image | GT | prediction] triptychs.
    #[arg(long, value_name = "DIR")]
    pub gt: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let inputs = list_inputs(&args.input)?;
    let predictor = args.model.load(&args.checkpoint)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let bar = if inputs.len() > 1 {
        let bar = ProgressBar::new(inputs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} images  {per_sec}  ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    let mut failures: Vec<String> = Vec::new();
    for chunk in inputs.chunks(args.model.batch_size) {
        let mut images = Vec::new();
        for path in chunk {
            match load_rgb8(path) {
                Ok(img) => images.push((path, img)),
                Err(e) => failures.push(e.to_string()),
            }
        }
        let refs: Vec<&RgbImage> = images.iter().map(|(_, i)| i).collect();
        let maps = predictor.predict_batch(&refs)?;
        for ((path, image), map) in images.iter().zip(maps) {
            if let Err(e) = write_outputs(&args, path, image, &map) {
                failures.push(format!("{}: {e:#}", path.display()));
            }
        }
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let done = inputs.len() - failures.len();
    eprintln!("wrote {done} prediction(s) to {}", args.out.display());
    if !failures.is_empty() {
        for f in failures.iter().take(10) {
            eprintln!("failed: {f}");
        }
        bail!("{} of {} image(s) failed", failures.len(), inputs.len());
    }
    Ok(())
}

/// One image, or every image of a folder (sorted, not recursive).
fn list_inputs(input: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if input.is_file() {
        return Ok(vec![input.to_path_buf()]);
    }
    if !input.is_dir() {
        bail!("--input {}: no such file or folder", input.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .with_context(|| format!("reading {}", input.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && has_image_extension(p))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "--input {}: no images ({}) in the folder",
            input.display(),
            IMAGE_EXTENSIONS.join(", ")
        );
    }
    Ok(files)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn gray(map: &MapF32) -> GrayImage {
    GrayImage::from_raw(map.width as u32, map.height as u32, map_to_u8(&map.data))
        .expect("buffer sized for the map")
}

fn write_outputs(args: &Args, path: &Path, image: &RgbImage, map: &MapF32) -> anyhow::Result<()> {
    let stem = stem(path);
    match args.format {
        MapFormat::Png => {
            let bytes: Vec<u8> = map
                .data
                .iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect();
            let out = args.out.join(format!("{stem}.png"));
            GrayImage::from_raw(map.width as u32, map.height as u32, bytes)
                .expect("buffer sized for the map")
                .save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
        }
        MapFormat::Npy => {
            let out = args.out.join(format!("{stem}.npy"));
            std::fs::File::create(&out)
                .map(std::io::BufWriter::new)
                .and_then(|file| salient_eval::npy::write_map(file, map))
                .with_context(|| format!("writing {}", out.display()))?;
        }
    }
    let pred_overlay = overlay(image, &gray(map));
    if args.overlay {
        let out = args.out.join(format!("{stem}_overlay.png"));
        pred_overlay
            .save(&out)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(gt_dir) = &args.gt {
        let gt_path = find_by_stem(gt_dir, &stem)?;
        let mut gt = load_map(&gt_path)?;
        if (gt.width, gt.height) != (map.width, map.height) {
            gt = resize_map(&gt, map.width, map.height);
        }
        let gt_overlay = overlay(image, &gray(&gt));
        let out = args.out.join(format!("{stem}_triptych.png"));
        side_by_side(&[image, &gt_overlay, &pred_overlay])
            .save(&out)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// The ground-truth map for `stem` in `dir` (any image extension).
fn find_by_stem(dir: &Path, stem: &str) -> anyhow::Result<PathBuf> {
    for ext in IMAGE_EXTENSIONS {
        let candidate = dir.join(format!("{stem}.{ext}"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("no ground-truth map {stem}.* in {}", dir.display())
}
