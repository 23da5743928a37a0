//! `salient eval`: score predicted saliency maps (a folder of maps, or a checkpoint run over the
//! split) against a dataset split with the standard saliency metrics; print a table and
//! optionally write JSON.
//!
//! Predictions are matched to the split's samples by file stem. The pipeline is
//! `(stem, Prediction)` pairs → [`scoring::Scorer`]: a folder yields files, a checkpoint yields
//! maps predicted at each image's original resolution.

mod npy;
mod predictions;
mod scoring;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use salient_data::{
    load_rgb8, Dataset, DiscoverOptions, LayoutKind, MapSigma, Sample, Split, SplitRule,
};
use salient_metrics::{EvalOptions, IgBaseline, Metric, MetricSet, Report};
use salient_model::CheckpointMeta;
use salient_train::Predictor;

use crate::model_args::ModelArgs;

use predictions::{Prediction, PredictionDir};
use scoring::{load_all_fixations, Scorer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    Train,
    Val,
    /// A `test/` folder, or the images listed in `<split dir>/test.txt`.
    Test,
    /// Every image: how MIT1003 and CAT2000 are scored as benchmarks.
    All,
}

impl From<SplitArg> for Split {
    fn from(arg: SplitArg) -> Split {
        match arg {
            SplitArg::Train => Split::Train,
            SplitArg::Val => Split::Val,
            SplitArg::Test => Split::Test,
            SplitArg::All => Split::All,
        }
    }
}

/// Which images form the split, for datasets without split folders (and the layout).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SplitOptions {
    /// Force the dataset layout: seed, salicon, stimuli, mit1003, cat2000, osie, csv.
    #[arg(long)]
    pub layout: Option<LayoutKind>,
    /// Folder of split list files `<split>.txt` (default `<data>/splits` when it exists).
    #[arg(long, value_name = "DIR")]
    pub split_dir: Option<PathBuf>,
    /// Seed of the held-out draw when there are no list files (default: the checkpoint's
    /// training seed, else 0).
    #[arg(long)]
    pub split_seed: Option<u64>,
    /// Fraction held out for validation when there are no list files (default: the
    /// checkpoint's, else 0.1).
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Blur that builds maps from fixations where the dataset has none: pixels (`24`) or a
    /// percentage of the larger side (`3%`); default per layout.
    #[arg(long, value_name = "SIGMA")]
    pub map_sigma: Option<MapSigma>,
}

impl SplitOptions {
    /// Discovery options for `split`: the rule a checkpoint was trained with when it was trained
    /// on this dataset (so its training images are never scored by default), then these flags.
    pub fn discover_options(
        &self,
        data: &Path,
        split: Split,
        checkpoint: Option<&Path>,
        skip_bad: bool,
    ) -> anyhow::Result<(DiscoverOptions, Option<String>)> {
        let mut options = DiscoverOptions {
            layout: self.layout,
            skip_bad,
            map_sigma: self.map_sigma,
            ..DiscoverOptions::for_split(split)
        };
        let mut note = None;
        if let Some(checkpoint) = checkpoint {
            if let Some(rule) = trained_split_rule(checkpoint, data)? {
                note = Some(format!(
                    "the split rule the model was trained with ({rule})"
                ));
                options = options.with_rule(&rule);
            }
        }
        if let Some(dir) = &self.split_dir {
            options.split_dir = Some(dir.clone());
            options.val_list = None;
        }
        if let Some(seed) = self.split_seed {
            options.split_seed = seed;
        }
        if let Some(fraction) = self.val_fraction {
            options.val_fraction = fraction;
        }
        if self.split_dir.is_some() || self.split_seed.is_some() || self.val_fraction.is_some() {
            note = None;
        }
        Ok((options, note))
    }
}

/// The split rule recorded in `checkpoint`, if it was trained on the dataset at `data`.
fn trained_split_rule(checkpoint: &Path, data: &Path) -> anyhow::Result<Option<SplitRule>> {
    let Ok(meta) = CheckpointMeta::from_file(checkpoint) else {
        // Unreadable checkpoints are reported when the model is loaded.
        return Ok(None);
    };
    let (Some(rule), Some(trained_on)) = (
        meta.get(salient_train::trainer::META_SPLIT_RULE),
        meta.get(salient_train::trainer::META_DATA),
    ) else {
        return Ok(None);
    };
    let here = data.canonicalize().unwrap_or_else(|_| data.to_path_buf());
    if Path::new(trained_on) != here {
        return Ok(None);
    }
    let rule: SplitRule = serde_json::from_str(rule).with_context(|| {
        format!(
            "{}: unreadable {} metadata",
            checkpoint.display(),
            salient_train::trainer::META_SPLIT_RULE
        )
    })?;
    Ok(Some(rule))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineArg {
    /// The split's centre bias: all its fixations, Gaussian-blurred (σ = 5% of the larger side).
    Centre,
    /// The uniform distribution.
    Uniform,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["checkpoint", "predictions"])))]
pub struct Args {
    /// Dataset root (seed, SALICON or stimuli layout, detected).
    #[arg(long)]
    pub data: PathBuf,
    /// Which split to score.
    #[arg(long, value_enum, default_value = "val")]
    pub split: SplitArg,
    #[command(flatten)]
    pub split_options: SplitOptions,
    /// A trained model (.safetensors) to run over the split; its maps are scored at each image's
    /// original resolution.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint: how to run the model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Folder of predicted maps named by stem: `<stem>.png` (8/16-bit) or `<stem>.npy`
    /// (float32/float64/uint8, H×W). Any size: maps are resized to the ground truth's.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Comma-separated metrics among cc,kld,nss,sim,auc_judd,auc_borji,sauc,ig, or `all`.
    /// Default: all that the dataset supports (the fixation metrics need fixation maps).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Baseline of the information gain.
    #[arg(long, value_enum, default_value = "centre")]
    pub ig_baseline: BaselineArg,
    /// Seed of AUC-Borji's random negatives.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Score the samples that have a prediction and report the others, instead of failing.
    #[arg(long)]
    pub allow_missing: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let split = Split::from(args.split);
    let (options, rule_note) = args.split_options.discover_options(
        &args.data,
        split,
        args.checkpoint.as_deref(),
        false,
    )?;
    let dataset = Dataset::discover(&args.data, &options)
        .with_context(|| format!("reading the dataset at {}", args.data.display()))?;
    let samples = dataset.require(split)?;
    if samples.is_empty() {
        bail!(
            "the {} split of {} has no samples",
            split.name(),
            args.data.display()
        );
    }
    let has_fixations = samples.iter().any(|s| s.fixations.is_some());
    let metrics = choose_metrics(args.metrics.as_deref(), has_fixations)?;

    let (source, pairs, missing) = match &args.checkpoint {
        Some(checkpoint) => (checkpoint.display().to_string(), Vec::new(), Vec::new()),
        None => folder_predictions(samples, &args)?,
    };

    let fixations = if has_fixations && metrics.metrics().iter().any(|m| !m.needs_saliency_map()) {
        load_all_fixations(samples)?
    } else {
        samples.iter().map(|_| None).collect()
    };
    let options = EvalOptions {
        borji_seed: args.seed,
        ig_baseline: match args.ig_baseline {
            BaselineArg::Centre => IgBaseline::CentreBias,
            BaselineArg::Uniform => IgBaseline::Uniform,
        },
    };
    let scorer = Scorer::new(samples, &fixations, metrics.clone(), options)?;
    let per_image = match &args.checkpoint {
        Some(checkpoint) => {
            let predictor = args.model.load(checkpoint)?;
            let bar = progress_bar(samples.len(), args.quiet);
            let predicted = predict_split(&predictor, samples, args.model.batch_size);
            let scores = scorer.score_all(predicted, |n| bar.inc(n as u64));
            bar.finish_and_clear();
            scores?
        }
        None => {
            let bar = progress_bar(pairs.len(), args.quiet);
            let scores = scorer.score_all(pairs.into_iter().map(Ok), |n| bar.inc(n as u64));
            bar.finish_and_clear();
            scores?
        }
    };
    let report = Report::new(metrics, per_image);

    println!(
        "salient eval: {} images of {} ({} split, {} layout), predictions from {}",
        report.images(),
        args.data.display(),
        split.name(),
        dataset.layout(),
        source
    );
    let rule = match (&rule_note, dataset.rule()) {
        (_, SplitRule::Folders) => dataset.rule().to_string(),
        (Some(note), _) => note.clone(),
        (None, rule) => rule.to_string(),
    };
    println!(
        "split rule: {rule}; {} of the {} images listed are in the {} split",
        samples.len(),
        dataset.images_listed(),
        split.name()
    );
    for note in dataset.notes() {
        println!("note: {note}");
    }
    if !missing.is_empty() {
        println!(
            "{} samples had no prediction and were left out",
            missing.len()
        );
    }
    print!("{}", format_table(&report));
    if let Some(path) = &args.json {
        write_json(path, &report)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Where predictions came from (for the report), the `(stem, prediction)` pairs to score, and the
/// stems that have none.
type Matched = (String, Vec<(String, Prediction)>, Vec<String>);

/// The `--predictions` folder's maps matched to the samples: (source name, pairs, stems without
/// a prediction); missing ones are an error unless `--allow-missing`.
fn folder_predictions(samples: &[Sample], args: &Args) -> anyhow::Result<Matched> {
    let dir_path = args.predictions.as_ref().expect("clap requires a source");
    let dir = PredictionDir::open(dir_path)?;
    let (pairs, missing) = match_predictions(samples, &dir);
    if !missing.is_empty() && !args.allow_missing {
        let first: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        bail!(
            "no prediction in {} for {} of {} samples (first: {}); pass --allow-missing to score the others",
            dir_path.display(),
            missing.len(),
            samples.len(),
            first.join(", ")
        );
    }
    if pairs.is_empty() {
        bail!(
            "no prediction in {} matches a sample stem",
            dir_path.display()
        );
    }
    let pairs = pairs
        .into_iter()
        .map(|(stem, path)| (stem, Prediction::File(path)))
        .collect();
    Ok((dir_path.display().to_string(), pairs, missing))
}

/// The model's map for every sample, at the image's original resolution, `batch` images per
/// forward pass, produced lazily as the scorer asks for them.
fn predict_split<'a>(
    predictor: &'a Predictor,
    samples: &'a [Sample],
    batch: usize,
) -> impl Iterator<Item = anyhow::Result<(String, Prediction)>> + 'a {
    samples.chunks(batch).flat_map(move |chunk| {
        let predicted = (|| -> anyhow::Result<Vec<(String, Prediction)>> {
            let images = chunk
                .iter()
                .map(|s| load_rgb8(&s.image).with_context(|| format!("image of {}", s.stem)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let refs: Vec<_> = images.iter().collect();
            let maps = predictor.predict_batch(&refs)?;
            Ok(chunk
                .iter()
                .zip(maps)
                .map(|(s, map)| (s.stem.clone(), Prediction::Map(map)))
                .collect())
        })();
        match predicted {
            Ok(items) => items.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        }
    })
}

/// The asked metrics, or by default every metric the dataset can support.
fn choose_metrics(asked: Option<&str>, has_fixations: bool) -> anyhow::Result<MetricSet> {
    let metrics = match asked {
        Some(list) => list.parse::<MetricSet>()?,
        None if has_fixations => MetricSet::all(),
        None => {
            eprintln!("note: the dataset has no fixation maps: scoring cc, kld, sim only");
            MetricSet::new(Metric::ALL.into_iter().filter(|m| m.needs_saliency_map()))
        }
    };
    let needs_fixations: Vec<&str> = metrics
        .metrics()
        .iter()
        .filter(|m| !m.needs_saliency_map())
        .map(|m| m.name())
        .collect();
    if !has_fixations && !needs_fixations.is_empty() {
        bail!(
            "{} need fixation maps and this split has none (use --metrics cc,kld,sim)",
            needs_fixations.join(", ")
        );
    }
    Ok(metrics)
}

/// `(stem, file)` for each sample with a prediction, and the stems without one.
fn match_predictions(
    samples: &[Sample],
    dir: &PredictionDir,
) -> (Vec<(String, PathBuf)>, Vec<String>) {
    let (mut pairs, mut missing) = (Vec::new(), Vec::new());
    for sample in samples {
        match dir.find(&sample.stem) {
            Some(path) => pairs.push((sample.stem.clone(), path.to_path_buf())),
            None => missing.push(sample.stem.clone()),
        }
    }
    if dir.len() > pairs.len() {
        eprintln!(
            "note: {} prediction files match no sample of this split",
            dir.len() - pairs.len()
        );
    }
    (pairs, missing)
}

fn progress_bar(total: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("scoring {bar:30} {pos}/{len} {per_sec} ETA {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// The report as a table: one row per metric, mean ± std and the number of images it covers.
fn format_table(report: &Report) -> String {
    let mut out = format!(
        "{:<12} {:>9} {:>9} {:>7}\n",
        "metric", "mean", "std", "images"
    );
    for (metric, s) in report.metrics.metrics().iter().zip(&report.summaries) {
        let arrow = if metric.lower_is_better() {
            "↓"
        } else {
            "↑"
        };
        out.push_str(&format!(
            "{:<12} {:>9.4} {:>9.4} {:>7}",
            format!("{} {arrow}", metric.name()),
            s.mean,
            s.std,
            s.count
        ));
        if s.skipped > 0 {
            out.push_str(&format!("  ({} without fixations or negatives)", s.skipped));
        }
        out.push('\n');
    }
    out
}

fn write_json(path: &Path, report: &Report) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
