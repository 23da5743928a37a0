//! A folder of predicted maps: which files are read, how they are matched to samples, and how
//! one is decoded.
//!
//! Read: PNG (8/16-bit, grey or colour), JPEG (grey or colour; colour turned grey with OpenCV's
//! BGR2GRAY weights like ground-truth maps, see [`salient_data::load_map`]) and `.npy` (see
//! [`crate::npy`]). Files with other image or array extensions ([`UNSUPPORTED_EXTENSIONS`]) are
//! listed as unsupported instead of being silently ignored; anything else (notes, JSON, hidden
//! files) is not a prediction and is left alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use salient_data::{load_map, DataError, MapF32};

use crate::error::{EvalError, MapProblem};
use crate::npy;

/// Extensions read as predicted maps (compared case-insensitively).
pub const SUPPORTED_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "npy"];

/// Extensions of image and array formats that look like predictions but are not read: reported
/// as unsupported rather than ignored.
pub const UNSUPPORTED_EXTENSIONS: &[&str] = &[
    "gif", "bmp", "tif", "tiff", "webp", "pgm", "ppm", "pnm", "pfm", "exr", "hdr", "avif", "jxl",
    "jp2", "npz", "mat", "h5", "hdf5", "pt", "pth",
];

/// The sentence naming what is read, for messages.
pub const UNSUPPORTED_REASON: &str = "predictions must be .png, .jpg or .npy";

/// [`SUPPORTED_EXTENSIONS`] as a list for messages.
pub(crate) const SUPPORTED_LIST: &str = ".png, .jpg, .jpeg or .npy";

/// A folder of predicted maps, indexed by stem: the path relative to the folder without extension
/// (`Action/001`), which is how salient-data names samples; a file directly in the folder also
/// answers to its bare name when nothing else claims it. Sub-folders are searched.
#[derive(Debug)]
pub struct PredictionDir {
    root: PathBuf,
    by_stem: HashMap<String, PathBuf>,
    by_name: HashMap<String, Vec<PathBuf>>,
    unsupported: Vec<PathBuf>,
}

impl PredictionDir {
    /// Lists `root` recursively. Fails when it is not a folder, holds no readable prediction, or
    /// two files claim one stem (`a.png` and `a.npy`).
    pub fn open(root: &Path) -> Result<Self, EvalError> {
        if !root.is_dir() {
            return Err(EvalError::NotAFolder(root.to_path_buf()));
        }
        let mut by_stem: HashMap<String, PathBuf> = HashMap::new();
        let mut by_name: HashMap<String, Vec<PathBuf>> = HashMap::new();
        let mut unsupported = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let list_err = |source| EvalError::List {
                path: dir.clone(),
                source,
            };
            for entry in std::fs::read_dir(&dir).map_err(list_err)? {
                let path = entry.map_err(list_err)?.path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let ext = extension(&path);
                if UNSUPPORTED_EXTENSIONS.contains(&ext.as_str()) {
                    unsupported.push(path);
                    continue;
                }
                if !SUPPORTED_EXTENSIONS.contains(&ext.as_str()) {
                    continue;
                }
                let stem = relative_stem(root, &path);
                if let Some(previous) = by_stem.insert(stem.clone(), path.clone()) {
                    let (first, second) = ordered(previous, path);
                    return Err(EvalError::DuplicatePrediction {
                        stem,
                        first,
                        second,
                    });
                }
                let name = stem.rsplit('/').next().unwrap_or(&stem).to_string();
                by_name.entry(name).or_default().push(path);
            }
        }
        unsupported.sort();
        if by_stem.is_empty() {
            return Err(EvalError::NoPredictionFiles {
                dir: root.to_path_buf(),
                unsupported,
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            by_stem,
            by_name,
            unsupported,
        })
    }

    /// The file predicted for a sample's stem, if any (exact relative stem first, then a unique
    /// file of the same bare name).
    pub fn find(&self, stem: &str) -> Option<&Path> {
        if let Some(path) = self.by_stem.get(stem) {
            return Some(path);
        }
        let name = stem.rsplit('/').next().unwrap_or(stem);
        match self.by_name.get(name).map(Vec::as_slice) {
            Some([only]) => Some(only),
            _ => None,
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many prediction files it holds (supported formats only).
    pub fn len(&self) -> usize {
        self.by_stem.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_stem.is_empty()
    }

    /// Files of an image or array format that is not read (sorted).
    pub fn unsupported(&self) -> &[PathBuf] {
        &self.unsupported
    }
}

/// Decodes a prediction file: PNG and JPEG scaled to `[0, 1]` like ground-truth maps, `.npy` as
/// stored; every value must be finite.
pub fn read_prediction(path: &Path) -> Result<MapF32, EvalError> {
    let named = |problem| EvalError::Prediction {
        path: path.to_path_buf(),
        problem,
    };
    let map = if extension(path) == "npy" {
        npy::read_map(path).map_err(|e| named(e.problem.into()))?
    } else {
        load_map(path).map_err(|e| named(MapProblem::Image(reason(e))))?
    };
    check_finite(&map).map_err(named)?;
    Ok(map)
}

/// The first NaN or ±inf of `map`, as a problem.
pub(crate) fn check_finite(map: &MapF32) -> Result<(), MapProblem> {
    match map.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(MapProblem::NonFinite {
            y: i / map.width.max(1),
            x: i % map.width.max(1),
            value: map.data[i],
        }),
    }
}

/// A decoding error without the path (the caller names the file once).
fn reason(error: DataError) -> String {
    match error {
        DataError::Decode { reason, .. } => reason,
        DataError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// `root/Action/001.png` → `Action/001`.
fn relative_stem(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path).with_extension("");
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn ordered(a: PathBuf, b: PathBuf) -> (PathBuf, PathBuf) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}
