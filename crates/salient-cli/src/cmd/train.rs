//! `salient train`: Train the model (config file + flags).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`salient train` is being built")
}
