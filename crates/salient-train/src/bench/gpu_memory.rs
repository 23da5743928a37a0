//! [`GpuMemory`]: peak device memory over a benchmark's timed steps, on CUDA.
//!
//! candle allocates through cudarc with `cuMemAllocAsync` where the device supports it, so every
//! tensor lives in the device's default memory pool, whose `CU_MEMPOOL_ATTR_USED_MEM_HIGH` is the
//! high-water mark of memory handed out to allocations: the counterpart of PyTorch's
//! `torch.cuda.max_memory_allocated()` that `torch_bench.py` prints. Where the pool reports nothing
//! (synchronous allocation), the figure is the largest `total − free` of the device seen after a
//! step, which also counts the CUDA context and any other process on the device.

use candle_core::Device;

use crate::TrainError;

#[cfg(feature = "cuda")]
pub use cuda::GpuMemory;

#[cfg(not(feature = "cuda"))]
pub use cpu_only::GpuMemory;

#[cfg(feature = "cuda")]
mod cuda {
    use std::sync::Arc;

    use candle_core::cuda_backend::cudarc::driver::{result, sys, CudaContext};

    use super::*;

    const MIB: usize = 1 << 20;

    /// Peak device memory of one CUDA device (see the module docs).
    pub struct GpuMemory {
        context: Arc<CudaContext>,
        /// The device's default pool, where the driver has one.
        pool: Option<sys::CUmemoryPool>,
        /// Largest `total − free` seen by [`GpuMemory::sample`], bytes.
        device_used_peak: usize,
        /// The pool's high-water mark at the last sample, bytes.
        pool_peak: u64,
    }

    impl GpuMemory {
        /// `None` for a device other than CUDA.
        pub fn open(device: &Device) -> Result<Option<Self>, TrainError> {
            let Device::Cuda(cuda) = device else {
                return Ok(None);
            };
            let context = cuda.cuda_stream().context().clone();
            context.bind_to_thread().map_err(driver_err)?;
            // SAFETY: the device handle comes from a live context.
            let pool = unsafe { result::device::get_default_mem_pool(context.cu_device()) }.ok();
            Ok(Some(Self {
                context,
                pool,
                device_used_peak: 0,
                pool_peak: 0,
            }))
        }

        /// Forgets the peaks so far (the pool's high-water mark is reset to what is in use now).
        pub fn reset_peak(&mut self) -> Result<(), TrainError> {
            self.device_used_peak = 0;
            self.pool_peak = 0;
            if let Some(pool) = self.pool {
                self.context.bind_to_thread().map_err(driver_err)?;
                let mut zero: sys::cuuint64_t = 0;
                // SAFETY: a valid pool; USED_MEM_HIGH takes a cuuint64_t, and 0 is the one value
                // the driver accepts for a reset.
                unsafe {
                    result::mem_pool::set_attribute(
                        pool,
                        sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH,
                        (&mut zero as *mut sys::cuuint64_t).cast(),
                    )
                }
                .map_err(driver_err)?;
            }
            Ok(())
        }

        /// Records the device's memory in use now and the pool's high-water mark.
        pub fn sample(&mut self) -> Result<(), TrainError> {
            let (free, total) = self.context.mem_get_info().map_err(driver_err)?;
            self.device_used_peak = self.device_used_peak.max(total.saturating_sub(free));
            if let Some(pool) = self.pool {
                let mut high: sys::cuuint64_t = 0;
                // SAFETY: a valid pool; USED_MEM_HIGH writes a cuuint64_t.
                unsafe {
                    result::mem_pool::get_attribute(
                        pool,
                        sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH,
                        (&mut high as *mut sys::cuuint64_t).cast(),
                    )
                }
                .map_err(driver_err)?;
                self.pool_peak = self.pool_peak.max(high);
            }
            Ok(())
        }

        /// The pool's peak where it has one, else the device's.
        pub fn peak_mib(&self) -> u64 {
            if self.pool_peak > 0 {
                self.pool_peak / MIB as u64
            } else {
                (self.device_used_peak / MIB) as u64
            }
        }

        /// Both figures, for the log.
        pub fn describe(&self) -> String {
            format!(
                "allocations peak {} MiB (default pool high-water mark{}), device in use peak {} MiB (total - free)",
                self.pool_peak / MIB as u64,
                if self.pool.is_some() { "" } else { ": no pool" },
                self.device_used_peak / MIB
            )
        }
    }

    fn driver_err(e: candle_core::cuda_backend::cudarc::driver::DriverError) -> TrainError {
        TrainError::Device(format!("CUDA memory query: {e}"))
    }
}

#[cfg(not(feature = "cuda"))]
mod cpu_only {
    use super::*;

    /// Without CUDA in the build there is no device memory to measure: [`GpuMemory::open`]
    /// always answers `None`.
    pub enum GpuMemory {}

    impl GpuMemory {
        pub fn open(_device: &Device) -> Result<Option<Self>, TrainError> {
            Ok(None)
        }

        pub fn reset_peak(&mut self) -> Result<(), TrainError> {
            match *self {}
        }

        pub fn sample(&mut self) -> Result<(), TrainError> {
            match *self {}
        }

        pub fn peak_mib(&self) -> u64 {
            match *self {}
        }

        pub fn describe(&self) -> String {
            match *self {}
        }
    }
}
