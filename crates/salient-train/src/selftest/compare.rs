//! [`Check`]: one comparison of a computed tensor with its reference, and [`compare`].

use std::fmt;

use candle_core::{DType, Tensor};

use crate::TrainError;

/// One comparison: passes when `max_abs_diff ≤ tolerance · reference_max`, and never when
/// either is NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What was compared, e.g. `op conv2d 3x3 s2 p1: dx`.
    pub name: String,
    /// `max |computed − reference|` over the elements; NaN when either side holds a NaN.
    pub max_abs_diff: f64,
    /// `max |reference|` (the scale the tolerance is relative to).
    pub reference_max: f64,
    /// Allowed `max_abs_diff / reference_max`.
    pub tolerance: f64,
}

impl Check {
    /// `max_abs_diff / reference_max` (a zero reference counts as 1e-30, so that any difference
    /// from an all-zero reference fails).
    pub fn relative(&self) -> f64 {
        self.max_abs_diff / self.reference_max.max(1e-30)
    }

    /// Written as `!(x > tol)` would let a NaN through; `x <= tol` does not.
    pub fn passed(&self) -> bool {
        self.relative() <= self.tolerance
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<58} max_abs_diff={:<10.3e} rel={:<10.3e} tol={:<8.1e} {}",
            self.name,
            self.max_abs_diff,
            self.relative(),
            self.tolerance,
            if self.passed() { "ok" } else { "FAIL" }
        )
    }
}

/// Compares `computed` (any device, any float dtype) with `reference` element by element in f64.
/// Different shapes are an error, not a failed check: they mean the op is called wrongly.
pub fn compare(
    name: impl Into<String>,
    computed: &Tensor,
    reference: &Tensor,
    tolerance: f64,
) -> Result<Check, TrainError> {
    let name = name.into();
    if computed.dims() != reference.dims() {
        return Err(TrainError::Config(format!(
            "selftest {name}: shape {:?} against the reference's {:?}",
            computed.dims(),
            reference.dims()
        )));
    }
    let a = host_values(computed)?;
    let b = host_values(reference)?;
    let mut max_abs_diff = 0f64;
    let mut reference_max = 0f64;
    for (x, y) in a.iter().zip(&b) {
        let d = (x - y).abs();
        // `f64::max` skips a NaN; a NaN anywhere must poison the figure instead.
        max_abs_diff = if d.is_nan() || max_abs_diff.is_nan() {
            f64::NAN
        } else {
            max_abs_diff.max(d)
        };
        reference_max = if y.is_nan() || reference_max.is_nan() {
            f64::NAN
        } else {
            reference_max.max(y.abs())
        };
    }
    Ok(Check {
        name,
        max_abs_diff,
        reference_max,
        tolerance,
    })
}

fn host_values(t: &Tensor) -> Result<Vec<f64>, TrainError> {
    Ok(t.to_device(&candle_core::Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_check_passes_within_tolerance_and_fails_beyond_or_on_nan() {
        let reference = Tensor::new(&[1f32, -2.0, 0.5], &Device::Cpu).unwrap();
        let near = Tensor::new(&[1f32, -2.0001, 0.5], &Device::Cpu).unwrap();
        let c = compare("near", &near, &reference, 1e-4).unwrap();
        assert!(c.passed(), "{c}");
        assert!((c.reference_max - 2.0).abs() < 1e-12);
        assert!(!compare("near", &near, &reference, 1e-5).unwrap().passed());
        for nan_side in [0, 1] {
            let nan = Tensor::new(&[1f32, f32::NAN, 0.5], &Device::Cpu).unwrap();
            let c = if nan_side == 0 {
                compare("nan", &nan, &reference, 1.0).unwrap()
            } else {
                compare("nan", &reference, &nan, 1.0).unwrap()
            };
            assert!(!c.passed() && c.to_string().ends_with("FAIL"), "{c}");
        }
        let zero = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        assert!(compare("zero", &zero, &zero, 1e-4).unwrap().passed());
        assert!(!compare("zero", &reference, &zero, 1e-4).unwrap().passed());
        assert!(compare("shape", &zero, &zero.reshape((3, 1)).unwrap(), 1.0).is_err());
    }
}
