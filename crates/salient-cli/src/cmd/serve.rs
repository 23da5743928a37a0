//! `salient serve`: the model behind an HTTP endpoint and a web page (crate `salient-serve`).
//!
//! Loads the checkpoint as `salient predict` does, binds `--host:--port` (127.0.0.1 unless told
//! otherwise; port 0 picks a free one), prints `listening on http://ADDR/` on stderr, and serves
//! until SIGTERM or Ctrl-C, then lets in-flight requests finish and exits 0.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use salient_model::CheckpointMeta;
use salient_serve::config::DEFAULT_MAX_PIXELS;
use salient_serve::{serve, shutdown_signal, ModelInfo, ServeConfig};

use crate::model_args::LoadArgs;

#[derive(clap::Args)]
pub struct Args {
    /// Model checkpoint (.safetensors, seed naming).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Address to listen on: 127.0.0.1 serves this machine only; 0.0.0.0 every interface.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// TCP port (0: a free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[command(flatten)]
    pub model: LoadArgs,
    /// Most images per forward pass (concurrent requests are batched up to this).
    #[arg(long, default_value_t = 4)]
    pub max_batch: usize,
    /// Longest wait, in milliseconds, for more images to fill a batch once one is waiting.
    #[arg(long, default_value_t = 5)]
    pub max_wait_ms: u64,
    /// Largest request body in MiB (larger: 413).
    #[arg(long, default_value_t = 32)]
    pub max_body_mib: usize,
    /// Largest image in pixels, width × height from the header (larger: 422, before decoding).
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Requests admitted at once; the next gets 503 with Retry-After. Bounds memory.
    #[arg(long, default_value_t = 32)]
    pub max_queue: usize,
    /// Model worker threads, each running one batch at a time (1 suits a CPU).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = ServeConfig {
        max_batch: args.max_batch,
        max_wait: Duration::from_millis(args.max_wait_ms),
        max_body_bytes: args
            .max_body_mib
            .checked_mul(1 << 20)
            .context("--max-body-mib is too large")?,
        max_pixels: args.max_pixels,
        max_queue: args.max_queue,
        workers: args.workers,
        ..ServeConfig::default()
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("salient serve: {e}"))?;
    let metadata = CheckpointMeta::from_file(&args.checkpoint)
        .with_context(|| format!("reading {}", args.checkpoint.display()))?;
    let (predictor, device) = args.model.load_on(&args.checkpoint)?;
    let info = ModelInfo {
        checkpoint: args
            .checkpoint
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        input_size: predictor.size().to_string(),
        normalize: predictor.normalize().to_string(),
        device,
        precision: args.model.precision.to_string(),
        output: "saliency map".into(),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("salient-http")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host, args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        eprintln!(
            "salient serve: listening on http://{addr}/ (page at /, POST /v1/predict, GET /metrics); SIGTERM or Ctrl-C stops"
        );
        let stop = async {
            shutdown_signal().await;
            eprintln!("salient serve: shutting down; finishing in-flight requests");
        };
        serve(listener, Arc::new(predictor), info, config, stop).await?;
        eprintln!("salient serve: stopped");
        anyhow::Ok(())
    })
}
