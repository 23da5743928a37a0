//! `salient inspect`: parameter counts and checkpoint metadata.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint (.safetensors); without it, the freshly built model is described.
    pub checkpoint: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("inspect is being built (checkpoint: {:?})", args.checkpoint)
}
