//! `salient selftest`: the custom ops and the whole network computed on a device and by a
//! reference from the same small inputs and weights, each comparison printed with its tolerance.
//! Users run it to check a GPU set-up; the project runs it to prove the device's ops.
//!
//! What is compared with what:
//!
//! - **`--device cuda`**: every op of `salient_model::kernels` (forward, and the gradients of
//!   `Σ out · r` for a fixed random `r` with respect to every input) and the network (eval
//!   forward, train forward, loss, every trainable tensor's gradient, BatchNorm running
//!   statistics, the loss after one Adam step; both heads) on the GPU against the same calls on the
//!   CPU in f32, whose custom kernels are themselves tested against candle's CPU ops.
//! - **`--device cpu`**: every op's custom CPU kernel against a reference built from candle's own
//!   CPU ops (max pooling: a brute-force loop, since candle's max pool has no backward for
//!   stride ≠ kernel), as the kernels' unit tests do; the network's fused no-gradient path
//!   (Winograd, BatchNorm and residual inside the convolution, 1×1 convolutions over concatenated
//!   parts) against the op-by-op path it takes when its input tracks a gradient; and each
//!   trainable group's gradient against a central finite difference of the loss along it.
//!
//! A check passes when `max |device − reference| ≤ tol · max |reference|` ([`Check`]); a NaN
//! anywhere fails it. Tolerances are in [`Tolerances`].

mod compare;
mod network;
mod ops;

use candle_core::Device;
use salient_model::Precision;

pub use compare::{compare, Check};

use crate::device::describe;
use crate::{InputSize, TrainError};

/// What `selftest` runs on.
#[derive(Debug, Clone)]
pub struct SelftestConfig {
    /// Dtype of the convolutions on the device under test (half precisions need CUDA); the
    /// reference is always f32.
    pub precision: Precision,
    /// Network input size (multiples of 32).
    pub size: InputSize,
    pub batch: usize,
    /// Seed of the network's weights and of every input.
    pub seed: u64,
}

impl Default for SelftestConfig {
    fn default() -> Self {
        Self {
            precision: Precision::F32,
            size: InputSize {
                height: 64,
                width: 64,
            },
            batch: 2,
            seed: 0,
        }
    }
}

/// Tolerances relative to the reference's largest magnitude: `max |a − b| ≤ tol · max |b|`.
///
/// f32 ops: a wrong op (a transposed or flipped weight, a wrong stride or padding, a gradient
/// sent to the wrong window) is off by the order of the output itself (relative error ≳ 0.1);
/// float rounding of sums of a few thousand products, in any order (GPU, TF32 off), stays below
/// 1e-5. The network compounds fifty layers and normalises by batch statistics of two images, so
/// it gets 1e-3. TF32 rounds each operand to 10 significant bits (2⁻¹¹ ≈ 4.9e-4). bf16 keeps 8 significant bits (relative rounding 2⁻⁹ ≈ 2e-3 per operand), f16
/// 11; their tolerances cover that rounding through one op or through the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// One op, forward or gradient.
    pub op: f64,
    /// The network's outputs, loss, gradients and running statistics.
    pub network: f64,
    /// The gradient along a group against a central finite difference in f32 (CPU only): the
    /// network's curvature (ReLU kinks, BatchNorm over two images) leaves up to 5% in layer3 and
    /// layer4 at the step taken (measured over seeds 0-3), so it catches a backward that is wrong
    /// by more than a tenth of its group's gradient norm (a transposed weight's gradient is off
    /// by about its whole norm), not small errors: the op checks above are the tight ones.
    pub finite_difference: f64,
}

impl Tolerances {
    /// The tolerances for convolutions computing in `precision`.
    pub fn for_precision(precision: Precision) -> Self {
        let finite_difference = 1e-1;
        match precision {
            Precision::F32 => Self {
                op: 1e-4,
                network: 1e-3,
                finite_difference,
            },
            // TF32 rounds each operand to 10 significant bits (2^-11 ≈ 4.9e-4 relative).
            Precision::Tf32 => Self {
                op: 3e-3,
                network: 2e-2,
                finite_difference,
            },
            Precision::F16 => Self {
                op: 1e-2,
                network: 5e-2,
                finite_difference,
            },
            Precision::Bf16 => Self {
                op: 3e-2,
                network: 1e-1,
                finite_difference,
            },
        }
    }
}

/// Every check of one run, in order.
#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Ops that declined the device's operands, so had nothing to compare: the fused
    /// no-gradient convolutions off the CPU (the network composes the unfused ops there, which
    /// are checked).
    pub skipped: Vec<String>,
}

impl Report {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed())
    }
}

/// Runs every check on `device` against its reference (module docs), calling `on_check` as each
/// finishes (for printing as it goes).
pub fn run(
    cfg: &SelftestConfig,
    device: &Device,
    on_check: &mut dyn FnMut(&Check),
) -> Result<Report, TrainError> {
    cfg.size.validate()?;
    if cfg.batch < 2 {
        return Err(TrainError::Config(
            "selftest: --batch must be at least 2 (training-mode BatchNorm needs it)".into(),
        ));
    }
    cfg.precision
        .check_device(device)
        .map_err(|e| TrainError::Config(e.to_string()))?;
    if device.is_cuda() {
        // TF32 on or off for the op checks too (building the device's network sets it again).
        cfg.precision.configure_math();
    }
    let tol = Tolerances::for_precision(cfg.precision);
    let mut checks = Vec::new();
    let mut record = |c: Check| {
        on_check(&c);
        checks.push(c);
    };
    let mut skipped = Vec::new();
    for case in ops::cases() {
        if !ops::run_case(&case, device, cfg, tol.op, &mut record)? {
            skipped.push(case.name);
        }
    }
    network::run(cfg, device, tol, &mut record)?;
    Ok(Report { checks, skipped })
}

/// What the reference is for `device`, for the header line.
pub fn reference_of(device: &Device) -> String {
    if device.is_cpu() {
        "candle's CPU ops, the op-by-op network, finite differences".to_string()
    } else {
        format!(
            "the same ops on the CPU in f32 (device {})",
            describe(device)
        )
    }
}
