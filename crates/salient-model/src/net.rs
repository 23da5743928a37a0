//! [`SaliencyNet`]: the seed's ResNet50 U-Net, its construction, loading, saving and forward pass.

use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use crate::backbone::Backbone;
use crate::checkpoint::{
    write_atomic, CheckpointMeta, WeightsFile, ARCHITECTURE, META_ARCHITECTURE,
};
use crate::decoder::Decoder;
use crate::init::initial_tensors;
use crate::profile::{BlockTimes, LapTimer};
use crate::spec::{resnet50_backbone_specs, saliency_net_specs};
use crate::store::{Role, TensorStore};
use crate::{Mode, ModelConfig, ModelError};

/// Input height and width must be multiples of this (five stride-2 stages).
pub const INPUT_MULTIPLE: usize = 32;

/// Parameter counts (buffers excluded), as PyTorch's `numel()` sums give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCounts {
    pub total: usize,
    pub trainable: usize,
}

/// The seed's network: ResNet50 encoder (torchvision names) + U-Net decoder (seed names).
pub struct SaliencyNet {
    cfg: ModelConfig,
    device: Device,
    store: TensorStore,
    backbone: Backbone,
    decoder: Decoder,
}

impl SaliencyNet {
    /// A freshly initialised network (see [`crate::init`] for the distributions); the same `seed`
    /// always gives the same weights.
    pub fn new(cfg: ModelConfig, seed: u64, device: &Device) -> Result<Self, ModelError> {
        let tensors = initial_tensors(&saliency_net_specs(), seed, &Device::Cpu)?;
        Self::from_tensors(cfg, tensors, device)
    }

    /// A network holding exactly `tensors` (seed naming, every parameter and buffer, f32).
    pub fn from_tensors(
        cfg: ModelConfig,
        tensors: Vec<(String, Tensor)>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        cfg.validate()?;
        cfg.precision.check_device(device)?;
        let tensors = tensors
            .into_iter()
            .map(|(n, t)| Ok((n, t.to_dtype(DType::F32)?.to_device(device)?.contiguous()?)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let store = TensorStore::new(tensors, cfg.freeze, cfg.precision)?;
        let backbone = Backbone::new(&store)?;
        let decoder = Decoder::new(&store, cfg.dropout)?;
        Ok(Self {
            cfg,
            device: device.clone(),
            store,
            backbone,
            decoder,
        })
    }

    /// Overwrites the backbone with a torchvision/timm ResNet50 file; `fc.*`, `num_batches_tracked`
    /// and any other extra tensors are ignored, a missing or mis-shaped backbone tensor is an error
    /// naming it (and then nothing is changed).
    pub fn load_backbone(&mut self, path: &Path) -> Result<(), ModelError> {
        let file = WeightsFile::open(path)?;
        let loaded = resnet50_backbone_specs()
            .into_iter()
            .map(|(name, shape)| Ok((file.tensor(&name, &shape, &self.device)?, name)))
            .collect::<Result<Vec<_>, ModelError>>()?;
        for (tensor, name) in loaded {
            self.store.var(&name)?.set(&tensor)?;
        }
        Ok(())
    }

    /// A full network from a checkpoint in the seed's naming (e.g. PyTorch's `state_dict` saved with
    /// `safetensors.torch.save_file`; `num_batches_tracked` is ignored). Strict: every tensor must be
    /// present with its shape, and no foreign tensor may be.
    pub fn load_checkpoint(
        path: &Path,
        cfg: ModelConfig,
        device: &Device,
    ) -> Result<(Self, CheckpointMeta), ModelError> {
        let file = WeightsFile::open(path)?;
        let specs = saliency_net_specs();
        for name in file.names()? {
            let known =
                name.ends_with(".num_batches_tracked") || specs.iter().any(|(n, _)| *n == name);
            if !known {
                return Err(ModelError::UnexpectedTensor {
                    path: path.to_path_buf(),
                    name,
                });
            }
        }
        let tensors = specs
            .into_iter()
            .map(|(name, shape)| Ok((name.clone(), file.tensor(&name, &shape, &Device::Cpu)?)))
            .collect::<Result<Vec<_>, ModelError>>()?;
        let meta = file.metadata()?;
        Ok((Self::from_tensors(cfg, tensors, device)?, meta))
    }

    /// Writes every parameter and buffer in the seed's naming with `meta` (plus the freeze policy and
    /// architecture when `meta` lacks them), atomically. PyTorch loads it with `strict=True` once the
    /// `num_batches_tracked` counters are added.
    pub fn save_checkpoint(&self, path: &Path, meta: &CheckpointMeta) -> Result<(), ModelError> {
        let mut meta = meta.clone();
        if meta.freeze().is_none() {
            meta.set_freeze(self.cfg.freeze);
        }
        if meta.get(META_ARCHITECTURE).is_none() {
            meta.set(META_ARCHITECTURE, ARCHITECTURE);
        }
        write_atomic(path, &self.tensors(), &meta)
    }

    /// `(N, 3, H, W)` in → `(N, 1, H, W)` saliency in [0, 1]. In [`Mode::Train`], trainable
    /// BatchNorm layers use batch statistics and update their running statistics in place.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor, ModelError> {
        self.forward_timed(x, mode, &mut LapTimer::off())
    }

    /// [`SaliencyNet::forward`], also returning the wall-clock time of each block (stem, maxpool,
    /// layer1..4, each decoder block), for profiling.
    pub fn forward_profiled(
        &self,
        x: &Tensor,
        mode: Mode,
    ) -> Result<(Tensor, BlockTimes), ModelError> {
        let mut timer = LapTimer::on();
        let y = self.forward_timed(x, mode, &mut timer)?;
        Ok((y, timer.into_laps()))
    }

    fn forward_timed(
        &self,
        x: &Tensor,
        mode: Mode,
        timer: &mut LapTimer,
    ) -> Result<Tensor, ModelError> {
        check_input(x)?;
        let features = self.backbone.forward(x, mode, timer)?;
        self.decoder.forward(&features, mode, timer)
    }

    /// The trainable parameters, sorted by name.
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        let mut vars: Vec<(String, Var)> = self
            .store
            .slots()
            .iter()
            .filter(|s| s.role == Role::Trainable)
            .map(|s| (s.name.clone(), s.var.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Every parameter and buffer in the seed's naming, in `state_dict` order (detached views).
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.store
            .slots()
            .iter()
            .map(|s| (s.name.clone(), s.var.as_detached_tensor()))
            .collect()
    }

    pub fn parameter_counts(&self) -> ParamCounts {
        let mut counts = ParamCounts {
            total: 0,
            trainable: 0,
        };
        for slot in self.store.slots() {
            let numel = slot.var.elem_count();
            match slot.role {
                Role::Trainable => {
                    counts.total += numel;
                    counts.trainable += numel;
                }
                Role::Frozen => counts.total += numel,
                Role::Buffer => {}
            }
        }
        counts
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

fn check_input(x: &Tensor) -> Result<(), ModelError> {
    let dims = x.dims();
    let ok = dims.len() == 4
        && dims[0] >= 1
        && dims[1] == 3
        && dims[2] > 0
        && dims[3] > 0
        && dims[2] % INPUT_MULTIPLE == 0
        && dims[3] % INPUT_MULTIPLE == 0;
    if ok {
        Ok(())
    } else {
        Err(ModelError::InputShape(dims.to_vec()))
    }
}
