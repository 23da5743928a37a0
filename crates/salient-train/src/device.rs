//! Device selection from text (`cpu`, `cuda`, `cuda:N`, `auto`), shared by `train` and `predict`.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

use crate::error::TrainError;

/// A device as the user names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
    /// CUDA device 0 when this build has CUDA support and a GPU answers, else the CPU.
    Auto,
}

impl FromStr for DeviceSpec {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(DeviceSpec::Cpu),
            "auto" => Ok(DeviceSpec::Auto),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| {
                    TrainError::Config(format!("device {s:?}: expected cpu, cuda, cuda:N or auto"))
                }),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Auto => f.write_str("auto"),
        }
    }
}

impl DeviceSpec {
    /// Opens the device. `cuda` on a build without the `cuda` feature is an error that says how to
    /// build with it; `auto` never fails.
    pub fn open(self) -> Result<Device, TrainError> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => open_cuda(n),
            DeviceSpec::Auto => Ok(open_cuda(0).unwrap_or(Device::Cpu)),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device, TrainError> {
    Device::new_cuda(ordinal).map_err(|e| TrainError::Device(format!("cuda:{ordinal}: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(ordinal: usize) -> Result<Device, TrainError> {
    Err(TrainError::Device(format!(
        "cuda:{ordinal} requested, but this binary was built without CUDA \
         (rebuild with `--features cuda`)"
    )))
}

/// A short description for logs: `cpu` or `cuda:N`.
pub fn describe(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".to_string(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_opens() {
        assert_eq!("cuda:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(1));
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert!("gpu".parse::<DeviceSpec>().is_err());
        assert!(DeviceSpec::Cpu.open().unwrap().is_cpu());
        let auto = DeviceSpec::Auto.open().unwrap();
        assert!(auto.is_cpu() || auto.is_cuda());
    }
}
