//! Download the pretrained ResNet50 from the Hugging Face hub and verify it.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("fetch_weights is being built")
}
