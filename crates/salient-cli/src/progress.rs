//! Progress reporting for `salient train`: an indicatif bar (loss, images/s, ETA) or, with
//! `--quiet`, plain log lines; both print one summary line per epoch.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use salient_train::metrics_log::Record;
use salient_train::{Observer, Plan, StepEvent};

/// The training observer used by the CLI.
pub struct TrainProgress {
    quiet: bool,
    bar: Option<ProgressBar>,
    /// Validation batches done / planned.
    val: (usize, usize),
    log_every: u64,
}

impl TrainProgress {
    pub fn new(quiet: bool) -> Self {
        TrainProgress {
            quiet,
            bar: None,
            val: (0, 0),
            log_every: 10,
        }
    }

    /// A log line that does not tear the progress bar.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Observer for TrainProgress {
    fn on_start(&mut self, plan: &Plan) {
        self.line(&format!(
            "training {} of {} parameters on {} images ({} for validation), {} steps per epoch, \
             steps {}..{} on {}",
            plan.trainable_params,
            plan.total_params,
            plan.train_images,
            plan.val_images,
            plan.steps_per_epoch,
            plan.start_step,
            plan.total_steps,
            plan.device
        ));
        self.log_every = (plan.steps_per_epoch / 10).clamp(1, 50);
        if !self.quiet {
            let bar =
                ProgressBar::with_draw_target(Some(plan.total_steps), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_position(plan.start_step);
            bar.reset_eta();
            self.bar = Some(bar);
        }
    }

    fn on_step(&mut self, e: &StepEvent) {
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(format!("epoch {}", e.epoch));
                bar.set_message(format!(
                    "loss {:.4}  {:.1} img/s  lr {:.2e}",
                    e.loss, e.images_per_s, e.lr
                ));
                bar.set_position(e.step);
            }
            None if e.step % self.log_every == 0 => eprintln!(
                "epoch {} step {} loss {:.5} lr {:.2e} {:.1} img/s",
                e.epoch, e.step, e.loss, e.lr, e.images_per_s
            ),
            None => {}
        }
    }

    fn on_validation(&mut self, batches: usize) {
        self.val = (0, batches);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("validating 0/{batches}"));
        }
    }

    fn on_validation_batch(&mut self) {
        self.val.0 += 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("validating {}/{}", self.val.0, self.val.1));
        }
    }

    fn on_record(&mut self, record: &Record) {
        if let Record::Epoch {
            epoch,
            step,
            train_loss,
            val_loss,
            val,
            images_per_s,
            seconds,
            best,
            ..
        } = record
        {
            let metrics: Vec<String> = val.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
            self.line(&format!(
                "epoch {epoch} (step {step}): train loss {train_loss:.5}, val loss {}, {}; \
                 {images_per_s:.1} img/s, {seconds:.0} s{}",
                val_loss.map_or("-".to_string(), |v| format!("{v:.5}")),
                if metrics.is_empty() {
                    "no validation split".to_string()
                } else {
                    metrics.join(", ")
                },
                if *best { "  [best]" } else { "" }
            ));
        }
    }

    fn on_message(&mut self, message: &str) {
        self.line(message);
    }
}
