//! Time the training data pipeline over a dataset's train split.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("bench_data is being built")
}
