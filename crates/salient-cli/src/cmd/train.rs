//! `salient train`: Train the model (config file + flags).
//!
//! Order of precedence: flags > `--config FILE` (or, with `--resume`, the run's own `config.toml`)
//! > the seed's defaults. The resolved config is written to `RUN_DIR/config.toml`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use salient_data::{describe_skipped, LayoutKind, MapSigma, Normalize, Pipeline};
use salient_model::{FreezePolicy, Head, Precision};
use salient_train::device::{describe, DeviceSpec};
use salient_train::source::{dataset_sources, BatchSource};
use salient_train::{
    train, BackboneInit, BestBy, InputSize, LossSpec, OpenMode, Outcome, RunDir, RunInputs,
    Schedule, TrainConfig,
};

use crate::progress::TrainProgress;

#[derive(clap::Args)]
pub struct Args {
    /// TOML config file (every key is optional; see docs/train.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Dataset root (any layout `salient data check` recognises).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Force the dataset layout: seed, salicon, stimuli, mit1003, cat2000, osie, csv.
    #[arg(long)]
    pub layout: Option<LayoutKind>,
    /// Folder of split list files train.txt / val.txt for unsplit layouts (default
    /// <data>/splits when it exists).
    #[arg(long, value_name = "DIR")]
    pub split_dir: Option<PathBuf>,
    /// Fraction held out for validation when an unsplit layout has no list files (drawn with
    /// --seed; default 0.1).
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Blur that builds maps from fixations where the dataset has none: pixels (24) or a
    /// percentage of the larger side (3%); default per layout.
    #[arg(long, value_name = "SIGMA")]
    pub map_sigma: Option<MapSigma>,
    /// Run directory (default: a new folder under runs/).
    #[arg(long, value_name = "RUN_DIR")]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Network input size HxW, multiples of 32 (default 256x256).
    #[arg(long, value_name = "HxW")]
    pub size: Option<InputSize>,
    /// Adam learning rate (default 1e-3).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Output head: seed (the seed's sigmoid saliency map) or density (a fixation density with a
    /// learned blur and centre-bias prior; predicts log-densities).
    #[arg(long)]
    pub head: Option<Head>,
    /// Loss: mse, bce, kld, cc, nss, sim, nll or a weighted sum like kld+0.5cc or nll+0.5cc
    /// (default: mse with the seed head, nll with the density head).
    #[arg(long)]
    pub loss: Option<LossSpec>,
    /// Frozen part: none|stem|layer1|layer2|layer3|backbone (default layer2).
    #[arg(long)]
    pub freeze: Option<FreezePolicy>,
    /// Backbone safetensors file, torchvision naming (default weights/resnet50.safetensors).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// pretrained (from --weights) or random.
    #[arg(long, value_name = "pretrained|random")]
    pub backbone_init: Option<BackboneInit>,
    /// Input normalisation: imagenet or unit (x/255, the seed's).
    #[arg(long)]
    pub normalize: Option<Normalize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many optimiser steps in total.
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long)]
    pub device: Option<String>,
    /// Convolution precision: f32 (any device), tf32, bf16 or f16 (CUDA only; weights and Adam state stay
    /// f32).
    #[arg(long)]
    pub precision: Option<Precision>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Delete an existing run directory and start again.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Plain log lines instead of progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Skip unreadable or mismatched image/map pairs and list them.
    #[arg(long)]
    pub skip_bad: bool,
    /// Also keep checkpoints/epoch-N.safetensors every N epochs.
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// constant, step or cosine.
    #[arg(long)]
    pub schedule: Option<Schedule>,
    /// Clip the global gradient norm to this value.
    #[arg(long, value_name = "MAX_NORM")]
    pub clip_grad: Option<f64>,
    /// Validation figure that picks `best`: cc, loss, kld, nss or sim.
    #[arg(long)]
    pub best_by: Option<BestBy>,
    /// Loader threads (0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Training augmentation: train (the seed's), val (resize only) or ops like
    /// resize,horizontal_flip:0.5,rotate:0.6 (docs/data.md).
    #[arg(long, value_name = "SPEC")]
    pub pipeline: Option<Pipeline>,
}

impl Args {
    /// The flags given, applied over `cfg`.
    fn apply(&self, cfg: &mut TrainConfig) {
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field { cfg.$field = v.clone(); }
            )*};
        }
        set!(
            data,
            epochs,
            batch_size,
            size,
            lr,
            head,
            freeze,
            weights,
            backbone_init,
            normalize,
            seed,
            device,
            precision,
            weight_decay,
            schedule,
            best_by,
            threads,
            pipeline
        );
        if let Some(v) = self.out.clone() {
            cfg.out = Some(v);
        }
        if let Some(v) = &self.loss {
            cfg.loss = Some(v.clone());
        }
        if let Some(v) = self.val_fraction {
            cfg.val_fraction = v;
        }
        if self.layout.is_some() {
            cfg.layout = self.layout;
        }
        if self.split_dir.is_some() {
            cfg.split_dir = self.split_dir.clone();
        }
        if self.map_sigma.is_some() {
            cfg.map_sigma = self.map_sigma;
        }
        if let Some(v) = self.max_steps {
            cfg.max_steps = Some(v);
        }
        if let Some(v) = self.checkpoint_every {
            cfg.checkpoint_every = v;
        }
        if let Some(v) = self.clip_grad {
            cfg.clip_grad = Some(v);
        }
        if self.skip_bad {
            cfg.skip_bad = true;
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.resume && args.out.is_none() {
        bail!("--resume needs --out RUN_DIR: the run to continue");
    }
    let mut cfg = match (&args.config, args.resume) {
        (Some(path), _) => TrainConfig::from_toml_file(path)?,
        (None, true) => {
            let run_config = args
                .out
                .as_ref()
                .expect("checked above")
                .join("config.toml");
            TrainConfig::from_toml_file(&run_config)
                .with_context(|| format!("reading the run's config {}", run_config.display()))?
        }
        (None, false) => TrainConfig::default(),
    };
    args.apply(&mut cfg);
    let out = match &cfg.out {
        Some(out) => out.clone(),
        None => RunDir::new_default_path(Path::new("runs")),
    };
    cfg.out = Some(out.clone());
    cfg.validate()?;
    let mode = if args.resume {
        OpenMode::Resume
    } else if args.force {
        OpenMode::Force
    } else {
        OpenMode::Fresh
    };

    let device_spec: DeviceSpec = cfg.device.parse()?;
    let device = device_spec.open()?;
    cfg.precision.check_device(&device)?;
    let mut progress = TrainProgress::new(args.quiet);
    progress.line(&format!(
        "device: {} (asked: {device_spec}{}), precision {}",
        describe(&device),
        if cfg!(feature = "cuda") {
            ", CUDA build"
        } else {
            ", CPU-only build"
        },
        cfg.precision
    ));

    let sources = dataset_sources(&cfg)?;
    let run = RunDir::open(&out, mode)?;
    progress.line(&format!("run directory: {}", run.root.display()));
    progress.line(&format!("split: {}", sources.split_rule));
    for note in &sources.notes {
        progress.line(&format!("note: {note}"));
    }

    let stop = Arc::new(AtomicBool::new(false));
    install_ctrl_c(Arc::clone(&stop), &mut progress)?;
    let weights_note = (cfg.backbone_init == BackboneInit::Pretrained && mode != OpenMode::Resume)
        .then(|| weights_note(&cfg.weights));
    let density_init = if cfg.head == Head::Density && mode != OpenMode::Resume {
        Some(salient_train::density_init(
            sources.train.loader.samples(),
            sources.map_sigma,
        )?)
    } else {
        None
    };
    let inputs = RunInputs {
        density_init,
        train: &sources.train,
        val: sources.val.as_ref().map(|v| v as &dyn BatchSource),
        device,
        stop,
        weights_note,
        extra_meta: salient_train::trainer::split_meta(&cfg.data, &sources.split_rule),
    };
    let outcome = train(&cfg, &run, mode, inputs, &mut progress);
    progress.finish();
    let all_bad = sources.all_skipped();
    if !all_bad.is_empty() {
        eprintln!("bad input (--skip-bad): {}", describe_skipped(&all_bad, 5));
    }
    match outcome? {
        Outcome::Finished { step, best } => {
            println!("finished after {step} steps: {}", run.root.display());
            if let Some((epoch, value)) = best {
                println!(
                    "best: epoch {epoch}, val {} = {value:.4} -> {}",
                    cfg.best_by.key(),
                    run.checkpoint("best").display()
                );
            }
            println!("last: {}", run.checkpoint("last").display());
        }
        Outcome::Interrupted { step } => {
            println!(
                "stopped at step {step}; continue with: salient train --out {} --resume",
                run.root.display()
            );
        }
    }
    Ok(())
}

/// First Ctrl-C: finish the current step, save `last`, exit cleanly. Second: exit at once.
fn install_ctrl_c(stop: Arc<AtomicBool>, progress: &mut TrainProgress) -> anyhow::Result<()> {
    let result = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: saving a checkpoint after this step (press again to quit now)");
    });
    if let Err(e) = result {
        progress.line(&format!("warning: Ctrl-C will not save a checkpoint ({e})"));
    }
    Ok(())
}

/// Which backbone weights the run starts from, with the fetch manifest's provenance when present.
fn weights_note(weights: &Path) -> String {
    let mut manifest = weights.as_os_str().to_owned();
    manifest.push(".json");
    let provenance = std::fs::read_to_string(PathBuf::from(manifest))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|m| {
            format!(
                " ({}@{}, sha256 {})",
                m["repo"].as_str().unwrap_or("?"),
                m["commit"]
                    .as_str()
                    .or(m["revision"].as_str())
                    .unwrap_or("?"),
                m["sha256"]
                    .as_str()
                    .map(|s| &s[..s.len().min(12)])
                    .unwrap_or("?")
            )
        })
        .unwrap_or_default();
    format!("backbone: {}{provenance}", weights.display())
}
