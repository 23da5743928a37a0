//! What can go wrong building, fitting, saving or loading a centre-bias model.

use std::path::PathBuf;

/// Why a centre-bias model could not be built, fitted, saved or loaded. File errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum CentreBiasError {
    /// An image of size zero.
    #[error("image {image} has an empty size {width}x{height}")]
    EmptyImage {
        image: usize,
        width: usize,
        height: usize,
    },
    /// A fixation that is NaN/inf or lies outside its image (`0 ≤ x ≤ width`, `0 ≤ y ≤ height`).
    #[error(
        "fixation {index} of image {image}: (x={x}, y={y}) is not a point of the {width}x{height} image"
    )]
    Coordinate {
        image: usize,
        index: usize,
        x: f64,
        y: f64,
        width: usize,
        height: usize,
    },
    /// A normalised fixation that is NaN/inf or outside `[0, 1]`.
    #[error("normalised fixation {index}: (x={x}, y={y}) is not finite or lies outside [0, 1]")]
    NormalisedCoordinate { index: usize, x: f64, y: f64 },
    /// A model needs at least one fixation.
    #[error("a centre-bias model needs at least one fixation, none were given")]
    NoFixations,
    /// A parameter out of its range.
    #[error("centre-bias {name} = {value} is invalid: it must be {expected}")]
    Parameter {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
    /// A density was asked for on a grid of size zero.
    #[error("a centre-bias density needs a non-empty grid, not {width}x{height}")]
    EmptyGrid { width: usize, height: usize },
    /// The fit could not run (too few images, an empty parameter grid).
    #[error("cannot fit the centre bias: {0}")]
    Fit(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that is not a valid centre-bias file.
    #[error("{}: not a valid centre-bias file: {reason}", path.display())]
    File { path: PathBuf, reason: String },
}
