//! Time the model's inference or training step on random input, to be set beside
//! `../shared/anchors/torch_bench.py` run on the same machine. The last line is exactly
//! `images/s=<float> peak_rss_mib=<int>` (median step).

use std::time::{Duration, Instant};

use anyhow::Context;
use candle_core::{Device, Tensor};
use salient_model::{Mode, ModelConfig, SaliencyNet};
use salient_train::optim::{Adam, AdamConfig};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchMode {
    /// Eval-mode forward pass.
    Infer,
    /// Train-mode forward, MSE, backward and an Adam step (seed freeze).
    Train,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value = "infer")]
    mode: BenchMode,
    /// Square input side in pixels (a multiple of 32).
    #[arg(long, default_value_t = 256)]
    size: usize,
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Timed steps after one warm-up step.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Compute threads (rayon and gemm); default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the wall-clock time of each block of the forward pass (and of backward and the
    /// optimiser step in train mode), averaged over the timed steps.
    #[arg(long)]
    profile: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        // Read by rayon's global pool and candle's gemm when first used, which is below.
        std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string());
    }
    anyhow::ensure!(args.steps >= 1, "--steps must be at least 1");
    let device = Device::Cpu;
    let net = SaliencyNet::new(ModelConfig::default(), 0, &device)?;
    let x = Tensor::rand(0f32, 1.0, (args.batch, 3, args.size, args.size), &device)?;
    let target = Tensor::rand(0f32, 1.0, (args.batch, 1, args.size, args.size), &device)?;
    let mut adam = Adam::new(net.trainable_vars(), AdamConfig::seed())?;
    let threads = candle_core::utils::get_num_threads();
    println!(
        "mode={} size={} batch={} steps={} threads={threads}",
        if args.mode == BenchMode::Train {
            "train"
        } else {
            "infer"
        },
        args.size,
        args.batch,
        args.steps
    );
    let mut profile = Profile::default();
    let mut times = Vec::with_capacity(args.steps);
    for step in 0..=args.steps {
        let record = args.profile && step > 0;
        let start = Instant::now();
        match args.mode {
            BenchMode::Infer => {
                let (y, laps) = net.forward_profiled(&x, Mode::Eval)?;
                drop(y);
                if record {
                    profile.add(laps);
                }
            }
            BenchMode::Train => {
                let (y, laps) = net.forward_profiled(&x, Mode::Train)?;
                let loss = (&y - &target)?.sqr()?.mean_all()?;
                let t = Instant::now();
                let grads = loss.backward().context("backward")?;
                let backward = t.elapsed();
                let t = Instant::now();
                adam.step(&grads)?;
                let optimiser = t.elapsed();
                if record {
                    let mut laps = laps;
                    laps.push(("backward".into(), backward));
                    laps.push(("adam".into(), optimiser));
                    profile.add(laps);
                }
            }
        }
        let elapsed = start.elapsed();
        if step == 0 {
            println!("warm-up: {:.3}s", elapsed.as_secs_f64());
        } else {
            println!("step {step}: {:.3}s", elapsed.as_secs_f64());
            times.push(elapsed);
        }
    }
    if args.profile {
        profile.print(args.steps);
    }
    times.sort();
    let median = times[times.len() / 2].as_secs_f64();
    println!(
        "images/s={:.3} peak_rss_mib={}",
        args.batch as f64 / median,
        peak_rss_mib()
    );
    Ok(())
}

/// Sum of each block's time over the recorded steps, in first-seen order.
#[derive(Default)]
struct Profile {
    blocks: Vec<(String, Duration)>,
}

impl Profile {
    fn add(&mut self, laps: Vec<(String, Duration)>) {
        for (name, d) in laps {
            match self.blocks.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += d,
                None => self.blocks.push((name, d)),
            }
        }
    }

    fn print(&self, steps: usize) {
        let total: Duration = self.blocks.iter().map(|(_, d)| *d).sum();
        println!("profile (mean per step):");
        for (name, d) in &self.blocks {
            let share = 100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-12);
            println!(
                "  {name:<10} {:>9.1} ms {share:>5.1}%",
                d.as_secs_f64() * 1e3 / steps as f64
            );
        }
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB; 0 where unavailable.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}
