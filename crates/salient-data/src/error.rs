//! The one error type of the crate: every variant names the file or folder at fault and what is wrong.

use std::path::PathBuf;

/// What went wrong while finding, reading or batching data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read at all.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// None of the known layouts fits the dataset root.
    #[error(
        "unknown dataset layout at {root}: expected image/+mask/ (seed), images/+maps/ (SALICON) or \
         stimuli/+saliency/ (MIT1003/CAT2000); found {found}"
    )]
    UnknownLayout { root: PathBuf, found: String },
    /// The dataset root itself does not exist or is not a folder.
    #[error("dataset folder {path} does not exist or is not a folder")]
    MissingRoot { path: PathBuf },
    /// A folder the layout requires is missing.
    #[error("missing folder {path} (required by the {layout} layout)")]
    MissingDir { path: PathBuf, layout: &'static str },
    /// A folder that should hold images holds none.
    #[error("empty folder {path}: no image files (jpg, jpeg, png, bmp, tif, tiff, webp)")]
    EmptyFolder { path: PathBuf },
    /// An image has no saliency map with the same stem.
    #[error("missing map for {image}: no file named {stem}.* in {map_dir}")]
    MissingMap {
        image: PathBuf,
        stem: String,
        map_dir: PathBuf,
    },
    /// Two files in one folder share a stem, so pairing is ambiguous.
    #[error("ambiguous stem {stem}: both {first} and {second}")]
    DuplicateStem {
        stem: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A file exists but cannot be decoded (corrupt, truncated, unsupported format).
    #[error("cannot decode {path}: {reason}")]
    Decode { path: PathBuf, reason: String },
    /// A map or fixation file does not have the size of its image.
    #[error("size mismatch: {image} is {image_size:?} (w, h) but {other} is {other_size:?}")]
    SizeMismatch {
        image: PathBuf,
        image_size: (u32, u32),
        other: PathBuf,
        other_size: (u32, u32),
    },
    /// A validation-list file names a stem that is not in the dataset, or cannot be parsed.
    #[error("bad validation list {path}: {reason}")]
    BadValList { path: PathBuf, reason: String },
    /// A sample asked to provide fixations has none.
    #[error("no fixation map for {image} (fixations were requested)")]
    MissingFixations { image: PathBuf },
    /// An option or pipeline is inconsistent (named in the message).
    #[error("invalid data configuration: {0}")]
    Config(String),
    /// A split has no samples to batch.
    #[error("the {split} split of {root} has no samples")]
    EmptySplit { root: PathBuf, split: &'static str },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn decode(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        DataError::Decode {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
