//! Time the model's inference or training step on random input, to be set beside
//! `../shared/anchors/torch_bench.py` run on the same machine. The last line is exactly
//! `images/s=<float> peak_rss_mib=<int>` (median step).

use std::time::{Duration, Instant};

use anyhow::Context;
use candle_core::{Device, Tensor, Var};
use salient_model::density::{log_density, PRIOR_GRID};
use salient_model::{Head, Mode, ModelConfig, SaliencyNet};
use salient_train::optim::{Adam, AdamConfig};
use salient_train::LossSpec;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchMode {
    /// Eval-mode forward pass.
    Infer,
    /// Train-mode forward, the head's default loss (seed: MSE, density: nll), backward and an
    /// Adam step (seed freeze).
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
    let cfg = ModelConfig {
        head: args.head,
        ..ModelConfig::default()
    };
    let net = SaliencyNet::new(cfg, 0, &device)?;
    let x = Tensor::rand(0f32, 1.0, (args.batch, 3, args.size, args.size), &device)?;
    let target = Tensor::rand(0f32, 1.0, (args.batch, 1, args.size, args.size), &device)?;
    // About 1% of the pixels fixated, as a fixation map at this size would be.
    let fixations = Tensor::rand(0f32, 1.0, (args.batch, 1, args.size, args.size), &device)?
        .ge(0.99)?
        .to_dtype(candle_core::DType::F32)?;
    let loss_spec = LossSpec::default_for(args.head);
    let mut adam = Adam::new(net.trainable_vars(), AdamConfig::seed())?;
    let threads = candle_core::utils::get_num_threads();
    println!(
        "mode={} head={} size={} batch={} steps={} threads={threads}",
        if args.mode == BenchMode::Train {
            "train"
        } else {
            "infer"
        },
        args.head,
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
                let loss = loss_spec.compute_for(args.head, &y, &target, Some(&fixations))?;
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
    if args.head == Head::Density {
        let head = time_density_tail(args.batch, args.size, args.steps, &fixations)?;
        let of = if args.mode == BenchMode::Train {
            "training step"
        } else {
            "forward pass"
        };
        println!(
            "density blur + prior + log-softmax alone (forward + backward): {:.1} ms = {:.2}% of the median {of}",
            head * 1e3,
            100.0 * head / median
        );
    }
    println!(
        "images/s={:.3} peak_rss_mib={}",
        args.batch as f64 / median,
        peak_rss_mib()
    );
    Ok(())
}

/// Median seconds of the density head's blur, prior and log-softmax (not the readout
/// convolution) with `nll` on top, forward and backward, at the bench's batch and size.
fn time_density_tail(
    batch: usize,
    size: usize,
    steps: usize,
    fixations: &Tensor,
) -> anyhow::Result<f64> {
    let device = Device::Cpu;
    let logits = Var::from_tensor(&Tensor::randn(0f32, 1.0, (batch, 1, size, size), &device)?)?;
    let log_sigma = Var::from_tensor(&Tensor::new(&[0.03f32.ln()], &device)?)?;
    let prior = Var::from_tensor(&Tensor::zeros(
        (1, 1, PRIOR_GRID, PRIOR_GRID),
        candle_core::DType::F32,
        &device,
    )?)?;
    let nll = LossSpec::default_for(Head::Density);
    let mut times = Vec::with_capacity(steps);
    for step in 0..=steps {
        let start = Instant::now();
        let out = log_density(logits.as_tensor(), log_sigma.as_tensor(), prior.as_tensor())?;
        let loss = nll.compute_for(Head::Density, &out, fixations, Some(fixations))?;
        drop(loss.backward()?);
        if step > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
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
