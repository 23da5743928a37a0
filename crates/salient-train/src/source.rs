//! What the loop needs from a dataset: a fixed number of batches per epoch, produced in an order that
//! depends only on the epoch (so a resumed run sees the same batches), starting from any batch.

use candle_core::{Device, Tensor};

use crate::error::TrainError;

/// One batch in host memory, NCHW `f32`, as the data crate's loader produces it.
#[derive(Debug, Clone)]
pub struct HostBatch {
    /// `n × 3 × height × width`, normalised.
    pub images: Vec<f32>,
    /// `n × 1 × height × width` in `[0,1]`.
    pub maps: Vec<f32>,
    /// `n × 1 × height × width`, 1 at fixated pixels, when the dataset has fixations.
    pub fixations: Option<Vec<f32>>,
    pub n: usize,
    pub height: usize,
    pub width: usize,
}

/// A batch on the training device.
pub struct DeviceBatch {
    pub images: Tensor,
    pub maps: Tensor,
    pub fixations: Option<Tensor>,
    pub n: usize,
}

impl HostBatch {
    /// Moves the batch to `device` as tensors (checking the buffer lengths once).
    pub fn to_device(&self, device: &Device) -> Result<DeviceBatch, TrainError> {
        let (n, h, w) = (self.n, self.height, self.width);
        let check = |what: &str, len: usize, channels: usize| {
            if len != n * channels * h * w {
                return Err(TrainError::Data(format!(
                    "batch {what}: {len} values for {n}×{channels}×{h}×{w}"
                )));
            }
            Ok(())
        };
        check("images", self.images.len(), 3)?;
        check("maps", self.maps.len(), 1)?;
        if let Some(f) = &self.fixations {
            check("fixations", f.len(), 1)?;
        }
        let images = Tensor::from_slice(&self.images, (n, 3, h, w), device)?;
        let maps = Tensor::from_slice(&self.maps, (n, 1, h, w), device)?;
        let fixations = match &self.fixations {
            Some(f) => Some(Tensor::from_slice(f, (n, 1, h, w), device)?),
            None => None,
        };
        Ok(DeviceBatch {
            images,
            maps,
            fixations,
            n,
        })
    }
}

/// A split's batches, epoch by epoch.
pub trait BatchSource {
    /// Batches in every epoch.
    fn batches_per_epoch(&self) -> usize;
    /// Images in the split (for progress and logs).
    fn images(&self) -> usize;
    /// The batches of `epoch` from batch `skip` on. The same epoch must always give the same batches.
    fn epoch<'a>(
        &'a self,
        epoch: usize,
        skip: usize,
    ) -> Result<Box<dyn Iterator<Item = Result<HostBatch, TrainError>> + 'a>, TrainError>;
}

/// [`BatchSource`] over salient-data's [`salient_data::Loader`] (whose epochs are deterministic).
pub struct LoaderSource {
    pub loader: salient_data::Loader,
}

impl BatchSource for LoaderSource {
    fn batches_per_epoch(&self) -> usize {
        self.loader.batches_per_epoch()
    }

    fn images(&self) -> usize {
        self.loader.samples().len()
    }

    fn epoch<'a>(
        &'a self,
        epoch: usize,
        skip: usize,
    ) -> Result<Box<dyn Iterator<Item = Result<HostBatch, TrainError>> + 'a>, TrainError> {
        // The loader has no start offset: batches before `skip` are made and dropped. Their random
        // draws are keyed by (seed, epoch, sample), so dropping them changes nothing else.
        let batches = self.loader.epoch(epoch as u64).skip(skip).map(|b| {
            let b = b.map_err(|e| TrainError::Data(e.to_string()))?;
            Ok(HostBatch {
                images: b.images,
                maps: b.maps,
                fixations: b.fixations,
                n: b.n,
                height: b.height,
                width: b.width,
            })
        });
        Ok(Box::new(batches))
    }
}

/// The loaders of a run and the pairs discovery left out.
pub struct Sources {
    pub train: LoaderSource,
    /// Absent when the dataset has no validation images.
    pub val: Option<LoaderSource>,
    /// Pairs left out at discovery under `skip_bad` (the loaders record decode failures themselves).
    pub skipped: Vec<salient_data::SkippedPair>,
    /// How the dataset was split: recorded in every checkpoint, so that evaluation holds out
    /// the same images.
    pub split_rule: salient_data::SplitRule,
    /// What the readers left out (files that are not images, ...), for the run's log.
    pub notes: Vec<String>,
    /// The blur that builds the dataset's maps from fixations (its empirical-map kernel).
    pub map_sigma: salient_data::MapSigma,
}

impl Sources {
    /// Every pair left out so far: at discovery and while loading.
    pub fn all_skipped(&self) -> Vec<salient_data::SkippedPair> {
        let mut all = self.skipped.clone();
        all.extend(self.train.loader.skipped());
        if let Some(v) = &self.val {
            all.extend(v.loader.skipped());
        }
        all
    }
}

/// Discovers `cfg.data` and builds the loaders: `cfg.pipeline` (default the seed's augmentation),
/// shuffling and `drop_last` for training; `cfg.val_pipeline` (default resize only), dataset
/// order, every image, fixations when all have them, for validation.
pub fn dataset_sources(cfg: &crate::TrainConfig) -> Result<Sources, TrainError> {
    use salient_data::{Dataset, DiscoverOptions, Loader, LoaderConfig, Sample, Split};
    let data_err = |e: salient_data::DataError| TrainError::Data(e.to_string());
    let options = DiscoverOptions {
        layout: cfg.layout,
        val_fraction: cfg.val_fraction,
        split_seed: cfg.seed,
        split_dir: cfg.split_dir.clone(),
        map_sigma: cfg.map_sigma,
        skip_bad: cfg.skip_bad,
        ..DiscoverOptions::default()
    };
    let dataset = Dataset::discover(&cfg.data, &options).map_err(data_err)?;
    let train_samples = dataset.require(Split::Train).map_err(data_err)?;
    let val_samples = dataset.split(Split::Val);
    let has_fix = |s: &[Sample]| !s.is_empty() && s.iter().all(|x| x.fixations.is_some());
    let loss = cfg.loss_spec();
    if loss.needs_fixations() && !has_fix(train_samples) {
        return Err(TrainError::Config(format!(
            "loss `{}` needs a fixation map for every training image, and {} lacks some",
            loss,
            cfg.data.display()
        )));
    }
    let base = LoaderConfig {
        batch_size: cfg.batch_size,
        height: cfg.size.height,
        width: cfg.size.width,
        seed: cfg.seed,
        normalize: cfg.normalize,
        threads: cfg.threads,
        skip_bad: cfg.skip_bad,
        ..LoaderConfig::default()
    };
    let train = Loader::new(
        train_samples,
        LoaderConfig {
            shuffle: true,
            drop_last: true,
            pipeline: cfg.pipeline.clone(),
            with_fixations: loss.needs_fixations(),
            ..base.clone()
        },
    )
    .map_err(data_err)?;
    let val = if val_samples.is_empty() {
        None
    } else {
        let loader = Loader::new(
            val_samples,
            LoaderConfig {
                shuffle: false,
                drop_last: false,
                pipeline: cfg.val_pipeline.clone(),
                with_fixations: has_fix(val_samples),
                ..base
            },
        )
        .map_err(data_err)?;
        Some(LoaderSource { loader })
    };
    Ok(Sources {
        train: LoaderSource { loader: train },
        val,
        skipped: dataset.skipped().to_vec(),
        split_rule: dataset.rule().clone(),
        notes: dataset.notes().to_vec(),
        map_sigma: dataset.map_sigma(),
    })
}
