//! `cargo xtask bench kernels`: candle's CPU convolution and pooling ops against
//! `salient_model::kernels` on the model's own layer shapes (ResNet50 U-Net at 256×256, batch 4),
//! forward and forward+backward, in GFLOP/s. `scripts/bench/torch_kernels.py` prints the same table
//! for PyTorch, so the two can be run back to back.

use candle_core::{DType, Device, Tensor, Var};
use salient_model::kernels;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Batch size.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Input image side; layer sizes follow the network (side/2 after the stem, …, side/32).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Worker threads (sets RAYON_NUM_THREADS, which candle also reads); default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Only cases whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Minimum timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Skip candle's ops (faster when comparing ours with PyTorch).
    #[arg(long)]
    no_candle: bool,
    /// Time by the CPU time of all the process's threads (mean per call) instead of the median
    /// wall time: robust on a busy machine, meaningful with `--threads 1` (idle workers spin).
    #[arg(long)]
    cpu_time: bool,
}

/// Seconds the process's threads have run on a CPU (Linux `/proc/self/task/*/schedstat`).
fn process_cpu_seconds() -> anyhow::Result<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task")? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat"))?;
        let first = stat.split_whitespace().next().unwrap_or("0");
        ns += first.parse::<u64>()?;
    }
    Ok(ns as f64 * 1e-9)
}

/// What a case computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Conv,
    Deconv,
    MaxPool,
}

/// One layer shape: `cin → cout` channels at an input side of `size / div`.
struct Case {
    name: &'static str,
    op: Op,
    cin: usize,
    cout: usize,
    div: usize,
    k: usize,
    s: usize,
    p: usize,
}

const fn case(
    name: &'static str,
    op: Op,
    (cin, cout): (usize, usize),
    div: usize,
    (k, s, p): (usize, usize, usize),
) -> Case {
    Case {
        name,
        op,
        cin,
        cout,
        div,
        k,
        s,
        p,
    }
}

/// The model's distinct convolution shapes (see ../shared/seed/SUMMARY.md), same list as the
/// PyTorch script.
const CASES: &[Case] = &[
    case("stem conv7x7 s2 3->64", Op::Conv, (3, 64), 1, (7, 2, 3)),
    case("maxpool 3x3 s2 64ch", Op::MaxPool, (64, 64), 2, (3, 2, 1)),
    case("conv1x1 64->256 @64", Op::Conv, (64, 256), 4, (1, 1, 0)),
    case(
        "conv1x1 1024->256 @16",
        Op::Conv,
        (1024, 256),
        16,
        (1, 1, 0),
    ),
    case("conv1x1 2048->512 @8", Op::Conv, (2048, 512), 32, (1, 1, 0)),
    case(
        "conv1x1 1536->512 @16",
        Op::Conv,
        (1536, 512),
        16,
        (1, 1, 0),
    ),
    case("conv3x3 64 @64", Op::Conv, (64, 64), 4, (3, 1, 1)),
    case("conv3x3 128 @32", Op::Conv, (128, 128), 8, (3, 1, 1)),
    case(
        "conv3x3 256 @16 (layer3)",
        Op::Conv,
        (256, 256),
        16,
        (3, 1, 1),
    ),
    case(
        "conv3x3 512 @8 (layer4)",
        Op::Conv,
        (512, 512),
        32,
        (3, 1, 1),
    ),
    case("conv3x3 s2 256 @32->16", Op::Conv, (256, 256), 8, (3, 2, 1)),
    case("conv_0 3x3 32->1 @256", Op::Conv, (32, 1), 1, (3, 1, 1)),
    case("deconv4 512->512 @8", Op::Deconv, (512, 512), 32, (4, 2, 1)),
    case(
        "deconv3 512->256 @16",
        Op::Deconv,
        (512, 256),
        16,
        (4, 2, 1),
    ),
    case("deconv2 256->128 @32", Op::Deconv, (256, 128), 8, (4, 2, 1)),
    case("deconv1 128->64 @64", Op::Deconv, (128, 64), 4, (4, 2, 1)),
    case("deconv0 64->32 @128", Op::Deconv, (64, 32), 2, (4, 2, 1)),
];

impl Case {
    fn input_dims(&self, batch: usize, size: usize) -> (usize, usize, usize, usize) {
        let side = size / self.div;
        (batch, self.cin, side, side)
    }

    fn weight_dims(&self) -> (usize, usize, usize, usize) {
        match self.op {
            Op::Conv => (self.cout, self.cin, self.k, self.k),
            Op::Deconv => (self.cin, self.cout, self.k, self.k),
            Op::MaxPool => (0, 0, 0, 0),
        }
    }

    /// Forward FLOPs (multiply-adds × 2); the backward pass costs twice this (input + weight).
    fn forward_flops(&self, batch: usize, size: usize) -> f64 {
        let (n, _, h, _) = self.input_dims(batch, size);
        let kk = (self.k * self.k) as f64;
        match self.op {
            Op::Conv => {
                let o = ((h + 2 * self.p - self.k) / self.s + 1) as f64;
                2.0 * (n * self.cout * self.cin) as f64 * o * o * kk
            }
            Op::Deconv => 2.0 * (n * self.cin * self.cout * h * h) as f64 * kk,
            Op::MaxPool => 0.0,
        }
    }
}

/// Which implementation runs a case.
#[derive(Clone, Copy)]
enum Impl {
    Candle,
    Ours,
}

fn apply(case: &Case, imp: Impl, x: &Tensor, w: &Tensor) -> candle_core::Result<Option<Tensor>> {
    let (k, s, p) = (case.k, case.s, case.p);
    Ok(Some(match (case.op, imp) {
        (Op::Conv, Impl::Candle) => x.conv2d(w, p, s, 1, 1)?,
        (Op::Conv, Impl::Ours) => kernels::conv2d(x, w, s, p)?,
        (Op::Deconv, Impl::Candle) => x.conv_transpose2d(w, p, 0, s, 1)?,
        (Op::Deconv, Impl::Ours) => kernels::conv_transpose2d(x, w, s, p)?,
        // candle has no padded max pooling: zero-pad (equal after ReLU) and pool, forward only.
        (Op::MaxPool, Impl::Candle) => {
            if x.track_op() {
                return Ok(None);
            }
            x.pad_with_zeros(2, p, p)?
                .pad_with_zeros(3, p, p)?
                .max_pool2d_with_stride(k, s)?
        }
        (Op::MaxPool, Impl::Ours) => kernels::max_pool2d(x, k, s, p)?,
    }))
}

/// Seconds of one call of `f` over at least `reps` timed runs after one warm-up: the median wall
/// time, or with `cpu` the mean CPU time of the whole process.
fn time(
    reps: usize,
    cpu: bool,
    mut f: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Option<f64>> {
    if !f()? {
        return Ok(None);
    }
    let mut times = Vec::with_capacity(reps);
    let start = Instant::now();
    let cpu_start = process_cpu_seconds()?;
    while times.len() < reps || (start.elapsed().as_secs_f64() < 0.3 && times.len() < 50) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    if cpu {
        return Ok(Some(
            (process_cpu_seconds()? - cpu_start) / times.len() as f64,
        ));
    }
    times.sort_by(f64::total_cmp);
    Ok(Some(times[times.len() / 2]))
}

/// Forward-only and forward+backward seconds of one implementation on one case.
fn measure(case: &Case, imp: Impl, args: &Args) -> anyhow::Result<[Option<f64>; 2]> {
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, case.input_dims(args.batch, args.size), &dev)?;
    let x = if case.op == Op::MaxPool { x.relu()? } else { x };
    let w = match case.op {
        Op::MaxPool => Tensor::zeros(1, DType::F32, &dev)?,
        _ => (Tensor::randn(0f32, 1.0, case.weight_dims(), &dev)? * 0.05)?,
    };
    let forward = time(args.reps, args.cpu_time, || {
        Ok(apply(case, imp, &x, &w)?.is_some())
    })?;
    let xv = Var::from_tensor(&x)?;
    let wv = Var::from_tensor(&w)?;
    let both = time(args.reps, args.cpu_time, || {
        let Some(out) = apply(case, imp, xv.as_tensor(), wv.as_tensor())? else {
            return Ok(false);
        };
        let grads = out.sum_all()?.backward()?;
        anyhow::ensure!(grads.get(xv.as_tensor()).is_some(), "no input gradient");
        Ok(true)
    })?;
    Ok([forward, both])
}

fn cell(secs: Option<f64>, flops: f64) -> String {
    match secs {
        None => "-".into(),
        Some(s) if flops > 0.0 => format!("{:.1}", flops / s / 1e9),
        Some(s) => format!("{:.2}ms", s * 1e3),
    }
}

fn ratio(ours: Option<f64>, candle: Option<f64>) -> String {
    match (ours, candle) {
        (Some(o), Some(c)) => format!("{:.2}x", c / o),
        _ => "-".into(),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        // Read by rayon when its global pool starts (on first use, below) and by candle.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    println!(
        "kernels: batch {} size {} threads {} (GFLOP/s of {} time; max pooling in ms; speed-up = candle time / ours)",
        args.batch,
        args.size,
        candle_core::utils::get_num_threads(),
        if args.cpu_time { "CPU" } else { "wall" }
    );
    println!(
        "{:<28} {:>10} {:>10} {:>8} {:>12} {:>12} {:>8}",
        "op", "fwd candle", "fwd ours", "speedup", "f+b candle", "f+b ours", "speedup"
    );
    for case in CASES {
        if let Some(f) = &args.filter {
            if !case.name.contains(f.as_str()) {
                continue;
            }
        }
        let flops = case.forward_flops(args.batch, args.size);
        let [cf, cb] = if args.no_candle {
            [None, None]
        } else {
            measure(case, Impl::Candle, &args)?
        };
        let [of, ob] = measure(case, Impl::Ours, &args)?;
        println!(
            "{:<28} {:>10} {:>10} {:>8} {:>12} {:>12} {:>8}",
            case.name,
            cell(cf, flops),
            cell(of, flops),
            ratio(of, cf),
            cell(cb, 3.0 * flops),
            cell(ob, 3.0 * flops),
            ratio(ob, cb)
        );
    }
    Ok(())
}
