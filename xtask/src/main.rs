//! Project automation, reached as `cargo xtask <command>` (see `.cargo/config.toml`).

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "salient project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
