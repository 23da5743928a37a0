//! The generic layout's `fixations.csv`: a header naming at least `image`, `x` and `y`, and
//! optionally `subject`, `t` and `duration` (any column order, other columns ignored). `image`
//! is the image's path relative to `stimuli/` (`/`-separated), `x`/`y` are 0-based pixel
//! coordinates of the image file (the fixated pixel is `(floor(x), floor(y))`), `t` and
//! `duration` are in milliseconds. Parsed by the `csv` crate.

use std::collections::HashMap;
use std::path::Path;

use crate::error::DataError;
use crate::ground_truth::FixationPoint;

/// Every image's fixations, by the `image` column (relative path as written).
pub fn read_fixations(path: &Path) -> Result<HashMap<String, Vec<FixationPoint>>, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            DataError::decode(
                path,
                format!(
                    "the header has no '{name}' column (found: {}; expected image,x,y and \
                     optionally subject,t,duration)",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            )
        })
    };
    let (image_col, x_col, y_col) = (required("image")?, required("x")?, required("y")?);
    let (subject_col, t_col, duration_col) = (column("subject"), column("t"), column("duration"));
    let mut by_image: HashMap<String, Vec<FixationPoint>> = HashMap::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| csv_error(path, e))?;
        let field = |col: usize| record.get(col).unwrap_or("");
        let bad = |what: &str, value: &str| {
            DataError::decode(
                path,
                format!("line {line}: {what} '{value}' is not a number"),
            )
        };
        let number = |col: usize, what: &str| -> Result<f64, DataError> {
            let text = field(col);
            let v: f64 = text.parse().map_err(|_| bad(what, text))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(DataError::decode(
                    path,
                    format!("line {line}: {what} is {text}"),
                ))
            }
        };
        let optional = |col: Option<usize>, what: &str| -> Result<Option<f64>, DataError> {
            match col.map(field) {
                None | Some("") => Ok(None),
                Some(_) => number(col.expect("present"), what).map(Some),
            }
        };
        let image = field(image_col).replace('\\', "/");
        if image.is_empty() {
            return Err(DataError::decode(
                path,
                format!("line {line}: empty image column"),
            ));
        }
        let subject = match optional(subject_col, "subject")? {
            Some(s) if s >= 0.0 && s.fract() == 0.0 => s as u32,
            Some(s) => {
                return Err(DataError::decode(
                    path,
                    format!("line {line}: subject {s} is not a whole number"),
                ))
            }
            None => 0,
        };
        by_image.entry(image).or_default().push(FixationPoint {
            x: number(x_col, "x")?,
            y: number(y_col, "y")?,
            subject,
            t: optional(t_col, "t")?.map(|v| v as f32),
            duration: optional(duration_col, "duration")?.map(|v| v as f32),
        });
    }
    Ok(by_image)
}

fn csv_error(path: &Path, error: csv::Error) -> DataError {
    let text = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(e) => DataError::io(path, e),
        _ => DataError::decode(path, text),
    }
}
