//! `salient data check|split|synth`: the dataset commands. `check` is what a user runs first on
//! a dataset; `split` writes the list files unsplit layouts are divided by; `synth` writes a
//! deterministic synthetic dataset (SALICON layout) for trying things out.

use std::path::PathBuf;

use anyhow::{bail, Context};
use salient_data::check::{check_dataset, CheckReport, SplitStats};
use salient_data::synth::{write_synthetic, SynthOptions};
use salient_data::{Dataset, DiscoverOptions, LayoutKind, MapSigma, Split, SplitRule};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Detect the layout, count images and fixations per split, and list every problem (exit
    /// code 1 when there is one).
    Check(CheckArgs),
    /// Write `<split dir>/train.txt` and `val.txt` (and `test.txt`) for an unsplit dataset.
    Split(SplitArgs),
    /// Write a deterministic synthetic dataset in the SALICON layout.
    Synth(SynthArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Dataset root.
    pub data: PathBuf,
    /// Force the layout: seed, salicon, stimuli, mit1003, cat2000, osie, csv.
    #[arg(long)]
    pub layout: Option<LayoutKind>,
    /// Folder of split list files (default `<data>/splits` when it exists).
    #[arg(long, value_name = "DIR")]
    pub split_dir: Option<PathBuf>,
    /// Seed and fraction of the held-out draw when there are no list files.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Blur that builds maps from fixations: pixels (`24`) or a percentage of the larger side (`3%`).
    #[arg(long, value_name = "SIGMA")]
    pub map_sigma: Option<MapSigma>,
    /// Read headers only (fast); by default every image, map and fixation file is decoded.
    #[arg(long)]
    pub quick: bool,
    /// Problems listed in full (the rest are counted).
    #[arg(long, default_value_t = 20)]
    pub show: usize,
}

#[derive(clap::Args)]
pub struct SplitArgs {
    /// Dataset root (an unsplit layout: MIT1003, CAT2000, OSIE, csv, flat stimuli).
    pub data: PathBuf,
    /// Where to write the list files (default `<data>/splits`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Fraction of the images for validation.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Fraction of the images for a test split (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub test_fraction: f64,
    /// Seed of the draw: the same seed writes the same lists.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Force the layout.
    #[arg(long)]
    pub layout: Option<LayoutKind>,
    /// Replace existing list files.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Folder to write `images/`, `maps/` and `fixations/` into (each with `train/` and `val/`).
    #[arg(long, default_value = "data/synth")]
    pub out: PathBuf,
    /// Training scenes.
    #[arg(long, default_value_t = 64)]
    pub train: usize,
    /// Validation scenes.
    #[arg(long, default_value_t = 16)]
    pub val: usize,
    /// Scene size as WIDTHxHEIGHT.
    #[arg(long, default_value = "256x192", value_parser = parse_size)]
    pub size: (usize, usize),
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check(args) => check(args),
        Command::Split(args) => split(args),
        Command::Synth(args) => synth(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let options = DiscoverOptions {
        layout: args.layout,
        split_dir: args.split_dir.clone(),
        split_seed: args.split_seed,
        val_fraction: args.val_fraction,
        map_sigma: args.map_sigma,
        ..DiscoverOptions::default()
    };
    let report = check_dataset(&args.data, &options, args.quick)
        .with_context(|| format!("checking the dataset at {}", args.data.display()))?;
    print!("{}", format_report(&report, args.show));
    if !report.is_ok() {
        std::process::exit(1);
    }
    Ok(())
}

/// The report as text: layout, split rule, a table of the splits, notes and problems.
pub fn format_report(report: &CheckReport, show: usize) -> String {
    let mut out = format!("dataset: {}\n", report.root.display());
    out.push_str(&format!("layout: {}\n", report.layout));
    out.push_str(&format!("split rule: {}\n", report.rule));
    match &report.map_sigma {
        Some(sigma) => out.push_str(&format!(
            "maps: built from the fixations (Gaussian, sigma = {sigma})\n"
        )),
        None => out.push_str("maps: given\n"),
    }
    out.push_str(&format!(
        "{:<6} {:>7}  {:<21} {:>10}  {:<17} {:<13} {}\n",
        "split", "images", "size (w x h)", "fixations", "fixations/image", "viewers/image", "maps"
    ));
    for s in &report.splits {
        out.push_str(&split_row(s));
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if report.problems.is_empty() {
        out.push_str("problems: none\n");
    } else {
        out.push_str(&format!("problems: {}\n", report.problems.len()));
        for p in report.problems.iter().take(show) {
            out.push_str(&format!("  {}\n", p.message));
        }
        if report.problems.len() > show {
            out.push_str(&format!(
                "  ... and {} more (--show N lists more)\n",
                report.problems.len() - show
            ));
        }
    }
    out
}

fn split_row(s: &SplitStats) -> String {
    let size = match s.size_range {
        None => "-".to_string(),
        Some((lo, hi)) if lo == hi => format!("{}x{}", lo.0, lo.1),
        Some((lo, hi)) => format!("{}x{} .. {}x{}", lo.0, lo.1, hi.0, hi.1),
    };
    let range = |r: Option<(usize, usize)>| match r {
        None => "-".to_string(),
        Some((lo, hi)) if lo == hi => lo.to_string(),
        Some((lo, hi)) => format!("{lo}-{hi}"),
    };
    let fixations = if s.with_fixations == 0 {
        "none".to_string()
    } else {
        s.fixations.to_string()
    };
    let maps = match (s.maps_given, s.maps_built) {
        (_, 0) => "given".to_string(),
        (0, _) => "built".to_string(),
        (g, b) => format!("{g} given, {b} built"),
    };
    format!(
        "{:<6} {:>7}  {:<21} {:>10}  {:<17} {:<13} {}\n",
        s.split.name(),
        s.images,
        size,
        fixations,
        range(s.fixations_per_image),
        range(s.viewers_per_image),
        maps
    )
}

fn split(args: SplitArgs) -> anyhow::Result<()> {
    let bad_fraction = |f: f64| !(0.0..1.0).contains(&f);
    if bad_fraction(args.val_fraction)
        || bad_fraction(args.test_fraction)
        || args.val_fraction + args.test_fraction >= 1.0
    {
        bail!(
            "--val-fraction {} and --test-fraction {} must be in [0, 1) and leave images for training",
            args.val_fraction,
            args.test_fraction
        );
    }
    let dataset = Dataset::discover(
        &args.data,
        &DiscoverOptions {
            layout: args.layout,
            splits: vec![Split::All],
            // Every image is listed, even one with a problem (`data check` reports those).
            check_headers: false,
            skip_bad: true,
            ..DiscoverOptions::default()
        },
    )
    .with_context(|| format!("reading the dataset at {}", args.data.display()))?;
    if *dataset.rule() == SplitRule::Folders {
        bail!(
            "{} is split by its {} folders already; list files are for unsplit layouts",
            args.data.display(),
            dataset.layout()
        );
    }
    let names: Vec<String> = dataset
        .split(Split::All)
        .iter()
        .map(relative_name)
        .collect();
    if !dataset.skipped().is_empty() {
        eprintln!(
            "note: {} image(s) with problems are left out of the lists (see salient data check {})",
            dataset.skipped().len(),
            args.data.display()
        );
    }
    let out = args.out.clone().unwrap_or_else(|| args.data.join("splits"));
    let assigned = assign(
        names.len(),
        args.seed,
        args.val_fraction,
        args.test_fraction,
    );
    let mut files: Vec<(Split, Vec<&str>)> = vec![(Split::Train, vec![]), (Split::Val, vec![])];
    if args.test_fraction > 0.0 {
        files.push((Split::Test, vec![]));
    }
    for (name, split) in names.iter().zip(assigned) {
        if let Some((_, list)) = files.iter_mut().find(|(s, _)| *s == split) {
            list.push(name);
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for (split, list) in &files {
        let path = out.join(format!("{}.txt", split.name()));
        if path.exists() && !args.force {
            bail!("{} exists; pass --force to replace it", path.display());
        }
        let mut text = format!(
            "# {} split of {} (salient data split --seed {} --val-fraction {} --test-fraction {})\n",
            split.name(),
            args.data.display(),
            args.seed,
            args.val_fraction,
            args.test_fraction
        );
        for name in list {
            text.push_str(name);
            text.push('\n');
        }
        salient_model::atomic::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} ({} images)", path.display(), list.len());
    }
    Ok(())
}

/// The image's path relative to its stimuli folder, as list files name it.
fn relative_name(sample: &salient_data::Sample) -> String {
    let ext = sample
        .image
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    format!("{}{ext}", sample.stem)
}

/// Deterministic assignment of `n` sorted images: a ChaCha8 shuffle seeded with `seed`, the first
/// `round(n·val)` to val, the next `round(n·test)` to test, the rest to train.
fn assign(n: usize, seed: u64, val: f64, test: f64) -> Vec<Split> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let n_val = (n as f64 * val).round() as usize;
    let n_test = (n as f64 * test).round() as usize;
    let mut out = vec![Split::Train; n];
    for (rank, &i) in order.iter().enumerate() {
        if rank < n_val {
            out[i] = Split::Val;
        } else if rank < n_val + n_test {
            out[i] = Split::Test;
        }
    }
    out
}

fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let options = SynthOptions {
        train: args.train,
        val: args.val,
        width: args.size.0,
        height: args.size.1,
        seed: args.seed,
    };
    let summary = write_synthetic(&args.out, &options)
        .with_context(|| format!("writing synthetic data to {}", args.out.display()))?;
    println!(
        "wrote {} train + {} val scenes of {}x{} ({} fixations) to {}",
        summary.train,
        summary.val,
        options.width,
        options.height,
        summary.fixations,
        args.out.display()
    );
    Ok(())
}

fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size '{text}' is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("size '{text}' is not WIDTHxHEIGHT"))
    };
    Ok((parse(w)?, parse(h)?))
}
