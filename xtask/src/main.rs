//! Project automation, reached as `cargo xtask <command>` (see `.cargo/config.toml`).

mod bench_data;
mod bench_kernels;
mod bench_model;
mod bench_serve;
mod fetch_weights;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "salient project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download the pretrained ResNet50 backbone from the Hugging Face hub, verified.
    FetchWeights(fetch_weights::Args),
    /// Benchmarks: `bench model`, `bench data`, `bench kernels` and `bench serve`.
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand)]
enum Bench {
    /// Model inference or training-step speed on random input.
    Model(bench_model::Args),
    /// Training data pipeline throughput over a dataset's train split.
    Data(bench_data::Args),
    /// Convolution and pooling kernels, candle's against ours, on the model's layer shapes.
    Kernels(bench_kernels::Args),
    /// `salient serve` under load on loopback: throughput and p50/p99 latency per client count,
    /// with and without batching.
    Serve(bench_serve::Args),
}

fn main() -> anyhow::Result<()> {
    salient_model::alloc::tune_allocator();
    let cli = Cli::parse();
    match cli.command {
        Command::FetchWeights(args) => fetch_weights::run(args),
        Command::Bench(Bench::Model(args)) => bench_model::run(args),
        Command::Bench(Bench::Data(args)) => bench_data::run(args),
        Command::Bench(Bench::Kernels(args)) => bench_kernels::run(args),
        Command::Bench(Bench::Serve(args)) => bench_serve::run(args),
    }
}
