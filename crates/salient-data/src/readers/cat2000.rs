//! CAT2000's fixation files: `FIXATIONLOCS/<Category>/<NNN>.mat` holding `fixLocs`, a binary
//! `height x width` matrix (logical or numeric) with a non-zero entry at every fixated pixel.

use std::path::Path;

use crate::decode::FixationMap;
use crate::error::DataError;
use crate::mat;

/// The binary fixation map of one CAT2000 `.mat` file, row-major.
pub fn read_fixlocs(path: &Path) -> Result<FixationMap, DataError> {
    let file = mat::load(path)?;
    let locs = mat::variable(path, &file, "fixLocs")?;
    let (values, dim) = mat::numbers(path, locs, "fixLocs")?;
    let (height, width) = match dim.as_slice() {
        [h, w] if h * w == values.len() && *h > 0 && *w > 0 => (*h, *w),
        other => {
            return Err(DataError::decode(
                path,
                format!("fixLocs: expected a height x width matrix, found dimensions {other:?}"),
            ))
        }
    };
    let mut data = vec![0u8; width * height];
    // MATLAB stores column-major: entry (row, col) is at col * height + row.
    for (i, &v) in values.iter().enumerate() {
        let (row, col) = (i % height, i / height);
        data[row * width + col] = u8::from(v != 0.0);
    }
    Ok(FixationMap {
        width,
        height,
        data,
    })
}
