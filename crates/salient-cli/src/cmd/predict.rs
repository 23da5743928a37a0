//! `salient predict`: Predict saliency maps (and overlays) for an image or a folder.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`salient predict` is being built")
}
