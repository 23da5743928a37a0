//! Which images form which split, and the rule that decided it.
//!
//! Datasets with `train/` and `val/` folders split by folder. The others (MIT1003, CAT2000, OSIE,
//! the generic CSV layout, a flat `stimuli/`) split by list files `<split dir>/<split>.txt` when
//! present (one image path per line, relative to the stimuli folder, as `salient data split`
//! writes them), else by a seeded random fraction held out for validation. The rule is recorded
//! in a trained model's checkpoint so that evaluation holds out the same images.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// A part of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    /// Held-out images: a `test/` folder, or `<split dir>/test.txt`.
    Test,
    /// Every image of the dataset (train and val folders, or every listed image): how MIT1003
    /// and CAT2000 are scored as benchmarks.
    All,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
            Split::All => "all",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "val" | "validation" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            "all" => Ok(Split::All),
            other => Err(DataError::Config(format!(
                "unknown split '{other}' (expected train, val, test or all)"
            ))),
        }
    }
}

/// How a dataset's images were divided into splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum SplitRule {
    /// The dataset's own `train/`, `val/` (and `test/`) folders.
    Folders,
    /// List files `<dir>/<split>.txt`; a split without its file is the complement of the other
    /// (val = all but train.txt, train = all but val.txt); test needs `test.txt`.
    Lists { dir: PathBuf },
    /// One file naming the validation images; training is the rest.
    ValList { path: PathBuf },
    /// `round(n · val_fraction)` images drawn for validation by a ChaCha8 shuffle seeded with
    /// `seed` over the sorted image list; training is the rest.
    Fraction { seed: u64, val_fraction: f64 },
}

impl fmt::Display for SplitRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitRule::Folders => f.write_str("the dataset's split folders"),
            SplitRule::Lists { dir } => write!(f, "the list files in {}", dir.display()),
            SplitRule::ValList { path } => write!(f, "the validation list {}", path.display()),
            SplitRule::Fraction { seed, val_fraction } => write!(
                f,
                "a seeded draw (seed {seed}) holding out {}% for validation",
                val_fraction * 100.0
            ),
        }
    }
}

impl SplitRule {
    /// Which of `stems` (the dataset's images, sorted, relative paths without extension) belong
    /// to `split` under this rule. Never called for [`SplitRule::Folders`].
    pub(crate) fn select(&self, stems: &[String], split: Split) -> Result<Vec<bool>, DataError> {
        if split == Split::All {
            return Ok(vec![true; stems.len()]);
        }
        match self {
            SplitRule::Folders => Err(DataError::Config(
                "folder splits are chosen by folder, not by rule".into(),
            )),
            SplitRule::Fraction { seed, val_fraction } => {
                let in_val = fraction_val(stems.len(), *seed, *val_fraction);
                match split {
                    Split::Val => Ok(in_val),
                    Split::Train => Ok(in_val.into_iter().map(|v| !v).collect()),
                    _ => Err(DataError::Config(
                        "no test split: a seeded fraction makes only train and val; list the \
                         test images in <split dir>/test.txt or score --split all"
                            .into(),
                    )),
                }
            }
            SplitRule::ValList { path } => {
                let val = read_list(path, stems)?;
                let in_val: Vec<bool> = stems.iter().map(|s| val.contains(s)).collect();
                match split {
                    Split::Val => Ok(in_val),
                    Split::Train => Ok(in_val.into_iter().map(|v| !v).collect()),
                    _ => Err(DataError::Config(format!(
                        "no test split: {} names only validation images",
                        path.display()
                    ))),
                }
            }
            SplitRule::Lists { dir } => {
                let file = |s: Split| dir.join(format!("{}.txt", s.name()));
                let chosen = |path: &Path| -> Result<Vec<bool>, DataError> {
                    let listed = read_list(path, stems)?;
                    Ok(stems.iter().map(|s| listed.contains(s)).collect())
                };
                let own = file(split);
                if own.is_file() {
                    return chosen(&own);
                }
                let other = match split {
                    Split::Train => Some(file(Split::Val)),
                    Split::Val => Some(file(Split::Train)),
                    _ => None,
                };
                match other.filter(|p| p.is_file()) {
                    Some(other) => Ok(chosen(&other)?.into_iter().map(|v| !v).collect()),
                    None => Err(DataError::BadValList {
                        path: own,
                        reason: format!("no list file for the {split} split"),
                    }),
                }
            }
        }
    }
}

/// The seeded validation draw: which of `n` sorted images are held out.
fn fraction_val(n: usize, seed: u64, val_fraction: f64) -> Vec<bool> {
    let n_val = (n as f64 * val_fraction).round() as usize;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    let mut flags = vec![false; n];
    for &i in &order[..n_val.min(n)] {
        flags[i] = true;
    }
    flags
}

/// The stem a list line names: the path relative to the stimuli folder, extension dropped,
/// `/`-separated.
pub fn list_line_stem(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return None;
    }
    let path = Path::new(line).with_extension("");
    Some(path.to_string_lossy().replace('\\', "/"))
}

/// The stems a list file names; a name that is not among `stems` is an error naming the line.
fn read_list(path: &Path, stems: &[String]) -> Result<HashSet<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let known: HashMap<&str, ()> = stems.iter().map(|s| (s.as_str(), ())).collect();
    let mut listed = HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let Some(stem) = list_line_stem(line) else {
            continue;
        };
        if !known.contains_key(stem.as_str()) {
            return Err(DataError::BadValList {
                path: path.to_path_buf(),
                reason: format!(
                    "line {}: '{}' is not among the dataset's images",
                    number + 1,
                    line.trim()
                ),
            });
        }
        listed.insert(stem);
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:03}")).collect()
    }

    #[test]
    fn fraction_splits_partition_and_depend_on_the_seed() {
        let s = stems(50);
        let rule = SplitRule::Fraction {
            seed: 3,
            val_fraction: 0.2,
        };
        let val = rule.select(&s, Split::Val).unwrap();
        let train = rule.select(&s, Split::Train).unwrap();
        assert_eq!(val.iter().filter(|&&v| v).count(), 10);
        assert!(val.iter().zip(&train).all(|(a, b)| a != b));
        let other = SplitRule::Fraction {
            seed: 4,
            val_fraction: 0.2,
        }
        .select(&s, Split::Val)
        .unwrap();
        assert_ne!(val, other);
        assert!(rule.select(&s, Split::Test).is_err());
        assert!(rule.select(&s, Split::All).unwrap().iter().all(|&v| v));
    }

    #[test]
    fn lists_name_images_and_complement_the_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("train.txt"),
            "000.jpg\n# comment\n002.jpg\n",
        )
        .unwrap();
        let rule = SplitRule::Lists {
            dir: dir.path().to_path_buf(),
        };
        let s = stems(4);
        assert_eq!(
            rule.select(&s, Split::Train).unwrap(),
            [true, false, true, false]
        );
        assert_eq!(
            rule.select(&s, Split::Val).unwrap(),
            [false, true, false, true]
        );
        let e = rule.select(&s, Split::Test).unwrap_err().to_string();
        assert!(e.contains("test.txt"), "{e}");
        std::fs::write(dir.path().join("val.txt"), "001.jpg\nnope.jpg\n").unwrap();
        let e = rule.select(&s, Split::Val).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("nope.jpg"), "{e}");
    }
}
