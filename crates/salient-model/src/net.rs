//! [`SaliencyNet`]: the seed's ResNet50 U-Net, its construction, loading, saving and forward pass.

use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use crate::backbone::Backbone;
use crate::checkpoint::{
    write_atomic, CheckpointMeta, WeightsFile, ARCHITECTURE, META_ARCHITECTURE,
};
use crate::decoder::Decoder;
use crate::density::{LOG_SIGMA, PRIOR_GRID, PRIOR_LOG_DENSITY, READOUT_WEIGHT};
use crate::head::META_HEAD;
use crate::init::initial_tensors;
use crate::profile::{BlockTimes, LapTimer};
use crate::spec::{net_specs, resnet50_backbone_specs};
use crate::store::{Role, TensorStore};
use crate::{Head, Mode, ModelConfig, ModelError};

/// Input height and width must be multiples of this (five stride-2 stages).
pub const INPUT_MULTIPLE: usize = 32;

/// Parameter counts (buffers excluded), as PyTorch's `numel()` sums give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCounts {
    pub total: usize,
    pub trainable: usize,
}

/// The seed's network: ResNet50 encoder (torchvision names) + U-Net decoder (seed names), ending in
/// the seed's head or the density head ([`Head`]).
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
        let tensors = initial_tensors(&net_specs(cfg.head), seed, &Device::Cpu)?;
        Self::from_tensors(cfg, tensors, device)
    }

    /// A network holding exactly `tensors` (seed naming, every parameter and buffer of
    /// `cfg.head`'s network, f32).
    pub fn from_tensors(
        cfg: ModelConfig,
        tensors: Vec<(String, Tensor)>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        cfg.validate()?;
        cfg.precision.check_device(device)?;
        // Only a CUDA network sets the process-wide math switches: a CPU reference network built
        // beside it (selftest) must not turn TF32 back off.
        if device.is_cuda() {
            cfg.precision.configure_math();
        }
        let tensors = tensors
            .into_iter()
            .map(|(n, t)| Ok((n, t.to_dtype(DType::F32)?.to_device(device)?.contiguous()?)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let store = TensorStore::new(tensors, cfg.freeze, cfg.precision)?;
        let backbone = Backbone::new(&store)?;
        let decoder = Decoder::new(&store, cfg.dropout, cfg.head)?;
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
    /// present with its shape, and no foreign tensor may be. The head is the file's (its
    /// `salient.head` metadata, else the seed's), whatever `cfg.head` says.
    pub fn load_checkpoint(
        path: &Path,
        mut cfg: ModelConfig,
        device: &Device,
    ) -> Result<(Self, CheckpointMeta), ModelError> {
        let file = WeightsFile::open(path)?;
        let meta = file.metadata()?;
        cfg.head = checkpoint_head(path, &meta, &file.names()?)?;
        let specs = net_specs(cfg.head);
        for name in file.names()? {
            let known =
                name.ends_with(".num_batches_tracked") || specs.iter().any(|(n, _)| *n == name);
            if !known {
                return Err(ModelError::UnexpectedTensor {
                    path: path.to_path_buf(),
                    name,
                    head: cfg.head,
                });
            }
        }
        let tensors = specs
            .into_iter()
            .map(|(name, shape)| Ok((name.clone(), file.tensor(&name, &shape, &Device::Cpu)?)))
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok((Self::from_tensors(cfg, tensors, device)?, meta))
    }

    /// Writes every parameter and buffer in the seed's naming with `meta` (plus the freeze policy and
    /// architecture when `meta` lacks them, and always the head), atomically. PyTorch loads a
    /// seed-head file with `strict=True` once the `num_batches_tracked` counters are added.
    pub fn save_checkpoint(&self, path: &Path, meta: &CheckpointMeta) -> Result<(), ModelError> {
        let mut meta = meta.clone();
        meta.set(META_HEAD, self.cfg.head.as_str());
        if meta.freeze().is_none() {
            meta.set_freeze(self.cfg.freeze);
        }
        if meta.get(META_ARCHITECTURE).is_none() {
            meta.set(META_ARCHITECTURE, ARCHITECTURE);
        }
        write_atomic(path, &self.tensors(), &meta)
    }

    /// `(N, 3, H, W)` in → `(N, 1, H, W)` out: with the seed head a saliency map in (0, 1), with the
    /// density head the natural-log fixation density (`Σ exp = 1` per image). In [`Mode::Train`],
    /// trainable BatchNorm layers use batch statistics and update their running statistics in
    /// place.
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

    pub fn head(&self) -> Head {
        self.cfg.head
    }

    /// The density head's blur σ as a fraction of the map's larger side; `None` for the seed head.
    pub fn density_sigma(&self) -> Result<Option<f64>, ModelError> {
        if self.cfg.head != Head::Density {
            return Ok(None);
        }
        let log_sigma = self.store.var(LOG_SIGMA)?.as_detached_tensor();
        let value = log_sigma.flatten_all()?.to_vec1::<f32>()?[0];
        Ok(Some(f64::from(value).exp()))
    }

    /// Sets the density head's blur σ (a fraction of the map's larger side, in (0, 1]), e.g. from
    /// the dataset's map sigma before training.
    pub fn set_density_sigma(&self, fraction: f64) -> Result<(), ModelError> {
        self.require_density("the blur's sigma")?;
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(ModelError::Config(format!(
                "density blur sigma must be a fraction of the larger side in (0, 1], got {fraction}"
            )));
        }
        let value = Tensor::new(&[fraction.ln() as f32], &self.device)?;
        self.store.var(LOG_SIGMA)?.set(&value)?;
        Ok(())
    }

    /// Sets the density head's centre-bias log-prior from a log-density on the
    /// [`PRIOR_GRID`]² grid (row-major, normalised image coordinates), e.g. the training
    /// fixations' centre bias. Only differences matter (the log-softmax removes constants).
    pub fn set_density_prior(&self, log_density: &[f32]) -> Result<(), ModelError> {
        self.require_density("the centre-bias prior")?;
        let cells = PRIOR_GRID * PRIOR_GRID;
        if log_density.len() != cells {
            return Err(ModelError::Config(format!(
                "centre-bias prior: {} values for a {PRIOR_GRID}x{PRIOR_GRID} grid ({cells})",
                log_density.len()
            )));
        }
        if let Some(i) = log_density.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Config(format!(
                "centre-bias prior: value {} at cell {i} is not finite",
                log_density[i]
            )));
        }
        let value = Tensor::from_slice(log_density, (1, 1, PRIOR_GRID, PRIOR_GRID), &self.device)?;
        self.store.var(PRIOR_LOG_DENSITY)?.set(&value)?;
        Ok(())
    }

    fn require_density(&self, what: &str) -> Result<(), ModelError> {
        if self.cfg.head == Head::Density {
            Ok(())
        } else {
            Err(ModelError::Config(format!(
                "{what} belongs to the density head; this network has the {} head",
                self.cfg.head
            )))
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// The head a checkpoint holds: its `salient.head` metadata when present (and then its tensors must
/// be that head's), else the density head when the file has its readout, else the seed's.
fn checkpoint_head(
    path: &Path,
    meta: &CheckpointMeta,
    names: &[String],
) -> Result<Head, ModelError> {
    match meta.get(META_HEAD) {
        Some(text) => text.parse().map_err(|_| ModelError::Format {
            path: path.to_path_buf(),
            message: format!("unknown head {text:?} in its `{META_HEAD}` metadata"),
        }),
        None if names.iter().any(|n| n == READOUT_WEIGHT) => Ok(Head::Density),
        None => Ok(Head::Seed),
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
