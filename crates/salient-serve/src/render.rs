//! A predicted map to the bytes of an answer: grey PNG, overlay PNG, `.npy` or JSON.

use std::io::Cursor;

use image::{GrayImage, ImageFormat};
use npyz::WriterBuilder;
use salient_data::{MapF32, RgbImage};
use salient_train::overlay::{display_u8, overlay};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::model::ModelInfo;

/// What `POST /v1/predict` answers with (`?format=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// 8-bit grey PNG of the map, `round(255 · map)`, as `salient predict --format png` writes.
    #[default]
    Png,
    /// The JET heatmap blended over the image, `0.7 · image + 0.3 · JET(map)` (RGB PNG), as
    /// `salient predict --overlay` writes.
    Overlay,
    /// The map as float32 `H×W` in NumPy's `.npy` format, values in `[0,1]`.
    Npy,
    /// Size, min, max, mean and peak of the map, and the model's description.
    Json,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png | OutputFormat::Overlay => "image/png",
            OutputFormat::Npy => "application/octet-stream",
            OutputFormat::Json => "application/json",
        }
    }
}

/// The JSON answer (`?format=json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MapSummary {
    /// The image's (and the map's) width and height in pixels.
    pub width: usize,
    pub height: usize,
    pub min: f32,
    pub max: f32,
    pub mean: f32,
    /// The first pixel (row-major) holding the maximum: `x` = column, `y` = row, from the top left.
    pub peak: Peak,
    pub model: serde_json::Value,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Peak {
    pub x: usize,
    pub y: usize,
    pub value: f32,
}

/// The map as `format`, with `image` for the overlay and `model` for JSON.
pub fn render(
    format: OutputFormat,
    map: &MapF32,
    image: &RgbImage,
    model: &ModelInfo,
) -> Result<Vec<u8>, ApiError> {
    match format {
        OutputFormat::Png => png(&grey_rounded(map)),
        OutputFormat::Overlay => {
            let grey =
                GrayImage::from_raw(map.width as u32, map.height as u32, display_u8(&map.data))
                    .ok_or_else(|| ApiError::internal("map buffer does not match its size"))?;
            let mut out = Cursor::new(Vec::new());
            overlay(image, &grey)
                .write_to(&mut out, ImageFormat::Png)
                .map_err(|e| ApiError::internal(format!("encoding the overlay: {e}")))?;
            Ok(out.into_inner())
        }
        OutputFormat::Npy => npy(map),
        OutputFormat::Json => {
            let summary = summarize(map, model)?;
            serde_json::to_vec(&summary).map_err(|e| ApiError::internal(e.to_string()))
        }
    }
}

/// The map as 8 bits, `round(255 · clamp(map, 0, 1))` (NaN → 0).
fn grey_rounded(map: &MapF32) -> GrayImage {
    let bytes = map
        .data
        .iter()
        .map(|&v| {
            if v.is_nan() {
                0
            } else {
                (v.clamp(0.0, 1.0) * 255.0).round() as u8
            }
        })
        .collect();
    GrayImage::from_raw(map.width as u32, map.height as u32, bytes).expect("one byte per map pixel")
}

fn png(grey: &GrayImage) -> Result<Vec<u8>, ApiError> {
    let mut out = Cursor::new(Vec::new());
    grey.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| ApiError::internal(format!("encoding the map: {e}")))?;
    Ok(out.into_inner())
}

fn npy(map: &MapF32) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(128 + 4 * map.data.len());
    let fail = |e: std::io::Error| ApiError::internal(format!("writing the .npy: {e}"));
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[map.height as u64, map.width as u64])
        .writer(&mut out)
        .begin_nd()
        .map_err(fail)?;
    writer.extend(map.data.iter().copied()).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

/// Statistics of `map` for the JSON answer.
pub fn summarize(map: &MapF32, model: &ModelInfo) -> Result<MapSummary, ApiError> {
    if map.data.is_empty() || map.data.len() != map.width * map.height {
        return Err(ApiError::internal("the model returned an empty map"));
    }
    let mut peak = (0, f32::NEG_INFINITY);
    let mut min = f32::INFINITY;
    let mut sum = 0f64;
    for (i, &v) in map.data.iter().enumerate() {
        if v > peak.1 {
            peak = (i, v);
        }
        min = min.min(v);
        sum += f64::from(v);
    }
    if !(peak.1.is_finite() && min.is_finite() && sum.is_finite()) {
        return Err(ApiError::model_failed(
            "the map holds NaN or infinite values",
        ));
    }
    Ok(MapSummary {
        width: map.width,
        height: map.height,
        min,
        max: peak.1,
        mean: (sum / map.data.len() as f64) as f32,
        peak: Peak {
            x: peak.0 % map.width,
            y: peak.0 / map.width,
            value: peak.1,
        },
        model: serde_json::to_value(model).map_err(|e| ApiError::internal(e.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> MapF32 {
        MapF32 {
            width: 3,
            height: 2,
            data: vec![0.0, 0.25, 0.5, 0.75, 1.0, 0.125],
        }
    }

    #[test]
    fn json_names_the_peak_by_column_and_row() {
        let s = summarize(&map(), &ModelInfo::default()).unwrap();
        assert_eq!((s.width, s.height), (3, 2));
        assert_eq!(
            s.peak,
            Peak {
                x: 1,
                y: 1,
                value: 1.0
            }
        );
        assert_eq!((s.min, s.max), (0.0, 1.0));
        assert!((s.mean - 2.625 / 6.0).abs() < 1e-7);
    }

    #[test]
    fn nan_maps_are_refused() {
        let mut m = map();
        m.data[2] = f32::NAN;
        assert_eq!(
            summarize(&m, &ModelInfo::default()).unwrap_err().code,
            "model_failed"
        );
    }

    #[test]
    fn npy_and_png_hold_the_map() {
        let m = map();
        let bytes = render(
            OutputFormat::Npy,
            &m,
            &RgbImage::new(3, 2),
            &ModelInfo::default(),
        )
        .unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        assert_eq!(npy.into_vec::<f32>().unwrap(), m.data);
        let png = render(
            OutputFormat::Png,
            &m,
            &RgbImage::new(3, 2),
            &ModelInfo::default(),
        )
        .unwrap();
        let grey = image::load_from_memory(&png).unwrap().into_luma8();
        assert_eq!(grey.into_raw(), vec![0, 64, 128, 191, 255, 32]);
    }
}
