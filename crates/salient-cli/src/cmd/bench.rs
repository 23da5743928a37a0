//! `salient bench model`: the model's inference or training-step speed on random input, on the CPU
//! or a GPU (the logic is `salient_train::bench`, shared with `cargo xtask bench model`).

use salient_model::{Head, Precision};
use salient_train::bench::{self, BenchConfig, BenchMode};
use salient_train::device::DeviceSpec;
use salient_train::InputSize;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Time inference or a training step on random input; the last line is
    /// `images/s=<float> peak_rss_mib=<int>` (plus ` gpu_mem_mib=<int>` on CUDA), the median step,
    /// to set beside ../shared/anchors/torch_bench.py on the same machine.
    Model(ModelArgs),
}

#[derive(clap::Args)]
pub struct ModelArgs {
    /// infer: eval-mode forward; train: train-mode forward, the head's default loss, backward
    /// and an Adam step (the seed's freeze).
    #[arg(long, default_value = "infer")]
    pub mode: BenchMode,
    /// cpu, cuda or cuda:N (CUDA needs a build with `--features cuda` or `cudnn`).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Input size HxW (or one number for a square), multiples of 32.
    #[arg(long, default_value = "256x256")]
    pub size: InputSize,
    /// Convolution precision: f32, or tf32 / bf16 / f16 (CUDA only).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    /// Timed steps after one warm-up step.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Output head: seed or density (density also times its blur, prior and log-softmax alone).
    #[arg(long, default_value = "seed")]
    pub head: Head,
    /// CPU compute threads (rayon and gemm); default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print each block's mean time per step (CPU only).
    #[arg(long)]
    pub profile: bool,
}

impl ModelArgs {
    /// The library's configuration for these flags.
    pub fn config(&self) -> BenchConfig {
        BenchConfig {
            mode: self.mode,
            size: self.size,
            batch: self.batch,
            head: self.head,
            precision: self.precision,
            steps: self.steps,
            profile: self.profile,
        }
    }
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Model(args) => {
            if let Some(threads) = args.threads {
                bench::set_threads(threads);
            }
            let device = args.device.open()?;
            bench::run(&args.config(), &device, &mut std::io::stdout().lock())?;
            Ok(())
        }
    }
}
