//! JPEG decoding equals libjpeg-turbo's as PIL (and OpenCV) run it, byte for byte, on the fixture
//! written by `scripts/jpeg/make_fixture.py` (tests/fixtures/jpeg/: baseline 4:2:0 / 4:2:2 /
//! 4:4:4, optimised Huffman, restart markers, progressive, grey, Adobe CMYK, a file with stray bytes
//! that libjpeg warns about, and a 320x240 photo checked by SHA-256). Every public way in is
//! checked: `load_rgb8`, the loader's buffer-reusing `load_source_with`, `load_frame`, `load_map`,
//! `load_map_pixels`, `load_fixations`, `image_size`. Also: truncated and corrupt files are errors
//! naming the file, never a panic.

mod common;

use std::path::{Path, PathBuf};

use salient_data::{
    image_size, load_fixations, load_frame, load_map, load_map_pixels, load_rgb8, load_source,
    load_source_with, DataError, DecodeBuffers, MapPixels, Sample,
};
use sha2::{Digest, Sha256};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg")
}

/// One file of the fixture and what PIL decoded it to.
struct Entry {
    name: String,
    width: usize,
    height: usize,
    stored: String,
    table: toml::Table,
}

impl Entry {
    fn path(&self) -> PathBuf {
        fixture_dir().join(format!("{}.jpg", self.name))
    }

    /// PIL's bytes of kind `ext` (`rgb`, `grey`), raw or as a SHA-256; `None` when not recorded.
    fn expected(&self, ext: &str) -> Option<Expected> {
        if let Some(sha) = self.table.get(&format!("{ext}_sha256")) {
            return Some(Expected::Sha256(sha.as_str().unwrap().to_string()));
        }
        let file = fixture_dir().join(format!("{}.{ext}", self.name));
        file.exists()
            .then(|| Expected::Bytes(std::fs::read(file).unwrap()))
    }
}

enum Expected {
    Bytes(Vec<u8>),
    Sha256(String),
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    let entries: Vec<Entry> = manifest["image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| {
            let table = value.as_table().unwrap().clone();
            Entry {
                name: table["name"].as_str().unwrap().to_string(),
                width: table["width"].as_integer().unwrap() as usize,
                height: table["height"].as_integer().unwrap() as usize,
                stored: table["stored"].as_str().unwrap().to_string(),
                table,
            }
        })
        .collect();
    assert!(entries.len() >= 14, "fixture has {} files", entries.len());
    entries
}

/// Fails unless `got` is the reference's bytes exactly, naming the first differing pixel.
fn assert_equal(entry: &Entry, what: &str, got: &[u8], channels: usize, want: &Expected) {
    match want {
        Expected::Sha256(sha) => {
            let got_sha = hex(&Sha256::digest(got));
            assert_eq!(
                &got_sha, sha,
                "{} {what}: decoded bytes differ from the reference (SHA-256)",
                entry.name
            );
        }
        Expected::Bytes(want) => {
            assert_eq!(got.len(), want.len(), "{} {what}: byte count", entry.name);
            let differing = got.iter().zip(want).filter(|(a, b)| a != b).count();
            if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
                let pixel = i / channels;
                panic!(
                    "{} {what}: {differing} of {} bytes differ from the reference (PIL; \
                     cv2.imread for CMYK to RGB); first at (x {}, y {}) channel {}: got {}, \
                     reference {}",
                    entry.name,
                    got.len(),
                    pixel % entry.width,
                    pixel / entry.width,
                    i % channels,
                    got[i],
                    want[i]
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn load_rgb8_equals_pil() {
    for entry in manifest() {
        let rgb = load_rgb8(&entry.path()).unwrap();
        assert_eq!(
            (rgb.width() as usize, rgb.height() as usize),
            (entry.width, entry.height),
            "{}",
            entry.name
        );
        let want = entry.expected("rgb").unwrap();
        assert_equal(&entry, "load_rgb8", rgb.as_raw(), 3, &want);
        assert_eq!(
            image_size(&entry.path()).unwrap(),
            (entry.width as u32, entry.height as u32),
            "{} image_size",
            entry.name
        );
    }
}

/// The loader's path (`load_source_with`, one set of buffers reused across every file, sizes going
/// up and down) and `load_frame` give PIL's bytes too.
#[test]
fn loader_paths_equal_pil() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffers = DecodeBuffers::default();
    for entry in manifest() {
        let map = dir.path().join(format!("{}.png", entry.name));
        common::saliency(entry.width as u32, entry.height as u32)
            .save(&map)
            .unwrap();
        let sample = Sample {
            stem: entry.name.clone(),
            image: entry.path(),
            map: salient_data::MapSource::File(map),
            fixations: None,
        };
        let want = entry.expected("rgb").unwrap();
        let source = load_source_with(&sample, false, &mut buffers).unwrap();
        assert_eq!((source.width, source.height), (entry.width, entry.height));
        assert_equal(&entry, "load_source_with", &source.rgb, 3, &want);
        buffers.recycle(source);
        let frame = load_frame(&sample, false).unwrap();
        assert_equal(&entry, "load_frame", &frame.rgb, 3, &want);
    }
}

/// Grey JPEG maps (MIT1003, CAT2000): bytes equal PIL's, as `u8` on the loader's path and as
/// `byte / 255` in `f32` from `load_map`; JPEG fixation maps count pixels above half intensity.
#[test]
fn grey_maps_equal_pil() {
    let entries = manifest();
    let mut buffers = DecodeBuffers::default();
    let mut checked = 0;
    for entry in entries.iter().filter(|e| e.stored == "grey") {
        let Some(Expected::Bytes(grey)) = entry.expected("grey") else {
            panic!("{}: no grey bytes", entry.name)
        };
        let map = load_map(&entry.path()).unwrap();
        assert_eq!((map.width, map.height), (entry.width, entry.height));
        let want: Vec<f32> = grey.iter().map(|&v| v as f32 / 255.0).collect();
        assert!(
            map.data == want,
            "{}: load_map differs from PIL / 255",
            entry.name
        );
        let (w, h, pixels) = load_map_pixels(&entry.path()).unwrap();
        assert_eq!((w, h), (entry.width, entry.height));
        assert_eq!(pixels, MapPixels::U8(grey.clone()), "{}", entry.name);
        let fixations = load_fixations(&entry.path()).unwrap();
        let above_half: Vec<u8> = grey.iter().map(|&v| u8::from(v > 127)).collect();
        assert_eq!(fixations.data, above_half, "{}", entry.name);

        // As the map of a sample: the loader decodes it straight into its reused buffer.
        let image = entries
            .iter()
            .find(|e| e.stored == "colour" && (e.width, e.height) == (entry.width, entry.height))
            .expect("a colour file of the same size");
        let sample = Sample {
            stem: entry.name.clone(),
            image: image.path(),
            map: salient_data::MapSource::File(entry.path()),
            fixations: None,
        };
        let source = load_source_with(&sample, false, &mut buffers).unwrap();
        assert_eq!(source.map, MapPixels::U8(grey.clone()), "{}", entry.name);
        buffers.recycle(source);
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// Colour JPEG maps become grey with OpenCV's BGR2GRAY weights on PIL's RGB bytes, in `f32`.
#[test]
fn colour_maps_are_grey_of_pil_rgb() {
    for entry in manifest().iter().filter(|e| e.stored != "grey") {
        let Some(Expected::Bytes(rgb)) = entry.expected("rgb") else {
            continue;
        };
        let map = load_map(&entry.path()).unwrap();
        let want: Vec<f32> = rgb
            .chunks_exact(3)
            .map(|p| {
                let luma = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
                (luma / 255.0).clamp(0.0, 1.0)
            })
            .collect();
        assert!(map.data == want, "{}: load_map differs", entry.name);
    }
}

/// A YCCK JPEG (Adobe transform 2, which PIL cannot write; written here by libjpeg-turbo) decodes
/// to the colours of the CMYK it was made from, through the same CMYK-to-RGB conversion.
#[test]
fn ycck_jpeg_decodes_like_its_cmyk() {
    let (w, h) = (24usize, 16usize);
    let cmyk: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            // Stored (inverted) values, smooth so that quality 100 keeps them within a few levels.
            [
                255 - (x * 8) as u8,
                255 - (y * 12) as u8,
                200,
                255 - ((x + y) * 3) as u8,
            ]
        })
        .collect();
    let mut compressor = turbojpeg::Compressor::new().unwrap();
    compressor.set_quality(100).unwrap();
    compressor.set_subsamp(turbojpeg::Subsamp::None).unwrap();
    compressor
        .set_colorspace(turbojpeg::Colorspace::YCCK)
        .unwrap();
    let jpeg = compressor
        .compress_to_vec(turbojpeg::Image {
            pixels: cmyk.as_slice(),
            width: w,
            pitch: 4 * w,
            height: h,
            format: turbojpeg::PixelFormat::CMYK,
        })
        .unwrap();
    assert_eq!(
        turbojpeg::read_header(&jpeg).unwrap().colorspace,
        turbojpeg::Colorspace::YCCK
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ycck.jpg");
    std::fs::write(&path, &jpeg).unwrap();
    let rgb = load_rgb8(&path).unwrap();
    assert_eq!(rgb.dimensions(), (w as u32, h as u32));
    for (i, (got, px)) in rgb
        .as_raw()
        .chunks_exact(3)
        .zip(cmyk.chunks_exact(4))
        .enumerate()
    {
        let k = px[3] as i32;
        for c in 0..3 {
            let want = k - (((255 - px[c] as i32) * k) >> 8);
            assert!(
                (got[c] as i32 - want).abs() <= 4,
                "pixel {i} channel {c}: {} vs {want}",
                got[c]
            );
        }
    }
}

fn is_decode_error_naming(err: &DataError, path: &Path) -> bool {
    matches!(err, DataError::Decode { path: p, .. } if p == path)
        && err.to_string().contains(&path.display().to_string())
}

/// A JPEG cut short is refused by every way in, with a message naming the file.
#[test]
fn truncated_jpeg_is_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["baseline_420_64x48", "progressive_420_64x48", "grey_37x23"] {
        let bytes = std::fs::read(fixture_dir().join(format!("{name}.jpg"))).unwrap();
        let path = dir.path().join(format!("{name}.jpg"));
        std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let map = dir.path().join(format!("{name}_map.png"));
        common::saliency(64, 48).save(&map).unwrap();
        let sample = Sample {
            stem: name.into(),
            image: path.clone(),
            map: salient_data::MapSource::File(map),
            fixations: None,
        };
        let errors = [
            load_rgb8(&path).unwrap_err(),
            load_map(&path).unwrap_err(),
            load_source(&sample, false).unwrap_err(),
        ];
        for err in errors {
            assert!(is_decode_error_naming(&err, &path), "{err}");
            assert!(err.to_string().contains("truncated"), "{err}");
        }
    }
}

/// A datastream that warns (stray bytes before a scan) and then fails (a marker with a bogus
/// length) is refused: the warning must not hide the failure.
#[test]
fn failure_after_a_warning_is_refused() {
    let bytes = std::fs::read(fixture_dir().join("progressive_420_64x48.jpg")).unwrap();
    let scans: Vec<usize> = bytes
        .windows(2)
        .enumerate()
        .filter(|(_, w)| *w == [0xFF, 0xDA])
        .map(|(i, _)| i)
        .collect();
    assert!(
        scans.len() >= 3,
        "progressive file has {} scans",
        scans.len()
    );
    let mut broken = bytes[..scans[1]].to_vec();
    broken.extend_from_slice(&[0x11; 40]); // warning: extraneous bytes before marker 0xda
    broken.extend_from_slice(&bytes[scans[1]..]);
    let third = scans[2] + 40;
    broken[third + 2] = 0x00; // the third scan header's length: 1 byte, impossible
    broken[third + 3] = 0x01;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn_then_fail.jpg");
    std::fs::write(&path, &broken).unwrap();
    let err = match load_rgb8(&path) {
        Ok(rgb) => panic!(
            "accepted a failed decode: {} of {} bytes are 0",
            rgb.as_raw().iter().filter(|&&v| v == 0).count(),
            rgb.as_raw().len()
        ),
        Err(err) => err,
    };
    eprintln!("{err}");
    assert!(is_decode_error_naming(&err, &path), "{err}");

    // The warning alone is tolerated, as PIL and OpenCV tolerate it.
    let mut warned = bytes[..scans[1]].to_vec();
    warned.extend_from_slice(&[0x11; 40]);
    warned.extend_from_slice(&bytes[scans[1]..]);
    std::fs::write(&path, &warned).unwrap();
    let clean = load_rgb8(&fixture_dir().join("progressive_420_64x48.jpg")).unwrap();
    assert_eq!(load_rgb8(&path).unwrap(), clean);
}

/// A `.jpg` file that holds something else is a decode error saying so, by every way in.
#[test]
fn not_a_jpeg_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.jpg");
    std::fs::write(&path, b"this is not a jpeg").unwrap();
    for err in [
        load_rgb8(&path).unwrap_err(),
        load_map(&path).unwrap_err(),
        image_size(&path).unwrap_err(),
    ] {
        eprintln!("{err}");
        assert!(is_decode_error_naming(&err, &path), "{err}");
        assert!(
            err.to_string().contains("Not a JPEG file")
                || err.to_string().contains("not a JPEG file"),
            "{err}"
        );
    }
}

/// Stray bytes before the frame header make libjpeg warn while reading the header; the file still
/// decodes to the clean file's pixels (PIL ignores the warning too), in every way in.
#[test]
fn warning_in_the_header_is_tolerated() {
    let clean_path = fixture_dir().join("baseline_420_64x48.jpg");
    let bytes = std::fs::read(&clean_path).unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut warned = bytes[..sof].to_vec();
    warned.extend_from_slice(&[0x01, 0x02, 0x03, 0x04, 0x05]);
    warned.extend_from_slice(&bytes[sof..]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("header_warning.jpg");
    std::fs::write(&path, &warned).unwrap();
    let clean = load_rgb8(&clean_path).unwrap();
    assert_eq!(load_rgb8(&path).unwrap(), clean);
    assert_eq!(image_size(&path).unwrap(), (64, 48));
    let map = dir.path().join("map.png");
    common::saliency(64, 48).save(&map).unwrap();
    let sample = Sample {
        stem: "header_warning".into(),
        image: path,
        map: salient_data::MapSource::File(map),
        fixations: None,
    };
    assert_eq!(load_source(&sample, false).unwrap().rgb, clean.into_raw());
}

/// Corrupt byte strings never panic: each either decodes or is a decode error naming the file.
/// Some are certainly errors (no frame, zero size, a broken Huffman table). After each, a good
/// file still decodes to PIL's bytes on the same thread (its reused decompressor is not left
/// mid-file).
#[test]
fn corrupt_jpegs_are_errors_not_panics() {
    let good_path = fixture_dir().join("baseline_420_64x48.jpg");
    let good = std::fs::read(&good_path).unwrap();
    let clean = load_rgb8(&good_path).unwrap();
    let still_good = |after: &str| {
        let again = load_rgb8(&good_path);
        assert!(
            again.as_ref().ok() == Some(&clean),
            "a good file after {after}: {:?}",
            again.err()
        );
    };
    let find = |marker: [u8; 2]| good.windows(2).position(|w| w == marker).unwrap();
    let (sof, dht) = (find([0xFF, 0xC0]), find([0xFF, 0xC4]));
    let mut zero_size = good.clone();
    zero_size[sof + 5..sof + 9].copy_from_slice(&[0, 0, 0, 0]);
    let mut bad_table = good.clone();
    for b in &mut bad_table[dht + 5..dht + 21] {
        *b = 0xFF; // code counts summing far past 256
    }
    let mut no_frame = vec![0xFF, 0xD8];
    no_frame.extend_from_slice(&[0x12; 100]);
    no_frame.extend_from_slice(&[0xFF, 0xD9]);
    let certain: Vec<(&str, Vec<u8>)> = vec![
        ("soi_only", vec![0xFF, 0xD8, 0xFF, 0xD9]),
        ("no_frame", no_frame),
        ("zero_size", zero_size),
        ("bad_table", bad_table),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in &certain {
        let path = dir.path().join(format!("{name}.jpg"));
        std::fs::write(&path, bytes).unwrap();
        for err in [load_rgb8(&path).unwrap_err(), load_map(&path).unwrap_err()] {
            eprintln!("{name}: {err}");
            assert!(is_decode_error_naming(&err, &path), "{name}: {err}");
        }
        assert!(image_size(&path).is_err(), "{name}");
        still_good(name);
    }
    // Bytes overwritten at pseudo-random places after the header (xorshift, fixed seed).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut decoded, mut refused) = (0, 0);
    for round in 0..60 {
        let mut bytes = good.clone();
        for _ in 0..1 + round % 4 {
            let at = 2 + (next() as usize) % (bytes.len() - 4);
            bytes[at] = next() as u8;
        }
        let path = dir.path().join(format!("flip{round}.jpg"));
        std::fs::write(&path, &bytes).unwrap();
        match load_rgb8(&path) {
            Ok(rgb) => {
                decoded += 1;
                assert!(rgb.width() > 0 && rgb.height() > 0);
            }
            Err(err) => {
                refused += 1;
                assert!(is_decode_error_naming(&err, &path), "{err}");
            }
        }
        let _ = load_map(&path);
        let _ = image_size(&path);
        still_good(&format!("flip{round}"));
    }
    eprintln!("corrupted copies: {decoded} decoded, {refused} refused");
    assert!(refused > 0);
}
