//! Speed of the model's inference or training step on random input, on any device, to be set
//! beside `../shared/anchors/torch_bench.py` run on the same machine. Shared by `salient bench model`
//! (the binary, which also runs on GPU machines without a Rust toolchain) and `cargo xtask bench
//! model`.
//!
//! One warm-up step, then `steps` timed ones; the figure is the median step. On CUDA the device is
//! synchronised before the clock starts and before it stops (kernels launch asynchronously), as
//! `torch_bench.py` does with `torch.cuda.synchronize()`. The last line printed is exactly
//! `images/s=<float> peak_rss_mib=<int>`, followed on CUDA by ` gpu_mem_mib=<int>` ([`GpuMemory`]).

mod gpu_memory;

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, Var};
use salient_model::density::{log_density, PRIOR_GRID};
use salient_model::{BlockTimes, Head, Mode, ModelConfig, Precision, SaliencyNet};

pub use gpu_memory::GpuMemory;

use crate::device::describe;
use crate::optim::{Adam, AdamConfig};
use crate::{InputSize, LossSpec, TrainError};

/// What one timed step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchMode {
    /// Eval-mode forward pass.
    Infer,
    /// Train-mode forward, the head's default loss (seed: MSE, density: nll), backward and an
    /// Adam step (the seed's freeze and Adam settings).
    Train,
}

impl fmt::Display for BenchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BenchMode::Infer => "infer",
            BenchMode::Train => "train",
        })
    }
}

impl FromStr for BenchMode {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "infer" => Ok(BenchMode::Infer),
            "train" => Ok(BenchMode::Train),
            _ => Err(TrainError::Config(format!(
                "bench mode {s:?}: expected train or infer"
            ))),
        }
    }
}

/// One benchmark: what to time, at which size, batch and precision.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub mode: BenchMode,
    /// Input height × width in pixels (multiples of 32).
    pub size: InputSize,
    pub batch: usize,
    /// With [`Head::Density`] the blur, prior and log-softmax are also timed alone (forward +
    /// backward) and given as a share of the step.
    pub head: Head,
    /// Dtype of the convolutions (half precisions need CUDA).
    pub precision: Precision,
    /// Timed steps after one warm-up step (at least 1).
    pub steps: usize,
    /// Print the wall-clock time of each block of the forward pass (and of backward and the
    /// optimiser step in train mode), averaged over the timed steps. CPU only: on CUDA the
    /// blocks' kernels are still running when their lap is taken.
    pub profile: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            mode: BenchMode::Infer,
            size: InputSize {
                height: 256,
                width: 256,
            },
            batch: 4,
            head: Head::Seed,
            precision: Precision::F32,
            steps: 5,
            profile: false,
        }
    }
}

impl BenchConfig {
    fn validate(&self, device: &Device) -> Result<(), TrainError> {
        self.size.validate()?;
        if self.steps == 0 || self.batch == 0 {
            return Err(TrainError::Config(
                "bench: --steps and --batch must be at least 1".into(),
            ));
        }
        if self.profile && !device.is_cpu() {
            return Err(TrainError::Config(
                "bench: --profile times blocks as the CPU runs them; on a GPU the kernels are \
                 still in flight when a lap is taken (use nsys there)"
                    .into(),
            ));
        }
        self.precision
            .check_device(device)
            .map_err(|e| TrainError::Config(e.to_string()))
    }
}

/// What a benchmark measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Median seconds of one timed step.
    pub median_step_s: f64,
    /// `batch / median_step_s`.
    pub images_per_s: f64,
    /// Peak resident set size of the process (Linux `VmHWM`), MiB; 0 where unavailable.
    pub peak_rss_mib: u64,
    /// Peak device memory in use over the timed steps, MiB ([`GpuMemory`]); `None` off CUDA.
    pub gpu_mem_mib: Option<u64>,
}

impl BenchReport {
    /// `images/s=<float> peak_rss_mib=<int>[ gpu_mem_mib=<int>]`, the line scripts read.
    pub fn last_line(&self) -> String {
        let mut line = format!(
            "images/s={:.3} peak_rss_mib={}",
            self.images_per_s, self.peak_rss_mib
        );
        if let Some(gpu) = self.gpu_mem_mib {
            line.push_str(&format!(" gpu_mem_mib={gpu}"));
        }
        line
    }
}

/// Runs the benchmark on `device`, writing progress lines and, last, [`BenchReport::last_line`]
/// to `out`. The network is freshly initialised (seed 0), the input uniform in [0, 1), the target
/// uniform and the fixations about 1% of the pixels, as a fixation map at this size would be.
pub fn run(
    cfg: &BenchConfig,
    device: &Device,
    out: &mut dyn Write,
) -> Result<BenchReport, TrainError> {
    cfg.validate(device)?;
    let (b, h, w) = (cfg.batch, cfg.size.height, cfg.size.width);
    let model_cfg = ModelConfig {
        head: cfg.head,
        precision: cfg.precision,
        ..ModelConfig::default()
    };
    let net = SaliencyNet::new(model_cfg, 0, device).map_err(model_err)?;
    let x = Tensor::rand(0f32, 1.0, (b, 3, h, w), device)?;
    let target = Tensor::rand(0f32, 1.0, (b, 1, h, w), device)?;
    let fixations = Tensor::rand(0f32, 1.0, (b, 1, h, w), device)?
        .ge(0.99)?
        .to_dtype(DType::F32)?;
    let loss_spec = LossSpec::default_for(cfg.head);
    let mut adam = Adam::new(net.trainable_vars(), AdamConfig::seed())
        .map_err(|e| TrainError::Model(e.to_string()))?;
    let threads = candle_core::utils::get_num_threads();
    say(
        out,
        format!(
            "mode={} head={} size={} batch={b} steps={} precision={} device={} threads={threads}",
            cfg.mode,
            cfg.head,
            cfg.size,
            cfg.steps,
            cfg.precision,
            describe(device)
        ),
    )?;
    let mut memory = GpuMemory::open(device)?;
    let mut profile = Profile::default();
    let mut times = Vec::with_capacity(cfg.steps);
    for step in 0..=cfg.steps {
        if step == 1 {
            // The warm-up step's allocations (kernel modules, cuDNN workspaces) are not the
            // steady state's.
            if let Some(m) = memory.as_mut() {
                m.reset_peak()?;
            }
        }
        let record = cfg.profile && step > 0;
        device.synchronize()?;
        let start = Instant::now();
        let laps = one_step(cfg, &net, &x, &target, &fixations, &loss_spec, &mut adam)?;
        device.synchronize()?;
        let elapsed = start.elapsed();
        if let Some(m) = memory.as_mut() {
            m.sample()?;
        }
        if record {
            profile.add(laps);
        }
        if step == 0 {
            say(out, format!("warm-up: {:.3}s", elapsed.as_secs_f64()))?;
        } else {
            say(out, format!("step {step}: {:.3}s", elapsed.as_secs_f64()))?;
            times.push(elapsed);
        }
    }
    if cfg.profile {
        profile.print(cfg.steps, out)?;
    }
    times.sort();
    let median = times[times.len() / 2].as_secs_f64();
    if cfg.head == Head::Density {
        let tail = time_density_tail(cfg, device, &fixations)?;
        let of = match cfg.mode {
            BenchMode::Train => "training step",
            BenchMode::Infer => "forward pass",
        };
        say(
            out,
            format!(
                "density blur + prior + log-softmax alone (forward + backward): {:.1} ms = {:.2}% of the median {of}",
                tail * 1e3,
                100.0 * tail / median
            ),
        )?;
    }
    let report = BenchReport {
        median_step_s: median,
        images_per_s: b as f64 / median,
        peak_rss_mib: peak_rss_mib(),
        gpu_mem_mib: memory.as_ref().map(GpuMemory::peak_mib),
    };
    if let Some(m) = &memory {
        say(out, format!("gpu memory: {}", m.describe()))?;
    }
    say(out, report.last_line())?;
    Ok(report)
}

/// Sets the number of compute threads (rayon and candle's gemm, which read `RAYON_NUM_THREADS`
/// when first used): call before anything computes.
pub fn set_threads(threads: usize) {
    std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string());
}

/// One step as `cfg.mode` says; the block times when profiling.
fn one_step(
    cfg: &BenchConfig,
    net: &SaliencyNet,
    x: &Tensor,
    target: &Tensor,
    fixations: &Tensor,
    loss_spec: &LossSpec,
    adam: &mut Adam,
) -> Result<BlockTimes, TrainError> {
    let forward = |mode| -> Result<(Tensor, BlockTimes), TrainError> {
        if cfg.profile {
            net.forward_profiled(x, mode).map_err(model_err)
        } else {
            Ok((net.forward(x, mode).map_err(model_err)?, Vec::new()))
        }
    };
    match cfg.mode {
        BenchMode::Infer => Ok(forward(Mode::Eval)?.1),
        BenchMode::Train => {
            let (y, mut laps) = forward(Mode::Train)?;
            let loss = loss_spec.compute_for(cfg.head, &y, target, Some(fixations))?;
            let t = Instant::now();
            let grads = loss.backward()?;
            let backward = t.elapsed();
            let t = Instant::now();
            adam.step(&grads)
                .map_err(|e| TrainError::Model(e.to_string()))?;
            if cfg.profile {
                laps.push(("backward".into(), backward));
                laps.push(("adam".into(), t.elapsed()));
            }
            Ok(laps)
        }
    }
}

/// Median seconds of the density head's blur, prior and log-softmax (not the readout
/// convolution) with `nll` on top, forward and backward, at the bench's batch and size.
fn time_density_tail(
    cfg: &BenchConfig,
    device: &Device,
    fixations: &Tensor,
) -> Result<f64, TrainError> {
    let (b, h, w) = (cfg.batch, cfg.size.height, cfg.size.width);
    let logits = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, 1, h, w), device)?)?;
    let log_sigma = Var::from_tensor(&Tensor::new(&[0.03f32.ln()], device)?)?;
    let prior = Var::from_tensor(&Tensor::zeros(
        (1, 1, PRIOR_GRID, PRIOR_GRID),
        DType::F32,
        device,
    )?)?;
    let nll = LossSpec::default_for(Head::Density);
    let mut times = Vec::with_capacity(cfg.steps);
    for step in 0..=cfg.steps {
        device.synchronize()?;
        let start = Instant::now();
        let out = log_density(logits.as_tensor(), log_sigma.as_tensor(), prior.as_tensor())?;
        let loss = nll.compute_for(Head::Density, &out, fixations, Some(fixations))?;
        drop(loss.backward()?);
        device.synchronize()?;
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
    fn add(&mut self, laps: BlockTimes) {
        for (name, d) in laps {
            match self.blocks.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += d,
                None => self.blocks.push((name, d)),
            }
        }
    }

    fn print(&self, steps: usize, out: &mut dyn Write) -> Result<(), TrainError> {
        let total: Duration = self.blocks.iter().map(|(_, d)| *d).sum();
        say(out, "profile (mean per step):".into())?;
        for (name, d) in &self.blocks {
            let share = 100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-12);
            say(
                out,
                format!(
                    "  {name:<10} {:>9.1} ms {share:>5.1}%",
                    d.as_secs_f64() * 1e3 / steps as f64
                ),
            )?;
        }
        Ok(())
    }
}

fn say(out: &mut dyn Write, line: String) -> Result<(), TrainError> {
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| TrainError::Io {
            path: "<bench output>".into(),
            source: e,
        })
}

fn model_err(e: salient_model::ModelError) -> TrainError {
    TrainError::Model(e.to_string())
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB; 0 where unavailable.
pub fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_cpu_bench_reports_its_last_line() {
        let cfg = BenchConfig {
            mode: BenchMode::Train,
            // The smallest size whose layer4 keeps more than one value per channel at batch 1.
            size: InputSize {
                height: 64,
                width: 64,
            },
            batch: 1,
            steps: 1,
            ..BenchConfig::default()
        };
        let mut out = Vec::new();
        let report = run(&cfg, &Device::Cpu, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(last, report.last_line());
        assert!(
            last.starts_with("images/s=") && last.contains(" peak_rss_mib="),
            "{last}"
        );
        assert!(report.images_per_s > 0.0 && report.gpu_mem_mib.is_none());
        assert!(
            text.contains("mode=train") && text.contains("step 1:"),
            "{text}"
        );
    }

    #[test]
    fn bad_configs_are_refused_before_any_work() {
        let bad = |cfg: BenchConfig, want: &str| {
            let e = run(&cfg, &Device::Cpu, &mut Vec::new())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        };
        bad(
            BenchConfig {
                steps: 0,
                ..BenchConfig::default()
            },
            "--steps",
        );
        bad(
            BenchConfig {
                size: InputSize {
                    height: 100,
                    width: 64,
                },
                ..BenchConfig::default()
            },
            "multiples of 32",
        );
        bad(
            BenchConfig {
                precision: Precision::Bf16,
                ..BenchConfig::default()
            },
            "needs a CUDA device",
        );
        assert_eq!("train".parse::<BenchMode>().unwrap(), BenchMode::Train);
        assert!("fit".parse::<BenchMode>().is_err());
    }
}
