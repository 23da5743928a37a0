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
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use salient_data::{
    describe_skipped, Dataset, DiscoverOptions, LayoutKind, MapSigma, Split, SplitRule,
};
use salient_eval::{
    centre_bias_from_samples, evaluate_split, BaselineFit, EvalConfig, EvalError, EvalOutcome,
    PredictionDir, PredictionSource, UNSUPPORTED_REASON,
};
use salient_metrics::{
    CentreBiasModel, CentreBiasParams, EvalOptions, IgBaseline, MetricSet, Report, SaucNegatives,
};
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
    /// pysaliency's centre-bias model fitted on the other split's fixations (train when scoring
    /// val or test, val when scoring train), or on --baseline-data / --baseline-file; the scored
    /// split's own when there is no other.
    Centre,
    /// The centre-bias model of the scored split's own fixations.
    InSplit,
    /// The uniform distribution.
    Uniform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SaucNegativesArg {
    /// The other images' fixations of the scored split (pysaliency's `nonfixations='shuffled'`).
    Split,
    /// The centre-bias baseline's fixations (see --baseline).
    Baseline,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["checkpoint", "predictions", "score_baseline"])))]
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
    /// Baseline of the information gain (bits per fixation over it).
    #[arg(long, alias = "ig-baseline", value_enum, default_value = "centre")]
    pub baseline: BaselineArg,
    /// With --baseline centre: a centre-bias model written by `salient baseline`.
    #[arg(long, value_name = "FILE", conflicts_with = "baseline_data")]
    pub baseline_file: Option<PathBuf>,
    /// With --baseline centre: fit the centre bias on this dataset's fixations (all its images).
    #[arg(long, value_name = "DIR")]
    pub baseline_data: Option<PathBuf>,
    /// Where the shuffled AUC takes its negatives from.
    #[arg(long, value_enum, default_value = "split")]
    pub sauc_negatives: SaucNegativesArg,
    /// Score the centre-bias baseline itself (its density at each image's size) as the
    /// predictions: the baseline row of a benchmark table.
    #[arg(long)]
    pub score_baseline: bool,
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
    let mut baseline_skipped = Vec::new();
    let (baseline, baseline_note) = centre_bias(&args, &dataset, split, &mut baseline_skipped)?;
    let ig_baseline = match (args.baseline, &baseline) {
        (BaselineArg::Uniform, _) => IgBaseline::Uniform,
        (BaselineArg::Centre, Some(model)) => IgBaseline::Model(Arc::clone(model)),
        _ => IgBaseline::CentreBias,
    };
    let sauc_negatives = match (args.sauc_negatives, &baseline) {
        (SaucNegativesArg::Baseline, Some(model)) => {
            SaucNegatives::BaselineFixations(Arc::clone(model))
        }
        (SaucNegativesArg::Baseline, None) => bail!(
            "--sauc-negatives baseline needs a centre-bias model from another split, \
             --baseline-data or --baseline-file"
        ),
        (SaucNegativesArg::Split, _) => SaucNegatives::OtherImages,
    };
    let config = EvalConfig {
        metrics: args
            .metrics
            .as_deref()
            .map(str::parse::<MetricSet>)
            .transpose()?,
        options: EvalOptions {
            borji_seed: args.seed,
            ig_baseline,
        },
        sauc_negatives,
        allow_missing: args.allow_missing,
        skip_bad: args.skip_bad,
        map_sigma: dataset.map_sigma(),
    };
    let bar = progress_bar(samples.len(), args.quiet);
    let on_done = |n: usize| bar.inc(n as u64);
    let baseline_name = PathBuf::from("the centre-bias baseline");
    let (source_name, outcome) = match (&args.checkpoint, &args.predictions) {
        _ if args.score_baseline => {
            let model = baseline.as_deref().ok_or_else(|| {
                anyhow!(
                    "--score-baseline: no centre-bias model (no other split with fixations); \
                         give --baseline-data or --baseline-file"
                )
            })?;
            let source = PredictionSource::CentreBias(model);
            (
                &baseline_name,
                evaluate_split(samples, source, &config, on_done),
            )
        }
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
    writeln!(out, "{baseline_note}")?;
    let discovery_skipped: Vec<_> = dataset
        .skipped()
        .iter()
        .chain(&baseline_skipped)
        .cloned()
        .collect();
    write!(out, "{}", describe_left_out(&outcome, &discovery_skipped))?;
    let maps = (outcome.maps.iter().any(|m| m != "saliency map")).then_some(&outcome.maps[..]);
    if maps.is_some() {
        writeln!(
            out,
            "a fixation density: each metric on the map derived from it that is best for it \
             (Kümmerer et al., ECCV 2018)"
        )?;
    }
    write!(out, "{}", format_table(&outcome.report, maps))?;
    if let Some(path) = &args.json {
        write_json(path, &outcome.report, &outcome.maps)?;
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

/// The centre-bias model `--baseline centre` asks for, and a line saying what IG is measured
/// against: a file, another dataset, or the other split of this one (train for val/test, val for
/// train); `None` (the scored split's own centre bias) when there is no other split with
/// fixations.
fn centre_bias(
    args: &Args,
    dataset: &Dataset,
    split: Split,
    skipped: &mut Vec<salient_data::SkippedPair>,
) -> anyhow::Result<(Option<Arc<CentreBiasModel>>, String)> {
    let wanted = args.baseline == BaselineArg::Centre
        || args.score_baseline
        || args.baseline_file.is_some()
        || args.baseline_data.is_some()
        || args.sauc_negatives == SaucNegativesArg::Baseline;
    let ig_line = |model_line: &str| match args.baseline {
        BaselineArg::Uniform => "IG baseline: the uniform distribution".to_string(),
        BaselineArg::InSplit => {
            "IG baseline: the centre bias of the scored split's own fixations".to_string()
        }
        BaselineArg::Centre => model_line.to_string(),
    };
    if !wanted {
        return Ok((None, ig_line("")));
    }
    let describe = |model: &CentreBiasModel| {
        let p = model.params();
        let line = format!(
            "centre-bias baseline: pysaliency's BaselineModel (bandwidth {}, eps {}) of {} fixations from {}",
            p.bandwidth,
            p.eps,
            model.len(),
            model.source()
        );
        match args.baseline {
            BaselineArg::Centre => format!("{line}; IG is measured against it"),
            _ => format!("{line}\n{}", ig_line("")),
        }
    };
    if let Some(file) = &args.baseline_file {
        let model = CentreBiasModel::load(file)
            .with_context(|| format!("reading the centre-bias baseline {}", file.display()))?;
        let line = describe(&model);
        return Ok((Some(Arc::new(model)), line));
    }
    let (samples_of, source) = if let Some(other) = &args.baseline_data {
        let other_data = Dataset::discover(other, &DiscoverOptions::for_split(Split::All))
            .with_context(|| format!("reading the baseline dataset at {}", other.display()))?;
        let source = format!("{} (all images)", other.display());
        (other_data, source)
    } else {
        let other_split = match split {
            Split::Train => Split::Val,
            Split::Val | Split::Test => Split::Train,
            Split::All => return Ok((
                None,
                "IG baseline: the centre bias of the scored images' own fixations (--split all \
                     has no other split; give --baseline-data or --baseline-file to hold it out)"
                    .to_string(),
            )),
        };
        let options = DiscoverOptions {
            skip_bad: args.skip_bad,
            ..DiscoverOptions::for_split(other_split)
        }
        .with_rule(dataset.rule());
        let options = DiscoverOptions {
            layout: Some(dataset.layout()),
            map_sigma: args.split_options.map_sigma,
            ..options
        };
        let other = match Dataset::discover(dataset.root(), &options) {
            Ok(other)
                if other
                    .require(other_split)
                    .is_ok_and(|s| s.iter().any(|sample| sample.fixations.is_some())) =>
            {
                other
            }
            _ => {
                return Ok((
                    None,
                    ig_line(&format!(
                        "IG baseline: the centre bias of the scored split's own fixations (the \
                         {other_split} split has none to hold it out)"
                    )),
                ))
            }
        };
        let source = format!("the {other_split} split of {}", dataset.root().display());
        (other, source)
    };
    let samples = samples_of.split(if args.baseline_data.is_some() {
        Split::All
    } else {
        other_split_of(split)
    });
    let fit = BaselineFit::Params(CentreBiasParams::default());
    let (model, _) =
        centre_bias_from_samples(samples, &fit, &source, args.skip_bad, skipped).map_err(hint)?;
    let line = describe(&model);
    Ok((Some(Arc::new(model)), line))
}

fn other_split_of(split: Split) -> Split {
    match split {
        Split::Train => Split::Val,
        _ => Split::Train,
    }
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
/// metric defined on no image reads `n/a` (the JSON has `null`). With `maps` (a density model),
/// a last column says which map each metric was scored on.
fn format_table(report: &Report, maps: Option<&[String]>) -> String {
    let mut out = format!(
        "{:<12} {:>9} {:>9} {:>7}{}\n",
        "metric",
        "mean",
        "std",
        "images",
        if maps.is_some() { "  map" } else { "" }
    );
    for (k, (metric, s)) in report
        .metrics
        .metrics()
        .iter()
        .zip(&report.summaries)
        .enumerate()
    {
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
        if let Some(map) = maps.and_then(|m| m.get(k)) {
            out.push_str(&format!("  {map}"));
        }
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

/// The report as JSON, written atomically, with `maps`: metric name → the map it was scored on.
fn write_json(path: &Path, report: &Report, maps: &[String]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut value = serde_json::to_value(report)?;
    let by_metric: serde_json::Map<String, serde_json::Value> = report
        .metrics
        .metrics()
        .iter()
        .zip(maps)
        .map(|(m, map)| (m.name().to_string(), serde_json::Value::from(map.as_str())))
        .collect();
    if let serde_json::Value::Object(fields) = &mut value {
        fields.insert("maps".to_string(), serde_json::Value::Object(by_metric));
    }
    let text = serde_json::to_string_pretty(&value)? + "\n";
    salient_model::atomic::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
