//! Scoring a stream of `(stem, prediction)` pairs against a dataset split: the fixations of the
//! whole split are read first (the shuffled AUC and the centre bias need them all), then
//! predictions are decoded, their ground truth loaded and scored in parallel chunks, so memory
//! holds one chunk of maps at a time.

use std::collections::HashMap;

use anyhow::{anyhow, Context};
use rayon::prelude::*;
use salient_data::Sample;
use salient_metrics::{
    EvalOptions, Evaluator, Fixation, Fixations, ImageEval, ImageScores, Map, MetricSet,
};

use super::predictions::Prediction;

/// Predictions decoded and scored together.
const CHUNK: usize = 64;

/// A sample's fixations on its fixation map's grid.
pub struct FixationList {
    pub width: usize,
    pub height: usize,
    pub points: Vec<Fixation>,
}

/// Reads every sample's fixation map in parallel (`None` where a sample has none).
pub fn load_all_fixations(samples: &[Sample]) -> anyhow::Result<Vec<Option<FixationList>>> {
    samples
        .par_iter()
        .map(|s| -> anyhow::Result<Option<FixationList>> {
            let Some(pixels) = s.load_fixation_pixels()? else {
                return Ok(None);
            };
            Ok(Some(FixationList {
                width: pixels.width as usize,
                height: pixels.height as usize,
                points: pixels
                    .pixels
                    .into_iter()
                    .map(|(x, y)| Fixation::new(y, x))
                    .collect(),
            }))
        })
        .collect()
}

/// Everything needed to score one split.
pub struct Scorer<'a> {
    samples: &'a [Sample],
    fixations: &'a [Option<FixationList>],
    index_of: HashMap<&'a str, usize>,
    evaluator: Evaluator,
    needs_maps: bool,
}

impl<'a> Scorer<'a> {
    pub fn new(
        samples: &'a [Sample],
        fixations: &'a [Option<FixationList>],
        metrics: MetricSet,
        options: EvalOptions,
    ) -> anyhow::Result<Self> {
        let views = fixations
            .iter()
            .flatten()
            .map(|f| Fixations::new(&f.points, f.width, f.height))
            .collect::<Result<Vec<_>, _>>()?;
        let needs_maps = metrics.metrics().iter().any(|m| m.needs_saliency_map());
        Ok(Self {
            samples,
            fixations,
            index_of: samples
                .iter()
                .enumerate()
                .map(|(i, s)| (s.stem.as_str(), i))
                .collect(),
            evaluator: Evaluator::new(metrics, options, &views),
            needs_maps,
        })
    }

    /// Scores every pair the iterator yields (in chunks, each in parallel); `on_done(n)` after
    /// each chunk. The result is in the split's sample order.
    pub fn score_all(
        &self,
        predictions: impl Iterator<Item = anyhow::Result<(String, Prediction)>>,
        mut on_done: impl FnMut(usize),
    ) -> anyhow::Result<Vec<ImageScores>> {
        let mut scored: Vec<(usize, ImageScores)> = Vec::new();
        let mut predictions = predictions.peekable();
        while predictions.peek().is_some() {
            let chunk = predictions
                .by_ref()
                .take(CHUNK)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let n = chunk.len();
            let done = chunk
                .into_par_iter()
                .map(|(stem, prediction)| self.score_one(&stem, prediction))
                .collect::<anyhow::Result<Vec<_>>>()?;
            scored.extend(done);
            on_done(n);
        }
        scored.sort_by_key(|(i, _)| *i);
        Ok(scored.into_iter().map(|(_, s)| s).collect())
    }

    fn score_one(
        &self,
        stem: &str,
        prediction: Prediction,
    ) -> anyhow::Result<(usize, ImageScores)> {
        let index = *self.index_of.get(stem).ok_or_else(|| {
            anyhow!("prediction for {stem:?}, which is not a sample of this split")
        })?;
        let sample = &self.samples[index];
        let predicted = prediction.into_map()?;
        let gt = if self.needs_maps {
            Some(sample.load_map()?)
        } else {
            None
        };
        let fixations = match &self.fixations[index] {
            Some(f) => Some(Fixations::new(&f.points, f.width, f.height)?),
            None => None,
        };
        let image = ImageEval {
            name: stem,
            prediction: Map::new(&predicted.data, predicted.width, predicted.height)
                .with_context(|| format!("prediction for {stem}"))?,
            saliency: match &gt {
                Some(g) => Some(Map::new(&g.data, g.width, g.height)?),
                None => None,
            },
            fixations,
        };
        let scores =
            self.evaluator
                .score(index, &image)
                .with_context(|| match sample.map.file() {
                    Some(path) => format!("scoring {stem} (ground truth {})", path.display()),
                    None => format!("scoring {stem} (map built from its fixations)"),
                })?;
        Ok((index, scores))
    }
}
