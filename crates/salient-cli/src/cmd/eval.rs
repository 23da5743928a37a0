//! `salient eval`: score predicted saliency maps (a folder of maps, or a checkpoint run over the
//! split) against a dataset split with the standard saliency metrics; print a table and
//! optionally write JSON.
//!
//! The scoring is `salient_eval::evaluate_split`; this module parses the flags, finds the split,
//! loads the model, and prints.

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use salient_data::{
    describe_skipped, Dataset, DiscoverOptions, LayoutKind, MapSigma, Split, SplitRule,
};
use salient_eval::{
    evaluate_split, EvalConfig, EvalError, EvalOutcome, PredictionDir, PredictionSource,
    UNSUPPORTED_REASON,
};
use salient_metrics::{EvalOptions, IgBaseline, MetricSet, Report};
use salient_model::CheckpointMeta;

use crate::model_args::ModelArgs;

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
    /// Folder of predicted maps named by stem: `<stem>.png` (8/16-bit), `<stem>.jpg` or
    /// `<stem>.npy` (float32/float64/uint8/uint16, H×W). Any size: maps are resized to the
    /// ground truth's.
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
    /// Skip samples whose prediction, image or ground truth cannot be read or used, and list
    /// them, instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    run_to(args, &mut std::io::stdout().lock())
}

/// [`run`], printing the report to `out`.
fn run_to(args: Args, out: &mut impl Write) -> anyhow::Result<()> {
    let split = Split::from(args.split);
    let (options, rule_note) = args.split_options.discover_options(
        &args.data,
        split,
        args.checkpoint.as_deref(),
        args.skip_bad,
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
    let config = EvalConfig {
        metrics: args
            .metrics
            .as_deref()
            .map(str::parse::<MetricSet>)
            .transpose()?,
        options: EvalOptions {
            borji_seed: args.seed,
            ig_baseline: match args.ig_baseline {
                BaselineArg::Centre => IgBaseline::CentreBias,
                BaselineArg::Uniform => IgBaseline::Uniform,
            },
        },
        allow_missing: args.allow_missing,
        skip_bad: args.skip_bad,
    };

    let bar = progress_bar(samples.len(), args.quiet);
    let on_done = |n: usize| bar.inc(n as u64);
    let (source_name, outcome) = match (&args.checkpoint, &args.predictions) {
        (Some(checkpoint), _) => {
            let predictor = args.model.load(checkpoint)?;
            let source = PredictionSource::Model {
                predictor: &predictor,
                batch_size: args.model.batch_size,
            };
            let outcome = evaluate_split(samples, source, &config, on_done);
            (checkpoint, outcome)
        }
        (None, Some(dir)) => {
            let source = PredictionSource::Folder(PredictionDir::open(dir).map_err(hint)?);
            (dir, evaluate_split(samples, source, &config, on_done))
        }
        (None, None) => unreachable!("clap requires --checkpoint or --predictions"),
    };
    bar.finish_and_clear();
    let outcome = outcome.map_err(hint)?;

    writeln!(
        out,
        "salient eval: {} images of {} ({} split, {} layout), predictions from {}",
        outcome.report.images(),
        args.data.display(),
        split.name(),
        dataset.layout(),
        source_name.display()
    )?;
    let rule = match (&rule_note, dataset.rule()) {
        (_, SplitRule::Folders) => dataset.rule().to_string(),
        (Some(note), _) => note.clone(),
        (None, rule) => rule.to_string(),
    };
    writeln!(
        out,
        "split rule: {rule}; {} of the {} images listed are in the {} split",
        samples.len(),
        dataset.images_listed(),
        split.name()
    )?;
    for note in dataset.notes() {
        writeln!(out, "note: {note}")?;
    }
    write!(out, "{}", describe_left_out(&outcome, dataset.skipped()))?;
    write!(out, "{}", format_table(&outcome.report))?;
    if let Some(path) = &args.json {
        write_json(path, &outcome.report)?;
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

/// The library's error with what to pass to get past it, where a flag does.
fn hint(error: EvalError) -> anyhow::Error {
    let flag = match &error {
        EvalError::MissingPredictions { .. } => "; pass --allow-missing to score the others",
        _ if error.bad_file().is_some() => " (--skip-bad skips such files and scores the rest)",
        _ => "",
    };
    anyhow!("{error}{flag}")
}

/// One line per kind of input left out: samples without a prediction, predictions matching no
/// sample, files in an unsupported format, bad files skipped (by discovery or while scoring).
fn describe_left_out(
    outcome: &EvalOutcome,
    skipped_by_discovery: &[salient_data::SkippedPair],
) -> String {
    let mut text = String::new();
    if outcome.without_fixations {
        text.push_str("note: the split has no fixations: scoring cc, kld, sim only\n");
    }
    if !outcome.missing.is_empty() {
        let first: Vec<&str> = outcome.missing.iter().take(5).map(String::as_str).collect();
        text.push_str(&format!(
            "{} samples had no prediction and were left out (first: {})\n",
            outcome.missing.len(),
            first.join(", ")
        ));
    }
    if outcome.unmatched_predictions > 0 {
        text.push_str(&format!(
            "{} prediction files match no sample of this split\n",
            outcome.unmatched_predictions
        ));
    }
    if !outcome.unsupported.is_empty() {
        text.push_str(&format!(
            "{} files not read ({UNSUPPORTED_REASON}):\n",
            outcome.unsupported.len()
        ));
        for path in outcome.unsupported.iter().take(5) {
            text.push_str(&format!("  {}\n", path.display()));
        }
        if outcome.unsupported.len() > 5 {
            text.push_str(&format!(
                "  ... and {} more\n",
                outcome.unsupported.len() - 5
            ));
        }
    }
    let skipped: Vec<_> = skipped_by_discovery
        .iter()
        .chain(&outcome.skipped)
        .cloned()
        .collect();
    if !skipped.is_empty() {
        text.push_str(&format!(
            "bad input (--skip-bad): {}\n",
            describe_skipped(&skipped, 5)
        ));
    }
    text
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

/// The report as a table: one row per metric, mean ± std and the number of images it covers; a
/// metric defined on no image reads `n/a` (the JSON has `null`).
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
        let name = format!("{} {arrow}", metric.name());
        let (mean, std) = if s.count == 0 {
            ("n/a".to_string(), "n/a".to_string())
        } else {
            (format!("{:.4}", s.mean), format!("{:.4}", s.std))
        };
        out.push_str(&format!("{name:<12} {mean:>9} {std:>9} {:>7}", s.count));
        let mut notes = Vec::new();
        if s.count == 0 {
            notes.push("defined on 0 images".to_string());
        }
        if s.skipped > 0 {
            notes.push(format!("{} without fixations or negatives", s.skipped));
        }
        if !notes.is_empty() {
            out.push_str(&format!("  ({})", notes.join("; ")));
        }
        out.push('\n');
    }
    out
}

/// The report as JSON, written atomically.
fn write_json(path: &Path, report: &Report) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(report)? + "\n";
    salient_model::atomic::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
