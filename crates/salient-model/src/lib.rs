//! # salient-model
//!
//! The seed's saliency network in candle: an ImageNet ResNet50 encoder (torchvision parameter names)
//! feeding a U-Net decoder (the seed's parameter names), with train/eval BatchNorm semantics equal to
//! PyTorch's, freeze policies, safetensors loading and saving, and fast CPU kernels where candle's own
//! are slow.
//!
//! ```no_run
//! use candle_core::{Device, Tensor};
//! use salient_model::{Mode, ModelConfig, SaliencyNet};
//! let dev = Device::Cpu;
//! let mut net = SaliencyNet::new(ModelConfig::default(), 0, &dev)?;
//! net.load_backbone(std::path::Path::new("weights/resnet50.safetensors"))?;
//! let x = Tensor::zeros((1, 3, 256, 256), candle_core::DType::F32, &dev)?;
//! let saliency = net.forward(&x, Mode::Eval)?; // (1, 1, 256, 256) in [0, 1]
//! # Ok::<(), salient_model::ModelError>(())
//! ```
//!
//! Modules, one job each: [`alloc`] (allocator settings for candle's CPU buffers), [`atomic`]
//! (atomic file writes, used by every crate that replaces files), [`spec`] (every tensor's name
//! and shape), `init` (PyTorch's initial values), `store` (tensor storage and freeze roles), `batch_norm`, `conv`, `bottleneck`,
//! `backbone`, `decoder`, [`density`] (the density head), `head` ([`Head`]), `net` ([`SaliencyNet`]), `precision` ([`Precision`]), `checkpoint`
//! (safetensors I/O, [`CheckpointMeta`]), [`freeze`], [`kernels`].
//!
//! Mixed precision on CUDA: with [`ModelConfig::precision`] `bf16` or `f16` the convolutions compute
//! in that dtype while weights, BatchNorm and optimiser state stay f32; the CPU accepts only `f32`.
//!
//! Two heads ([`Head`]): the seed's saliency map in (0, 1) (parity-tested against the seed's
//! PyTorch model), or a fixation density (log-softmax over the pixels, with a learned blur and
//! centre-bias prior, [`density`]), chosen by [`ModelConfig::head`] and recorded in checkpoints.
//!
//! One deliberate difference from the seed: frozen parts are constants whose BatchNorm always runs on
//! running statistics, even in train mode (the seed's frozen BatchNorm kept updating them).

pub mod alloc;
pub mod atomic;
mod backbone;
mod batch_norm;
mod bottleneck;
mod checkpoint;
mod config;
mod conv;
mod conv_bn;
mod decoder;
pub mod density;
mod error;
pub mod freeze;
mod head;
mod init;
mod net;
mod precision;
mod profile;
pub mod spec;
mod store;

/// The custom kernels live in their own crate; re-exported so `salient_model::kernels::X` keeps
/// working for the crates and tools that reach them through the model.
pub use salient_kernels as kernels;

pub use backbone::BackboneFeatures;
pub use checkpoint::{
    CheckpointMeta, ARCHITECTURE, META_ARCHITECTURE, META_FREEZE, META_INPUT_SIZE, META_NORMALIZE,
    META_TRAIN_STATE,
};
pub use config::{Mode, ModelConfig};
pub use error::ModelError;
pub use freeze::FreezePolicy;
pub use head::{Head, META_HEAD};
pub use net::{ParamCounts, SaliencyNet, INPUT_MULTIPLE};
pub use precision::Precision;
pub use profile::BlockTimes;
pub use spec::{decoder_specs, net_specs, resnet50_backbone_specs, saliency_net_specs};
