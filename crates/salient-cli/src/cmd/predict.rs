//! `salient predict`: saliency maps (and overlays) for an image, a folder or a list of images,
//! optionally one shard of them.
//!
//! Maps are written at each image's original resolution, under `--out` at the input's path
//! relative to its root (a folder input: the folder; a list: `--root`, default the deepest folder
//! holding every entry), extension replaced: `a/cat.jpg` → `a/cat.png` (8-bit, `round(255·map)`)
//! or `a/cat.npy` (float32, `H×W`, exact values); `--overlay` adds `a/cat_overlay.png` (JET,
//! 0.7/0.3 as the seed); `--gt DIR` adds `a/cat_triptych.png` = `[image | GT overlay |
//! prediction overlay]`, the ground truth found at `DIR/a/cat.*` or `DIR/cat.*`. Overlays show each
//! map min-max normalised, so that its structure shows whatever its range.
//!
//! `--output saliency|density|log-density` picks the map (`salient_train::OutputKind`): a
//! saliency map (maximum 1), a fixation density (sums to 1) or its natural log. A density's PNG
//! is scaled to its maximum and a log-density's PNG min-max normalised (a note says so); `.npy`
//! keeps the values. Inputs that
//! differ only by extension (`a/cat.jpg`, `a/cat.png`) keep it (`a/cat.jpg.png`).
//!
//! At scale: `--shard I/N` (or a Slurm array / Kubernetes Indexed Job index) takes every N-th
//! input of the sorted list; writes are atomic; `--skip-existing` resumes; each shard writes a
//! JSON-lines manifest and a summary. An unreadable input is recorded and skipped (`--strict`:
//! stop at the first).

mod inputs;
mod manifest;
mod outputs;
mod shard;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use salient_data::load_rgb8;
use salient_train::OutputKind;

use crate::model_args::ModelArgs;
use inputs::Input;
use manifest::{Manifest, Status};
pub use outputs::MapFormat;
use outputs::OutputSpec;
use shard::{ProcessEnv, Shard};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("inputs").required(true).args(["input", "input_list"])))]
pub struct Args {
    /// Model checkpoint (.safetensors, seed naming).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// An image, or a folder of images (sub-folders included).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// A text file of image paths, one per line (relative ones from the file's folder; blank
    /// lines and `#` comments skipped).
    #[arg(long, value_name = "FILE")]
    pub input_list: Option<PathBuf>,
    /// With --input-list: the folder output paths are relative to (default: the deepest folder
    /// holding every listed image).
    #[arg(long, value_name = "DIR", requires = "input_list")]
    pub root: Option<PathBuf>,
    /// Output folder (created); outputs mirror the inputs' relative paths.
    #[arg(long)]
    pub out: PathBuf,
    /// Map file format.
    #[arg(long, value_enum, default_value = "png")]
    pub format: MapFormat,
    /// Which map: saliency (maximum 1), density (sums to 1 over the image) or log-density
    /// (natural log). A seed-head model's density is its map normalised to sum 1; a
    /// density-head model's saliency is its density scaled to maximum 1.
    #[arg(
        long,
        default_value = "saliency",
        value_name = "saliency|density|log-density"
    )]
    pub output: OutputKind,
    /// Also write the JET heatmap blended over the image.
    #[arg(long)]
    pub overlay: bool,
    /// Folder of ground-truth maps (same relative paths or stems): also write [image | GT |
    /// prediction] triptychs.
    #[arg(long, value_name = "DIR")]
    pub gt: Option<PathBuf>,
    /// Predict only shard I of N (input k of the sorted list belongs to shard k mod N). Default:
    /// from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX/--shards, else all.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Number of shards when the index comes from the scheduler (JOB_COMPLETION_INDEX, or to
    /// override SLURM_ARRAY_TASK_COUNT).
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    pub shards: Option<usize>,
    /// Skip inputs whose outputs all exist (resume a killed run; writes are atomic, so an
    /// existing file is whole).
    #[arg(long)]
    pub skip_existing: bool,
    /// Stop at the first input that cannot be read or written (default: record it in the
    /// manifest and go on).
    #[arg(long)]
    pub strict: bool,
    /// Manifest path (default: OUT/manifest.shard-I-of-N.jsonl; the summary goes beside it as
    /// .summary.json).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let (all, single_file) = match (&args.input, &args.input_list) {
        (Some(input), _) => (inputs::from_path(input)?, input.is_file()),
        (None, Some(list)) => (inputs::from_list(list, args.root.as_deref())?, false),
        (None, None) => bail!("give --input or --input-list"),
    };
    // One named file that cannot be read is the whole job failing.
    let strict = args.strict || single_file;
    let (shard, source) = shard::resolve(args.shard, args.shards, &ProcessEnv)?;
    let mine: Vec<&Input> = all
        .iter()
        .enumerate()
        .filter(|(k, _)| shard.owns(*k))
        .map(|(_, input)| input)
        .collect();
    if shard.count > 1 {
        eprintln!(
            "shard {shard} ({source}): {} of {} inputs",
            mine.len(),
            all.len()
        );
    }
    let predictor = args.model.load(&args.checkpoint)?;
    if args.format == MapFormat::Png {
        if let Some(note) = outputs::png_note(args.output) {
            eprintln!("note: {note}");
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let spec = OutputSpec {
        out: args.out.clone(),
        format: args.format,
        output: args.output,
        overlay: args.overlay,
        gt: args.gt.clone(),
        partial_prefix: format!(".salient-partial-{}-", shard.file_tag()),
    };
    let planned: Vec<_> = mine.iter().map(|input| spec.plan(input)).collect();
    let dirs: BTreeSet<&Path> = planned
        .iter()
        .flat_map(|p| p.all().filter_map(Path::parent))
        .collect();
    let removed = spec.remove_partials(dirs);
    if removed > 0 {
        eprintln!("removed {removed} partial file(s) a killed run of shard {shard} left");
    }
    let manifest_path = args.manifest.clone().unwrap_or_else(|| {
        args.out
            .join(format!("manifest.{}.jsonl", shard.file_tag()))
    });
    let mut manifest = Manifest::create(&manifest_path, shard, all.len(), mine.len())?;

    let bar = progress_bar(mine.len());
    let work: Vec<_> = mine.iter().copied().zip(&planned).collect();
    for chunk in work.chunks(args.model.batch_size) {
        let mut todo = Vec::with_capacity(chunk.len());
        for &(input, planned) in chunk {
            if args.skip_existing && planned.complete() {
                manifest.record(&input.path, &planned.map, Status::Skipped, None)?;
            } else {
                todo.push((input, planned));
            }
        }
        let decoded: Vec<_> = todo
            .par_iter()
            .map(|(input, _)| load_rgb8(&input.path))
            .collect();
        let mut images: Vec<(&Input, &outputs::Planned, RgbImage)> = Vec::new();
        for ((input, planned), image) in todo.iter().zip(decoded) {
            match image {
                Ok(image) => images.push((input, planned, image)),
                Err(e) => fail(&mut manifest, input, planned, &e.to_string(), strict)?,
            }
        }
        let refs: Vec<&RgbImage> = images.iter().map(|(_, _, image)| image).collect();
        let maps = predictor.predict_outputs(&refs, args.output)?;
        let written: Vec<_> = images
            .par_iter()
            .zip(maps)
            .map(|((input, planned, image), map)| spec.write(input, planned, image, &map))
            .collect();
        for ((input, planned, _), result) in images.iter().zip(written) {
            match result {
                Ok(()) => manifest.record(&input.path, &planned.map, Status::Written, None)?,
                Err(e) => fail(&mut manifest, input, planned, &format!("{e:#}"), strict)?,
            }
        }
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary_path = manifest_path.with_extension("summary.json");
    let summary = manifest.finish(&summary_path, started.elapsed().as_secs_f64())?;
    eprintln!(
        "shard {shard}: {} input(s): {} written, {} skipped (already there), {} failed, in {:.1} s; manifest {}",
        summary.inputs,
        summary.written,
        summary.skipped,
        summary.failed,
        summary.seconds,
        manifest_path.display()
    );
    if summary.failed > 0 {
        eprintln!(
            "warning: {} input(s) failed and were skipped; their errors are in the manifest",
            summary.failed
        );
    }
    Ok(())
}

/// Records a failed input; with `strict`, stops the run.
fn fail(
    manifest: &mut Manifest,
    input: &Input,
    planned: &outputs::Planned,
    error: &str,
    strict: bool,
) -> anyhow::Result<()> {
    manifest.record(&input.path, &planned.map, Status::Failed, Some(error))?;
    if strict {
        bail!("{error}");
    }
    Ok(())
}

fn progress_bar(len: usize) -> Option<ProgressBar> {
    (len > 1).then(|| {
        let bar = ProgressBar::new(len as u64);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} images  {per_sec}  ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    })
}
