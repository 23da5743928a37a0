//! Optional per-block wall-clock timing of a forward pass (for `cargo xtask bench model --profile`).
//! CPU ops run synchronously, so the time between two laps is the time of the block between them;
//! on CUDA the figures only mean something after a device synchronisation.

use std::time::{Duration, Instant};

/// Per-block forward times, in execution order.
pub type BlockTimes = Vec<(String, Duration)>;

pub(crate) struct LapTimer {
    last: Option<Instant>,
    laps: BlockTimes,
}

impl LapTimer {
    /// A timer that records nothing (the normal forward pass).
    pub fn off() -> Self {
        Self {
            last: None,
            laps: Vec::new(),
        }
    }

    pub fn on() -> Self {
        Self {
            last: Some(Instant::now()),
            laps: Vec::new(),
        }
    }

    /// Records the time since the previous lap under `name`.
    pub fn lap(&mut self, name: &str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            self.laps.push((name.to_string(), now - last));
            self.last = Some(now);
        }
    }

    pub fn into_laps(self) -> BlockTimes {
        self.laps
    }
}
