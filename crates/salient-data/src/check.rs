//! `salient data check`: what a user runs first on a dataset. Reads every split the dataset has,
//! decodes every file (or only headers, when quick) and gathers per-split figures and every
//! problem, each naming its file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::decode::{image_size, load_map, load_rgb8};
use crate::error::DataError;
use crate::ground_truth::{FixationSource, MapSource};
use crate::layout::{error_path, Dataset, DiscoverOptions, LayoutKind, Sample};
use crate::split::{Split, SplitRule};

/// Figures of one split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitStats {
    pub split: Split,
    /// Images that passed every check.
    pub images: usize,
    /// Smallest and largest `(width, height)` by area.
    pub size_range: Option<((u32, u32), (u32, u32))>,
    /// Images with fixations, and their fixations in all.
    pub with_fixations: usize,
    pub fixations: usize,
    /// Fewest and most fixations on one image.
    pub fixations_per_image: Option<(usize, usize)>,
    /// Fewest and most viewers on one image, where the fixations name their viewer.
    pub viewers_per_image: Option<(usize, usize)>,
    /// Images whose map is a file, and whose map is built from the fixations.
    pub maps_given: usize,
    pub maps_built: usize,
}

/// One thing wrong, with the file it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

/// Everything `salient data check` prints.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub root: PathBuf,
    pub layout: LayoutKind,
    pub rule: SplitRule,
    /// How maps are built where the dataset ships none (`None` when every map is a file).
    pub map_sigma: Option<String>,
    pub splits: Vec<SplitStats>,
    pub problems: Vec<Problem>,
    /// Files the readers left out on purpose.
    pub notes: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What one image contributed.
struct Seen {
    size: (u32, u32),
    fixations: Option<usize>,
    viewers: Option<usize>,
    built: bool,
}

/// Checks the dataset at `root`: every split it has (train, val and, when present, test),
/// each file decoded (`quick`: headers only).
pub fn check_dataset(
    root: &Path,
    options: &DiscoverOptions,
    quick: bool,
) -> Result<CheckReport, DataError> {
    // Which splits exist: try train + val (+ test where a folder or list says so).
    let probe = Dataset::discover(
        root,
        &DiscoverOptions {
            splits: vec![],
            check_headers: false,
            ..options.clone()
        },
    )?;
    let mut splits = vec![Split::Train, Split::Val];
    let has_test = match probe.rule() {
        SplitRule::Folders => has_test_folder(root, probe.layout()),
        SplitRule::Lists { dir } => dir.join("test.txt").is_file(),
        _ => false,
    };
    if has_test {
        splits.push(Split::Test);
    }
    let dataset = Dataset::discover(
        root,
        &DiscoverOptions {
            splits: splits.clone(),
            skip_bad: true,
            ..options.clone()
        },
    )?;
    let mut problems: Vec<Problem> = dataset
        .skipped()
        .iter()
        .map(|s| Problem {
            path: s.path.clone(),
            message: s.reason.clone(),
        })
        .collect();
    let mut stats = Vec::new();
    let mut sigma = None;
    for split in splits {
        if !dataset.has_split(split) || dataset.require(split).is_err() {
            continue;
        }
        let samples = dataset.split(split);
        let seen: Vec<Result<Seen, DataError>> =
            samples.par_iter().map(|s| inspect(s, quick)).collect();
        let mut split_stats = SplitStats {
            split,
            images: 0,
            size_range: None,
            with_fixations: 0,
            fixations: 0,
            fixations_per_image: None,
            viewers_per_image: None,
            maps_given: 0,
            maps_built: 0,
        };
        for (sample, result) in samples.iter().zip(seen) {
            let seen = match result {
                Ok(seen) => seen,
                Err(e) => {
                    problems.push(Problem {
                        path: error_path(&e),
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            if let MapSource::FromFixations { sigma: s } = &sample.map {
                sigma = Some(s.to_string());
            }
            split_stats.add(&seen);
        }
        stats.push(split_stats);
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    problems.dedup();
    Ok(CheckReport {
        root: root.to_path_buf(),
        layout: dataset.layout(),
        rule: dataset.rule().clone(),
        map_sigma: sigma,
        splits: stats,
        problems,
        notes: dataset.notes().to_vec(),
    })
}

fn has_test_folder(root: &Path, layout: LayoutKind) -> bool {
    let images = match layout {
        LayoutKind::Seed => "image",
        LayoutKind::Salicon => "images",
        _ => "stimuli",
    };
    root.join(images).join("test").is_dir()
}

/// Reads one sample the way training and scoring will.
fn inspect(sample: &Sample, quick: bool) -> Result<Seen, DataError> {
    let size = if quick {
        image_size(&sample.image)?
    } else {
        load_rgb8(&sample.image)?.dimensions()
    };
    if let (false, MapSource::File(path)) = (quick, &sample.map) {
        load_map(path)?;
    }
    let (fixations, viewers) = match &sample.fixations {
        None => (None, None),
        Some(FixationSource::Points(points)) => {
            sample.load_fixation_pixels()?;
            let subjects: BTreeSet<u32> = points.iter().map(|p| p.subject).collect();
            let named = !subjects.contains(&0);
            (Some(points.len()), named.then_some(subjects.len()))
        }
        Some(_) => {
            let points = sample
                .load_fixation_points()?
                .map(|(points, _)| points)
                .unwrap_or_default();
            let subjects: BTreeSet<u32> = points.iter().map(|p| p.subject).collect();
            let named = !subjects.is_empty() && !subjects.contains(&0);
            (Some(points.len()), named.then_some(subjects.len()))
        }
    };
    if fixations == Some(0) && matches!(sample.map, MapSource::FromFixations { .. }) {
        return Err(DataError::decode(
            &sample.image,
            "no fixations, so no map can be built for it",
        ));
    }
    Ok(Seen {
        size,
        fixations,
        viewers,
        built: matches!(sample.map, MapSource::FromFixations { .. }),
    })
}

impl SplitStats {
    fn add(&mut self, seen: &Seen) {
        self.images += 1;
        let area = |(w, h): (u32, u32)| w as u64 * h as u64;
        self.size_range = Some(match self.size_range {
            None => (seen.size, seen.size),
            Some((lo, hi)) => (
                if area(seen.size) < area(lo) {
                    seen.size
                } else {
                    lo
                },
                if area(seen.size) > area(hi) {
                    seen.size
                } else {
                    hi
                },
            ),
        });
        if let Some(n) = seen.fixations {
            self.with_fixations += 1;
            self.fixations += n;
            self.fixations_per_image = Some(widen(self.fixations_per_image, n));
        }
        if let Some(v) = seen.viewers {
            self.viewers_per_image = Some(widen(self.viewers_per_image, v));
        }
        if seen.built {
            self.maps_built += 1;
        } else {
            self.maps_given += 1;
        }
    }
}

fn widen(range: Option<(usize, usize)>, v: usize) -> (usize, usize) {
    match range {
        None => (v, v),
        Some((lo, hi)) => (lo.min(v), hi.max(v)),
    }
}
