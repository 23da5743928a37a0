//! Per-image validation scores through salient-metrics (the one place this crate calls it).

use salient_metrics::{auc_judd, cc, fixations_from_binary_map, kld, nss, sim, Fixations, Map};

use crate::error::TrainError;

/// CC, KLD, SIM against the map and, with a fixation map, NSS and AUC-Judd. A metric undefined for
/// the image (no fixations) is left out; a NaN in the prediction is an error naming the pixel.
pub fn score_image(
    pred: &[f32],
    map: &[f32],
    fixations: Option<&[f32]>,
    width: usize,
    height: usize,
) -> Result<Vec<(&'static str, f64)>, TrainError> {
    let err = |e: salient_metrics::MetricError| TrainError::Metrics(e.to_string());
    let p = Map::new(pred, width, height).map_err(err)?;
    let g = Map::new(map, width, height).map_err(err)?;
    let mut scores = vec![
        ("cc", cc(p, g).map_err(err)?),
        ("kld", kld(p, g).map_err(err)?),
        ("sim", sim(p, g).map_err(err)?),
    ];
    if let Some(fix) = fixations {
        let points = fixations_from_binary_map(fix, width);
        let f = Fixations::new(&points, width, height).map_err(err)?;
        for (name, value) in [("nss", nss(p, f)), ("auc_judd", auc_judd(p, f))] {
            match value {
                Ok(v) => scores.push((name, v)),
                Err(e) if e.is_undefined_here() => {}
                Err(e) => return Err(err(e)),
            }
        }
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_prediction_scores_perfectly() {
        let map: Vec<f32> = (0..16).map(|i| (i % 5) as f32 / 4.0).collect();
        let fix: Vec<f32> = (0..16)
            .map(|i| if i % 5 == 4 { 1.0 } else { 0.0 })
            .collect();
        let scores = score_image(&map, &map, Some(&fix), 4, 4).unwrap();
        let get = |k: &str| scores.iter().find(|(n, _)| *n == k).unwrap().1;
        assert!((get("cc") - 1.0).abs() < 1e-9);
        assert!(get("kld").abs() < 1e-6);
        assert!((get("sim") - 1.0).abs() < 1e-6);
        assert!(get("nss") > 1.0 && get("auc_judd") > 0.9);
        let none = vec![0.0; 16];
        let scores = score_image(&map, &map, Some(&none), 4, 4).unwrap();
        assert_eq!(
            scores.len(),
            3,
            "no fixations: NSS and AUC-Judd are left out"
        );
    }
}
