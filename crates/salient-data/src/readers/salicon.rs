//! SALICON 2017's fixation files: one `.mat` per image (`fixations/{train,val}/<stem>.mat`)
//! holding `gaze`, a struct array with one element per viewer: `location` (mouse samples),
//! `timestamp` and `fixations` (the fixations inferred from them), both `[x, y]` rows in MATLAB's
//! 1-based pixel coordinates.
//!
//! As pysaliency's `get_SALICON(edition='2017', fixation_type='fixations')`: `x - 1`, `y - 1`, one
//! subject per `gaze` element, in file order. pysaliency clips the 2017 mouse data to
//! `[0, size - 0.01]`; the same clip is applied here to the rare fixation that lies off the
//! image, so no fixation is dropped and none is off the grid.

use std::path::Path;

use crate::error::DataError;
use crate::ground_truth::FixationPoint;
use crate::mat;

/// The fixations of one SALICON `.mat` file on a `width x height` image.
pub fn read_gaze(
    path: &Path,
    (width, height): (u32, u32),
) -> Result<Vec<FixationPoint>, DataError> {
    let file = mat::load(path)?;
    let gaze = mat::variable(path, &file, "gaze")?;
    let mut points = Vec::new();
    for (subject, viewer) in mat::elements(path, gaze, "gaze")?.into_iter().enumerate() {
        let what = format!("gaze({})", subject + 1);
        let fixations = mat::field(path, viewer, "fixations", &what)?;
        let (values, dim) = mat::numbers(path, fixations, &format!("{what}.fixations"))?;
        if values.is_empty() {
            continue;
        }
        let rows = match dim.as_slice() {
            [n, 2] => *n,
            [2] => 1,
            other => {
                return Err(DataError::decode(
                    path,
                    format!("{what}.fixations: expected N x 2 [x, y] rows, found {other:?}"),
                ))
            }
        };
        for i in 0..rows {
            // Column-major: the x column, then the y column.
            let (x, y) = (values[i] - 1.0, values[rows + i] - 1.0);
            if !(x.is_finite() && y.is_finite()) {
                return Err(DataError::decode(
                    path,
                    format!("{what}.fixations row {}: non-finite coordinate", i + 1),
                ));
            }
            points.push(FixationPoint {
                x: x.clamp(0.0, width as f64 - 0.01),
                y: y.clamp(0.0, height as f64 - 0.01),
                subject: subject as u32 + 1,
                t: None,
                duration: None,
            });
        }
    }
    Ok(points)
}
