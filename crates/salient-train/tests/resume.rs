//! Never lose work: an interrupted-then-resumed run ends bit-identical to an uninterrupted one, and a
//! non-finite loss stops the run keeping the last good checkpoint.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle_core::Device;
use salient_model::{ModelConfig, SaliencyNet};
use salient_train::metrics_log::Record;
use salient_train::source::{BatchSource, HostBatch};
use salient_train::{
    train, Observer, OpenMode, Outcome, RunDir, RunInputs, Silent, StepEvent, TrainError,
};

/// Sets the stop flag after a given step, as Ctrl-C would.
struct StopAt {
    step: u64,
    flag: Arc<AtomicBool>,
}

impl Observer for StopAt {
    fn on_step(&mut self, e: &StepEvent) {
        if e.step == self.step {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

fn tensors(path: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let (net, _) =
        SaliencyNet::load_checkpoint(path, ModelConfig::default(), &Device::Cpu).unwrap();
    net.tensors()
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

/// Records without their wall-clock fields, for comparing runs.
fn comparable(records: Vec<Record>) -> Vec<Record> {
    records
        .into_iter()
        .map(|r| match r {
            Record::Epoch {
                epoch,
                step,
                train_loss,
                val_loss,
                val,
                lr,
                best,
                ..
            } => Record::Epoch {
                epoch,
                step,
                train_loss,
                val_loss,
                val,
                lr,
                images_per_s: 0.0,
                seconds: 0.0,
                best,
            },
            other => other,
        })
        .collect()
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::synth(&data, 12, 4, 32, 5);
    let mut cfg = common::config(&data, 32);
    cfg.epochs = 2;
    cfg.loss = Some("kld+0.5cc".parse().unwrap());
    cfg.schedule = "cosine".parse().unwrap();
    cfg.clip_grad = Some(1.0);

    let straight = dir.path().join("straight");
    let never = Arc::new(AtomicBool::new(false));
    let outcome = common::run(&cfg, &straight, OpenMode::Fresh, never.clone(), &mut Silent);
    assert!(
        matches!(outcome, Outcome::Finished { step: 6, .. }),
        "{outcome:?}"
    );

    // Interrupted mid-epoch (after step 2 of 3), then resumed.
    let broken = dir.path().join("broken");
    let flag = Arc::new(AtomicBool::new(false));
    let mut stopper = StopAt {
        step: 2,
        flag: flag.clone(),
    };
    let outcome = common::run(&cfg, &broken, OpenMode::Fresh, flag, &mut stopper);
    assert_eq!(outcome, Outcome::Interrupted { step: 2 });
    // A fresh start must refuse the existing run.
    let refused = RunDir::open(&broken, OpenMode::Fresh).unwrap_err();
    assert!(refused.to_string().contains("--resume"), "{refused}");
    let outcome = common::run(&cfg, &broken, OpenMode::Resume, never, &mut Silent);
    assert!(
        matches!(outcome, Outcome::Finished { step: 6, .. }),
        "{outcome:?}"
    );

    let a = tensors(&straight.join("checkpoints/last.safetensors"));
    let b = tensors(&broken.join("checkpoints/last.safetensors"));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y, "tensor {name} differs after resume");
    }
    assert_eq!(
        comparable(common::epochs(&straight)),
        comparable(common::epochs(&broken))
    );
}

/// Good batches in epoch 0, NaN maps (so a NaN loss) from epoch 1 on.
struct PoisonedAfterFirstEpoch;

impl BatchSource for PoisonedAfterFirstEpoch {
    fn batches_per_epoch(&self) -> usize {
        2
    }
    fn images(&self) -> usize {
        4
    }
    fn epoch<'a>(
        &'a self,
        epoch: usize,
        skip: usize,
    ) -> Result<Box<dyn Iterator<Item = Result<HostBatch, TrainError>> + 'a>, TrainError> {
        let poison = epoch > 0;
        let batch = move |i: usize| {
            Ok(HostBatch {
                images: (0..2 * 3 * 32 * 32)
                    .map(|j| ((i + j) % 5) as f32 / 5.0)
                    .collect(),
                maps: (0..2 * 32 * 32)
                    .map(|j| {
                        if poison {
                            f32::NAN
                        } else {
                            ((i + j) % 7) as f32 / 7.0
                        }
                    })
                    .collect(),
                fixations: None,
                n: 2,
                height: 32,
                width: 32,
            })
        };
        Ok(Box::new((skip..2).map(batch)))
    }
}

#[test]
fn non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), 32);
    cfg.epochs = 3;
    let run = RunDir::open(&dir.path().join("run"), OpenMode::Fresh).unwrap();
    let inputs = RunInputs {
        train: &PoisonedAfterFirstEpoch,
        val: None,
        device: Device::Cpu,
        stop: Arc::new(AtomicBool::new(false)),
        weights_note: None,
        extra_meta: Vec::new(),
        density_init: None,
    };
    let err = train(&cfg, &run, OpenMode::Fresh, inputs, &mut Silent).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, TrainError::NonFinite { step: 3, .. }),
        "{text}"
    );
    assert!(
        text.contains("last.safetensors") && text.contains("kept"),
        "{text}"
    );
    let (_, meta) = SaliencyNet::load_checkpoint(
        &run.checkpoint("last"),
        ModelConfig::default(),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(meta.get("salient.step"), Some("2"));
}
