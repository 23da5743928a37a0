//! `cargo xtask bench model`: time the model's inference or training step on random input, to be
//! set beside `../shared/anchors/torch_bench.py` run on the same machine. The logic is
//! `salient_train::bench`, which `salient bench model` runs too (on GPU machines without a Rust
//! toolchain); the last line is exactly `images/s=<float> peak_rss_mib=<int>` (median step).

use salient_model::{Head, Precision};
use salient_train::bench::{self, BenchConfig, BenchMode};
use salient_train::device::DeviceSpec;
use salient_train::InputSize;

#[derive(clap::Args)]
pub struct Args {
    /// infer: eval-mode forward; train: train-mode forward, the head's default loss (seed: MSE,
    /// density: nll), backward and an Adam step (seed freeze).
    #[arg(long, default_value = "infer")]
    mode: BenchMode,
    /// Input size HxW, or one number for a square input (multiples of 32).
    #[arg(long, default_value = "256")]
    size: InputSize,
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Output head: seed or density. With density, the blur, prior and log-softmax are also
    /// timed alone (forward + backward) and given as a share of the step.
    #[arg(long, default_value = "seed")]
    head: Head,
    /// Timed steps after one warm-up step.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Compute threads (rayon and gemm); default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// cpu, cuda or cuda:N (CUDA needs `--features cuda` on xtask's salient crates; the GPU
    /// machines run `salient bench model` instead).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Convolution precision: f32, or bf16 / f16 (CUDA only).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Print the wall-clock time of each block of the forward pass (and of backward and the
    /// optimiser step in train mode), averaged over the timed steps (CPU only).
    #[arg(long)]
    profile: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        bench::set_threads(threads);
    }
    let device = args.device.open()?;
    let cfg = BenchConfig {
        mode: args.mode,
        size: args.size,
        batch: args.batch,
        head: args.head,
        precision: args.precision,
        steps: args.steps,
        profile: args.profile,
    };
    bench::run(&cfg, &device, &mut std::io::stdout().lock())?;
    Ok(())
}
