//! # salient-metrics
//!
//! The standard saliency metrics (CC, KLD, SIM, NSS, AUC-Judd, AUC-Borji, shuffled AUC, IG) on plain
//! `f32` slices, equal to the MIT/Tübingen benchmarks' reference implementations (pysaliency).
//! No tensor library: any model's output can be scored.
