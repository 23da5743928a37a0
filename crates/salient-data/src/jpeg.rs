//! JPEG decoding with libjpeg-turbo, the library PIL, OpenCV (`cv2.imread`) and MATLAB decode JPEG
//! with, through its TurboJPEG 3 API (the `turbojpeg` crate's raw `turbojpeg-sys` bindings).
//!
//! libjpeg-turbo's defaults are theirs: the accurate integer inverse DCT (`JDCT_ISLOW`) and smooth
//! ("fancy") chroma upsampling, so the pixels equal PIL's byte for byte (`tests/jpeg_libjpeg.rs`
//! checks baseline 4:2:0 / 4:2:2 / 4:4:4, progressive, restart markers, grey and CMYK files against
//! PIL's decode). No DCT scaling: images are decoded at full size, as the seed did before resizing.
//!
//! Why the raw API and not `turbojpeg::Decompressor`: libjpeg reports recoverable damage (stray
//! bytes before a marker, an entropy segment cut short before the next marker) as *warnings* after
//! which it still decodes the whole picture; PIL ignores them and OpenCV prints them, and both use
//! the pixels. The safe wrapper turns every warning into an error and cannot tell a warning from a
//! failure, so it would refuse files both originals read. Here a file with warnings decodes as it
//! does in PIL, and one whose decoding failed is refused (see [`Decompressor::run`]).

use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::c_int;
use std::path::Path;

use turbojpeg::raw;

use crate::error::DataError;

/// The colour model a JPEG file stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// One channel.
    Grey,
    /// YCbCr or RGB: decodes to RGB.
    Colour,
    /// CMYK or YCCK (Adobe): decodes to CMYK, see [`cmyk_to_rgb_in_place`].
    Cmyk,
}

/// What a JPEG header says: size in pixels and stored colour model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub width: usize,
    pub height: usize,
    pub stored: Stored,
}

/// The interleaved 8-bit layout to decode into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `[r, g, b]` per pixel (grey files are replicated by libjpeg, as PIL's `convert("RGB")` does).
    Rgb,
    /// One byte per pixel (grey files only).
    Grey,
    /// `[c, m, y, k]` per pixel as stored: Adobe files (all CMYK JPEGs Photoshop, PIL and
    /// libjpeg write) store inverted ink, 255 = no ink.
    Cmyk,
}

impl Layout {
    fn channels(self) -> usize {
        match self {
            Layout::Rgb => 3,
            Layout::Grey => 1,
            Layout::Cmyk => 4,
        }
    }

    fn pixel_format(self) -> c_int {
        (match self {
            Layout::Rgb => raw::TJPF_TJPF_RGB,
            Layout::Grey => raw::TJPF_TJPF_GRAY,
            Layout::Cmyk => raw::TJPF_TJPF_CMYK,
        }) as c_int
    }
}

/// Whether `bytes` start with a JPEG start-of-image marker.
pub(crate) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// In entropy-coded JPEG data a 0xFF byte is always followed by 0x00 or a restart marker, so
/// 0xFF 0xD9 near the end can only be the end-of-image marker (trailing padding is tolerated).
/// Without it the file was cut short, and libjpeg would fill the missing rows with grey.
fn has_end_marker(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(256)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Refuses what is not a whole JPEG: no start-of-image marker (a file named `.jpg` holding
/// something else), or no end-of-image marker (cut short).
fn refuse_incomplete(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    if !is_jpeg(bytes) {
        let start: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(DataError::decode(
            path,
            format!("not a JPEG file (starts with {})", start.join(" ")),
        ));
    }
    if !has_end_marker(bytes) {
        return Err(DataError::decode(
            path,
            "truncated JPEG (no end-of-image marker)",
        ));
    }
    Ok(())
}

/// Reads the header of an in-memory JPEG with a fresh decompressor (a reused one could report the
/// previous file's size for a datastream that holds tables but no image).
pub fn read_header(path: &Path, bytes: &[u8]) -> Result<Header, DataError> {
    let fail = |reason: String| DataError::decode(path, reason);
    Decompressor::new()
        .map_err(fail)?
        .header(bytes)
        .map_err(fail)
}

/// Decodes a whole JPEG into `out` (resized to `width * height * channels`, its allocation reused)
/// in the layout `layout_for` picks for the stored colour model, or returns `Ok(None)` without
/// decoding when it picks none. Refuses truncated files and files that are not JPEG.
pub(crate) fn decode_into(
    path: &Path,
    bytes: &[u8],
    out: &mut Vec<u8>,
    layout_for: impl FnOnce(Stored) -> Option<Layout>,
) -> Result<Option<(Header, Layout)>, DataError> {
    refuse_incomplete(path, bytes)?;
    with_thread_decompressor(|decompressor| {
        let header = decompressor.header(bytes)?;
        let Some(layout) = layout_for(header.stored) else {
            return Ok(None);
        };
        // libjpeg would also turn colour into grey (its Y channel): never what a caller wants here.
        let suits = match header.stored {
            Stored::Grey => layout != Layout::Cmyk,
            Stored::Colour => layout == Layout::Rgb,
            Stored::Cmyk => layout == Layout::Cmyk,
        };
        if !suits {
            return Err(format!(
                "cannot decode a {:?} JPEG as {layout:?}",
                header.stored
            ));
        }
        let too_large = || format!("JPEG too large ({}x{})", header.width, header.height);
        let row = header
            .width
            .checked_mul(layout.channels())
            .filter(|&row| c_int::try_from(row).is_ok())
            .ok_or_else(too_large)?;
        let size = row.checked_mul(header.height).ok_or_else(too_large)?;
        out.try_reserve_exact(size.saturating_sub(out.len()))
            .map_err(|e| format!("{}: {e}", too_large()))?;
        out.resize(size, 0);
        decompressor.decompress(bytes, out, row, layout)?;
        Ok(Some((header, layout)))
    })
    .map_err(|reason| DataError::decode(path, reason))
}

/// Decodes any JPEG to interleaved RGB8 in `out`: colour files directly, grey ones replicated,
/// CMYK/YCCK ones converted with [`cmyk_to_rgb_in_place`]. Returns `(width, height)`.
pub(crate) fn decode_rgb_into(
    path: &Path,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(usize, usize), DataError> {
    let decoded = decode_into(path, bytes, out, |stored| {
        Some(match stored {
            Stored::Cmyk => Layout::Cmyk,
            Stored::Grey | Stored::Colour => Layout::Rgb,
        })
    })?;
    let (header, layout) = decoded.expect("every stored model has a layout");
    if layout == Layout::Cmyk {
        cmyk_to_rgb_in_place(out);
    }
    Ok((header.width, header.height))
}

/// Turns stored CMYK bytes (`[c, m, y, k]` per pixel) into RGB bytes in place, shrinking the
/// buffer to three bytes a pixel. The arithmetic is OpenCV's `imread` (`icvCvt_CMYK2BGR_8u_C4C3R`
/// in `imgcodecs/src/utils.cpp`), what the seed's `cv2.imread` gives: with stored values read as
/// Adobe-inverted ink (255 = none, as Photoshop, PIL and libjpeg write CMYK JPEGs),
/// `r = k - ((255 - c) * k >> 8)`, likewise `g` from `m` and `b` from `y` (equal to `cv2.imread`
/// byte for byte on the fixture). PIL's `convert("RGB")` divides by 255 with rounding instead of
/// shifting by 8 and differs by up to 2 levels there.
pub(crate) fn cmyk_to_rgb_in_place(pixels: &mut Vec<u8>) {
    let count = pixels.len() / 4;
    for i in 0..count {
        let [c, m, y, k] = [0, 1, 2, 3].map(|j| pixels[4 * i + j] as u32);
        let ink = |v: u32| (k - (((255 - v) * k) >> 8)) as u8;
        // Writes land at or before the pixel just read (3i <= 4i), so nothing unread is overwritten.
        pixels[3 * i] = ink(c);
        pixels[3 * i + 1] = ink(m);
        pixels[3 * i + 2] = ink(y);
    }
    pixels.truncate(3 * count);
}

thread_local! {
    /// One decompressor per thread, reused from image to image (the loader's threads decode many).
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Runs `job` on this thread's decompressor. After a failure the decompressor is dropped and the
/// next job gets a fresh one: TurboJPEG leaves a handle mid-header when `tj3DecompressHeader`
/// fails (the next file would then read as "two SOI markers"), and keeps the previous file's size
/// when a datastream holds only tables.
fn with_thread_decompressor<T>(
    job: impl FnOnce(&mut Decompressor) -> Result<T, String>,
) -> Result<T, String> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(decompressor) => decompressor,
            None => slot.insert(Decompressor::new()?),
        };
        let result = job(decompressor);
        if result.is_err() {
            *slot = None;
        }
        result
    })
}

/// An owned TurboJPEG decompression instance (`tjhandle`), set to stop at libjpeg's first warning
/// (see [`Decompressor::run`]).
struct Decompressor {
    handle: raw::tjhandle,
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `tj3Init`, is non-null and is destroyed only here.
        unsafe { raw::tj3Destroy(self.handle) }
    }
}

impl Decompressor {
    fn new() -> Result<Self, String> {
        // SAFETY: plain constructor; a null result is handled below.
        let handle = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as c_int) };
        if handle.is_null() {
            // SAFETY: a null handle asks for the thread's last global error string.
            return Err(unsafe { error_string(std::ptr::null_mut()) });
        }
        let mut decompressor = Decompressor { handle };
        decompressor.set_stop_on_warning(true)?;
        Ok(decompressor)
    }

    fn set_stop_on_warning(&mut self, stop: bool) -> Result<(), String> {
        // SAFETY: valid handle; an integer parameter.
        let status = unsafe {
            raw::tj3Set(
                self.handle,
                raw::TJPARAM_TJPARAM_STOPONWARNING as c_int,
                c_int::from(stop),
            )
        };
        if status == 0 {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn error(&self) -> String {
        // SAFETY: valid handle.
        unsafe { error_string(self.handle) }
    }

    fn stopped_at_warning(&self) -> bool {
        // SAFETY: valid handle.
        unsafe { raw::tj3GetErrorCode(self.handle) == raw::TJERR_TJERR_WARNING as c_int }
    }

    /// Runs a TurboJPEG call that returns 0 on success. Most files have no warnings and succeed
    /// at once. At a warning libjpeg has stopped; the call is repeated on a fresh handle (a failed
    /// `tj3DecompressHeader` leaves its handle mid-header) that does not stop, and it counts as
    /// done when the error string is still that first warning: libjpeg prints only the first
    /// warning of an image, and a later fatal error would have overwritten the string (the error
    /// code alone cannot tell: it says "warning" whenever one occurred, even before a fatal error).
    fn run(&mut self, mut call: impl FnMut(raw::tjhandle) -> c_int) -> Result<(), String> {
        if call(self.handle) == 0 {
            return Ok(());
        }
        if !self.stopped_at_warning() {
            return Err(self.error());
        }
        let first_warning = self.error();
        *self = Decompressor::new()?;
        self.set_stop_on_warning(false)?;
        let status = call(self.handle);
        // Read the outcome before `tj3Set` clears it.
        let warned_only = status == 0 || self.stopped_at_warning();
        let last = self.error();
        self.set_stop_on_warning(true)?;
        if status == 0 || (warned_only && last == first_warning) {
            Ok(())
        } else {
            Err(last)
        }
    }

    fn header(&mut self, bytes: &[u8]) -> Result<Header, String> {
        self.run(|handle| {
            // SAFETY: valid handle; `bytes` outlives the call and its length is passed with it.
            unsafe { raw::tj3DecompressHeader(handle, bytes.as_ptr(), bytes.len() as raw::size_t) }
        })?;
        let get = |param: raw::TJPARAM| {
            // SAFETY: valid handle; reading an integer parameter.
            unsafe { raw::tj3Get(self.handle, param as c_int) }
        };
        let (width, height) = (
            get(raw::TJPARAM_TJPARAM_JPEGWIDTH),
            get(raw::TJPARAM_TJPARAM_JPEGHEIGHT),
        );
        if width < 1 || height < 1 {
            return Err(format!("JPEG holds no image (frame size {width}x{height})"));
        }
        let stored = match get(raw::TJPARAM_TJPARAM_COLORSPACE) as u32 {
            raw::TJCS_TJCS_GRAY => Stored::Grey,
            raw::TJCS_TJCS_RGB | raw::TJCS_TJCS_YCbCr => Stored::Colour,
            raw::TJCS_TJCS_CMYK | raw::TJCS_TJCS_YCCK => Stored::Cmyk,
            other => return Err(format!("unknown JPEG colour space {other}")),
        };
        Ok(Header {
            width: width as usize,
            height: height as usize,
            stored,
        })
    }

    /// Decodes into `out`, which holds `rows * row_bytes` bytes for the size [`Self::header`] just
    /// read from these same `bytes` (libjpeg re-reads that header, so it writes exactly that).
    fn decompress(
        &mut self,
        bytes: &[u8],
        out: &mut [u8],
        row_bytes: usize,
        layout: Layout,
    ) -> Result<(), String> {
        let pitch = c_int::try_from(row_bytes).map_err(|_| "JPEG rows too long".to_string())?;
        self.run(|handle| {
            // SAFETY: valid handle; `bytes` is read-only input of the given length; `out` holds
            // `height` rows of `pitch` bytes for the header of these bytes, which is all libjpeg
            // writes at scaling factor 1 (never changed here).
            unsafe {
                raw::tj3Decompress8(
                    handle,
                    bytes.as_ptr(),
                    bytes.len() as raw::size_t,
                    out.as_mut_ptr(),
                    pitch,
                    layout.pixel_format(),
                )
            }
        })
    }
}

/// # Safety
/// `handle` must be a live TurboJPEG handle or null.
unsafe fn error_string(handle: raw::tjhandle) -> String {
    let message = raw::tj3GetErrorStr(handle);
    if message.is_null() {
        return "unknown libjpeg-turbo error".into();
    }
    CStr::from_ptr(message).to_string_lossy().trim().to_string()
}

/// Encodes 8-bit RGB (`channels` 3) or grey (`channels` 1) pixels, row-major, as a baseline JPEG
/// with libjpeg-turbo (4:2:2 chroma for colour): how synthetic data and tests write JPEG files,
/// the `image` crate being built without its JPEG codec.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    quality: i32,
) -> Result<Vec<u8>, String> {
    let (format, subsamp) = match channels {
        1 => (turbojpeg::PixelFormat::GRAY, turbojpeg::Subsamp::Gray),
        3 => (turbojpeg::PixelFormat::RGB, turbojpeg::Subsamp::Sub2x1),
        other => return Err(format!("cannot encode {other} channels as JPEG (1 or 3)")),
    };
    if pixels.len() != width as usize * height as usize * channels {
        return Err(format!(
            "{} bytes for a {width}x{height} image of {channels} channel(s)",
            pixels.len()
        ));
    }
    let image = turbojpeg::Image {
        pixels,
        width: width as usize,
        pitch: channels * width as usize,
        height: height as usize,
        format,
    };
    turbojpeg::compress(image, quality, subsamp)
        .map(|bytes| bytes.to_vec())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> (std::path::PathBuf, Vec<u8>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jpeg")
            .join(name);
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    /// The CMYK bytes libjpeg-turbo stores equal PIL's mode-"CMYK" decode inverted (PIL reads
    /// every CMYK JPEG as Adobe-inverted): the decoder agrees before any conversion to RGB.
    #[test]
    fn cmyk_bytes_equal_pil() {
        for name in ["cmyk_37x23", "cmyk_progressive_64x48"] {
            let (path, bytes) = fixture(&format!("{name}.jpg"));
            let (_, want) = fixture(&format!("{name}.cmyk"));
            let mut got = vec![7u8; 3];
            let decoded = decode_into(&path, &bytes, &mut got, |stored| {
                assert_eq!(stored, Stored::Cmyk);
                Some(Layout::Cmyk)
            })
            .unwrap();
            assert_eq!(decoded.map(|(_, layout)| layout), Some(Layout::Cmyk));
            assert!(got == want, "{name}: CMYK bytes differ from PIL's");
        }
    }

    /// The in-place conversion reads every pixel before overwriting it, and gives OpenCV's values
    /// (its shift by 8 makes full ink 1, not 0; `tests/jpeg_libjpeg.rs` checks whole images
    /// against `cv2.imread`).
    #[test]
    fn cmyk_conversion_in_place() {
        let mut pixels = vec![255, 0, 0, 255, 0, 0, 255, 255, 128, 64, 32, 200];
        cmyk_to_rgb_in_place(&mut pixels);
        let third = [128u32, 64, 32].map(|c| (200 - (((255 - c) * 200) >> 8)) as u8);
        assert_eq!(pixels[..6], [255, 1, 1, 1, 1, 255]);
        assert_eq!(pixels[6..], third);
    }

    /// The stray-bytes fixture makes libjpeg stop at a warning on the first try, so the retry
    /// without stopping is what decodes it (to PIL's bytes: `tests/jpeg_libjpeg.rs`).
    #[test]
    fn stray_bytes_take_the_warning_path() {
        let (_, bytes) = fixture("stray_bytes_420_37x23.jpg");
        let mut decompressor = Decompressor::new().unwrap();
        let mut out = vec![0u8; 37 * 23 * 3];
        // SAFETY: as in `Decompressor::decompress`: `out` holds the 37x23 RGB image.
        let status = unsafe {
            raw::tj3Decompress8(
                decompressor.handle,
                bytes.as_ptr(),
                bytes.len() as raw::size_t,
                out.as_mut_ptr(),
                37 * 3,
                Layout::Rgb.pixel_format(),
            )
        };
        assert_ne!(status, 0);
        assert!(decompressor.stopped_at_warning());
        assert!(
            decompressor.error().contains("extraneous bytes"),
            "{}",
            decompressor.error()
        );
        decompressor.header(&bytes).unwrap();
        decompressor
            .decompress(&bytes, &mut out, 37 * 3, Layout::Rgb)
            .unwrap();
    }
}
