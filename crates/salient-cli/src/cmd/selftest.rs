//! `salient selftest`: every custom op and the whole network on a device against a reference,
//! one line per check; non-zero exit on any mismatch or NaN (the logic is
//! `salient_train::selftest`).

use salient_model::Precision;
use salient_train::device::{describe, DeviceSpec};
use salient_train::selftest::{self, SelftestConfig, Tolerances};
use salient_train::InputSize;

/// Check the custom ops and the network on a device against a reference.
///
/// --device cuda: each op (forward and input gradients) and the network (eval and train forward,
/// loss, gradients, BatchNorm running statistics, the loss after one Adam step; both heads) on the
/// GPU against the same computation on the CPU in f32. --device cpu: each custom CPU kernel against
/// candle's own CPU ops (max pooling against a brute-force loop), the network's fused no-gradient
/// path against its op-by-op path, and each trainable group's gradient against a central finite
/// difference of the loss.
///
/// A check passes when max |device - reference| <= tol * max |reference| (a NaN fails).
/// Tolerances (f32 / tf32 / f16 / bf16): ops 1e-4 / 3e-3 / 1e-2 / 3e-2; network 1e-3 / 2e-2 /
/// 5e-2 / 1e-1; finite differences 1e-1. Exit status 1 when any check fails.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// cpu, cuda or cuda:N (CUDA needs a build with `--features cuda` or `cudnn`).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Precision of the convolutions on the device under test (tf32 / bf16 / f16: CUDA only); the
    /// reference is f32.
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    /// Network input size HxW (multiples of 32).
    #[arg(long, default_value = "64x64")]
    pub size: InputSize,
    /// Network batch size (at least 2).
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Seed of the weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.open()?;
    let cfg = SelftestConfig {
        precision: args.precision,
        size: args.size,
        batch: args.batch,
        seed: args.seed,
    };
    let tol = Tolerances::for_precision(cfg.precision);
    println!(
        "selftest on {} (precision {}), reference: {}",
        describe(&device),
        cfg.precision,
        selftest::reference_of(&device)
    );
    println!(
        "tolerances (max |diff| / max |reference|): op {:.0e}, network {:.0e}, finite difference {:.0e}",
        tol.op, tol.network, tol.finite_difference
    );
    let report = selftest::run(&cfg, &device, &mut |check| println!("{check}"))?;
    if !report.skipped.is_empty() {
        println!(
            "not run on {} (the op declines these operands; the network composes the unfused ops, checked above): {}",
            describe(&device),
            report.skipped.join("; ")
        );
    }
    let failed = report.failures().count();
    if failed > 0 {
        println!(
            "selftest: {failed} of {} checks FAILED",
            report.checks.len()
        );
        std::process::exit(1);
    }
    println!("selftest: all {} checks passed", report.checks.len());
    Ok(())
}
