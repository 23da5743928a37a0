//! The fast AUC-Judd and shuffled AUC against a literal transcription of pysaliency's
//! `roc.general_roc` (sort everything, walk the thresholds), on maps full of ties.

use salient_metrics::{auc_judd, shuffled_auc, Fixation, Fixations, Map};

/// pysaliency `general_roc(positives, negatives, judd)`, line for line.
fn general_roc(positives: &[f64], negatives: &[f64], judd: bool) -> f64 {
    let desc = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| b.total_cmp(a));
        v
    };
    let (sp, sn) = (desc(positives), desc(negatives));
    let all_values = if judd {
        let min_val = sp[sp.len() - 1].min(sn[sn.len() - 1]);
        let max_val = sp[0].max(sn[0]) + 1.0;
        let mut v = vec![max_val, min_val];
        v.extend_from_slice(positives);
        desc(&v)
    } else {
        let mut v = positives.to_vec();
        v.extend_from_slice(negatives);
        desc(&v)
    };
    let mut fpr = vec![0.0; all_values.len() + 1];
    let mut tpr = vec![0.0; all_values.len() + 1];
    let (mut tp, mut fp) = (0, 0);
    for (i, &theta) in all_values.iter().enumerate() {
        while tp < sp.len() && sp[tp] >= theta {
            tp += 1;
        }
        while fp < sn.len() && sn[fp] >= theta {
            fp += 1;
        }
        fpr[i + 1] = fp as f64 / sn.len() as f64;
        tpr[i + 1] = tp as f64 / sp.len() as f64;
    }
    (1..fpr.len())
        .map(|i| (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2.0)
        .sum()
}

fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

#[test]
fn fast_aucs_equal_the_literal_roc_on_tied_maps() {
    let (w, h) = (23, 17);
    let mut state = 12345u64;
    for trial in 0..40 {
        let levels = [2, 3, 5, 17, 1000][trial % 5];
        let pred: Vec<f32> = (0..w * h)
            .map(|_| (lcg(&mut state) % levels) as f32 / levels as f32)
            .collect();
        let n_fix = 1 + (lcg(&mut state) % 60) as usize;
        let fix: Vec<Fixation> = (0..n_fix)
            .map(|_| {
                Fixation::new(
                    (lcg(&mut state) % h as u64) as u32,
                    (lcg(&mut state) % w as u64) as u32,
                )
            })
            .collect();
        let positives: Vec<f64> = fix
            .iter()
            .map(|f| pred[f.y as usize * w + f.x as usize] as f64)
            .collect();
        let mut fixated = vec![false; w * h];
        for f in &fix {
            fixated[f.y as usize * w + f.x as usize] = true;
        }
        let unfixated: Vec<f64> = (0..w * h)
            .filter(|&i| !fixated[i])
            .map(|i| pred[i] as f64)
            .collect();
        let map = Map::new(&pred, w, h).unwrap();
        let fixations = Fixations::new(&fix, w, h).unwrap();
        let judd = auc_judd(map, fixations).unwrap();
        let want = general_roc(&positives, &unfixated, true);
        assert!(
            (judd - want).abs() < 1e-12,
            "trial {trial}: judd {judd} vs {want}"
        );

        let negs: Vec<Fixation> = (0..200)
            .map(|_| {
                Fixation::new(
                    (lcg(&mut state) % h as u64) as u32,
                    (lcg(&mut state) % w as u64) as u32,
                )
            })
            .collect();
        let neg_values: Vec<f64> = negs
            .iter()
            .map(|f| pred[f.y as usize * w + f.x as usize] as f64)
            .collect();
        let sauc = shuffled_auc(map, fixations, &negs).unwrap();
        let want = general_roc(&positives, &neg_values, false);
        assert!(
            (sauc - want).abs() < 1e-12,
            "trial {trial}: sauc {sauc} vs {want}"
        );
    }
}
