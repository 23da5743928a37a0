//! Finding image / map / fixation triples on disk: layout detection, pairing by stem, splitting,
//! and the up-front header check that turns bad pairs into errors (or skipped entries).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::decode::{image_size, MapF32};
use crate::error::DataError;
use crate::ground_truth::{
    load_fixation_pixels, load_fixation_points, load_ground_truth_map, FixationPixels,
    FixationSource, MapSigma, MapSource, PointsOnImage,
};
use crate::readers;
pub use crate::split::{Split, SplitRule};

/// File extensions read as images, maps or fixation maps.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"];

/// The dataset releases this crate reads (see [`crate::readers`] for each one's files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// The seed's `image/{train,val}` + `mask/{train,val}`.
    Seed,
    /// SALICON's `images/`, `maps/`, optional `fixations/` (2017 `.mat` or PNG), each with
    /// `train/` and `val/`.
    Salicon,
    /// MSI-Net style `stimuli/`, `saliency/`, optional `fixations/`; split by `train/`+`val/`
    /// sub-folders when present, else by list files or a seeded fraction.
    Stimuli,
    /// MIT1003 as downloaded: `ALLSTIMULI/` + `ALLFIXATIONMAPS/` (`_fixMap`, `_fixPts`).
    Mit1003,
    /// CAT2000: `Stimuli/`, `FIXATIONMAPS/`, `FIXATIONLOCS/` by category.
    Cat2000,
    /// OSIE: `stimuli/` + `fixations.mat`.
    Osie,
    /// Anything else: `stimuli/` + `fixations.csv` (`image,x,y[,subject,t,duration]`),
    /// optional `maps/`.
    Csv,
}

impl LayoutKind {
    pub const ALL: [LayoutKind; 7] = [
        LayoutKind::Osie,
        LayoutKind::Csv,
        LayoutKind::Mit1003,
        LayoutKind::Cat2000,
        LayoutKind::Salicon,
        LayoutKind::Seed,
        LayoutKind::Stimuli,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::Seed => "seed",
            LayoutKind::Salicon => "salicon",
            LayoutKind::Stimuli => "stimuli",
            LayoutKind::Mit1003 => "mit1003",
            LayoutKind::Cat2000 => "cat2000",
            LayoutKind::Osie => "osie",
            LayoutKind::Csv => "csv",
        }
    }

    /// Whether `root` looks like this layout (the folders and files it cannot do without).
    fn fits(self, root: &Path) -> bool {
        let dir = |name: &str| root.join(name).is_dir();
        let file = |name: &str| root.join(name).is_file();
        match self {
            LayoutKind::Seed => dir("image") && dir("mask"),
            LayoutKind::Salicon => dir("images") && (dir("maps") || dir("fixations")),
            LayoutKind::Stimuli => dir("stimuli") && dir("saliency"),
            LayoutKind::Mit1003 => dir("ALLSTIMULI") && dir("ALLFIXATIONMAPS"),
            LayoutKind::Cat2000 => dir("Stimuli") && (dir("FIXATIONMAPS") || dir("FIXATIONLOCS")),
            LayoutKind::Osie => dir("stimuli") && file("fixations.mat"),
            LayoutKind::Csv => dir("stimuli") && file("fixations.csv"),
        }
    }

    /// The blur that builds maps from fixations where the dataset ships none: OSIE's authors
    /// use σ = 24 px (`config.m`, `params.eye.radius`); elsewhere [`MapSigma::DEFAULT`].
    pub fn default_map_sigma(self) -> MapSigma {
        match self {
            LayoutKind::Osie => MapSigma::Pixels(24.0),
            _ => MapSigma::DEFAULT,
        }
    }

    /// `(images, maps, fixations)` folders of the layouts that keep split sub-folders.
    fn split_folders(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            LayoutKind::Seed => Some(("image", "mask", "fixations")),
            LayoutKind::Salicon => Some(("images", "maps", "fixations")),
            LayoutKind::Stimuli => Some(("stimuli", "saliency", "fixations")),
            _ => None,
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
        let wanted = s.to_ascii_lowercase();
        LayoutKind::ALL
            .into_iter()
            .find(|k| k.name() == wanted || (wanted == "generic" && *k == LayoutKind::Csv))
            .ok_or_else(|| {
                DataError::Config(format!(
                    "unknown layout '{s}' (expected one of: {})",
                    LayoutKind::ALL.map(|k| k.name()).join(", ")
                ))
            })
    }
}

/// One image with its ground truth: a saliency map (a file, or built from the fixations) and,
/// when the dataset has them, its fixations (a binary fixation map or recorded coordinates).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Path relative to the image folder, without extension, `/`-separated (e.g. `Action/001`).
    pub stem: String,
    pub image: PathBuf,
    pub map: MapSource,
    pub fixations: Option<FixationSource>,
}

impl Sample {
    /// The continuous ground-truth map at the image's size (see [`load_ground_truth_map`]).
    pub fn load_map(&self) -> Result<MapF32, DataError> {
        load_ground_truth_map(&self.image, &self.map, self.fixations.as_ref())
    }

    /// The fixations on the image's pixel grid, `None` when the sample has none (see
    /// [`load_fixation_pixels`]).
    pub fn load_fixation_pixels(&self) -> Result<Option<FixationPixels>, DataError> {
        load_fixation_pixels(&self.image, self.fixations.as_ref())
    }

    /// The fixations as continuous coordinates with the image's `(width, height)` (see
    /// [`load_fixation_points`]).
    pub fn load_fixation_points(&self) -> Result<Option<PointsOnImage>, DataError> {
        load_fixation_points(&self.image, self.fixations.as_ref())
    }

    /// [`Sample::load_fixation_points`] as `(width, height, [x, y] points)`, the form the
    /// centre-bias model takes.
    pub fn load_fixation_xy(&self) -> Result<Option<ImagePoints>, DataError> {
        Ok(self.load_fixation_points()?.map(|(points, (w, h))| {
            (
                w as usize,
                h as usize,
                points.iter().map(|p| [p.x, p.y]).collect(),
            )
        }))
    }
}

/// One image's `(width, height, [x, y] points)` in 0-based pixel coordinates of the image file.
pub type ImagePoints = (usize, usize, Vec<[f64; 2]>);

/// Every sample's [`Sample::load_fixation_xy`], read in parallel, in sample order.
pub fn load_all_fixation_xy(samples: &[Sample]) -> Vec<Result<Option<ImagePoints>, DataError>> {
    use rayon::prelude::*;
    samples.par_iter().map(Sample::load_fixation_xy).collect()
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

/// How to find a dataset; `Default` auto-detects, reads train and val, and checks every header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoverOptions {
    /// Force a layout instead of detecting it.
    pub layout: Option<LayoutKind>,
    /// The splits to read and check; the others are never read (a problem in `train/` does not
    /// stop scoring `val/`).
    pub splits: Vec<Split>,
    /// Fraction held out for validation when an unsplit layout has no list files.
    pub val_fraction: f64,
    /// File naming the validation images, one per line (`#` comments allowed).
    pub val_list: Option<PathBuf>,
    /// Folder of list files `<split>.txt`; default `<root>/splits` when it exists.
    pub split_dir: Option<PathBuf>,
    /// Seed of the held-out draw.
    pub split_seed: u64,
    /// The Gaussian that builds maps from fixations where the dataset ships none (default:
    /// the layout's, see [`LayoutKind::default_map_sigma`]).
    pub map_sigma: Option<MapSigma>,
    /// Leave bad pairs out (and list them) instead of failing.
    pub skip_bad: bool,
    /// Read every header up front to catch unreadable files and size mismatches early.
    pub check_headers: bool,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            layout: None,
            splits: vec![Split::Train, Split::Val],
            val_fraction: 0.1,
            val_list: None,
            split_dir: None,
            split_seed: 0,
            map_sigma: None,
            skip_bad: false,
            check_headers: true,
        }
    }
}

impl DiscoverOptions {
    /// Options that read one split only.
    pub fn for_split(split: Split) -> Self {
        DiscoverOptions {
            splits: vec![split],
            ..Self::default()
        }
    }

    /// The rule an unsplit dataset at `root` is divided by under these options.
    pub fn flat_rule(&self, root: &Path) -> SplitRule {
        if let Some(path) = &self.val_list {
            return SplitRule::ValList { path: path.clone() };
        }
        let dir = self
            .split_dir
            .clone()
            .unwrap_or_else(|| root.join("splits"));
        if self.split_dir.is_some() || dir.is_dir() {
            return SplitRule::Lists { dir };
        }
        SplitRule::Fraction {
            seed: self.split_seed,
            val_fraction: self.val_fraction,
        }
    }

    /// These options with the split rule a model was trained with (so evaluation holds out the
    /// same images).
    pub fn with_rule(mut self, rule: &SplitRule) -> Self {
        match rule {
            SplitRule::Folders => {}
            SplitRule::Lists { dir } => self.split_dir = Some(dir.clone()),
            SplitRule::ValList { path } => self.val_list = Some(path.clone()),
            SplitRule::Fraction { seed, val_fraction } => {
                self.split_seed = *seed;
                self.val_fraction = *val_fraction;
                self.split_dir = None;
                self.val_list = None;
            }
        }
        self
    }
}

/// A discovered dataset: the samples of the splits asked for, sorted by stem.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    layout: LayoutKind,
    rule: SplitRule,
    splits: Vec<(Split, Vec<Sample>)>,
    skipped: Vec<SkippedPair>,
    /// Splits asked for whose folder does not exist (a val-only copy can still be scored);
    /// [`Dataset::require`] turns them into errors.
    absent: Vec<(Split, PathBuf)>,
    notes: Vec<String>,
    images_listed: usize,
    /// The blur of maps built from fixations (asked for, or the layout's default).
    map_sigma: MapSigma,
}

impl Dataset {
    /// Finds the layout under `root`, reads the splits in `options.splits` and checks them.
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
        let sigma = options
            .map_sigma
            .unwrap_or_else(|| layout.default_map_sigma());
        let mut wanted: Vec<Split> = options.splits.clone();
        wanted.sort();
        wanted.dedup();
        let mut dataset = Dataset {
            root: root.to_path_buf(),
            layout,
            rule: SplitRule::Folders,
            splits: Vec::new(),
            skipped: Vec::new(),
            absent: Vec::new(),
            notes: Vec::new(),
            images_listed: 0,
            map_sigma: sigma,
        };
        let folders = layout.split_folders().filter(|(images, _, _)| {
            layout != LayoutKind::Stimuli || split_dirs_present(&root.join(images))
        });
        if wanted.is_empty() {
            // Only the layout and the split rule were asked for.
            if folders.is_none() {
                dataset.rule = options.flat_rule(root);
            }
            return Ok(dataset);
        }
        match folders {
            Some(names) => dataset.read_split_folders(names, &wanted, sigma, options)?,
            None => dataset.read_flat(&wanted, sigma, options)?,
        }
        Ok(dataset)
    }

    /// Layouts with `train/`, `val/` (`test/`) folders: each split asked for is read from its own
    /// folders only.
    fn read_split_folders(
        &mut self,
        (image_dir, map_dir, fix_dir): (&str, &str, &str),
        wanted: &[Split],
        sigma: MapSigma,
        options: &DiscoverOptions,
    ) -> Result<(), DataError> {
        let root = self.root.clone();
        let (images, maps, fixes) = (root.join(image_dir), root.join(map_dir), root.join(fix_dir));
        if !images.is_dir() {
            return Err(DataError::MissingDir {
                path: images,
                layout: self.layout.name(),
            });
        }
        let salicon = self.layout == LayoutKind::Salicon;
        // SALICON without any `maps/` (only its `.mat` fixations): maps are built.
        let build_maps = salicon && !maps.is_dir();
        if !build_maps && !maps.is_dir() {
            return Err(DataError::MissingDir {
                path: maps,
                layout: self.layout.name(),
            });
        }
        let mut folder_splits: Vec<Split> = Vec::new();
        for &split in wanted {
            match split {
                Split::All => folder_splits.extend([Split::Train, Split::Val]),
                other => folder_splits.push(other),
            }
        }
        folder_splits.sort();
        folder_splits.dedup();
        let mut read: Vec<(Split, Vec<Sample>)> = Vec::new();
        for split in folder_splits {
            let dir = images.join(split.name());
            if !dir.is_dir() {
                self.absent.push((split, dir));
                continue;
            }
            let split_maps = maps.join(split.name());
            if !build_maps && !split_maps.is_dir() {
                return Err(DataError::MissingDir {
                    path: split_maps,
                    layout: self.layout.name(),
                });
            }
            let listing = readers::pair_folders(
                &dir,
                Some(&split_maps),
                Some(&fixes.join(split.name())),
                build_maps.then_some(sigma),
                salicon,
            )?;
            self.notes.extend(listing.skipped.notes());
            self.images_listed += listing.entries.len();
            let samples = self.settle(listing.entries, options)?;
            read.push((split, samples));
        }
        if read.is_empty() {
            let (_, path) = self
                .absent
                .first()
                .cloned()
                .unwrap_or((Split::Train, images));
            return Err(DataError::MissingDir {
                path,
                layout: self.layout.name(),
            });
        }
        if wanted.contains(&Split::All) {
            let mut all: Vec<Sample> = read
                .iter()
                .filter(|(s, _)| matches!(s, Split::Train | Split::Val))
                .flat_map(|(_, samples)| samples.iter().cloned())
                .collect();
            all.sort_by(|a, b| a.image.cmp(&b.image));
            read.push((Split::All, all));
        }
        read.retain(|(s, _)| wanted.contains(s));
        self.splits = read;
        Ok(())
    }

    /// Unsplit layouts: every image is listed, then the split rule picks each split's images
    /// (from the sorted list, whatever is wrong with the others), and only those are checked.
    fn read_flat(
        &mut self,
        wanted: &[Split],
        sigma: MapSigma,
        options: &DiscoverOptions,
    ) -> Result<(), DataError> {
        let root = self.root.clone();
        let listing = match self.layout {
            LayoutKind::Stimuli => readers::pair_folders(
                &root.join("stimuli"),
                Some(&root.join("saliency")),
                Some(&root.join("fixations")),
                None,
                false,
            )?,
            LayoutKind::Mit1003 => readers::mit1003(&root)?,
            LayoutKind::Cat2000 => readers::cat2000(&root)?,
            LayoutKind::Osie => {
                let file = root.join("fixations.mat");
                let points = readers::osie::read_fixations(&file)?;
                readers::stimuli_with_points(&root, points, &file, None, sigma)?
            }
            LayoutKind::Csv => {
                let file = root.join("fixations.csv");
                let points = readers::csv::read_fixations(&file)?;
                readers::stimuli_with_points(&root, points, &file, Some(&root.join("maps")), sigma)?
            }
            LayoutKind::Seed | LayoutKind::Salicon => {
                unreachable!("split-folder layouts are read by read_split_folders")
            }
        };
        self.notes.extend(listing.skipped.notes());
        self.images_listed = listing.entries.len();
        self.rule = options.flat_rule(&root);
        let stems: Vec<String> = listing.entries.iter().map(|e| e.stem.clone()).collect();
        // An image's problem is reported with the first split that selects it; a later split
        // (only `all` overlaps others) repeats its message.
        let messages: Vec<Option<(PathBuf, String)>> = listing
            .entries
            .iter()
            .map(|e| {
                e.sample
                    .as_ref()
                    .err()
                    .map(|err| (error_path(err), err.to_string()))
            })
            .collect();
        let mut results: Vec<Option<Result<Sample, DataError>>> = listing
            .entries
            .into_iter()
            .map(|e| Some(e.sample))
            .collect();
        for &split in wanted {
            let chosen = self.rule.select(&stems, split)?;
            let mut selected = Vec::new();
            for (i, _) in chosen.iter().enumerate().filter(|(_, &keep)| keep) {
                let sample = match &results[i] {
                    Some(Ok(sample)) => Ok(sample.clone()),
                    Some(Err(_)) => results[i].take().expect("checked above"),
                    None => {
                        let (path, reason) = messages[i].clone().unwrap_or_default();
                        Err(DataError::Decode { path, reason })
                    }
                };
                selected.push(readers::Entry {
                    stem: stems[i].clone(),
                    sample,
                });
            }
            let samples = self.settle(selected, options)?;
            self.splits.push((split, samples));
        }
        Ok(())
    }

    /// Checks the entries of one split: bad ones are errors, or under `skip_bad` recorded.
    fn settle(
        &mut self,
        entries: Vec<readers::Entry>,
        options: &DiscoverOptions,
    ) -> Result<Vec<Sample>, DataError> {
        let checked: Vec<Result<Sample, DataError>> = entries
            .into_par_iter()
            .map(|entry| {
                let sample = entry.sample?;
                if options.check_headers {
                    check_sizes(&sample)?;
                }
                Ok(sample)
            })
            .collect();
        let mut samples = Vec::with_capacity(checked.len());
        for result in checked {
            match result {
                Ok(sample) => samples.push(sample),
                Err(error) if options.skip_bad => self.skipped.push(SkippedPair {
                    path: error_path(&error),
                    reason: error.to_string(),
                }),
                Err(error) => return Err(error),
            }
        }
        Ok(samples)
    }

    /// The samples of one split, sorted by stem (empty for a split not asked for or whose
    /// folder is absent, see [`Dataset::require`]).
    pub fn split(&self, split: Split) -> &[Sample] {
        self.splits
            .iter()
            .find(|(s, _)| *s == split)
            .map(|(_, samples)| samples.as_slice())
            .unwrap_or(&[])
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

    /// Whether a split was asked for and read.
    pub fn has_split(&self, split: Split) -> bool {
        self.splits.iter().any(|(s, _)| *s == split)
    }

    /// Pairs left out under `skip_bad` (empty otherwise).
    pub fn skipped(&self) -> &[SkippedPair] {
        &self.skipped
    }

    /// Files the readers left out (not images, model-output folders, ground truth without an
    /// image), one line per kind.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// How the images were divided into splits.
    pub fn rule(&self) -> &SplitRule {
        &self.rule
    }

    /// Images the readers found in the folders they read (before splitting and checks).
    pub fn images_listed(&self) -> usize {
        self.images_listed
    }

    /// The blur that builds maps from fixations here: `--map-sigma`, else the layout's default
    /// ([`LayoutKind::default_map_sigma`]); the empirical-map kernel of the dataset.
    pub fn map_sigma(&self) -> MapSigma {
        self.map_sigma
    }

    pub fn layout(&self) -> LayoutKind {
        self.layout
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A stimuli folder split into sub-folders (`train/`, `val/`, `test/`) rather than flat.
fn split_dirs_present(images: &Path) -> bool {
    [Split::Train, Split::Val, Split::Test]
        .iter()
        .any(|s| images.join(s.name()).is_dir())
}

/// Picks the layout from the folders and files present (see [`LayoutKind::ALL`] for the order).
fn detect_layout(root: &Path) -> Result<LayoutKind, DataError> {
    if let Some(kind) = LayoutKind::ALL.into_iter().find(|k| k.fits(root)) {
        return Ok(kind);
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

/// The file an error is about, for the skipped list.
pub(crate) fn error_path(error: &DataError) -> PathBuf {
    match error {
        DataError::Io { path, .. } | DataError::Decode { path, .. } => path.clone(),
        DataError::MissingMap { image, .. }
        | DataError::SizeMismatch { image, .. }
        | DataError::MissingFixations { image } => image.clone(),
        DataError::DuplicateStem { second, .. } => second.clone(),
        _ => PathBuf::new(),
    }
}

/// Header-only check that the image and its map and fixation-map files decode and agree in size
/// (coordinate lists and `.mat` files are checked when read).
fn check_sizes(sample: &Sample) -> Result<(), DataError> {
    let image_size = image_size(&sample.image)?;
    let others = sample
        .map
        .file()
        .into_iter()
        .chain(sample.fixations.as_ref().and_then(FixationSource::file));
    for other in others {
        let other_size = image_size_of(other)?;
        if other_size != image_size {
            return Err(DataError::SizeMismatch {
                image: sample.image.clone(),
                image_size,
                other: other.to_path_buf(),
                other_size,
            });
        }
    }
    Ok(())
}

fn image_size_of(path: &Path) -> Result<(u32, u32), DataError> {
    image_size(path)
}
