//! # salient-model
//!
//! The seed's saliency network in candle: an ImageNet ResNet50 encoder (torchvision parameter names)
//! feeding a U-Net decoder (the seed's parameter names), with train/eval BatchNorm semantics equal to
//! PyTorch's, freeze policies, safetensors loading and saving, and fast CPU kernels where candle's own
//! are slow.

pub mod kernels;
