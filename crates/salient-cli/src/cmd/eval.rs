//! `salient eval`: Score predictions or a checkpoint against a dataset with the standard saliency metrics.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`salient eval` is being built")
}
