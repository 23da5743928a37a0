//! Learning-rate schedules, as pure functions of the optimiser step so that a resumed run gets
//! exactly the learning rate an uninterrupted one would.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// The schedule's shape; its parameters are the config keys `step_epochs`, `gamma`, `min_lr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `lr` throughout (the seed's).
    Constant,
    /// `lr · gamma^⌊epoch / step_epochs⌋` (PyTorch `StepLR` stepped once per epoch).
    Step,
    /// Cosine from `lr` at step 0 down to `min_lr` at the last step (PyTorch `CosineAnnealingLR`
    /// stepped once per optimiser step, `T_max` = total steps).
    Cosine,
}

impl FromStr for Schedule {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "step" => Ok(Schedule::Step),
            "cosine" => Ok(Schedule::Cosine),
            _ => Err(TrainError::Config(format!(
                "schedule {s:?}: expected constant, step or cosine"
            ))),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Schedule::Constant => "constant",
            Schedule::Step => "step",
            Schedule::Cosine => "cosine",
        })
    }
}

/// A schedule with its parameters, ready to give the learning rate of any step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    pub kind: Schedule,
    pub base_lr: f64,
    /// `step`: epochs between decays.
    pub step_epochs: usize,
    /// `step`: decay factor.
    pub gamma: f64,
    /// `cosine`: final learning rate.
    pub min_lr: f64,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: u64,
    /// Optimiser steps of the whole run.
    pub total_steps: u64,
}

impl LrSchedule {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.kind == Schedule::Step && self.step_epochs == 0 {
            return Err(TrainError::Config("step_epochs must be at least 1".into()));
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Err(TrainError::Config(format!(
                "gamma {}: must be positive",
                self.gamma
            )));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.base_lr) {
            return Err(TrainError::Config(format!(
                "min_lr {}: must be in [0, lr]",
                self.min_lr
            )));
        }
        Ok(())
    }

    /// Learning rate for the optimiser step numbered `step` (0-based, counted over the whole run).
    pub fn lr_at(&self, step: u64) -> f64 {
        match self.kind {
            Schedule::Constant => self.base_lr,
            Schedule::Step => {
                let epoch = step / self.steps_per_epoch.max(1);
                let decays = epoch / self.step_epochs.max(1) as u64;
                self.base_lr * self.gamma.powi(decays.min(i32::MAX as u64) as i32)
            }
            Schedule::Cosine => {
                let span = self.total_steps.max(1) as f64;
                let t = (step as f64 / span).min(1.0);
                self.min_lr
                    + 0.5 * (self.base_lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: Schedule) -> LrSchedule {
        LrSchedule {
            kind,
            base_lr: 1e-3,
            step_epochs: 2,
            gamma: 0.1,
            min_lr: 1e-5,
            steps_per_epoch: 10,
            total_steps: 100,
        }
    }

    #[test]
    fn constant_step_and_cosine() {
        let c = schedule(Schedule::Constant);
        assert_eq!(c.lr_at(0), 1e-3);
        assert_eq!(c.lr_at(99), 1e-3);
        let s = schedule(Schedule::Step);
        assert_eq!(s.lr_at(19), 1e-3);
        assert!((s.lr_at(20) - 1e-4).abs() < 1e-15);
        assert!((s.lr_at(45) - 1e-5).abs() < 1e-15);
        let k = schedule(Schedule::Cosine);
        assert_eq!(k.lr_at(0), 1e-3);
        assert!((k.lr_at(50) - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-15);
        assert!((k.lr_at(100) - 1e-5).abs() < 1e-15);
        assert!(k.lr_at(30) > k.lr_at(31));
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let mut s = schedule(Schedule::Step);
        s.step_epochs = 0;
        assert!(s.validate().is_err());
        let mut k = schedule(Schedule::Cosine);
        k.min_lr = 1.0;
        assert!(k.validate().is_err());
        assert!("linear".parse::<Schedule>().is_err());
    }
}
