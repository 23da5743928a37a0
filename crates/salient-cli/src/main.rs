//! `salient`: train, evaluate and run the seed's ResNet50 U-Net saliency model, without Python.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "salient", version, about = "Visual saliency: train, evaluate, predict")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print parameter counts and checkpoint metadata.
    Inspect(cmd::inspect::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
    }
}
