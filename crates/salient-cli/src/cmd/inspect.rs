//! `salient inspect`: parameter counts and checkpoint metadata.

use std::path::PathBuf;

use anyhow::Context;
use candle_core::Device;
use salient_model::{CheckpointMeta, FreezePolicy, Head, ModelConfig, SaliencyNet};

#[derive(clap::Args)]
pub struct Args {
    /// A checkpoint (.safetensors); without it, the freshly built model is described.
    pub checkpoint: Option<PathBuf>,
    /// Freeze policy to count trainable parameters under (default: the checkpoint's, else layer2).
    #[arg(long)]
    pub freeze: Option<FreezePolicy>,
    /// Head of the freshly built model (without a checkpoint; a checkpoint has its own).
    #[arg(long, conflicts_with = "checkpoint")]
    pub head: Option<Head>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let (net, meta) = match &args.checkpoint {
        Some(path) => {
            let meta = CheckpointMeta::from_file(path)?;
            let freeze = args.freeze.or(meta.freeze()).unwrap_or_default();
            let cfg = ModelConfig {
                freeze,
                ..ModelConfig::default()
            };
            let (net, meta) = SaliencyNet::load_checkpoint(path, cfg, &device)
                .with_context(|| format!("loading checkpoint {}", path.display()))?;
            println!("checkpoint: {}", path.display());
            (net, Some(meta))
        }
        None => {
            let cfg = ModelConfig {
                freeze: args.freeze.unwrap_or_default(),
                head: args.head.unwrap_or_default(),
                ..ModelConfig::default()
            };
            println!("checkpoint: none (freshly initialised model)");
            (SaliencyNet::new(cfg, 0, &device)?, None)
        }
    };
    let counts = net.parameter_counts();
    println!(
        "head: {} (outputs a {})",
        net.head(),
        net.head().output_description()
    );
    if let Some(sigma) = net.density_sigma()? {
        println!(
            "density blur sigma: {:.3}% of the larger side",
            sigma * 100.0
        );
    }
    println!("freeze: {}", net.config().freeze);
    println!("parameters: {}", thousands(counts.total));
    println!("trainable: {}", thousands(counts.trainable));
    println!("frozen: {}", thousands(counts.total - counts.trainable));
    if let Some(meta) = meta {
        if meta.is_empty() {
            println!("metadata: none");
        } else {
            println!("metadata:");
            for (key, value) in meta.iter() {
                println!("  {key}: {value}");
            }
        }
    }
    Ok(())
}

/// `32581794` → `32,581,794`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(32_581_794), "32,581,794");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
    }
}
