//! Write a deterministic synthetic saliency dataset in the SALICON layout.

use std::path::PathBuf;

use anyhow::Context;
use salient_data::synth::{write_synthetic, SynthOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Folder to write `images/`, `maps/` and `fixations/` into (each with `train/` and `val/`).
    #[arg(long, default_value = "data/synth")]
    out: PathBuf,
    /// Training scenes.
    #[arg(long, default_value_t = 64)]
    train: usize,
    /// Validation scenes.
    #[arg(long, default_value_t = 16)]
    val: usize,
    /// Scene size as WIDTHxHEIGHT.
    #[arg(long, default_value = "256x192", value_parser = parse_size)]
    size: (usize, usize),
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size '{text}' is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("size '{text}' is not WIDTHxHEIGHT"))
    };
    Ok((parse(w)?, parse(h)?))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = SynthOptions {
        train: args.train,
        val: args.val,
        width: args.size.0,
        height: args.size.1,
        seed: args.seed,
    };
    let summary = write_synthetic(&args.out, &options)
        .with_context(|| format!("writing synthetic data to {}", args.out.display()))?;
    println!(
        "wrote {} train + {} val scenes of {}x{} ({} fixations) to {}",
        summary.train,
        summary.val,
        options.width,
        options.height,
        summary.fixations,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256x192"), Ok((256, 192)));
        assert_eq!(parse_size("64X48"), Ok((64, 48)));
        assert!(parse_size("256").is_err());
        assert!(parse_size("ax3").is_err());
    }
}
