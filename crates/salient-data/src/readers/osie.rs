//! OSIE (Xu et al., JoV 2014) as its authors ship it: `stimuli/<id>.jpg` and `fixations.mat`, a
//! 700x1 cell with one struct per image: `img` (the file name) and `subjects`, a 1x15 cell of
//! structs with `fix_x`, `fix_y` (pixels) and `fix_duration` (ms).
//!
//! Coordinates are taken as stored, as pysaliency's `get_OSIE` does; subjects are numbered from 1
//! in the cell's order.

use std::collections::HashMap;
use std::path::Path;

use crate::error::DataError;
use crate::ground_truth::FixationPoint;
use crate::mat;

/// Every image's fixations, by the file name the `.mat` gives (`1001.jpg`).
pub fn read_fixations(path: &Path) -> Result<HashMap<String, Vec<FixationPoint>>, DataError> {
    let file = mat::load(path)?;
    let cells = mat::variable(path, &file, "fixations")?;
    let mut by_image = HashMap::new();
    for (i, cell) in mat::elements(path, cells, "fixations")?
        .into_iter()
        .enumerate()
    {
        let what = format!("fixations{{{}}}", i + 1);
        let name = mat::text(
            path,
            mat::field(path, cell, "img", &what)?,
            &format!("{what}.img"),
        )?;
        let subjects = mat::field(path, cell, "subjects", &what)?;
        let mut points = Vec::new();
        for (s, subject) in mat::elements(path, subjects, &format!("{what}.subjects"))?
            .into_iter()
            .enumerate()
        {
            let who = format!("{what}.subjects{{{}}}", s + 1);
            let (xs, _) = mat::numbers(path, mat::field(path, subject, "fix_x", &who)?, &who)?;
            let (ys, _) = mat::numbers(path, mat::field(path, subject, "fix_y", &who)?, &who)?;
            let durations = match mat::field(path, subject, "fix_duration", &who) {
                Ok(d) => Some(mat::numbers(path, d, &who)?.0),
                Err(_) => None,
            };
            if xs.len() != ys.len() || durations.as_ref().is_some_and(|d| d.len() != xs.len()) {
                return Err(DataError::decode(
                    path,
                    format!("{who}: fix_x, fix_y and fix_duration differ in length"),
                ));
            }
            for (k, (&x, &y)) in xs.iter().zip(&ys).enumerate() {
                if !(x.is_finite() && y.is_finite()) {
                    return Err(DataError::decode(
                        path,
                        format!("{who}: fixation {} has a non-finite coordinate", k + 1),
                    ));
                }
                points.push(FixationPoint {
                    x,
                    y,
                    subject: s as u32 + 1,
                    t: None,
                    duration: durations.as_ref().map(|d| d[k] as f32),
                });
            }
        }
        if by_image.insert(name.clone(), points).is_some() {
            return Err(DataError::decode(
                path,
                format!("{what}: image {name} appears twice"),
            ));
        }
    }
    Ok(by_image)
}
