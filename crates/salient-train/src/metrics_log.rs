//! `metrics.jsonl`: one JSON object per line, appended as the run goes, re-read to draw the plots and
//! trimmed on `--resume` to the records the restored checkpoint had seen.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use salient_model::atomic::write_atomic;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// One line of `metrics.jsonl`. Epochs are numbered from 1; `step` counts optimiser steps done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// Mean training loss over the last `log_every` steps.
    Step {
        epoch: usize,
        step: u64,
        loss: f64,
        lr: f64,
        images_per_s: f64,
    },
    /// End of an epoch: mean training loss, validation loss and metrics.
    Epoch {
        epoch: usize,
        step: u64,
        train_loss: f64,
        val_loss: Option<f64>,
        /// Validation metric means (`cc`, `kld`, `nss`, `sim`, `auc_judd` when fixations exist).
        val: BTreeMap<String, f64>,
        lr: f64,
        /// Training images per second over the epoch (validation excluded).
        images_per_s: f64,
        seconds: f64,
        /// True when this epoch produced the new `best` checkpoint.
        best: bool,
    },
}

impl Record {
    /// The optimiser step the record was written at.
    pub fn step(&self) -> u64 {
        match self {
            Record::Step { step, .. } | Record::Epoch { step, .. } => *step,
        }
    }
}

/// The appendable log file.
#[derive(Debug, Clone)]
pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    pub fn new(path: &Path) -> Self {
        MetricsLog {
            path: path.to_path_buf(),
        }
    }

    /// Appends one record (one `write` of one line: a crash cannot leave half a line behind in
    /// practice, and `read` skips one if it ever does).
    pub fn append(&self, record: &Record) -> Result<(), TrainError> {
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| TrainError::io(&self.path, e))?;
        file.write_all(line.as_bytes())
            .map_err(|e| TrainError::io(&self.path, e))
    }

    /// Every readable record (a missing file is an empty log).
    pub fn read(&self) -> Result<Vec<Record>, TrainError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TrainError::io(&self.path, e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Drops records written after `step` (work the resumed checkpoint does not contain).
    pub fn truncate_after(&self, step: u64) -> Result<(), TrainError> {
        let kept: String = self
            .read()?
            .into_iter()
            .filter(|r| r.step() <= step)
            .map(|r| serde_json::to_string(&r).expect("records serialise") + "\n")
            .collect();
        write_atomic(&self.path, kept.as_bytes()).map_err(|e| TrainError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_read_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetricsLog::new(&dir.path().join("metrics.jsonl"));
        assert!(log.read().unwrap().is_empty());
        for step in [10, 20, 30] {
            log.append(&Record::Step {
                epoch: 1,
                step,
                loss: 0.5,
                lr: 1e-3,
                images_per_s: 3.0,
            })
            .unwrap();
        }
        let mut val = BTreeMap::new();
        val.insert("cc".to_string(), 0.7);
        log.append(&Record::Epoch {
            epoch: 1,
            step: 30,
            train_loss: 0.4,
            val_loss: Some(0.3),
            val,
            lr: 1e-3,
            images_per_s: 3.0,
            seconds: 1.0,
            best: true,
        })
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
        assert!(text
            .lines()
            .last()
            .unwrap()
            .starts_with("{\"kind\":\"epoch\""));
        assert_eq!(log.read().unwrap().len(), 4);
        log.truncate_after(20).unwrap();
        let steps: Vec<u64> = log.read().unwrap().iter().map(Record::step).collect();
        assert_eq!(steps, vec![10, 20]);
    }
}
