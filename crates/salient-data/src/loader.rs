//! The batch loader: per-epoch seeded shuffle, parallel decode + augmentation on a rayon pool of
//! its own, and a bounded queue filled by a background thread so batches wait for the model,
//! not the other way round.
//!
//! Determinism: the order depends on `(seed, epoch)` and each sample's augmentation on
//! `(seed, epoch, sample index)` only, and every sample writes into its own slot of the batch,
//! so batches are byte-identical whatever the thread count.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Receiver};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::augment::{apply_pipeline_to_source, sample_rng, Pipeline};
use crate::error::DataError;
use crate::layout::{error_path, Sample, SkippedPair};
use crate::normalize::Normalize;
use crate::prepare::{load_source_with, write_chw, DecodeBuffers};

thread_local! {
    /// Each worker thread's decode buffers, reused from sample to sample.
    static BUFFERS: std::cell::RefCell<DecodeBuffers> = std::cell::RefCell::default();
}

/// How batches are made. `Default` is the seed's training set-up at 256x256.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub height: usize,
    pub width: usize,
    /// Shuffle each epoch (from `seed` and the epoch number).
    pub shuffle: bool,
    /// Drop the last incomplete batch.
    pub drop_last: bool,
    pub seed: u64,
    pub normalize: Normalize,
    pub pipeline: Pipeline,
    /// Worker threads for decode + augmentation; 0 means one per core.
    pub threads: usize,
    /// Batches prepared ahead of the consumer (at least 1).
    pub prefetch: usize,
    /// Load and carry fixation maps (every sample must have one).
    pub with_fixations: bool,
    /// Leave out samples that fail to decode (recorded in [`Loader::skipped`]) instead of failing.
    pub skip_bad: bool,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 4,
            height: 256,
            width: 256,
            shuffle: true,
            drop_last: true,
            seed: 0,
            normalize: Normalize::Imagenet,
            pipeline: Pipeline::seed_train(),
            threads: 0,
            prefetch: 4,
            with_fixations: false,
            skip_bad: false,
        }
    }
}

impl LoaderConfig {
    /// Evaluation set-up: resize only, dataset order, every sample kept.
    pub fn eval(height: usize, width: usize, batch_size: usize) -> Self {
        LoaderConfig {
            batch_size,
            height,
            width,
            shuffle: false,
            drop_last: false,
            pipeline: Pipeline::seed_val(),
            ..Self::default()
        }
    }
}

/// One batch, laid out NCHW so each buffer becomes a tensor without another copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `n * 3 * height * width`, normalised.
    pub images: Vec<f32>,
    /// `n * 1 * height * width`, in `[0, 1]`.
    pub maps: Vec<f32>,
    /// `n * 1 * height * width`, 0 or 1, when fixations were requested.
    pub fixations: Option<Vec<f32>>,
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub stems: Vec<String>,
    /// Positions of the samples in the loader's sample list.
    pub indices: Vec<usize>,
}

/// Makes batches of a sample list; one value serves every epoch.
pub struct Loader {
    samples: Arc<[Sample]>,
    config: Arc<LoaderConfig>,
    pool: Arc<rayon::ThreadPool>,
    skipped: Arc<Mutex<Vec<SkippedPair>>>,
    spare: Arc<SparePlanes>,
}

/// Batch buffers handed back with [`Loader::recycle`], reused instead of fresh allocations.
#[derive(Default)]
struct SparePlanes(Mutex<Vec<Vec<f32>>>);

impl SparePlanes {
    /// A buffer of `len` floats whose contents will all be overwritten.
    fn take(&self, len: usize) -> Vec<f32> {
        let reused = self.0.lock().ok().and_then(|mut spare| {
            let at = spare.iter().position(|v| v.capacity() >= len)?;
            Some(spare.swap_remove(at))
        });
        let mut buffer = reused.unwrap_or_default();
        buffer.resize(len, 0.0);
        buffer
    }

    fn give(&self, buffer: Vec<f32>) {
        if let Ok(mut spare) = self.0.lock() {
            if spare.len() < 32 {
                spare.push(buffer);
            }
        }
    }
}

impl Loader {
    pub fn new(samples: &[Sample], config: LoaderConfig) -> Result<Self, DataError> {
        if config.batch_size == 0 || config.height == 0 || config.width == 0 {
            return Err(DataError::Config(format!(
                "batch size and target size must be positive, got batch {} and {}x{}",
                config.batch_size, config.width, config.height
            )));
        }
        config.pipeline.validate()?;
        if config.with_fixations {
            if let Some(sample) = samples.iter().find(|s| s.fixations.is_none()) {
                return Err(DataError::MissingFixations {
                    image: sample.image.clone(),
                });
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|i| format!("salient-data-{i}"))
            .build()
            .map_err(|e| {
                DataError::Config(format!(
                    "cannot start {} loader threads: {e}",
                    config.threads
                ))
            })?;
        Ok(Loader {
            samples: samples.into(),
            config: Arc::new(config),
            pool: Arc::new(pool),
            skipped: Arc::default(),
            spare: Arc::default(),
        })
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Batches an epoch yields (before any sample is skipped).
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.samples.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The sample order of `epoch`.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        epoch_order(self.samples.len(), &self.config, epoch)
    }

    /// Hands a consumed batch's buffers back so later batches reuse them instead of allocating
    /// (optional; saves a page-faulting allocation per batch).
    pub fn recycle(&self, batch: Batch) {
        self.spare.give(batch.images);
        self.spare.give(batch.maps);
        if let Some(fixations) = batch.fixations {
            self.spare.give(fixations);
        }
    }

    /// Samples left out so far under `skip_bad`, each with its error message.
    pub fn skipped(&self) -> Vec<SkippedPair> {
        self.skipped.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Starts preparing `epoch` in the background; iterate to receive its batches. An error ends
    /// the epoch after it is yielded. Dropping the iterator stops the work.
    ///
    /// Each batch is one job on the loader's pool, several in flight at once (one per thread
    /// plus the prefetch depth), so no thread waits for another between batches; finished
    /// batches are handed on in epoch order.
    pub fn epoch(&self, epoch: u64) -> EpochBatches {
        let (sender, receiver) = bounded(self.config.prefetch.max(1));
        let samples = Arc::clone(&self.samples);
        let config = Arc::clone(&self.config);
        let pool = Arc::clone(&self.pool);
        let skipped = Arc::clone(&self.skipped);
        let spare = Arc::clone(&self.spare);
        let worker = std::thread::Builder::new()
            .name("salient-data-prefetch".into())
            .spawn(move || {
                let order = epoch_order(samples.len(), &config, epoch);
                let mut chunks: Vec<Vec<usize>> = order
                    .chunks(config.batch_size)
                    .map(<[usize]>::to_vec)
                    .collect();
                if config.drop_last && chunks.last().is_some_and(|c| c.len() < config.batch_size) {
                    chunks.pop();
                }
                // Batches spawned and not yet handed on: enough that every thread stays busy.
                let limit = pool.current_num_threads() + config.prefetch.max(1);
                let (done_sender, done) = unbounded::<(usize, BatchResult)>();
                let mut jobs = chunks.into_iter().enumerate();
                let (mut in_flight, mut next) = (0usize, 0usize);
                let mut finished: BTreeMap<usize, BatchResult> = BTreeMap::new();
                loop {
                    while in_flight < limit {
                        let Some((at, indices)) = jobs.next() else {
                            break;
                        };
                        let (samples, config, spare, done_sender) = (
                            Arc::clone(&samples),
                            Arc::clone(&config),
                            Arc::clone(&spare),
                            done_sender.clone(),
                        );
                        pool.spawn(move || {
                            let batch = make_batch(&indices, &samples, &config, epoch, &spare);
                            // The epoch may have been dropped meanwhile; then nobody waits.
                            let _ = done_sender.send((at, batch));
                        });
                        in_flight += 1;
                    }
                    if in_flight == 0 {
                        return;
                    }
                    // This thread holds a sender, so `recv` can only wait, never fail.
                    let Ok((at, batch)) = done.recv() else {
                        return;
                    };
                    finished.insert(at, batch);
                    // A batch leaves the window only when handed on, so a slow batch holds at
                    // most `limit` others in memory behind it.
                    while let Some(batch) = finished.remove(&next) {
                        next += 1;
                        in_flight -= 1;
                        let outcome = match batch {
                            Ok((batch, bad)) => {
                                if let Ok(mut list) = skipped.lock() {
                                    list.extend(bad);
                                }
                                if batch.n == 0 {
                                    continue;
                                }
                                Ok(batch)
                            }
                            Err(e) => Err(e),
                        };
                        let failed = outcome.is_err();
                        if sender.send(outcome).is_err() || failed {
                            return;
                        }
                    }
                }
            })
            .expect("spawning the prefetch thread");
        EpochBatches {
            receiver: Some(receiver),
            worker: Some(worker),
        }
    }
}

fn epoch_order(len: usize, config: &LoaderConfig, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if config.shuffle {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            config.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        order.shuffle(&mut rng);
    }
    order
}

type BatchResult = Result<(Batch, Vec<SkippedPair>), DataError>;

/// Prepares one batch, its samples one after another into their slots.
fn make_batch(
    indices: &[usize],
    samples: &[Sample],
    config: &LoaderConfig,
    epoch: u64,
    spare: &SparePlanes,
) -> BatchResult {
    let (h, w) = (config.height, config.width);
    let plane = h * w;
    let n = indices.len();
    let mut batch = Batch {
        images: spare.take(n * 3 * plane),
        maps: spare.take(n * plane),
        fixations: config.with_fixations.then(|| spare.take(n * plane)),
        n,
        height: h,
        width: w,
        stems: indices.iter().map(|&i| samples[i].stem.clone()).collect(),
        indices: indices.to_vec(),
    };
    let mut fixation_slots = batch.fixations.as_mut().map(|f| f.chunks_mut(plane));
    let results: Vec<Result<(), DataError>> = batch
        .images
        .chunks_mut(3 * plane)
        .zip(batch.maps.chunks_mut(plane))
        .zip(indices)
        .map(|((image, map), &index)| {
            let fix = fixation_slots.as_mut().and_then(Iterator::next);
            prepare_sample(&samples[index], index, config, epoch, image, map, fix)
        })
        .collect();
    settle(batch, results, config.skip_bad)
}

/// Decodes, augments and writes one sample into its batch slot.
fn prepare_sample(
    sample: &Sample,
    index: usize,
    config: &LoaderConfig,
    epoch: u64,
    image_out: &mut [f32],
    map_out: &mut [f32],
    fixations_out: Option<&mut [f32]>,
) -> Result<(), DataError> {
    let frame = BUFFERS.with(|cell| {
        let mut buffers = cell.borrow_mut();
        let source = load_source_with(sample, config.with_fixations, &mut buffers)?;
        let mut rng = sample_rng(config.seed, epoch, index as u64);
        let frame = apply_pipeline_to_source(
            &config.pipeline,
            &source,
            config.height,
            config.width,
            &mut rng,
        );
        buffers.recycle(source);
        Ok::<_, DataError>(frame)
    })?;
    write_chw(&frame.rgb, config.normalize, image_out);
    map_out.copy_from_slice(&frame.map);
    if let Some(out) = fixations_out {
        frame.fixation_raster(out);
    }
    frame.recycle();
    Ok(())
}

/// Fails the batch on the first error, or under `skip_bad` removes the failed slots.
fn settle(mut batch: Batch, results: Vec<Result<(), DataError>>, skip_bad: bool) -> BatchResult {
    let mut skipped = Vec::new();
    let mut keep = Vec::with_capacity(batch.n);
    for (slot, result) in results.into_iter().enumerate() {
        match result {
            Ok(()) => keep.push(slot),
            Err(e) if skip_bad => skipped.push(SkippedPair {
                path: error_path(&e),
                reason: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    if keep.len() < batch.n {
        let plane = batch.height * batch.width;
        for (to, &from) in keep.iter().enumerate() {
            batch
                .images
                .copy_within(from * 3 * plane..(from + 1) * 3 * plane, to * 3 * plane);
            batch
                .maps
                .copy_within(from * plane..(from + 1) * plane, to * plane);
            if let Some(f) = batch.fixations.as_mut() {
                f.copy_within(from * plane..(from + 1) * plane, to * plane);
            }
        }
        let n = keep.len();
        batch.images.truncate(n * 3 * plane);
        batch.maps.truncate(n * plane);
        if let Some(f) = batch.fixations.as_mut() {
            f.truncate(n * plane);
        }
        batch.stems = keep.iter().map(|&i| batch.stems[i].clone()).collect();
        batch.indices = keep.iter().map(|&i| batch.indices[i]).collect();
        batch.n = n;
    }
    Ok((batch, skipped))
}

/// The batches of one epoch, arriving from the background thread in order.
pub struct EpochBatches {
    receiver: Option<Receiver<Result<Batch, DataError>>>,
    worker: Option<JoinHandle<()>>,
}

impl Iterator for EpochBatches {
    type Item = Result<Batch, DataError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.as_ref()?.recv().ok()
    }
}

impl Drop for EpochBatches {
    fn drop(&mut self) {
        // Closing the queue makes the worker's next send fail, so it stops after its round.
        self.receiver.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
