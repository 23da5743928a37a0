//! # salient-data
//!
//! Saliency datasets: layout discovery (the seed's, SALICON's, MIT1003/CAT2000 style), robust decoding,
//! joint deterministic augmentation of image, map and fixations, and a parallel prefetching batch loader
//! that yields NCHW `f32` batches.
