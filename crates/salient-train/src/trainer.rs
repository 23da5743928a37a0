//! The training loop: set up (fresh or resumed), train epoch by epoch with a fresh gradient every
//! step, validate, checkpoint, log, plot; stop cleanly on request or on a non-finite loss.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use salient_model::{CheckpointMeta, FreezePolicy, Head, Mode, ModelConfig, SaliencyNet};

use crate::clip::clip_grad_norm;
use crate::config::{BackboneInit, TrainConfig};
use crate::error::TrainError;
use crate::metrics_log::{MetricsLog, Record};
use crate::optim::{Adam, AdamConfig};
use crate::plot::draw_plots;
use crate::rundir::{OpenMode, RunDir};
use crate::schedule::LrSchedule;
use crate::source::BatchSource;
use crate::state::{load_state, save_state, Position};
use crate::validate::{validate, Validation};

/// What the loop reports as it goes (progress bars, log lines); every method has a no-op default.
pub trait Observer {
    /// Once, before the first step: the plan.
    fn on_start(&mut self, _plan: &Plan) {}
    /// After every optimiser step.
    fn on_step(&mut self, _event: &StepEvent) {}
    /// Before a validation pass of `batches` batches.
    fn on_validation(&mut self, _batches: usize) {}
    /// After each validation batch.
    fn on_validation_batch(&mut self) {}
    /// Every record written to `metrics.jsonl`.
    fn on_record(&mut self, _record: &Record) {}
    /// A notable event (checkpoint saved, resume point, skipped files).
    fn on_message(&mut self, _message: &str) {}
}

/// An observer that reports nothing.
pub struct Silent;
impl Observer for Silent {}

/// The run as planned, for progress reporting.
#[derive(Debug, Clone)]
pub struct Plan {
    pub device: String,
    pub start_step: u64,
    pub total_steps: u64,
    pub steps_per_epoch: u64,
    pub epochs: usize,
    pub start_epoch: usize,
    pub train_images: usize,
    pub val_images: usize,
    pub trainable_params: usize,
    pub total_params: usize,
}

/// One optimiser step, as reported to the observer.
#[derive(Debug, Clone, Copy)]
pub struct StepEvent {
    /// 1-based epoch.
    pub epoch: usize,
    /// Steps done over the run, this one included.
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    /// Images per second over the current log window.
    pub images_per_s: f64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every epoch (or `max_steps`) done.
    Finished {
        step: u64,
        best: Option<(usize, f64)>,
    },
    /// Stopped on request (Ctrl-C) after saving `last`.
    Interrupted { step: u64 },
}

/// Everything a run needs besides the config.
pub struct RunInputs<'a> {
    pub train: &'a dyn BatchSource,
    pub val: Option<&'a dyn BatchSource>,
    pub device: Device,
    /// Set (e.g. by a Ctrl-C handler) to stop after the current step, saving `last`.
    pub stop: Arc<AtomicBool>,
    /// Human-readable description of the starting weights, for the logs.
    pub weights_note: Option<String>,
    /// More checkpoint metadata from the caller (e.g. [`META_SPLIT_RULE`]).
    pub extra_meta: Vec<(String, String)>,
    /// Where a fresh density head starts ([`crate::density_init`]); `None` keeps its defaults
    /// (σ 3% of the larger side, a uniform prior). Unused for the seed head and on resume.
    pub density_init: Option<crate::DensityInit>,
}

/// Metadata key: the dataset's split rule a model was trained with (JSON of
/// [`salient_data::SplitRule`]); `salient eval --checkpoint` holds out the same images.
pub const META_SPLIT_RULE: &str = "salient.split_rule";
/// Metadata key: the dataset root a model was trained on.
pub const META_DATA: &str = "salient.data";

/// The metadata entries that record how a dataset was split for training.
pub fn split_meta(data: &std::path::Path, rule: &salient_data::SplitRule) -> Vec<(String, String)> {
    let root = data.canonicalize().unwrap_or_else(|_| data.to_path_buf());
    vec![
        (
            META_SPLIT_RULE.to_string(),
            serde_json::to_string(rule).expect("a split rule is plain data"),
        ),
        (META_DATA.to_string(), root.display().to_string()),
    ]
}

/// Trains according to `cfg` in `run` (opened with `mode`).
pub fn train(
    cfg: &TrainConfig,
    run: &RunDir,
    mode: OpenMode,
    inputs: RunInputs<'_>,
    observer: &mut dyn Observer,
) -> Result<Outcome, TrainError> {
    cfg.validate()?;
    let resolved = cfg.resolved();
    let cfg = &resolved;
    let device = inputs.device.clone();
    let model_cfg = ModelConfig {
        freeze: cfg.freeze,
        dropout: cfg.dropout as f32,
        precision: cfg.precision,
        head: cfg.head,
    };
    let loss_spec = &cfg.loss_spec();

    // Model, optimiser and position: fresh or from `last`.
    let (net, mut optimizer, mut position) = if mode == OpenMode::Resume {
        let (net, meta) = SaliencyNet::load_checkpoint(&run.checkpoint("last"), model_cfg, &device)
            .map_err(|e| TrainError::Model(e.to_string()))?;
        if net.head() != cfg.head {
            return Err(TrainError::Config(format!(
                "{} holds the {} head, not the {} head asked for: resume with --head {}",
                run.checkpoint("last").display(),
                net.head(),
                cfg.head,
                net.head()
            )));
        }
        let mut optimizer = new_optimizer(cfg, &net)?;
        let (state, position) = load_state(&run.state_of("last"), &device)?;
        let model_step = meta.get("salient.step").and_then(|s| s.parse::<u64>().ok());
        if model_step != Some(position.step) {
            return Err(TrainError::state(
                &run.state_of("last"),
                format!(
                    "holds step {} but the model checkpoint holds step {model_step:?} \
                     (interrupted while saving?): start again with --force",
                    position.step
                ),
            ));
        }
        optimizer
            .load_state_tensors(&state)
            .map_err(|e| TrainError::state(&run.state_of("last"), e.to_string()))?;
        if position.seed != cfg.seed {
            return Err(TrainError::Config(format!(
                "the run was started with seed {}, not {}: resume with the same seed",
                position.seed, cfg.seed
            )));
        }
        (net, optimizer, position)
    } else {
        let mut net = SaliencyNet::new(model_cfg, cfg.seed, &device)
            .map_err(|e| TrainError::Model(e.to_string()))?;
        if cfg.backbone_init == BackboneInit::Pretrained {
            net.load_backbone(&cfg.weights).map_err(|e| {
                TrainError::Model(format!(
                    "{e}\n(get the ImageNet backbone with `cargo xtask fetch-weights`, or train \
                     from scratch with --backbone-init random)"
                ))
            })?;
        }
        if let Some(init) = inputs
            .density_init
            .as_ref()
            .filter(|_| cfg.head == Head::Density)
        {
            start_density_head(&net, init, observer)?;
        }
        let optimizer = new_optimizer(cfg, &net)?;
        (net, optimizer, Position::start(cfg.seed))
    };
    salient_model::atomic::write_atomic(&run.config(), cfg.to_toml().as_bytes())
        .map_err(|e| TrainError::io(&run.config(), e))?;
    let log = MetricsLog::new(&run.metrics());
    if mode == OpenMode::Resume {
        log.truncate_after(position.step)?;
        observer.on_message(&format!(
            "resumed {} at epoch {}, batch {}, step {}",
            run.root.display(),
            position.epoch + 1,
            position.batch_in_epoch,
            position.step
        ));
    } else if run.metrics().exists() {
        std::fs::remove_file(run.metrics()).map_err(|e| TrainError::io(&run.metrics(), e))?;
    }

    let steps_per_epoch = inputs.train.batches_per_epoch() as u64;
    if steps_per_epoch == 0 {
        return Err(TrainError::Data(format!(
            "the training split has {} images: fewer than one batch of {}",
            inputs.train.images(),
            cfg.batch_size
        )));
    }
    let all_steps = steps_per_epoch * cfg.epochs as u64;
    let total_steps = cfg.max_steps.map_or(all_steps, |m| m.min(all_steps));
    let schedule = cfg.lr_schedule(steps_per_epoch, total_steps);
    schedule.validate()?;
    let counts = net.parameter_counts();
    observer.on_start(&Plan {
        device: crate::device::describe(&device),
        start_step: position.step,
        total_steps,
        steps_per_epoch,
        epochs: cfg.epochs,
        start_epoch: position.epoch,
        train_images: inputs.train.images(),
        val_images: inputs.val.map_or(0, |v| v.images()),
        trainable_params: counts.trainable,
        total_params: counts.total,
    });
    if let Some(note) = &inputs.weights_note {
        observer.on_message(note);
    }
    if cfg.backbone_init == BackboneInit::Random && cfg.freeze != FreezePolicy::None {
        observer.on_message(&format!(
            "note: the backbone is randomly initialised and `{}` of it stays frozen",
            cfg.freeze.as_str()
        ));
    }

    let mut looper = Looper {
        cfg,
        run,
        net,
        schedule,
        log,
        meta: {
            let mut meta = checkpoint_meta(cfg);
            for (key, value) in &inputs.extra_meta {
                meta.set(key.clone(), value.clone());
            }
            meta
        },
        saved_any: mode == OpenMode::Resume,
    };
    let vars = looper.net.trainable_vars();
    let var_refs: Vec<&candle_core::Var> = vars.iter().map(|(_, v)| v).collect();

    while position.epoch < cfg.epochs && position.step < total_steps {
        let epoch = position.epoch;
        let epoch_start = Instant::now();
        let mut epoch_images = 0usize;
        let mut window = Window::new();
        let batches = inputs.train.epoch(epoch, position.batch_in_epoch)?;
        let mut stopped = false;
        for batch in batches {
            if position.step >= total_steps {
                break;
            }
            let batch = batch?.to_device(&device)?;
            let lr = looper.schedule.lr_at(position.step);
            optimizer.set_lr(lr);
            let pred = looper
                .net
                .forward(&batch.images, Mode::Train)
                .map_err(|e| TrainError::Model(e.to_string()))?;
            let loss =
                loss_spec.compute_for(cfg.head, &pred, &batch.maps, batch.fixations.as_ref())?;
            let value = loss.to_scalar::<f32>()?;
            if !value.is_finite() {
                return Err(looper.non_finite(value, epoch, position.step + 1));
            }
            // `backward` builds a fresh gradient store every step: nothing accumulates (the seed's
            // missing `zero_grad` bug cannot happen).
            let mut grads = loss.backward()?;
            if let Some(max_norm) = cfg.clip_grad {
                clip_grad_norm(&mut grads, &var_refs, max_norm)?;
            }
            optimizer
                .step(&grads)
                .map_err(|e| TrainError::Model(format!("optimiser: {e}")))?;
            drop(grads);

            position.step += 1;
            position.batch_in_epoch += 1;
            position.epoch_loss_sum += f64::from(value);
            position.epoch_loss_count += 1;
            epoch_images += batch.n;
            window.add(f64::from(value), batch.n);
            let event = StepEvent {
                epoch: epoch + 1,
                step: position.step,
                loss: f64::from(value),
                lr,
                images_per_s: window.images_per_s(),
            };
            observer.on_step(&event);
            if position.step % cfg.log_every == 0 {
                let record = Record::Step {
                    epoch: epoch + 1,
                    step: position.step,
                    loss: window.mean_loss(),
                    lr,
                    images_per_s: window.images_per_s(),
                };
                looper.log.append(&record)?;
                observer.on_record(&record);
                window = Window::new();
            }
            if inputs.stop.load(Ordering::SeqCst) {
                stopped = true;
                break;
            }
        }
        if stopped {
            looper.save_last(&optimizer, &position)?;
            observer.on_message(&format!(
                "interrupted: saved {} at step {} (continue with --resume)",
                looper.run.checkpoint("last").display(),
                position.step
            ));
            return Ok(Outcome::Interrupted {
                step: position.step,
            });
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let epoch_done = position.batch_in_epoch as u64 >= steps_per_epoch;

        // Validation and the epoch's record.
        let validation = match inputs.val {
            Some(val) => Some(validate(&looper.net, val, loss_spec, &device, observer)?),
            None => None,
        };
        if let Some(Validation { loss: Some(v), .. }) = &validation {
            if !v.is_finite() {
                return Err(looper.non_finite(*v as f32, epoch, position.step));
            }
        }
        let is_best = looper.update_best(&mut position, validation.as_ref(), epoch);
        let record = Record::Epoch {
            epoch: epoch + 1,
            step: position.step,
            train_loss: position.epoch_loss_sum / position.epoch_loss_count.max(1) as f64,
            val_loss: validation.as_ref().and_then(|v| v.loss),
            val: validation
                .as_ref()
                .map(|v| v.metrics.clone())
                .unwrap_or_default(),
            lr: looper.schedule.lr_at(position.step.saturating_sub(1)),
            images_per_s: epoch_images as f64 / train_seconds.max(1e-9),
            seconds: epoch_start.elapsed().as_secs_f64(),
            best: is_best,
        };
        looper.log.append(&record)?;
        observer.on_record(&record);

        if epoch_done {
            position.epoch += 1;
            position.batch_in_epoch = 0;
            position.epoch_loss_sum = 0.0;
            position.epoch_loss_count = 0;
        }
        if is_best {
            looper.save_model("best")?;
        }
        looper.save_last(&optimizer, &position)?;
        if epoch_done && cfg.checkpoint_every > 0 && position.epoch % cfg.checkpoint_every == 0 {
            looper.save_model(&format!("epoch-{}", position.epoch))?;
        }
        let records = looper.log.read()?;
        if let Err(e) = draw_plots(&records, &run.loss_plot(), &run.metrics_plot()) {
            observer.on_message(&format!("warning: {e}"));
        }
    }
    Ok(Outcome::Finished {
        step: position.step,
        best: position.best_epoch.zip(position.best_value),
    })
}

/// Sets a fresh density head's σ and prior from the training data, and says so.
fn start_density_head(
    net: &SaliencyNet,
    init: &crate::DensityInit,
    observer: &mut dyn Observer,
) -> Result<(), TrainError> {
    let model = |e: salient_model::ModelError| TrainError::Model(e.to_string());
    net.set_density_sigma(init.sigma_fraction).map_err(model)?;
    if let Some(prior) = &init.prior {
        net.set_density_prior(prior).map_err(model)?;
    }
    for note in &init.notes {
        observer.on_message(note);
    }
    Ok(())
}

fn new_optimizer(cfg: &TrainConfig, net: &SaliencyNet) -> Result<Adam, TrainError> {
    let adam = AdamConfig {
        lr: cfg.lr,
        beta1: cfg.betas[0],
        beta2: cfg.betas[1],
        eps: cfg.eps,
        weight_decay: cfg.weight_decay,
        decoupled_weight_decay: false,
    };
    Adam::new(net.trainable_vars(), adam).map_err(|e| TrainError::Config(e.to_string()))
}

/// Metadata every checkpoint of the run carries (what `predict` and `eval` need to use it).
fn checkpoint_meta(cfg: &TrainConfig) -> CheckpointMeta {
    let mut meta = CheckpointMeta::new();
    meta.set_input_size(cfg.size.height, cfg.size.width)
        .set_normalize(cfg.normalize.to_string())
        .set_freeze(cfg.freeze)
        .set("salient.loss", cfg.loss_spec().to_string())
        .set("salient.seed", cfg.seed.to_string());
    meta
}

/// Running mean loss and throughput over the current log window.
struct Window {
    start: Instant,
    loss_sum: f64,
    steps: u64,
    images: usize,
}

impl Window {
    fn new() -> Self {
        Window {
            start: Instant::now(),
            loss_sum: 0.0,
            steps: 0,
            images: 0,
        }
    }
    fn add(&mut self, loss: f64, images: usize) {
        self.loss_sum += loss;
        self.steps += 1;
        self.images += images;
    }
    fn mean_loss(&self) -> f64 {
        self.loss_sum / self.steps.max(1) as f64
    }
    fn images_per_s(&self) -> f64 {
        self.images as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }
}

/// The loop's long-lived parts, so that saving and best-tracking read as one line each.
struct Looper<'a> {
    cfg: &'a TrainConfig,
    run: &'a RunDir,
    net: SaliencyNet,
    schedule: LrSchedule,
    log: MetricsLog,
    meta: CheckpointMeta,
    saved_any: bool,
}

impl Looper<'_> {
    fn save_model(&mut self, name: &str) -> Result<(), TrainError> {
        let path = self.run.checkpoint(name);
        self.net
            .save_checkpoint(&path, &self.meta)
            .map_err(|e| TrainError::Model(format!("saving {}: {e}", path.display())))
    }

    /// `last` model, then its state: a crash between the two leaves a model newer than its state,
    /// which resume detects by the step recorded in the model metadata.
    fn save_last(&mut self, optimizer: &Adam, position: &Position) -> Result<(), TrainError> {
        let state = optimizer
            .state_tensors()
            .map_err(|e| TrainError::Model(format!("optimiser state: {e}")))?;
        let mut meta = self.meta.clone();
        meta.set("salient.step", position.step.to_string());
        let path = self.run.checkpoint("last");
        self.net
            .save_checkpoint(&path, &meta)
            .map_err(|e| TrainError::Model(format!("saving {}: {e}", path.display())))?;
        save_state(&self.run.state_of("last"), &state, position)?;
        self.saved_any = true;
        Ok(())
    }

    /// Updates the best score; true when this epoch is the new best.
    fn update_best(
        &self,
        position: &mut Position,
        validation: Option<&Validation>,
        epoch: usize,
    ) -> bool {
        let key = self.cfg.best_by.key();
        let value = validation.and_then(|v| {
            if key == "loss" {
                v.loss
            } else {
                v.metrics.get(key).copied()
            }
        });
        let Some(value) = value.filter(|v| v.is_finite()) else {
            return false;
        };
        let better = match position.best_value {
            None => true,
            Some(best) if self.cfg.best_by.higher_is_better() => value > best,
            Some(best) => value < best,
        };
        if better {
            position.best_value = Some(value);
            position.best_epoch = Some(epoch + 1);
        }
        better
    }

    fn non_finite(&self, value: f32, epoch: usize, step: u64) -> TrainError {
        let kept = if self.saved_any {
            format!(
                "the last good checkpoint, {}, is kept",
                self.run.checkpoint("last").display()
            )
        } else {
            "no checkpoint had been written yet".to_string()
        };
        TrainError::NonFinite {
            value,
            epoch: epoch + 1,
            step,
            kept,
        }
    }
}

/// Validation metric means by name, for callers that only want the numbers.
pub type MetricMeans = BTreeMap<String, f64>;
