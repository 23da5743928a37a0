//! Turning decoded samples into network-ready planes: HWC bytes to normalised CHW `f32`.

use crate::augment::Frame;
use crate::decode::{
    decode_grey8_png_into, decode_grey_jpeg_into, decode_jpeg_rgb_into, load_rgb8,
    map_pixels_from_bytes, rgb8_from_bytes, MapPixels, RgbImage,
};
use crate::error::DataError;
use crate::ground_truth::{fixation_pixels_on, MapSource};
use crate::layout::Sample;
use crate::normalize::Normalize;
use crate::resize::resize_rgb8;

/// Writes interleaved RGB8 as normalised planar CHW into `out` (`3 * pixels` long).
pub fn write_chw(rgb: &[u8], normalize: Normalize, out: &mut [f32]) {
    let pixels = rgb.len() / 3;
    assert_eq!(
        out.len(),
        pixels * 3,
        "output must hold 3 planes of the image's pixels"
    );
    let affine = normalize.affine();
    let (r, rest) = out.split_at_mut(pixels);
    let (g, b) = rest.split_at_mut(pixels);
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        r[i] = px[0] as f32 * affine[0].0 + affine[0].1;
        g[i] = px[1] as f32 * affine[1].0 + affine[1].1;
        b[i] = px[2] as f32 * affine[2].0 + affine[2].1;
    }
}

/// Inference input: resize `image` to `(height, width)` (OpenCV `INTER_LINEAR`) and normalise it
/// into a CHW vector of `3 * height * width` floats.
pub fn prepare_image(
    image: &RgbImage,
    (height, width): (usize, usize),
    normalize: Normalize,
) -> Vec<f32> {
    let resized = resize_rgb8(image, width as u32, height as u32);
    let mut out = vec![0f32; 3 * height * width];
    write_chw(resized.as_raw(), normalize, &mut out);
    out
}

/// A decoded sample at native size, map still in its stored depth: what the loader feeds to the
/// first (resize) op of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub width: usize,
    pub height: usize,
    /// Interleaved RGB8, `height * width * 3`.
    pub rgb: Vec<u8>,
    pub map: MapPixels,
    /// `(x, y)` of each fixated pixel, when loaded.
    pub fixations: Option<Vec<(f32, f32)>>,
}

/// Reusable decode buffers (file bytes, RGB pixels), so a worker thread does not allocate and
/// page-fault a megabyte per sample.
#[derive(Debug, Default)]
pub struct DecodeBuffers {
    file: Vec<u8>,
    rgb: Vec<u8>,
    map: Vec<u8>,
}

impl DecodeBuffers {
    /// Takes the pixel buffers of a finished source back for the next decode.
    pub fn recycle(&mut self, source: Source) {
        self.rgb = source.rgb;
        if let MapPixels::U8(map) = source.map {
            self.map = map;
        }
    }
}

/// Decodes a sample for the loader: like [`load_frame`] but the map is not widened to `f32`.
pub fn load_source(sample: &Sample, with_fixations: bool) -> Result<Source, DataError> {
    load_source_with(sample, with_fixations, &mut DecodeBuffers::default())
}

/// [`load_source`] reusing `buffers` (JPEG images, grey PNG and grey JPEG maps decode straight
/// into them).
pub fn load_source_with(
    sample: &Sample,
    with_fixations: bool,
    buffers: &mut DecodeBuffers,
) -> Result<Source, DataError> {
    read_into(&sample.image, &mut buffers.file)?;
    let mut rgb = std::mem::take(&mut buffers.rgb);
    let (width, height) = match decode_jpeg_rgb_into(&sample.image, &buffers.file, &mut rgb)? {
        Some(size) => size,
        None => {
            let image = rgb8_from_bytes(&sample.image, &buffers.file)?;
            let size = (image.width() as usize, image.height() as usize);
            rgb = image.into_raw();
            size
        }
    };
    let map = match &sample.map {
        MapSource::File(path) => {
            read_into(path, &mut buffers.file)?;
            let mut grey = std::mem::take(&mut buffers.map);
            let fast = match decode_grey8_png_into(path, &buffers.file, &mut grey)? {
                Some(size) => Some(size),
                None => decode_grey_jpeg_into(path, &buffers.file, &mut grey)?,
            };
            let (map_w, map_h, map) = match fast {
                Some((w, h)) => (w, h, MapPixels::U8(grey)),
                None => {
                    buffers.map = grey;
                    map_pixels_from_bytes(path, &buffers.file)?
                }
            };
            check_size(sample, (width, height), path, (map_w, map_h))?;
            map
        }
        MapSource::FromFixations { .. } => MapPixels::F32(sample.load_map()?.data),
    };
    let fixations = if with_fixations {
        Some(load_points(sample, (width as u32, height as u32))?)
    } else {
        None
    };
    Ok(Source {
        width,
        height,
        rgb,
        map,
        fixations,
    })
}

fn read_into(path: &std::path::Path, buffer: &mut Vec<u8>) -> Result<(), DataError> {
    use std::io::Read;
    buffer.clear();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_end(buffer))
        .map_err(|e| DataError::io(path, e))?;
    Ok(())
}

/// A map or fixation file must have its image's size.
fn check_size(
    sample: &Sample,
    (width, height): (usize, usize),
    other: &std::path::Path,
    (other_w, other_h): (usize, usize),
) -> Result<(), DataError> {
    if (other_w, other_h) != (width, height) {
        return Err(DataError::SizeMismatch {
            image: sample.image.clone(),
            image_size: (width as u32, height as u32),
            other: other.to_path_buf(),
            other_size: (other_w as u32, other_h as u32),
        });
    }
    Ok(())
}

/// The sample's fixated pixels as pixel-centre `(x, y)` points for the augmentation ops.
fn load_points(sample: &Sample, (width, height): (u32, u32)) -> Result<Vec<(f32, f32)>, DataError> {
    let source = sample
        .fixations
        .as_ref()
        .ok_or_else(|| DataError::MissingFixations {
            image: sample.image.clone(),
        })?;
    let pixels = fixation_pixels_on(&sample.image, source, (width, height))?;
    Ok(pixels
        .into_iter()
        .map(|(x, y)| (x as f32, y as f32))
        .collect())
}

/// Decodes a sample at its native size: image, map (checked to match the image's size) and,
/// when `with_fixations`, its fixation points (also size-checked).
pub fn load_frame(sample: &Sample, with_fixations: bool) -> Result<Frame, DataError> {
    let image = load_rgb8(&sample.image)?;
    let (width, height) = image.dimensions();
    let map = sample.load_map()?;
    if let Some(path) = sample.map.file() {
        check_size(
            sample,
            (width as usize, height as usize),
            path,
            (map.width, map.height),
        )?;
    }
    let fixations = if with_fixations {
        Some(load_points(sample, (width, height))?)
    } else {
        None
    };
    Ok(Frame {
        width: width as usize,
        height: height as usize,
        rgb: image.into_raw(),
        map: map.data,
        fixations,
    })
}
