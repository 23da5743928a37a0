//! `salient baseline`: fit pysaliency's centre-bias model (`BaselineModel`) on a dataset split's
//! fixations and write it, so that `salient eval --baseline-file` (and others) can reuse it.

use std::path::PathBuf;

use anyhow::Context;
use salient_data::{describe_skipped, Dataset, Split};
use salient_eval::{centre_bias_from_samples, BaselineFit};
use salient_metrics::{
    eps_for_uniform_share, CentreBiasParams, FitOptions, DEFAULT_BANDWIDTH, DEFAULT_EPS,
};

use super::eval::{SplitArg, SplitOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Dataset root whose fixations the model is fitted on.
    #[arg(long)]
    pub data: PathBuf,
    /// Which split's fixations (the one you will NOT score with it; `all` for another dataset).
    #[arg(long, value_enum, default_value = "train")]
    pub split: SplitArg,
    #[command(flatten)]
    pub split_options: SplitOptions,
    /// Where to write the model (safetensors: the normalised fixations and the parameters).
    #[arg(long)]
    pub out: PathBuf,
    /// Kernel width as a fraction of the image side (σ_x = b·W, σ_y = b·H).
    #[arg(long, default_value_t = DEFAULT_BANDWIDTH, conflicts_with = "fit")]
    pub bandwidth: f64,
    /// pysaliency's regularisation: weight of the uniform map before normalising.
    #[arg(long, default_value_t = DEFAULT_EPS, conflicts_with = "fit")]
    pub eps: f64,
    /// Normalise coordinates by the larger image side (a round kernel).
    #[arg(long)]
    pub keep_aspect: bool,
    /// Choose bandwidth and regularisation by 10-fold held-out log-likelihood over images.
    #[arg(long)]
    pub fit: bool,
    /// Skip unreadable fixation files and list them.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let split = Split::from(args.split);
    let (options, _) =
        args.split_options
            .discover_options(&args.data, split, None, args.skip_bad)?;
    let dataset = Dataset::discover(&args.data, &options)
        .with_context(|| format!("reading the dataset at {}", args.data.display()))?;
    let samples = dataset.require(split)?;
    let fit = if args.fit {
        BaselineFit::CrossValidated(FitOptions {
            keep_aspect: args.keep_aspect,
            ..FitOptions::default()
        })
    } else {
        BaselineFit::Params(CentreBiasParams {
            bandwidth: args.bandwidth,
            eps: args.eps,
            keep_aspect: args.keep_aspect,
        })
    };
    let source = format!("the {} split of {}", split.name(), args.data.display());
    let mut skipped = dataset.skipped().to_vec();
    let (model, fitted) =
        centre_bias_from_samples(samples, &fit, &source, args.skip_bad, &mut skipped)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    model
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let p = model.params();
    println!(
        "centre bias of {} fixations on {} images ({}; rule: {}): bandwidth {}, eps {}{}",
        model.len(),
        samples.len(),
        source,
        dataset.rule(),
        p.bandwidth,
        p.eps,
        if p.keep_aspect { ", keep_aspect" } else { "" }
    );
    if let Some(fitted) = fitted {
        println!(
            "fitted by {}-fold held-out log-likelihood: {:.4} bits per fixation over uniform \
             (uniform share {:.2e}, eps {:.3e})",
            fitted.folds,
            fitted.best.bits,
            fitted.best.uniform_share,
            eps_for_uniform_share(fitted.best.uniform_share, model.len())
        );
    }
    if !skipped.is_empty() {
        eprintln!("bad input (--skip-bad): {}", describe_skipped(&skipped, 5));
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
