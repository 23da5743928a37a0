//! Load test of `salient serve` on loopback: for each server `--max-batch` (1 = no batching) and
//! each number of concurrent clients, a fresh server on 127.0.0.1, closed-loop clients (each sends
//! its next request when the previous answer arrives) for a warm-up then a measured window, and
//! one line of throughput and latency percentiles.
//!
//! The server runs a random-init checkpoint whose metadata says `--size` (speed does not depend
//! on the weights); each request is the same synthetic JPEG, answered as a grey PNG at the
//! image's size, so a request costs what a client pays: HTTP, decoding, the model, resizing the
//! map back and encoding it. The last line per setting is exactly
//! `max_batch=B clients=C requests=N img/s=X p50_ms=Y p99_ms=Z mean_batch=M model_ms=T errors=E`,
//! `model_ms` being the mean time of one forward pass (a whole batch) inside the server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use candle_core::Device;
use salient_model::{CheckpointMeta, ModelConfig, SaliencyNet};

#[derive(clap::Args)]
pub struct Args {
    /// The `salient` binary (default: `salient` beside this xtask binary).
    #[arg(long)]
    salient: Option<PathBuf>,
    /// Checkpoint to serve (default: a random-init one with `--size` in its metadata).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Square model input side in pixels (a multiple of 32).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Numbers of concurrent clients, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    clients: Vec<usize>,
    /// Server `--max-batch` values, comma-separated (1: no batching).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    max_batch: Vec<usize>,
    /// Server `--max-wait-ms`.
    #[arg(long, default_value_t = 5)]
    max_wait_ms: u64,
    /// Seconds of warm-up before each measured window.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds measured per setting.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Side of the square JPEG each request sends.
    #[arg(long, default_value_t = 256)]
    image: u32,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let salient = match &args.salient {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("xtask binary has no folder")?
            .join("salient"),
    };
    if !salient.is_file() {
        bail!(
            "{} not found: build it first (cargo build --release -p salient-cli) or pass --salient",
            salient.display()
        );
    }
    let scratch = tempfile::tempdir()?;
    let checkpoint = match &args.checkpoint {
        Some(path) => path.clone(),
        None => random_checkpoint(scratch.path(), args.size)?,
    };
    let body = jpeg(args.image)?;
    println!(
        "bench serve: {} on 127.0.0.1, model input {s}x{s}, {i}x{i} JPEG in, grey PNG out, \
         warm-up {:.0} s + {:.0} s per setting, max-wait {} ms",
        salient.display(),
        args.warmup,
        args.seconds,
        args.max_wait_ms,
        s = args.size,
        i = args.image,
    );
    for &max_batch in &args.max_batch {
        for &clients in &args.clients {
            let server = Server::start(&salient, &checkpoint, max_batch, args.max_wait_ms)?;
            let result = load(&server, clients, &body, &args);
            server.stop()?;
            let r = result?;
            println!(
                "max_batch={max_batch} clients={clients} requests={} img/s={:.2} p50_ms={:.1} p99_ms={:.1} mean_batch={:.2} model_ms={:.1} errors={}",
                r.requests, r.throughput, r.p50_ms, r.p99_ms, r.mean_batch, r.model_ms, r.errors
            );
        }
    }
    Ok(())
}

/// One client's (start, end) of each answered request, and its failures.
type ClientLog = (Vec<(Instant, Instant)>, usize);

struct Outcome {
    requests: usize,
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    mean_batch: f64,
    model_ms: f64,
    errors: usize,
}

/// `clients` closed-loop clients for warm-up + measured window.
fn load(server: &Server, clients: usize, body: &[u8], args: &Args) -> anyhow::Result<Outcome> {
    let url = format!("http://{}/v1/predict?format=png", server.addr);
    let metrics_url = format!("http://{}/metrics", server.addr);
    let http = client()?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.seconds);
    let mut batches_before = Counts::default();
    let per_client: Vec<anyhow::Result<ClientLog>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                let url = &url;
                s.spawn(move || -> anyhow::Result<_> {
                    let http = client()?;
                    let mut spans = Vec::new();
                    let mut errors = 0;
                    while Instant::now() < end {
                        let t0 = Instant::now();
                        let response = http.post(url).body(body.to_vec()).send()?;
                        let ok = response.status().is_success();
                        response.bytes()?;
                        if ok {
                            spans.push((t0, Instant::now()));
                        } else {
                            errors += 1;
                        }
                    }
                    Ok((spans, errors))
                })
            })
            .collect();
        // The batch-size histogram when the measured window opens.
        std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
        if let Ok(text) = http.get(&metrics_url).send().and_then(|r| r.text()) {
            batches_before = batch_counts(&text);
        }
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let batches_after = batch_counts(&http.get(&metrics_url).send()?.text()?);
    let mut latencies = Vec::new();
    let mut completed = 0usize;
    let mut errors = 0;
    for client in per_client {
        let (spans, e) = client?;
        errors += e;
        for (t0, t1) in spans {
            if t1 >= measure_from && t1 <= end {
                completed += 1;
            }
            if t0 >= measure_from {
                latencies.push((t1 - t0).as_secs_f64() * 1e3);
            }
        }
    }
    if latencies.is_empty() {
        bail!("no request completed in the measured window");
    }
    latencies.sort_by(f64::total_cmp);
    let images = batches_after.images - batches_before.images;
    let forwards = batches_after.forwards - batches_before.forwards;
    let model_seconds = batches_after.model_seconds - batches_before.model_seconds;
    Ok(Outcome {
        requests: latencies.len(),
        throughput: completed as f64 / args.seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        mean_batch: if forwards > 0.0 {
            images / forwards
        } else {
            0.0
        },
        model_ms: if forwards > 0.0 {
            1e3 * model_seconds / forwards
        } else {
            0.0
        },
        errors,
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Totals read from the server's metrics.
#[derive(Default)]
struct Counts {
    images: f64,
    forwards: f64,
    model_seconds: f64,
}

/// Images, forward passes and model time so far, from the server's histograms.
fn batch_counts(metrics: &str) -> Counts {
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Counts {
        images: value("salient_batch_size_sum"),
        forwards: value("salient_batch_size_count"),
        model_seconds: value("salient_model_duration_seconds_sum"),
    }
}

fn client() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(300))
        .build()?)
}

/// A random-init network saved with `size` as its input size.
fn random_checkpoint(dir: &Path, size: usize) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("random-{size}.safetensors"));
    let net = SaliencyNet::new(ModelConfig::default(), 0, &Device::Cpu)?;
    let mut meta = CheckpointMeta::new();
    meta.set_input_size(size, size).set_normalize("unit");
    net.save_checkpoint(&path, &meta)?;
    Ok(path)
}

/// A synthetic `side`×`side` photo-like JPEG (gradient and shapes), quality 90.
fn jpeg(side: u32) -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(side, side, |x, y| {
        let (dx, dy) = (x as i64 - side as i64 / 3, y as i64 - side as i64 / 2);
        if dx * dx + dy * dy < (side as i64 / 6).pow(2) {
            image::Rgb([220, 40, 40])
        } else {
            image::Rgb([(x * 255 / side) as u8, 150, (y * 255 / side) as u8])
        }
    });
    salient_data::jpeg::encode(image.as_raw(), side, side, 3, 90).map_err(anyhow::Error::msg)
}

/// A `salient serve` child process on 127.0.0.1:0.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(
        salient: &Path,
        checkpoint: &Path,
        max_batch: usize,
        max_wait_ms: u64,
    ) -> anyhow::Result<Server> {
        let mut child = Command::new(salient)
            .args([
                "serve",
                "--device",
                "cpu",
                "--port",
                "0",
                "--max-queue",
                "64",
            ])
            .args(["--max-batch", &max_batch.to_string()])
            .args(["--max-wait-ms", &max_wait_ms.to_string()])
            .arg("--checkpoint")
            .arg(checkpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", salient.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                bail!("salient serve exited before listening");
            };
            let line = line?;
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split('/').next().unwrap_or_default().to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server { child, addr })
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            self.child.kill()?;
        }
        let status = self.child.wait()?;
        if !status.success() {
            bail!("salient serve exited with {status}");
        }
        Ok(())
    }
}
