//! `salient`: train, evaluate and run the seed's ResNet50 U-Net saliency model, without Python.

mod cmd;
mod model_args;
mod progress;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "salient",
    version,
    about = "Visual saliency: train, evaluate, predict"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the model (TOML config + flags that override it).
    Train(Box<cmd::train::Args>),
    /// Score a checkpoint or a folder of predicted maps with the standard saliency metrics.
    Eval(cmd::eval::Args),
    /// Predict saliency maps (and overlays) for an image or a folder.
    Predict(cmd::predict::Args),
    /// Print parameter counts and checkpoint metadata.
    Inspect(cmd::inspect::Args),
    /// Fit pysaliency's centre-bias baseline on a split's fixations and write it.
    Baseline(cmd::baseline::Args),
    /// Dataset commands: check a dataset, write split lists, make a synthetic one.
    #[command(subcommand)]
    Data(cmd::data::Command),
    /// Serve the model over HTTP: POST /v1/predict, a web page at /, /metrics.
    Serve(Box<cmd::serve::Args>),
    /// Benchmarks that run wherever the binary does (GPU machines included): `bench model`.
    #[command(subcommand)]
    Bench(cmd::bench::Command),
    /// Check the custom ops and the network on a device against a reference (exit 1 on a mismatch).
    Selftest(cmd::selftest::Args),
}

fn main() -> anyhow::Result<()> {
    salient_model::alloc::tune_allocator();
    let cli = Cli::parse();
    match cli.command {
        Command::Train(args) => cmd::train::run(*args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Data(command) => cmd::data::run(command),
        Command::Baseline(args) => cmd::baseline::run(args),
        Command::Serve(args) => cmd::serve::run(*args),
        Command::Bench(command) => cmd::bench::run(command),
        Command::Selftest(args) => cmd::selftest::run(args),
    }
}
