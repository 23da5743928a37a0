//! # salient-data
//!
//! Saliency datasets for training and evaluating the salient model: layout discovery, robust
//! decoding, joint deterministic augmentation, and a parallel prefetching loader of NCHW batches.
//!
//! - **Discovery** ([`Dataset::discover`]): the seed's `image/` + `mask/`, SALICON's `images/` +
//!   `maps/` (+ `fixations/`), and the MIT1003 / CAT2000 style `stimuli/` + `saliency/`
//!   (+ `fixations/`), detected automatically or forced with [`DiscoverOptions::layout`]. Files
//!   pair by stem; bad pairs are errors naming the file, or with `skip_bad` are listed in
//!   [`Dataset::skipped`]. A copy holding only `val/` is fine for scoring; training asks for
//!   its split with [`Dataset::require`], which names the missing folder.
//! - **Decoding** ([`load_rgb8`], [`load_map`], [`load_fixations`]): grey, RGBA, CMYK JPEG and
//!   16-bit PNG to RGB8 / `f32` in `[0, 1]` / binary; truncated JPEGs are refused. JPEG is decoded
//!   by libjpeg-turbo (the `turbojpeg` crate, built from its bundled sources: needs cmake and
//!   nasm), the decoder of PIL, OpenCV and MATLAB, with their settings, so images and maps equal
//!   PIL's decode byte for byte (`tests/jpeg_libjpeg.rs`) and metrics on JPEG ground truth equal
//!   pysaliency's (`tests/jpeg_metrics.rs`). CMYK becomes RGB as `cv2.imread` does it. Files
//!   libjpeg only warns about (stray bytes before a marker) decode as in PIL; failures are errors.
//! - **Resizing** ([`resize_rgb8`], [`resize_map`], [`resize_u8`], [`resize_f32`]): OpenCV
//!   `INTER_LINEAR` byte for byte, and the float version used to bring predictions
//!   back to an image's size.
//! - **Augmentation** ([`Pipeline`], [`Op`]): a list of ops (resize, random sized crop,
//!   horizontal flip, rotate) applied with one geometry draw to image, map and fixations, drawn
//!   from a per-sample RNG keyed by `(seed, epoch, index)`.
//! - **Loading** ([`Loader`]): seeded per-epoch shuffle, rayon decode + augment (one job per
//!   batch, several in flight, handed on in order), a bounded prefetch queue, [`Batch`]es laid
//!   out NCHW; byte-identical whatever the thread count. Per-thread buffers (and libjpeg-turbo
//!   decompressors) are reused from sample to sample, and the hot loops (RGB resizing, rotation) use SSE2/SSSE3 on x86-64 with
//!   results identical to the scalar code.
//! - **Inference input** ([`prepare_image`]) and **synthetic data** ([`synth::write_synthetic`]).
//!
//! ```no_run
//! use salient_data::{Dataset, DiscoverOptions, Loader, LoaderConfig, Split};
//! let data = Dataset::discover("data/synth".as_ref(), &DiscoverOptions::default())?;
//! let loader = Loader::new(data.split(Split::Train), LoaderConfig::default())?;
//! for batch in loader.epoch(0) {
//!     let batch = batch?; // batch.images: n*3*256*256 f32, batch.maps: n*1*256*256
//! }
//! # Ok::<(), salient_data::DataError>(())
//! ```

pub mod augment;
pub mod check;
pub mod decode;
pub mod error;
pub mod ground_truth;
pub mod jpeg;
pub mod layout;
pub mod loader;
pub mod mat;
pub mod normalize;
pub mod prepare;
pub mod readers;
pub mod resize;
mod scratch;
pub mod split;
pub mod synth;
pub mod warp;

pub use augment::{apply_pipeline, apply_pipeline_to_source, sample_rng, Frame, Op, Pipeline};
pub use decode::{
    image_size, load_fixations, load_map, load_map_pixels, load_rgb8, FixationMap, MapF32,
    MapPixels, RgbImage,
};
pub use error::DataError;
pub use ground_truth::{
    blur_like_empirical_maps, fixation_density_map, load_fixation_pixels, load_fixation_points,
    load_ground_truth_map, FixationPixels, FixationPoint, FixationSource, MapSigma, MapSource,
    PointsOnImage,
};
pub use layout::{
    describe_skipped, load_all_fixation_xy, Dataset, DiscoverOptions, ImagePoints, LayoutKind,
    Sample, SkippedPair,
};
pub use loader::{Batch, EpochBatches, Loader, LoaderConfig};
pub use normalize::Normalize;
pub use prepare::{
    load_frame, load_source, load_source_with, prepare_image, write_chw, DecodeBuffers, Source,
};
pub use resize::{resize_f32, resize_map, resize_rgb8, resize_to_f32, resize_u8, View};
pub use split::{Split, SplitRule};
