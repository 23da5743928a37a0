//! Write a deterministic synthetic saliency dataset in the SALICON layout.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("synth_data is being built")
}
