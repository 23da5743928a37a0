//! `loss.png` and `metrics.png` from the run's records (plotters, bitmap backend).
//!
//! plotters draws text with a TrueType font it must be given (its `ab_glyph` backend has no built-in
//! font and the project bundles none). The first call looks for a common system font (DejaVu,
//! Liberation, Noto, ...); without one, the plots are drawn without text (axes, grid and coloured
//! series only) rather than failing: `metrics.jsonl` holds the numbers either way.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::TrainError;
use crate::metrics_log::Record;

/// Fonts tried in order; the first readable one labels the plots.
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system font with plotters once; true when text can be drawn.
pub fn text_available() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        FONT_CANDIDATES.iter().any(|path| {
            let Ok(bytes) = std::fs::read(path) else {
                return false;
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// One named line.
struct Series {
    name: &'static str,
    colour: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Draws `loss.png` (training loss per step window, validation loss per epoch, against steps) and
/// `metrics.png` (validation metrics per epoch) from `records`.
pub fn draw_plots(
    records: &[Record],
    loss_png: &Path,
    metrics_png: &Path,
) -> Result<(), TrainError> {
    let mut train = Vec::new();
    let mut val_loss = Vec::new();
    let metric_names: [(&'static str, RGBColor); 5] = [
        ("cc", RGBColor(31, 119, 180)),
        ("sim", RGBColor(44, 160, 44)),
        ("auc_judd", RGBColor(148, 103, 189)),
        ("kld", RGBColor(214, 39, 40)),
        ("nss", RGBColor(255, 127, 14)),
    ];
    let mut metrics: Vec<Vec<(f64, f64)>> = vec![Vec::new(); metric_names.len()];
    for record in records {
        match record {
            Record::Step { step, loss, .. } => train.push((*step as f64, *loss)),
            Record::Epoch {
                epoch,
                step,
                val_loss: v,
                val,
                ..
            } => {
                if let Some(v) = v {
                    val_loss.push((*step as f64, *v));
                }
                for (i, (name, _)) in metric_names.iter().enumerate() {
                    if let Some(value) = val.get(*name) {
                        metrics[i].push((*epoch as f64, *value));
                    }
                }
            }
        }
    }
    draw_chart(
        loss_png,
        "loss vs step",
        &[
            Series {
                name: "train",
                colour: RGBColor(31, 119, 180),
                points: train,
            },
            Series {
                name: "val",
                colour: RGBColor(214, 39, 40),
                points: val_loss,
            },
        ],
    )?;
    let series: Vec<Series> = metric_names
        .iter()
        .zip(metrics)
        .map(|((name, colour), points)| Series {
            name,
            colour: *colour,
            points,
        })
        .collect();
    draw_chart(metrics_png, "validation metrics vs epoch", &series)
}

/// Draws the chart into a temporary PNG beside `path` and renames it over `path` (see
/// `salient_model::atomic`): a reader never sees half a plot.
fn draw_chart(path: &Path, title: &str, series: &[Series]) -> Result<(), TrainError> {
    salient_model::atomic::write_atomic_with(path, |tmp| {
        render(tmp, title, series).map_err(std::io::Error::other)
    })
    .map_err(|e| TrainError::Plot {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })
}

fn render(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let text = text_available();
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let (y0, y1) = (y0 - pad, y1 + pad);

    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(36)
            .y_label_area_size(64);
    }
    let mut chart = builder
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?;
    chart.configure_mesh().draw().map_err(|e| err(&e))?;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let colour = s.colour;
        let drawn = chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
        if text {
            drawn.label(s.name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        }
        if s.points.len() < 30 {
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(|e| err(&e))?;
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn draws_both_plots() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = Vec::new();
        for step in 1..=20u64 {
            records.push(Record::Step {
                epoch: 1,
                step,
                loss: 1.0 / step as f64,
                lr: 1e-3,
                images_per_s: 2.0,
            });
        }
        let mut val = BTreeMap::new();
        val.insert("cc".to_string(), 0.5);
        val.insert("kld".to_string(), 1.5);
        records.push(Record::Epoch {
            epoch: 1,
            step: 20,
            train_loss: 0.2,
            val_loss: Some(0.25),
            val,
            lr: 1e-3,
            images_per_s: 2.0,
            seconds: 3.0,
            best: true,
        });
        let (a, b) = (dir.path().join("loss.png"), dir.path().join("metrics.png"));
        draw_plots(&records, &a, &b).unwrap();
        for p in [&a, &b] {
            let bytes = std::fs::read(p).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", p.display());
        }
        // Empty logs still give (blank) plots, not an error.
        draw_plots(&[], &a, &b).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
