//! [`Precision`]: the dtype the convolutions compute in (mixed precision on CUDA).
//!
//! Only the convolutions, transposed convolutions and 1×1 matrix products — nearly all of the
//! network's arithmetic — run in the lower precision. Weights, BatchNorm, activations between layers,
//! gradients as the optimiser sees them and the optimiser state all stay f32: each convolution casts
//! its input and weight down, computes, and casts its output back up (see `conv`). The casts are
//! differentiable, so the gradient reaches the f32 weights.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};

use crate::ModelError;

/// Compute precision of the convolutions. `f32` (the default) works everywhere and is plain f32
/// arithmetic; `tf32` keeps f32 tensors but lets CUDA's matrix units round their operands to TF32
/// (10 significant bits, PyTorch's `allow_tf32 = True`) in cuDNN convolutions and cuBLAS products;
/// `bf16` and `f16` compute in half precision with f32 accumulation. All but `f32` need a CUDA
/// device (candle's CPU backend has no fast half-precision convolution, the custom CPU kernels are
/// f32 only, and CPUs have no TF32).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Tf32,
    Bf16,
    F16,
}

impl Precision {
    pub const ALL: [Precision; 4] = [
        Precision::F32,
        Precision::Tf32,
        Precision::Bf16,
        Precision::F16,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// The dtype convolutions compute in.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 | Precision::Tf32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }

    /// Sets the process-wide switches this precision needs: TF32 in salient's cuDNN convolutions
    /// and in candle's cuBLAS f32 products, on for `tf32` and off otherwise. Process-wide because
    /// both libraries keep them so; a process runs one network (the last one built decides).
    pub fn configure_math(self) {
        let tf32 = self == Precision::Tf32;
        salient_kernels::set_allow_tf32(tf32);
        candle_core::cuda::set_gemm_reduced_precision_f32(tf32);
    }

    /// Refuses a half precision on a non-CUDA device, so that a run fails before any work starts
    /// rather than crawling (or failing) in its first convolution.
    pub fn check_device(self, device: &Device) -> Result<(), ModelError> {
        if self == Precision::F32 || device.is_cuda() {
            return Ok(());
        }
        let place = if device.is_cpu() {
            "the CPU"
        } else {
            "a non-CUDA device"
        };
        Err(ModelError::Config(format!(
            "precision {self} needs a CUDA device (this run is on {place}); use --precision f32"
        )))
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Precision::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| {
                ModelError::Config(format!(
                    "unknown precision {s:?} (expected f32, tf32, bf16 or f16)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Precision::ALL {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
        }
        assert_eq!("BF16".parse::<Precision>().unwrap(), Precision::Bf16);
        let e = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("fp8") && e.contains("bf16"), "{e}");
        assert_eq!(Precision::default(), Precision::F32);
        assert_eq!(Precision::F16.dtype(), DType::F16);
        assert_eq!(Precision::Tf32.dtype(), DType::F32);
    }

    #[test]
    fn tf32_switches_the_kernels_math_and_f32_switches_it_back() {
        Precision::Tf32.configure_math();
        assert!(salient_kernels::allow_tf32());
        Precision::F32.configure_math();
        assert!(!salient_kernels::allow_tf32());
    }

    #[test]
    fn half_precision_is_refused_on_the_cpu() {
        Precision::F32.check_device(&Device::Cpu).unwrap();
        for p in [Precision::Tf32, Precision::Bf16, Precision::F16] {
            let e = p.check_device(&Device::Cpu).unwrap_err().to_string();
            assert!(
                e.contains(&format!("precision {p} needs a CUDA device"))
                    && e.contains("the CPU")
                    && e.contains("--precision f32"),
                "{e}"
            );
        }
    }
}
