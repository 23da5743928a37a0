//! Decoding images, saliency maps and fixation maps from disk into the crate's in-memory forms.
//!
//! Every colour model the datasets ship (grey, grey+alpha, RGB, RGBA, CMYK/YCCK JPEG, 8- and 16-bit
//! PNG) is brought to RGB8 for images and to `f32` in `[0, 1]` for maps. JPEG goes through
//! libjpeg-turbo ([`crate::jpeg`]), so pixels equal PIL's and OpenCV's; other formats through the
//! `image` crate (built without its JPEG decoder). A JPEG without its end marker is reported as
//! truncated instead of being decoded into a half-grey picture.

use std::path::Path;

pub use image::RgbImage;
use image::{DynamicImage, GrayImage, ImageFormat};

use crate::error::DataError;
use crate::jpeg::{self, Layout, Stored};

/// A single-channel `f32` raster, row-major, values in `[0, 1]` for maps.
#[derive(Debug, Clone, PartialEq)]
pub struct MapF32 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl MapF32 {
    /// A zero-filled raster.
    pub fn zeros(width: usize, height: usize) -> Self {
        MapF32 {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }
}

/// A binary fixation raster: `data[y * width + x]` is 1 where someone fixated, else 0.
#[derive(Debug, Clone, PartialEq)]
pub struct FixationMap {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl FixationMap {
    /// The fixated pixels as `(y, x)`, in row-major order.
    pub fn points(&self) -> Vec<(u32, u32)> {
        self.data
            .iter()
            .enumerate()
            .filter(|(_, &v)| v != 0)
            .map(|(i, _)| ((i / self.width) as u32, (i % self.width) as u32))
            .collect()
    }

    /// How many pixels are fixated.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }
}

/// Reads the file and decodes it, refusing truncated JPEGs.
pub(crate) fn decode_file(path: &Path) -> Result<(DynamicImage, ImageFormat), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_bytes(path, &bytes)
}

/// Decodes an in-memory file; `path` only names it in errors.
pub(crate) fn decode_bytes(
    path: &Path,
    bytes: &[u8],
) -> Result<(DynamicImage, ImageFormat), DataError> {
    if bytes.is_empty() {
        return Err(DataError::decode(path, "file is empty"));
    }
    let format = image::guess_format(bytes)
        .or_else(|_| ImageFormat::from_path(path))
        .map_err(|_| DataError::decode(path, "not a recognised image format"))?;
    if format == ImageFormat::Jpeg {
        return Ok((decode_jpeg(path, bytes)?, format));
    }
    let image = image::load_from_memory_with_format(bytes, format)
        .map_err(|e| DataError::decode(path, e))?;
    if image.width() == 0 || image.height() == 0 {
        return Err(DataError::decode(path, "image has zero width or height"));
    }
    Ok((image, format))
}

/// A JPEG as grey (grey files) or RGB (colour, and CMYK converted as `cv2.imread` does).
fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<DynamicImage, DataError> {
    let mut pixels = Vec::new();
    let decoded = jpeg::decode_into(path, bytes, &mut pixels, |stored| {
        Some(match stored {
            Stored::Grey => Layout::Grey,
            Stored::Colour => Layout::Rgb,
            Stored::Cmyk => Layout::Cmyk,
        })
    })?;
    let (header, layout) = decoded.expect("every stored model has a layout");
    let (width, height) = (header.width as u32, header.height as u32);
    let mismatch = || DataError::decode(path, "JPEG size does not fit its pixels");
    Ok(match layout {
        Layout::Grey => DynamicImage::ImageLuma8(
            GrayImage::from_raw(width, height, pixels).ok_or_else(mismatch)?,
        ),
        Layout::Cmyk | Layout::Rgb => {
            if layout == Layout::Cmyk {
                jpeg::cmyk_to_rgb_in_place(&mut pixels);
            }
            DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, pixels).ok_or_else(mismatch)?)
        }
    })
}

/// Decodes any JPEG (colour, grey, CMYK) straight into `out` as RGB8, reusing its allocation: the
/// loader's hot path. Returns `Ok(None)` for other formats, which [`rgb8_from_bytes`] handles.
pub(crate) fn decode_jpeg_rgb_into(
    path: &Path,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<Option<(usize, usize)>, DataError> {
    if !jpeg::is_jpeg(bytes) {
        return Ok(None);
    }
    jpeg::decode_rgb_into(path, bytes, out).map(Some)
}

/// Decodes a grey JPEG (how MIT1003 and CAT2000 store saliency maps) straight into `out`, reusing
/// its allocation. Returns `Ok(None)` for colour JPEGs and other formats, which
/// [`map_pixels_from_bytes`] handles.
pub(crate) fn decode_grey_jpeg_into(
    path: &Path,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<Option<(usize, usize)>, DataError> {
    if !jpeg::is_jpeg(bytes) {
        return Ok(None);
    }
    let decoded = jpeg::decode_into(path, bytes, out, |stored| {
        (stored == Stored::Grey).then_some(Layout::Grey)
    })?;
    Ok(decoded.map(|(header, _)| (header.width, header.height)))
}

/// Decodes an 8-bit greyscale PNG (how saliency maps are stored) straight into `out`, reusing
/// its allocation: the loader's hot path for maps. Returns `Ok(None)` for anything else (other
/// colour types or depths, palettes, not PNG), which [`load_map_pixels`] handles.
pub(crate) fn decode_grey8_png_into(
    path: &Path,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<Option<(usize, usize)>, DataError> {
    if image::guess_format(bytes).ok() != Some(ImageFormat::Png) {
        return Ok(None);
    }
    let fail = |e: png::DecodingError| DataError::decode(path, e);
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(fail)?;
    let info = reader.info();
    let plain_grey = info.color_type == png::ColorType::Grayscale
        && info.bit_depth == png::BitDepth::Eight
        && info.trns.is_none();
    let (width, height) = (info.width as usize, info.height as usize);
    if !plain_grey {
        return Ok(None);
    }
    if width == 0 || height == 0 {
        return Err(DataError::decode(path, "image has zero width or height"));
    }
    let size = reader
        .output_buffer_size()
        .filter(|&size| size == width * height)
        .ok_or_else(|| DataError::decode(path, "unexpected PNG geometry"))?;
    out.resize(size, 0);
    reader.next_frame(out).map_err(fail)?;
    Ok(Some((width, height)))
}

/// JPEG headers are read from this many leading bytes (more only when EXIF or ICC segments push
/// the frame header further), so discovering a dataset does not read every image whole.
const JPEG_HEADER_PREFIX: u64 = 64 * 1024;

/// Reads only the header to learn `(width, height)`.
pub fn image_size(path: &Path) -> Result<(u32, u32), DataError> {
    use std::io::Read;
    let io = |e| DataError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::new();
    (&mut file)
        .take(JPEG_HEADER_PREFIX)
        .read_to_end(&mut head)
        .map_err(io)?;
    // A `.jpg` that is not JPEG inside goes to libjpeg too, for its "not a JPEG file" message.
    let named_jpeg = image::guess_format(&head).is_err()
        && ImageFormat::from_path(path).ok() == Some(ImageFormat::Jpeg);
    if jpeg::is_jpeg(&head) || named_jpeg {
        let header = match jpeg::read_header(path, &head) {
            Ok(header) => header,
            Err(_) if head.len() as u64 == JPEG_HEADER_PREFIX => {
                file.read_to_end(&mut head).map_err(io)?;
                jpeg::read_header(path, &head)?
            }
            Err(e) => return Err(e),
        };
        return Ok((header.width as u32, header.height as u32));
    }
    image::ImageReader::open(path)
        .map_err(io)?
        .with_guessed_format()
        .map_err(io)?
        .into_dimensions()
        .map_err(|e| DataError::decode(path, e))
}

/// Decodes any supported image to RGB8 (grey is replicated, alpha dropped, 16 bits rounded to 8,
/// CMYK JPEG converted as `cv2.imread` converts it). JPEG pixels equal libjpeg-turbo's (PIL's).
pub fn load_rgb8(path: &Path) -> Result<RgbImage, DataError> {
    let (image, _) = decode_file(path)?;
    Ok(match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// Decodes any supported image file already in memory to RGB8 (see [`load_rgb8`]).
pub fn rgb8_from_bytes(path: &Path, bytes: &[u8]) -> Result<RgbImage, DataError> {
    let (image, _) = decode_bytes(path, bytes)?;
    Ok(match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// Decodes a saliency map to one `f32` channel in `[0, 1]` (8-bit / 255, 16-bit / 65535; colour
/// maps are turned grey with OpenCV's BGR2GRAY weights, as the seed did).
pub fn load_map(path: &Path) -> Result<MapF32, DataError> {
    let (image, _) = decode_file(path)?;
    Ok(grey_f32(image))
}

/// A decoded map kept in its stored depth: 8-bit grey stays bytes (resized straight to `f32`
/// later), anything else becomes `f32` in `[0, 1]` now.
#[derive(Debug, Clone, PartialEq)]
pub enum MapPixels {
    /// 0..=255, to be divided by 255.
    U8(Vec<u8>),
    /// Already in `[0, 1]`.
    F32(Vec<f32>),
}

/// Decodes a map without widening 8-bit grey to floats: `(width, height, pixels)`.
pub fn load_map_pixels(path: &Path) -> Result<(usize, usize, MapPixels), DataError> {
    let (image, _) = decode_file(path)?;
    Ok(map_pixels(image))
}

/// [`load_map_pixels`] for a file already in memory.
pub(crate) fn map_pixels_from_bytes(
    path: &Path,
    bytes: &[u8],
) -> Result<(usize, usize, MapPixels), DataError> {
    let (image, _) = decode_bytes(path, bytes)?;
    Ok(map_pixels(image))
}

fn map_pixels(image: DynamicImage) -> (usize, usize, MapPixels) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    match image {
        DynamicImage::ImageLuma8(g) => (width, height, MapPixels::U8(g.into_raw())),
        other => (width, height, MapPixels::F32(grey_f32(other).data)),
    }
}

fn grey_f32(image: DynamicImage) -> MapF32 {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let data: Vec<f32> = match image {
        DynamicImage::ImageLuma8(g) => g.into_raw().into_iter().map(|v| v as f32 / 255.0).collect(),
        DynamicImage::ImageLumaA8(g) => g
            .into_raw()
            .chunks_exact(2)
            .map(|p| p[0] as f32 / 255.0)
            .collect(),
        DynamicImage::ImageLuma16(g) => g
            .into_raw()
            .into_iter()
            .map(|v| v as f32 / 65535.0)
            .collect(),
        DynamicImage::ImageLumaA16(g) => g
            .into_raw()
            .chunks_exact(2)
            .map(|p| p[0] as f32 / 65535.0)
            .collect(),
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgba16(_) => {
            let rgb = image.to_rgb16();
            rgb.into_raw()
                .chunks_exact(3)
                .map(|p| luma(p[0] as f32, p[1] as f32, p[2] as f32) / 65535.0)
                .collect()
        }
        other => {
            let rgb = match other {
                DynamicImage::ImageRgb8(rgb) => rgb,
                o => o.to_rgb8(),
            };
            rgb.into_raw()
                .chunks_exact(3)
                .map(|p| luma(p[0] as f32, p[1] as f32, p[2] as f32) / 255.0)
                .collect()
        }
    };
    MapF32 {
        width,
        height,
        data: data.into_iter().map(|v| v.clamp(0.0, 1.0)).collect(),
    }
}

fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Decodes a fixation map: a pixel is a fixation when non-zero. JPEG fixation maps are lossy, so
/// for them a pixel counts only at half intensity or more (ringing around points is not a fixation).
pub fn load_fixations(path: &Path) -> Result<FixationMap, DataError> {
    let (image, format) = decode_file(path)?;
    let map = grey_f32(image);
    let threshold = if format == ImageFormat::Jpeg {
        0.5
    } else {
        0.0
    };
    let data = map.data.iter().map(|&v| u8::from(v > threshold)).collect();
    Ok(FixationMap {
        width: map.width,
        height: map.height,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(image: DynamicImage) -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, ImageFormat::Png).unwrap();
        bytes.into_inner()
    }

    /// The loader's grey PNG path gives the `image` crate's pixels, declines other PNGs, and
    /// refuses a truncated file.
    #[test]
    fn grey_png_fast_path_matches_image_crate() {
        let path = Path::new("map.png");
        let grey = image::GrayImage::from_fn(37, 23, |x, y| image::Luma([(x * 7 + y * 11) as u8]));
        let bytes = png_bytes(DynamicImage::ImageLuma8(grey.clone()));
        let mut out = vec![9u8; 5];
        let size = decode_grey8_png_into(path, &bytes, &mut out).unwrap();
        assert_eq!(size, Some((37, 23)));
        assert_eq!(out, grey.into_raw());

        let rgb = png_bytes(DynamicImage::ImageRgb8(image::RgbImage::new(4, 4)));
        assert_eq!(decode_grey8_png_into(path, &rgb, &mut out).unwrap(), None);
        let deep = png_bytes(DynamicImage::ImageLuma16(image::ImageBuffer::new(4, 4)));
        assert_eq!(decode_grey8_png_into(path, &deep, &mut out).unwrap(), None);

        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(
            decode_grey8_png_into(path, cut, &mut out),
            Err(DataError::Decode { .. })
        ));
    }
}
