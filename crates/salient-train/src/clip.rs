//! Gradient clipping by global L2 norm, as PyTorch's `clip_grad_norm_`: when the norm of all
//! gradients together exceeds `max_norm`, every gradient is scaled by `max_norm / (norm + 1e-6)`.

use candle_core::backprop::GradStore;
use candle_core::{DType, Var};

use crate::error::TrainError;

/// The global L2 norm of the gradients of `vars` (vars without a gradient are skipped).
pub fn grad_norm(grads: &GradStore, vars: &[&Var]) -> Result<f64, TrainError> {
    let mut total = 0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            total += g
                .to_dtype(DType::F32)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f32>()? as f64;
        }
    }
    Ok(total.sqrt())
}

/// Clips in place; returns the norm before clipping (what logs report).
pub fn clip_grad_norm(
    grads: &mut GradStore,
    vars: &[&Var],
    max_norm: f64,
) -> Result<f64, TrainError> {
    let norm = grad_norm(grads, vars)?;
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for var in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let clipped = g.affine(scale, 0.0)?;
                grads.insert(var.as_tensor(), clipped);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn clips_only_above_the_limit() {
        let a = Var::from_tensor(&Tensor::new(&[3f32, 0.0], &Device::Cpu).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[0f32, 4.0], &Device::Cpu).unwrap()).unwrap();
        // loss = ½(a·a + b·b): gradients are a and b, global norm 5.
        let loss = ((a.as_tensor().sqr().unwrap().sum_all().unwrap()
            + b.as_tensor().sqr().unwrap().sum_all().unwrap())
        .unwrap()
            * 0.5)
            .unwrap();
        let mut grads = loss.backward().unwrap();
        let vars = [&a, &b];
        assert!((clip_grad_norm(&mut grads, &vars, 10.0).unwrap() - 5.0).abs() < 1e-5);
        assert!((grad_norm(&grads, &vars).unwrap() - 5.0).abs() < 1e-5);
        clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
        assert!((grad_norm(&grads, &vars).unwrap() - 1.0).abs() < 1e-5);
        let ga: Vec<f32> = grads.get(a.as_tensor()).unwrap().to_vec1().unwrap();
        assert!((ga[0] - 0.6).abs() < 1e-5);
    }
}
