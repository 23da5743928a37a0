//! Times every metric over many generated 480x640 images, model inference excluded:
//!
//!     cargo run --release -p salient-metrics --example bench -- --images 5000
//!
//! Options: `--images N` (5000), `--width W` (640), `--height H` (480), `--fixations F` per image
//! (500), `--distinct K` generated image sets reused cyclically (16; generation is not timed),
//! `--metrics LIST` (all), `--threads T` (all cores), `--breakdown` (also time each metric alone
//! over a tenth of the images). Prints wall and CPU time (the machine may be shared: CPU time
//! is the load-independent figure). Last line: `images/s=<float> total_s=<float>`.

use std::time::Instant;

use salient_metrics::{
    evaluate, EvalOptions, Fixation, Fixations, ImageEval, Map, Metric, MetricSet,
};

struct Options {
    images: usize,
    width: usize,
    height: usize,
    fixations: usize,
    distinct: usize,
    metrics: MetricSet,
    threads: Option<usize>,
    breakdown: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        images: 5000,
        width: 640,
        height: 480,
        fixations: 500,
        distinct: 16,
        metrics: MetricSet::all(),
        threads: None,
        breakdown: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--breakdown" {
            o.breakdown = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--images" => o.images = number()?,
            "--width" => o.width = number()?,
            "--height" => o.height = number()?,
            "--fixations" => o.fixations = number()?,
            "--distinct" => o.distinct = number()?.max(1),
            "--threads" => o.threads = Some(number()?),
            "--metrics" => o.metrics = value.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// xorshift64*: deterministic data, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / 16_777_216.0
    }
}

/// A prediction (smooth blobs + noise, like a network's output) and a ground-truth map (blobs);
/// each image gets its own fixations, drawn around the blobs (so the shuffled AUC's pool of other
/// images' fixations covers the frame, as on a real dataset).
struct Sample {
    prediction: Vec<f32>,
    saliency: Vec<f32>,
    blobs: Vec<(f32, f32, f32)>,
}

fn fixations_for(
    image: usize,
    blobs: &[(f32, f32, f32)],
    w: usize,
    h: usize,
    n: usize,
) -> Vec<Fixation> {
    let mut rng = Rng((image as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let scale = w.max(h) as f32;
    let gauss = |rng: &mut Rng| (0..4).map(|_| rng.unit() - 0.5).sum::<f32>() * 1.7;
    (0..n)
        .map(|_| {
            let (cy, cx, s) = blobs[(rng.next() % blobs.len() as u64) as usize];
            let y = (cy + gauss(&mut rng) * s * scale).clamp(0.0, (h - 1) as f32);
            let x = (cx + gauss(&mut rng) * s * scale).clamp(0.0, (w - 1) as f32);
            Fixation::new(y as u32, x as u32)
        })
        .collect()
}

fn sample(seed: u64, w: usize, h: usize) -> Sample {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let blobs: Vec<(f32, f32, f32)> = (0..4)
        .map(|_| {
            (
                rng.unit() * h as f32,
                rng.unit() * w as f32,
                0.03 + 0.1 * rng.unit(),
            )
        })
        .collect();
    let scale = w.max(h) as f32;
    let blob_map = |jitter: f32, rng: &mut Rng| -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (y, x) = ((i / w) as f32, (i % w) as f32);
                let v: f32 = blobs
                    .iter()
                    .map(|&(cy, cx, s)| {
                        let d2 = ((y - cy - jitter * scale).powi(2) + (x - cx).powi(2))
                            / (s * scale).powi(2);
                        (-0.5 * d2).exp()
                    })
                    .sum();
                v + 0.02 * rng.unit()
            })
            .collect()
    };
    let saliency = blob_map(0.0, &mut rng);
    let prediction = blob_map(0.02, &mut rng);
    Sample {
        prediction,
        saliency,
        blobs,
    }
}

/// CPU seconds this process has used (user + system), from /proc/self/stat (Linux; USER_HZ is
/// always 100 there). The machine is shared: CPU time is the figure that does not depend on load.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Wall and CPU seconds of scoring `images` images.
fn run(o: &Options, samples: &[Sample], images: usize, metrics: &MetricSet) -> (f64, f64) {
    let (w, h) = (o.width, o.height);
    let names: Vec<String> = (0..images).map(|i| format!("img{i:05}")).collect();
    let fixations: Vec<Vec<Fixation>> = (0..images)
        .map(|i| fixations_for(i, &samples[i % samples.len()].blobs, w, h, o.fixations))
        .collect();
    let batch: Vec<ImageEval<'_>> = (0..images)
        .map(|i| {
            let s = &samples[i % samples.len()];
            ImageEval {
                name: &names[i],
                prediction: Map::new(&s.prediction, w, h).expect("generated size"),
                saliency: Some(Map::new(&s.saliency, w, h).expect("generated size")),
                fixations: Some(Fixations::new(&fixations[i], w, h).expect("on the grid")),
            }
        })
        .collect();
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let report = evaluate(&batch, metrics, &EvalOptions::default()).expect("valid inputs");
    let seconds = start.elapsed().as_secs_f64();
    let cpu = match (cpu_start, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    if metrics.len() > 1 {
        for (m, s) in metrics.metrics().iter().zip(&report.summaries) {
            println!("  {:>9}: {:.4} ± {:.4}", m.name(), s.mean, s.std);
        }
    }
    (seconds, cpu)
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    if let Some(t) = o.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .expect("first pool");
    }
    let start = Instant::now();
    let samples: Vec<Sample> = (0..o.distinct)
        .map(|k| sample(k as u64 + 1, o.width, o.height))
        .collect();
    println!(
        "generated {} distinct {}x{} map pairs in {:.1}s ({} fixations per image, drawn per image; not timed); {} threads",
        o.distinct,
        o.width,
        o.height,
        start.elapsed().as_secs_f64(),
        o.fixations,
        rayon::current_num_threads()
    );
    if o.breakdown {
        let n = (o.images / 10).max(1);
        for &m in o.metrics.metrics() {
            let (wall, cpu) = run(&o, &samples, n, &MetricSet::new([m]));
            println!(
                "{:>9} alone: {:.2} ms/image wall, {:.2} ms/image CPU ({} images)",
                m.name(),
                1e3 * wall / n as f64,
                1e3 * cpu / n as f64,
                n
            );
        }
    }
    let names: Vec<&str> = o
        .metrics
        .metrics()
        .iter()
        .map(|m| Metric::name(*m))
        .collect();
    println!("scoring {} images with {} ...", o.images, names.join(","));
    let (seconds, cpu) = run(&o, &samples, o.images, &o.metrics);
    println!(
        "CPU time {:.2}s = {:.2} ms/image; at {} threads with the cores to itself that is ~{:.1}s wall",
        cpu,
        1e3 * cpu / o.images as f64,
        rayon::current_num_threads(),
        cpu / rayon::current_num_threads() as f64
    );
    println!(
        "images/s={:.1} total_s={:.2}",
        o.images as f64 / seconds,
        seconds
    );
}
