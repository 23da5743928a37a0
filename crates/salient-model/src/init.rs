//! Fresh weights, as PyTorch would create them for the seed's model, from a seeded RNG so that the
//! same seed always gives the same network.
//!
//! - Backbone convolutions: torchvision's ResNet init, `kaiming_normal_(mode="fan_out",
//!   nonlinearity="relu")`, i.e. normal with std `sqrt(2 / (out * k * k))`.
//! - Decoder `Conv2d` and `ConvTranspose2d`: PyTorch's default `kaiming_uniform_(a = sqrt 5)`, i.e.
//!   uniform in `±1 / sqrt(fan_in)` with PyTorch's fan rule `fan_in = weight.size(1) * k * k` (for a
//!   transposed convolution `size(1)` is the output channel count, as in PyTorch).
//! - BatchNorm: weight 1, bias 0, running mean 0, running variance 1.
//! - Density head: the readout as a decoder `Conv2d`; the blur's `log_sigma` at
//!   `ln(DEFAULT_SIGMA_FRACTION)`; the centre-bias prior 0 (uniform). Training replaces the last two
//!   with the dataset's map sigma and its training fixations' centre bias.

use candle_core::{Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::density;

/// Initial values for every `(name, shape)` in order, drawn from one RNG stream seeded by `seed`.
pub(crate) fn initial_tensors(
    specs: &[(String, Vec<usize>)],
    seed: u64,
    device: &Device,
) -> Result<Vec<(String, Tensor)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    specs
        .iter()
        .map(|(name, shape)| {
            let values = initial_values(name, shape, &mut rng);
            Ok((
                name.clone(),
                Tensor::from_vec(values, shape.as_slice(), device)?,
            ))
        })
        .collect()
}

fn initial_values(name: &str, shape: &[usize], rng: &mut ChaCha8Rng) -> Vec<f32> {
    let numel: usize = shape.iter().product();
    if name == density::LOG_SIGMA {
        return vec![density::DEFAULT_SIGMA_FRACTION.ln() as f32; numel];
    }
    if name == density::PRIOR_LOG_DENSITY {
        return vec![0.0; numel];
    }
    if shape.len() != 4 {
        let fill = if name.ends_with(".weight") || name.ends_with(".running_var") {
            1.0
        } else {
            0.0
        };
        return vec![fill; numel];
    }
    let receptive: usize = shape[2] * shape[3];
    let is_backbone = name.starts_with("conv1.") || name.starts_with("layer");
    if is_backbone {
        let std = (2.0 / (shape[0] * receptive) as f64).sqrt();
        (0..numel)
            .map(|_| (standard_normal(rng) * std) as f32)
            .collect()
    } else {
        let bound = 1.0 / ((shape[1] * receptive) as f64).sqrt();
        (0..numel)
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect()
    }
}

/// One standard normal draw (Box–Muller), to avoid a distribution crate for one use.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: keeps ln finite
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
