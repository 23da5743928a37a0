//! Finding image / map / fixation triples on disk: layout detection, pairing by stem, splitting,
//! and the up-front header check that turns bad pairs into errors (or skipped entries).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::decode::image_size;
use crate::error::DataError;

/// File extensions read as images, maps or fixation maps.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"];

/// Suffixes that MIT1003-style map and fixation files add to their image's stem.
const MAP_STEM_SUFFIXES: &[&str] = &["_fixMap", "_fixPts", "_fixations", "_saliency"];

/// The folder conventions this crate understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// The seed's `image/{train,val}` + `mask/{train,val}`.
    Seed,
    /// SALICON's `images/`, `maps/`, optional `fixations/`, each with `train/` and `val/`.
    Salicon,
    /// MIT1003 / CAT2000 / MSI-Net style `stimuli/`, `saliency/`, optional `fixations/`; split by
    /// `train/`+`val/` sub-folders when present, else by a list file or a seeded fraction.
    Stimuli,
}

impl LayoutKind {
    /// `(image folder, map folder, fixation folder)` names under the root.
    fn folders(self) -> (&'static str, &'static str, &'static str) {
        match self {
            LayoutKind::Seed => ("image", "mask", "fixations"),
            LayoutKind::Salicon => ("images", "maps", "fixations"),
            LayoutKind::Stimuli => ("stimuli", "saliency", "fixations"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            LayoutKind::Seed => "seed",
            LayoutKind::Salicon => "salicon",
            LayoutKind::Stimuli => "stimuli",
        }
    }
}

impl fmt::Display for LayoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LayoutKind {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "seed" => Ok(LayoutKind::Seed),
            "salicon" => Ok(LayoutKind::Salicon),
            "stimuli" | "mit1003" | "cat2000" => Ok(LayoutKind::Stimuli),
            other => Err(DataError::Config(format!(
                "unknown layout '{other}' (expected seed, salicon or stimuli)"
            ))),
        }
    }
}

/// Which half of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }
}

/// One image with its saliency map and, when the dataset has them, its binary fixation map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Path relative to the image folder, without extension, `/`-separated (e.g. `Action/001`).
    pub stem: String,
    pub image: PathBuf,
    pub map: PathBuf,
    pub fixations: Option<PathBuf>,
}

/// A pair left out under `skip_bad`, with the error that excluded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPair {
    pub path: PathBuf,
    pub reason: String,
}

/// Renders "N pairs skipped: first few reasons" for end-of-run reports.
pub fn describe_skipped(skipped: &[SkippedPair], first: usize) -> String {
    let mut text = format!("{} pair(s) skipped", skipped.len());
    for pair in skipped.iter().take(first) {
        text.push_str(&format!("\n  {}", pair.reason));
    }
    if skipped.len() > first {
        text.push_str(&format!("\n  ... and {} more", skipped.len() - first));
    }
    text
}

/// How to find a dataset; `Default` auto-detects and checks every header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoverOptions {
    /// Force a layout instead of detecting it.
    pub layout: Option<LayoutKind>,
    /// Fraction held out for validation when a flat `stimuli/` layout has no list file.
    pub val_fraction: f64,
    /// File naming the validation stems, one per line (`#` comments allowed).
    pub val_list: Option<PathBuf>,
    /// Seed of the held-out draw (fixed so every run splits alike).
    pub split_seed: u64,
    /// Leave bad pairs out (and list them) instead of failing.
    pub skip_bad: bool,
    /// Read every header up front to catch unreadable files and size mismatches early.
    pub check_headers: bool,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            layout: None,
            val_fraction: 0.1,
            val_list: None,
            split_seed: 0,
            skip_bad: false,
            check_headers: true,
        }
    }
}

/// A discovered dataset: its train and val samples, sorted by stem.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    layout: LayoutKind,
    train: Vec<Sample>,
    val: Vec<Sample>,
    skipped: Vec<SkippedPair>,
    /// Split folders that do not exist (only ever `train` beside a present `val`, so that a
    /// val-only copy of a dataset can be scored); [`Dataset::require`] turns them into errors.
    absent: Vec<(Split, PathBuf)>,
}

impl Dataset {
    /// Finds the layout under `root`, pairs files by stem, splits and checks them.
    pub fn discover(root: &Path, options: &DiscoverOptions) -> Result<Dataset, DataError> {
        if !(0.0..1.0).contains(&options.val_fraction) {
            return Err(DataError::Config(format!(
                "val_fraction must be in [0, 1), got {}",
                options.val_fraction
            )));
        }
        if !root.is_dir() {
            return Err(DataError::MissingRoot {
                path: root.to_path_buf(),
            });
        }
        let layout = match options.layout {
            Some(kind) => kind,
            None => detect_layout(root)?,
        };
        let (image_dir, map_dir, fix_dir) = layout.folders();
        let (images, maps, fixes) = (root.join(image_dir), root.join(map_dir), root.join(fix_dir));
        for (dir, _) in [(&images, "images"), (&maps, "maps")] {
            if !dir.is_dir() {
                return Err(DataError::MissingDir {
                    path: dir.clone(),
                    layout: layout.name(),
                });
            }
        }
        let has_split_dirs = layout != LayoutKind::Stimuli || images.join("train").is_dir();
        let mut skipped = Vec::new();
        let mut absent = Vec::new();
        let (train, val) = if has_split_dirs {
            // Without `train/` the dataset is still usable for scoring its `val/` split; it is an
            // error only when neither exists (or later, through `require`, when training).
            let train_dir = images.join("train");
            let val_only = !train_dir.is_dir() && images.join("val").is_dir();
            if val_only {
                absent.push((Split::Train, train_dir.clone()));
            }
            let train = pair_folder(
                &train_dir,
                &maps.join("train"),
                &fixes.join("train"),
                layout,
                options,
                &mut skipped,
                !val_only,
            )?;
            let val = pair_folder(
                &images.join("val"),
                &maps.join("val"),
                &fixes.join("val"),
                layout,
                options,
                &mut skipped,
                false,
            )?;
            (train, val)
        } else {
            let all = pair_folder(&images, &maps, &fixes, layout, options, &mut skipped, true)?;
            split_flat(all, options)?
        };
        Ok(Dataset {
            root: root.to_path_buf(),
            layout,
            train,
            val,
            skipped,
            absent,
        })
    }

    /// The samples of one split, sorted by stem (empty for a split whose folder is absent, see
    /// [`Dataset::require`]).
    pub fn split(&self, split: Split) -> &[Sample] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// The samples of a split the caller cannot do without (training needs `train`): an error
    /// naming the missing folder when discovery found the split absent.
    pub fn require(&self, split: Split) -> Result<&[Sample], DataError> {
        match self.absent.iter().find(|(s, _)| *s == split) {
            Some((_, path)) => Err(DataError::MissingDir {
                path: path.clone(),
                layout: self.layout.name(),
            }),
            None => Ok(self.split(split)),
        }
    }

    /// Pairs left out under `skip_bad` (empty otherwise).
    pub fn skipped(&self) -> &[SkippedPair] {
        &self.skipped
    }

    pub fn layout(&self) -> LayoutKind {
        self.layout
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Picks the layout from the folders present; SALICON wins over the seed's when both exist
/// (its fixations make it the richer view of the same data).
fn detect_layout(root: &Path) -> Result<LayoutKind, DataError> {
    for kind in [LayoutKind::Salicon, LayoutKind::Seed, LayoutKind::Stimuli] {
        let (image_dir, map_dir, _) = kind.folders();
        if root.join(image_dir).is_dir() && root.join(map_dir).is_dir() {
            return Ok(kind);
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map_err(|e| DataError::io(root, e))?
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    names.sort();
    let found = if names.is_empty() {
        "an empty folder".to_string()
    } else {
        let shown: Vec<_> = names.iter().take(8).cloned().collect();
        let more = names.len().saturating_sub(8);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    Err(DataError::UnknownLayout {
        root: root.to_path_buf(),
        found,
    })
}

/// Pairs every image under `image_dir` with its map (required) and fixations (optional).
/// A missing `image_dir` is an error only when `required`; otherwise the split is empty.
fn pair_folder(
    image_dir: &Path,
    map_dir: &Path,
    fix_dir: &Path,
    layout: LayoutKind,
    options: &DiscoverOptions,
    skipped: &mut Vec<SkippedPair>,
    required: bool,
) -> Result<Vec<Sample>, DataError> {
    if !image_dir.is_dir() {
        if required {
            return Err(DataError::MissingDir {
                path: image_dir.to_path_buf(),
                layout: layout.name(),
            });
        }
        return Ok(Vec::new());
    }
    let images = index_folder(image_dir, &[])?;
    if images.is_empty() {
        return Err(DataError::EmptyFolder {
            path: image_dir.to_path_buf(),
        });
    }
    if !map_dir.is_dir() {
        return Err(DataError::MissingDir {
            path: map_dir.to_path_buf(),
            layout: layout.name(),
        });
    }
    let maps = index_folder(map_dir, MAP_STEM_SUFFIXES)?;
    let fixations = if fix_dir.is_dir() {
        index_folder(fix_dir, MAP_STEM_SUFFIXES)?
    } else {
        BTreeMap::new()
    };
    let candidates: Vec<Result<Sample, DataError>> = images
        .into_iter()
        .map(|(stem, image)| match maps.get(&stem) {
            None => Err(DataError::MissingMap {
                image,
                stem: stem.clone(),
                map_dir: map_dir.to_path_buf(),
            }),
            Some(map) => Ok(Sample {
                fixations: fixations.get(&stem).cloned(),
                map: map.clone(),
                image,
                stem,
            }),
        })
        .collect();
    let checked: Vec<Result<Sample, DataError>> = if options.check_headers {
        candidates
            .into_par_iter()
            .map(|candidate| candidate.and_then(|s| check_sizes(&s).map(|()| s)))
            .collect()
    } else {
        candidates
    };
    let mut samples = Vec::with_capacity(checked.len());
    for result in checked {
        match result {
            Ok(sample) => samples.push(sample),
            Err(error) if options.skip_bad => skipped.push(SkippedPair {
                path: error_path(&error),
                reason: error.to_string(),
            }),
            Err(error) => return Err(error),
        }
    }
    Ok(samples)
}

/// The file an error is about, for the skipped list.
pub(crate) fn error_path(error: &DataError) -> PathBuf {
    match error {
        DataError::Io { path, .. } | DataError::Decode { path, .. } => path.clone(),
        DataError::MissingMap { image, .. }
        | DataError::SizeMismatch { image, .. }
        | DataError::MissingFixations { image } => image.clone(),
        _ => PathBuf::new(),
    }
}

/// Header-only check that image, map and fixations decode and agree in size.
fn check_sizes(sample: &Sample) -> Result<(), DataError> {
    let image_size = image_size(&sample.image)?;
    let others = std::iter::once(&sample.map).chain(sample.fixations.as_ref());
    for other in others {
        let other_size = crate::decode::image_size(other)?;
        if other_size != image_size {
            return Err(DataError::SizeMismatch {
                image: sample.image.clone(),
                image_size,
                other: other.clone(),
                other_size,
            });
        }
    }
    Ok(())
}

/// Maps stem (relative path without extension, suffixes stripped) to file, recursively.
fn index_folder(
    dir: &Path,
    strip_suffixes: &[&str],
) -> Result<BTreeMap<String, PathBuf>, DataError> {
    let mut files = Vec::new();
    collect_images(dir, &mut files)?;
    let mut index: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let relative = path.strip_prefix(dir).unwrap_or(&path).with_extension("");
        let mut stem = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if let Some(suffix) = strip_suffixes.iter().find(|s| stem.ends_with(**s)) {
            stem.truncate(stem.len() - suffix.len());
        }
        if let Some(first) = index.get(&stem) {
            return Err(DataError::DuplicateStem {
                stem,
                first: first.clone(),
                second: path,
            });
        }
        index.insert(stem, path);
    }
    Ok(index)
}

fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_images(&path, out)?;
        } else if has_image_extension(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// Splits a flat dataset by the list file when given, else by a seeded random fraction.
fn split_flat(
    all: Vec<Sample>,
    options: &DiscoverOptions,
) -> Result<(Vec<Sample>, Vec<Sample>), DataError> {
    let is_val: Vec<bool> = match &options.val_list {
        Some(list) => {
            let text = std::fs::read_to_string(list).map_err(|e| DataError::io(list, e))?;
            let wanted: std::collections::HashSet<String> = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(|l| {
                    Path::new(l)
                        .with_extension("")
                        .to_string_lossy()
                        .replace('\\', "/")
                })
                .collect();
            let known: std::collections::HashSet<&str> =
                all.iter().map(|s| s.stem.as_str()).collect();
            for stem in &wanted {
                if !known.contains(stem.as_str()) {
                    return Err(DataError::BadValList {
                        path: list.clone(),
                        reason: format!("stem '{stem}' is not among the dataset's images"),
                    });
                }
            }
            all.iter().map(|s| wanted.contains(&s.stem)).collect()
        }
        None => {
            let n_val = (all.len() as f64 * options.val_fraction).round() as usize;
            let mut order: Vec<usize> = (0..all.len()).collect();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.split_seed);
            order.shuffle(&mut rng);
            let mut flags = vec![false; all.len()];
            for &i in &order[..n_val] {
                flags[i] = true;
            }
            flags
        }
    };
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (sample, to_val) in all.into_iter().zip(is_val) {
        if to_val {
            val.push(sample);
        } else {
            train.push(sample);
        }
    }
    Ok((train, val))
}
