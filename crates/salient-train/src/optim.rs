//! Adam exactly as PyTorch's `torch.optim.Adam` (and `AdamW` with `decoupled_weight_decay`), over
//! named candle variables, with state that exports to and imports from named tensors so that a run
//! resumes bit for bit.
//!
//! Per step `t` and parameter `p` with gradient `g`:
//! `g += wd * p` (L2, Adam) or `p *= 1 - lr * wd` (decoupled, AdamW);
//! `m = β1 m + (1-β1) g`, `v = β2 v + (1-β2) g²`;
//! `p -= lr / (1-β1^t) * m / (sqrt(v) / sqrt(1-β2^t) + eps)`.
//! A parameter without a gradient in a step is left alone (PyTorch skips it too); the step counter
//! is shared by all parameters.
//!
//! Two implementations of the step: CPU f32/f64 parameters are updated in place (`cpu`, three
//! streaming passes), every other parameter (CUDA's) by the same formula in candle ops. A test
//! runs both on CPU and pins them to each other ([`Adam::with_candle_ops`]).

mod cpu;

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

/// Adam's hyper-parameters. The default is PyTorch's (lr 1e-3, betas (0.9, 0.999), eps 1e-8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: decay the weights directly instead of adding `wd * p` to the gradient.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamConfig {
    /// The seed's optimiser: lr 1e-3, betas (0.9, 0.99).
    pub fn seed() -> Self {
        Self {
            beta2: 0.99,
            ..Self::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("optimiser state lacks tensor `{0}`")]
    MissingState(String),
    #[error("optimiser state tensor `{name}` has shape {found:?}, expected {expected:?}")]
    StateShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("invalid Adam configuration: {0}")]
    Config(String),
}

struct ParamState {
    name: String,
    var: Var,
    m: Tensor,
    v: Tensor,
}

/// PyTorch's Adam over a list of named variables.
pub struct Adam {
    cfg: AdamConfig,
    params: Vec<ParamState>,
    step: u64,
    /// Whether parameters the in-place CPU passes handle take them (else the candle-op step).
    in_place: bool,
}

/// Name of the step counter in exported state.
pub const STATE_STEP: &str = "step";

impl Adam {
    pub fn new(vars: Vec<(String, Var)>, cfg: AdamConfig) -> Result<Self, OptimError> {
        let valid = cfg.lr >= 0.0
            && (0.0..1.0).contains(&cfg.beta1)
            && (0.0..1.0).contains(&cfg.beta2)
            && cfg.eps >= 0.0
            && cfg.weight_decay >= 0.0;
        if !valid {
            return Err(OptimError::Config(format!("{cfg:?}")));
        }
        let params = vars
            .into_iter()
            .map(|(name, var)| {
                // Two allocations: the CPU step updates each moment in place.
                Ok(ParamState {
                    name,
                    m: var.as_tensor().zeros_like()?,
                    v: var.as_tensor().zeros_like()?,
                    var,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            cfg,
            params,
            step: 0,
            in_place: true,
        })
    }

    /// The same optimiser, but every step in candle ops, also for CPU parameters: the update
    /// CUDA parameters always take, which a test on CPU can then compare with the in-place one.
    /// Same results to float rounding; slower (a dozen allocating ops per parameter).
    pub fn with_candle_ops(mut self) -> Self {
        self.in_place = false;
        self
    }

    pub fn config(&self) -> &AdamConfig {
        &self.cfg
    }

    pub fn lr(&self) -> f64 {
        self.cfg.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One Adam update of every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<(), OptimError> {
        self.step += 1;
        let c = self.cfg;
        let t = self.step as i32;
        let step_size = c.lr / (1.0 - c.beta1.powi(t));
        let bias_correction2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let decoupled = c.decoupled_weight_decay;
        let constants = cpu::StepConstants {
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            step_size,
            bias_correction2_sqrt,
            l2: if decoupled { 0.0 } else { c.weight_decay },
            decay_factor: if decoupled {
                1.0 - c.lr * c.weight_decay
            } else {
                1.0
            },
        };
        for p in &mut self.params {
            let Some(grad) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let param = p.var.as_detached_tensor();
            if self.in_place && cpu::supported(&param, grad) {
                cpu::step(&param, grad, &p.m, &p.v, constants)?;
                continue;
            }
            let mut grad = grad.detach();
            let mut param_now = param.clone();
            if c.weight_decay != 0.0 {
                if decoupled {
                    param_now = param.affine(constants.decay_factor, 0.0)?;
                } else {
                    grad = (grad + param.affine(c.weight_decay, 0.0)?)?;
                }
            }
            p.m = ((&p.m * c.beta1)? + (&grad * (1.0 - c.beta1))?)?;
            p.v = ((&p.v * c.beta2)? + (grad.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((p.v.sqrt()? / bias_correction2_sqrt)? + c.eps)?;
            let update = ((&p.m / denom)? * step_size)?;
            p.var.set(&(param_now - update)?)?;
        }
        Ok(())
    }

    /// The state as named tensors: `m.<param>`, `v.<param>` and `step` (an f64 scalar of shape (1,)).
    pub fn state_tensors(&self) -> Result<Vec<(String, Tensor)>, OptimError> {
        let device = self
            .params
            .first()
            .map(|p| p.m.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let mut out = vec![(
            STATE_STEP.to_string(),
            Tensor::new(&[self.step as f64], &device)?,
        )];
        for p in &self.params {
            // Copies: the CPU step updates the moments in place.
            out.push((format!("m.{}", p.name), p.m.copy()?));
            out.push((format!("v.{}", p.name), p.v.copy()?));
        }
        Ok(out)
    }

    /// Restores state written by [`Adam::state_tensors`]; every parameter's moments must be present
    /// with the parameter's shape. Nothing changes on error.
    pub fn load_state_tensors(&mut self, state: &[(String, Tensor)]) -> Result<(), OptimError> {
        let map: HashMap<&str, &Tensor> = state.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let get = |name: &str, like: &Tensor| -> Result<Tensor, OptimError> {
            let t = map
                .get(name)
                .ok_or_else(|| OptimError::MissingState(name.to_string()))?;
            if t.dims() != like.dims() {
                return Err(OptimError::StateShape {
                    name: name.to_string(),
                    expected: like.dims().to_vec(),
                    found: t.dims().to_vec(),
                });
            }
            // A copy: the CPU step updates the moments in place, never the caller's tensors.
            Ok(t.to_dtype(like.dtype())?.to_device(like.device())?.copy()?)
        };
        let step_tensor = map
            .get(STATE_STEP)
            .ok_or_else(|| OptimError::MissingState(STATE_STEP.into()))?;
        let step = step_tensor
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        let step = match step.as_slice() {
            [s] if *s >= 0.0 && s.fract() == 0.0 => *s as u64,
            _ => {
                return Err(OptimError::StateShape {
                    name: STATE_STEP.into(),
                    expected: vec![1],
                    found: step_tensor.dims().to_vec(),
                })
            }
        };
        let moments = self
            .params
            .iter()
            .map(|p| {
                let like = p.var.as_tensor();
                Ok((
                    get(&format!("m.{}", p.name), like)?,
                    get(&format!("v.{}", p.name), like)?,
                ))
            })
            .collect::<Result<Vec<_>, OptimError>>()?;
        for (p, (m, v)) in self.params.iter_mut().zip(moments) {
            p.m = m;
            p.v = v;
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps on f(p) = sum(p²)/2 (gradient p), checked against PyTorch's Adam
    /// (torch 2.15: `Adam([p], lr=0.1, betas=(0.9, 0.99), weight_decay=0.1)`).
    #[test]
    fn matches_pytorch_adam_on_a_quadratic() -> Result<(), OptimError> {
        let dev = Device::Cpu;
        let var = Var::new(&[1.0f32, -2.0, 0.5], &dev)?;
        let cfg = AdamConfig {
            lr: 0.1,
            beta2: 0.99,
            weight_decay: 0.1,
            ..AdamConfig::default()
        };
        let mut adam = Adam::new(vec![("p".into(), var.clone())], cfg)?;
        for _ in 0..2 {
            let loss = (var.as_tensor().sqr()?.sum_all()? * 0.5)?;
            adam.step(&loss.backward()?)?;
        }
        let got = var.as_tensor().to_vec1::<f32>()?;
        let expected = [0.800_388_5_f32, -1.800_154_9, 0.301_138_3];
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
        Ok(())
    }

    /// The candle-op step (the one CUDA parameters take) against the in-place CPU step, on the
    /// same parameters for 4 steps, with L2 and with decoupled weight decay: betas (0.8, 0.95),
    /// weight decay 0.05 and eps 1e-3, of the order of `sqrt(v̂)` here so that where eps enters
    /// shows. Each run computes its gradients from its own parameters (`Σ sin(3p) + p²/2`, so they
    /// change from step to step); a parameter of 40 000 elements spans several parallel chunks of
    /// the in-place passes. Parameters and both moments agree within f32 rounding,
    /// `|Δ| ≤ 1e-6 · (1 + |x|)` (about 8 ulp; both round the same operations in the same order,
    /// so they are in fact bit-identical).
    #[test]
    fn candle_op_step_equals_the_in_place_cpu_step() -> Result<(), OptimError> {
        use salient_test_support::{assert_close_and_nan_fails, Tolerance};
        let shapes: [&[usize]; 2] = [&[40_000], &[3, 5, 7]];
        let run = |candle_ops: bool, decoupled: bool| -> Result<_, OptimError> {
            let vars: Vec<(String, Var)> = shapes
                .iter()
                .enumerate()
                .map(|(k, shape)| {
                    let len = shape.iter().product::<usize>();
                    let v: Vec<f32> = (0..len)
                        .map(|i| (0.37 * i as f32 + k as f32).sin() * 1.5)
                        .collect();
                    Ok((format!("p{k}"), Var::from_vec(v, *shape, &Device::Cpu)?))
                })
                .collect::<candle_core::Result<_>>()?;
            let cfg = AdamConfig {
                lr: 0.01,
                beta1: 0.8,
                beta2: 0.95,
                eps: 1e-3,
                weight_decay: 0.05,
                decoupled_weight_decay: decoupled,
            };
            let mut adam = Adam::new(vars.clone(), cfg)?;
            if candle_ops {
                adam = adam.with_candle_ops();
            }
            // The in-place passes update this moment's storage; the candle ops replace it.
            let first_moment = adam.params[0].m.clone();
            for _ in 0..4 {
                let mut loss = Tensor::new(0f32, &Device::Cpu)?;
                for (_, v) in &vars {
                    let p = v.as_tensor();
                    let term = ((p * 3.0)?.sin()?.sum_all()? + (p.sqr()?.sum_all()? * 0.5)?)?;
                    loss = (loss + term)?;
                }
                adam.step(&loss.backward()?)?;
            }
            let updated_in_place = first_moment.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0;
            assert_eq!(
                updated_in_place, !candle_ops,
                "the step took the other path"
            );
            let mut out: Vec<(String, Vec<f32>)> = vars
                .iter()
                .map(|(name, v)| Ok((name.clone(), v.as_tensor().flatten_all()?.to_vec1()?)))
                .collect::<candle_core::Result<_>>()?;
            for (name, t) in adam.state_tensors()? {
                let t = t.to_dtype(DType::F32)?.flatten_all()?;
                out.push((name, t.to_vec1()?));
            }
            Ok(out)
        };
        for decoupled in [false, true] {
            let (in_place, candle) = (run(false, decoupled)?, run(true, decoupled)?);
            assert_eq!(
                in_place.len(),
                2 + 2 * shapes.len() + 1,
                "params, moments, step"
            );
            for ((name, want), (_, got)) in in_place.iter().zip(&candle) {
                let what =
                    format!("{name} after 4 steps, candle ops vs in place (decoupled {decoupled})");
                let diff = assert_close_and_nan_fails(&what, got, want, Tolerance::Rel(1e-6));
                println!("{what}: largest difference {diff:e}");
            }
        }
        Ok(())
    }

    #[test]
    fn state_round_trip_resumes_identically() -> Result<(), OptimError> {
        let dev = Device::Cpu;
        let run = |resume: bool| -> Result<Vec<f32>, OptimError> {
            let var = Var::new(&[1.0f32, -2.0, 0.5, 3.0], &dev)?;
            let mut adam = Adam::new(vec![("p".into(), var.clone())], AdamConfig::seed())?;
            let step = |adam: &mut Adam| -> Result<(), OptimError> {
                let loss = var.as_tensor().powf(3.0)?.sum_all()?;
                adam.step(&loss.backward()?)
            };
            step(&mut adam)?;
            if resume {
                let state = adam.state_tensors()?;
                adam = Adam::new(vec![("p".into(), var.clone())], AdamConfig::seed())?;
                adam.load_state_tensors(&state)?;
                assert_eq!(adam.step_count(), 1);
            }
            step(&mut adam)?;
            Ok(var.as_tensor().to_vec1::<f32>()?)
        };
        assert_eq!(run(false)?, run(true)?);
        Ok(())
    }

    #[test]
    fn missing_state_is_named() -> Result<(), OptimError> {
        let var = Var::new(&[1.0f32], &Device::Cpu)?;
        let mut adam = Adam::new(vec![("w".into(), var)], AdamConfig::seed())?;
        let err = adam.load_state_tensors(&[]).unwrap_err();
        assert!(err.to_string().contains("step"), "{err}");
        let state = vec![(
            STATE_STEP.to_string(),
            Tensor::new(&[1.0f64], &Device::Cpu)?,
        )];
        let err = adam.load_state_tensors(&state).unwrap_err();
        assert!(err.to_string().contains("m.w"), "{err}");
        Ok(())
    }
}
