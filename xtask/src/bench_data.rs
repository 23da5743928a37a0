//! Time the training data pipeline over a dataset's train split: decode, the seed's train
//! augmentation, batches of 4 (by default), one epoch. The last line is `images/s=<float>`, to be
//! set beside `../shared/anchors/seed_data_bench.py` run on the same folder.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use salient_data::{Dataset, DiscoverOptions, Loader, LoaderConfig, Normalize, Pipeline, Split};

#[derive(clap::Args)]
pub struct Args {
    /// Dataset root (any layout `salient` understands).
    #[arg(long)]
    data: PathBuf,
    /// Decode/augment threads; 0 = one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Square target size in pixels.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Batch size.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Also load fixation maps (the seed's pipeline does not).
    #[arg(long)]
    fixations: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let data = Dataset::discover(&args.data, &DiscoverOptions::default())
        .with_context(|| format!("reading dataset {}", args.data.display()))?;
    let samples = data.split(Split::Train);
    let config = LoaderConfig {
        batch_size: args.batch,
        height: args.size,
        width: args.size,
        normalize: Normalize::Unit,
        pipeline: Pipeline::seed_train(),
        threads: args.threads,
        with_fixations: args.fixations,
        ..LoaderConfig::default()
    };
    let loader = Loader::new(samples, config)?;
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.threads
    };
    println!(
        "data={} layout={} train={} size={} batch={} threads={threads}",
        args.data.display(),
        data.layout(),
        samples.len(),
        args.size,
        args.batch
    );
    let start = Instant::now();
    let mut images = 0usize;
    for batch in loader.epoch(0) {
        let batch = batch?;
        images += batch.n;
        loader.recycle(batch);
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("images={images} seconds={seconds:.3}");
    println!("images/s={:.1}", images as f64 / seconds);
    Ok(())
}
