//! # salient-train
//!
//! Everything that turns a model and a dataset into a trained checkpoint: the training loop, losses,
//! the Adam optimiser with savable moments, learning-rate schedules, validation, checkpoints written
//! atomically, resumable run directories with `metrics.jsonl` and plots.
