//! Request bytes to an RGB image, refusing bad input with a precise [`ApiError`]: an empty body, a
//! format the server does not read, an unreadable or truncated file, a zero-sized image, and one
//! whose header claims more than the pixel limit (refused before any pixel is decoded, so a small
//! file announcing 100000 × 100000 pixels cannot make the server allocate 30 GB).

use std::io::Cursor;
use std::path::Path;

use axum::http::StatusCode;
use image::{ImageError, ImageFormat, ImageReader, Limits};
use salient_data::RgbImage;

use crate::error::ApiError;

/// Formats the server decodes (the `image` crate features of the workspace).
pub const ACCEPTED: &str = "JPEG, PNG, BMP, TIFF or WebP";

/// What the header says, read without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Recognises the format from the first bytes and reads the dimensions from the header, then
/// applies the size rules: non-zero, at most `max_pixels` pixels. A JPEG without its end-of-image
/// marker is refused as truncated here (JPEG decoders otherwise fill the missing rows with grey
/// and say nothing).
pub fn read_header(bytes: &[u8], max_pixels: u64) -> Result<Header, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            format!("the request body is empty: send the image file ({ACCEPTED}) as the body or as a multipart form field"),
        ));
    }
    // JPEG is decoded by libjpeg-turbo through salient-data (the `image` crate is built without
    // its JPEG codec), so that the server's pixels equal `salient predict`'s and PIL's.
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| f.reading_enabled() || *f == ImageFormat::Jpeg)
        .ok_or_else(|| not_an_image(bytes))?;
    if format == ImageFormat::Jpeg && !has_jpeg_end_marker(bytes) {
        return Err(ApiError::bad_request(
            "truncated_image",
            "the JPEG is truncated (no end-of-image marker)",
        ));
    }
    let (width, height) = if format == ImageFormat::Jpeg {
        let header = salient_data::jpeg::read_header(Path::new("the request body"), bytes)
            .map_err(|e| {
                ApiError::bad_request(
                    "corrupt_image",
                    format!("the Jpeg file is corrupt: its header cannot be read ({e})"),
                )
            })?;
        (header.width as u32, header.height as u32)
    } else {
        ImageReader::with_format(Cursor::new(bytes), format)
            .into_dimensions()
            .map_err(|e| decode_error(format, "its header cannot be read", e))?
    };
    if width == 0 || height == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_image",
            format!("the {format:?} image has zero size ({width}x{height})"),
        ));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_too_large",
            format!(
                "the {format:?} image is {width}x{height} = {pixels} pixels, over the limit of {max_pixels} (server flag --max-pixels)"
            ),
        ));
    }
    Ok(Header {
        format,
        width,
        height,
    })
}

/// [`read_header`], then decodes to RGB8 (grey replicated, alpha dropped, 16 bits to 8); the
/// decoder may not allocate beyond what the header announced.
pub fn decode_image(bytes: &[u8], max_pixels: u64) -> Result<RgbImage, ApiError> {
    let header = read_header(bytes, max_pixels)?;
    if header.format == ImageFormat::Jpeg {
        let decoded = std::panic::catch_unwind(|| {
            salient_data::decode::rgb8_from_bytes(Path::new("the request body"), bytes)
        })
        .map_err(|_| {
            ApiError::bad_request("corrupt_image", "the Jpeg decoder failed on this file")
        })?;
        return decoded.map_err(|e| {
            ApiError::bad_request("corrupt_image", format!("the Jpeg file is corrupt: {e}"))
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), header.format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(header.width);
    limits.max_image_height = Some(header.height);
    // 16-bit RGBA plus the decoder's own buffers.
    limits.max_alloc =
        Some((u64::from(header.width) * u64::from(header.height) * 8).saturating_add(64 << 20));
    reader.limits(limits);
    // Decoders are a large attack surface: a panic in one must fail this request only.
    let decoded = std::panic::catch_unwind(move || reader.decode()).map_err(|_| {
        ApiError::bad_request(
            "corrupt_image",
            format!("the {:?} decoder failed on this file", header.format),
        )
    })?;
    let image = decoded.map_err(|e| decode_error(header.format, "it cannot be decoded", e))?;
    if (image.width(), image.height()) != (header.width, header.height) {
        return Err(ApiError::bad_request(
            "corrupt_image",
            format!(
                "the {:?} header says {}x{} but the pixels are {}x{}",
                header.format,
                header.width,
                header.height,
                image.width(),
                image.height()
            ),
        ));
    }
    Ok(image.into_rgb8())
}

fn not_an_image(bytes: &[u8]) -> ApiError {
    let head: String = bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not_an_image",
        format!(
            "the body is not an image the server reads ({ACCEPTED}); it starts with bytes {head}"
        ),
    )
}

fn decode_error(format: ImageFormat, what: &str, e: ImageError) -> ApiError {
    match e {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ApiError::bad_request(
                "truncated_image",
                format!("the {format:?} file is truncated: {what} ({io})"),
            )
        }
        ImageError::Limits(l) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_too_large",
            format!("the {format:?} image needs more memory than its size allows: {l}"),
        ),
        ImageError::Unsupported(u) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image",
            format!("this {format:?} variant is not supported: {u}"),
        ),
        other => ApiError::bad_request(
            "corrupt_image",
            format!("the {format:?} file is corrupt: {what} ({other})"),
        ),
    }
}

/// In entropy-coded JPEG data a 0xFF byte is always followed by 0x00 or a restart marker, so
/// 0xFF 0xD9 near the end can only be the end-of-image marker (trailing padding is tolerated).
fn has_jpeg_end_marker(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(256)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageBuffer, Rgb};

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let img = ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        });
        if format == ImageFormat::Jpeg {
            return salient_data::jpeg::encode(img.as_raw(), width, height, 3, 90).unwrap();
        }
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img)
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    /// A PNG whose IHDR claims `width × height` (CRC fixed), with no pixel data.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = encoded(4, 4, ImageFormat::Png);
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn decodes_each_accepted_format_at_its_size() {
        for format in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::WebP,
        ] {
            let img = decode_image(&encoded(37, 21, format), 1 << 20)
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(img.dimensions(), (37, 21), "{format:?}");
        }
    }

    #[test]
    fn refuses_bad_input_with_the_right_code() {
        let code = |bytes: &[u8]| decode_image(bytes, 1 << 20).unwrap_err();
        assert_eq!(code(b"").code, "empty_body");
        let e = code(b"hello, this is text");
        assert_eq!((e.status.as_u16(), e.code), (415, "not_an_image"));
        let jpeg = encoded(40, 30, ImageFormat::Jpeg);
        let e = code(&jpeg[..jpeg.len() / 2]);
        assert_eq!((e.status.as_u16(), e.code), (400, "truncated_image"), "{e}");
        let png = encoded(40, 30, ImageFormat::Png);
        let e = code(&png[..png.len() - 30]);
        assert_eq!(e.status.as_u16(), 400, "{e}");
        let e = code(&png_claiming(0, 30));
        assert_eq!(e.status.as_u16() / 100, 4, "{e}");
    }

    /// The header alone decides: 100000 × 100000 is refused without allocating it.
    #[test]
    fn absurd_dimensions_are_refused_from_the_header() {
        let e = read_header(&png_claiming(100_000, 100_000), 40_000_000).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "image_too_large"), "{e}");
        assert!(e.message.contains("100000x100000"), "{e}");
        // Just at the limit passes the header check.
        let h = read_header(&png_claiming(1000, 1000), 1_000_000).unwrap();
        assert_eq!((h.width, h.height), (1000, 1000));
        let e = read_header(&png_claiming(1000, 1001), 1_000_000).unwrap_err();
        assert_eq!(e.code, "image_too_large");
    }
}
