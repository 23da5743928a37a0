//! The run directory: where a run's config, metrics, plots and checkpoints live, and the rules that
//! keep one run from overwriting another.
//!
//! ```text
//! RUN_DIR/config.toml                      resolved config (every key, flags applied)
//! RUN_DIR/metrics.jsonl                    one JSON object per step window and per epoch
//! RUN_DIR/loss.png, RUN_DIR/metrics.png    plots, redrawn after each epoch
//! RUN_DIR/checkpoints/last.safetensors     model (loads into the seed's PyTorch model, strict)
//! RUN_DIR/checkpoints/last.state.safetensors  Adam moments + position + RNG, for --resume
//! RUN_DIR/checkpoints/best.safetensors     best by the configured validation figure
//! RUN_DIR/checkpoints/epoch-N.safetensors  every `checkpoint_every` epochs
//! ```

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::TrainError;

/// How to treat an existing run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The directory must not exist or be empty.
    Fresh,
    /// Continue the run in the directory from `checkpoints/last`.
    Resume,
    /// Delete whatever the directory holds and start again.
    Force,
}

/// Paths of one run.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// A new, unused folder under `base` named by the UTC time (`runs/2026-11-27T18-40-38`).
    pub fn new_default_path(base: &Path) -> PathBuf {
        let stamp = utc_stamp(SystemTime::now());
        let mut candidate = base.join(&stamp);
        let mut n = 2;
        while candidate.exists() {
            candidate = base.join(format!("{stamp}-{n}"));
            n += 1;
        }
        candidate
    }

    /// Creates or checks the directory according to `mode`.
    pub fn open(root: &Path, mode: OpenMode) -> Result<Self, TrainError> {
        let run = RunDir {
            root: root.to_path_buf(),
        };
        // An empty `checkpoints/` (a run that failed before its first save) holds no work.
        let ckpt_dir = run.checkpoints_dir();
        let is_empty_dir = |p: &Path| std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none());
        let non_empty = std::fs::read_dir(root)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| !(e.path() == ckpt_dir && is_empty_dir(&ckpt_dir)))
            })
            .unwrap_or(false);
        match mode {
            OpenMode::Fresh if non_empty => {
                return Err(TrainError::RunDir(format!(
                    "run directory {} already exists: pass --resume to continue it, \
                     --force to overwrite it, or another --out",
                    root.display()
                )))
            }
            OpenMode::Resume => {
                let last = run.checkpoint("last");
                let state = run.state_of("last");
                if !last.is_file() || !state.is_file() {
                    return Err(TrainError::RunDir(format!(
                        "cannot resume {}: {} or {} is missing",
                        root.display(),
                        last.display(),
                        state.display()
                    )));
                }
            }
            OpenMode::Force if non_empty => {
                std::fs::remove_dir_all(root).map_err(|e| TrainError::io(root, e))?;
            }
            _ => {}
        }
        let ckpt = run.checkpoints_dir();
        std::fs::create_dir_all(&ckpt).map_err(|e| TrainError::io(&ckpt, e))?;
        Ok(run)
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    pub fn loss_plot(&self) -> PathBuf {
        self.root.join("loss.png")
    }
    pub fn metrics_plot(&self) -> PathBuf {
        self.root.join("metrics.png")
    }
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// `checkpoints/<name>.safetensors` (`last`, `best`, `epoch-3`).
    pub fn checkpoint(&self, name: &str) -> PathBuf {
        self.checkpoints_dir().join(format!("{name}.safetensors"))
    }
    /// The train-state sibling of checkpoint `name`.
    pub fn state_of(&self, name: &str) -> PathBuf {
        self.checkpoints_dir()
            .join(format!("{name}.state.safetensors"))
    }
}

/// `YYYY-MM-DDTHH-MM-SS` in UTC (no colons: valid on every filesystem).
pub fn utc_stamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_are_utc_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_804_838);
        assert_eq!(utc_stamp(t), "2026-11-27T18-40-38");
        assert_eq!(utc_stamp(UNIX_EPOCH), "1970-01-01T00-00-00");
    }

    #[test]
    fn existing_runs_are_protected() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        let run = RunDir::open(&root, OpenMode::Fresh).unwrap();
        std::fs::write(run.config(), "x").unwrap();
        let e = RunDir::open(&root, OpenMode::Fresh).unwrap_err();
        assert!(e.to_string().contains("--resume"), "{e}");
        let e = RunDir::open(&root, OpenMode::Resume).unwrap_err();
        assert!(e.to_string().contains("last.safetensors"), "{e}");
        RunDir::open(&root, OpenMode::Force).unwrap();
        assert!(!run.config().exists());
        let fresh = RunDir::new_default_path(dir.path());
        assert!(!fresh.exists());
    }
}
