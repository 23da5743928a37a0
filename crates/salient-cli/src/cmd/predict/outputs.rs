//! The files one input produces, named by mirroring its relative path, and written atomically
//! (a sibling temporary file renamed over the target), so a killed run leaves whole files or
//! none, and `--skip-existing` can trust any file it finds.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use image::{GrayImage, ImageFormat, RgbImage};
use npyz::WriterBuilder;
use salient_data::{load_map, resize_map, MapF32};
use salient_train::overlay::{display_u8, overlay, side_by_side};
use salient_train::OutputKind;

use super::inputs::{Input, IMAGE_EXTENSIONS};

/// Map file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MapFormat {
    Png,
    Npy,
}

/// What to write for each input.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub out: PathBuf,
    pub format: MapFormat,
    /// Which map is written (overlays show it min-max normalised whatever it is).
    pub output: OutputKind,
    pub overlay: bool,
    pub gt: Option<PathBuf>,
    /// Prefix of this run's temporary files, unique to the shard (`.salient-partial-shard-0-of-3-`).
    pub partial_prefix: String,
}

/// The paths one input's outputs take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub map: PathBuf,
    pub overlay: Option<PathBuf>,
    pub triptych: Option<PathBuf>,
}

impl Planned {
    pub fn all(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.map.as_path())
            .chain(self.overlay.as_deref())
            .chain(self.triptych.as_deref())
    }

    /// Whether every output exists (they are written atomically, so existing means whole).
    pub fn complete(&self) -> bool {
        self.all().all(Path::is_file)
    }
}

impl OutputSpec {
    /// `OUT/<output stem>.png|.npy`, `..._overlay.png`, `..._triptych.png`.
    pub fn plan(&self, input: &Input) -> Planned {
        let with_suffix = |suffix: &str| {
            let mut name = input.output_stem.as_os_str().to_os_string();
            name.push(suffix);
            self.out.join(name)
        };
        Planned {
            map: with_suffix(match self.format {
                MapFormat::Png => ".png",
                MapFormat::Npy => ".npy",
            }),
            overlay: self.overlay.then(|| with_suffix("_overlay.png")),
            triptych: self.gt.is_some().then(|| with_suffix("_triptych.png")),
        }
    }

    /// Writes every planned output of one input.
    pub fn write(
        &self,
        input: &Input,
        planned: &Planned,
        image: &RgbImage,
        map: &MapF32,
    ) -> anyhow::Result<()> {
        let map_bytes = match self.format {
            MapFormat::Png => png(&GrayImage::from_raw(
                map.width as u32,
                map.height as u32,
                png_values(map, self.output),
            )
            .expect("one byte per map pixel"))?,
            MapFormat::Npy => npy_f32(map)?,
        };
        self.write_atomic(&planned.map, &map_bytes)?;
        let pred_overlay = || overlay(image, &gray(map));
        if let Some(path) = &planned.overlay {
            self.write_atomic(path, &png(&pred_overlay())?)?;
        }
        if let (Some(path), Some(gt_dir)) = (&planned.triptych, &self.gt) {
            let gt_path = find_ground_truth(gt_dir, input)?;
            let mut gt = load_map(&gt_path)?;
            if (gt.width, gt.height) != (map.width, map.height) {
                gt = resize_map(&gt, map.width, map.height);
            }
            let gt_overlay = overlay(image, &gray(&gt));
            let triptych = side_by_side(&[image, &gt_overlay, &pred_overlay()]);
            self.write_atomic(path, &png(&triptych)?)?;
        }
        Ok(())
    }

    /// `bytes` to `path` through a temporary sibling renamed over it.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&self.partial_prefix)
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        tmp.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Removes temporary files a killed run of this same shard left in `dirs`.
    pub fn remove_partials<'a>(&self, dirs: impl IntoIterator<Item = &'a Path>) -> usize {
        let mut removed = 0;
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let ours = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&self.partial_prefix));
                if ours && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// What a PNG map holds, 8 bits: a saliency map as `round(255 · clamp(map, 0, 1))`; a density
/// scaled to its maximum first (`round(255 · p / max p)`), a log-density min-max normalised over
/// its finite values (`.npy` keeps the exact values; [`png_note`] says so once per run).
fn png_values(map: &MapF32, output: OutputKind) -> Vec<u8> {
    let scaled: Vec<f32> = match output {
        OutputKind::Saliency => map.data.clone(),
        OutputKind::Density => {
            let max = map.data.iter().fold(0f32, |m, &v| m.max(v));
            let by = if max > 0.0 { max } else { 1.0 };
            map.data.iter().map(|v| v / by).collect()
        }
        OutputKind::LogDensity => salient_train::overlay::min_max_normalised(&map.data),
    };
    scaled
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// What a PNG of `output` holds beyond its name, when it is not the values themselves.
pub fn png_note(output: OutputKind) -> Option<&'static str> {
    match output {
        OutputKind::Saliency => None,
        OutputKind::Density => Some(
            "density PNGs are scaled to each map's maximum (255 = its densest pixel); \
             --format npy keeps the exact densities (summing to 1)",
        ),
        OutputKind::LogDensity => Some(
            "log-density PNGs are min-max normalised per map; --format npy keeps the exact \
             natural-log densities",
        ),
    }
}

/// The map as an overlay shows it: min-max normalised, 8 bits.
fn gray(map: &MapF32) -> GrayImage {
    GrayImage::from_raw(map.width as u32, map.height as u32, display_u8(&map.data))
        .expect("buffer sized for the map")
}

fn png<P, C>(image: &image::ImageBuffer<P, C>) -> anyhow::Result<Vec<u8>>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(out.into_inner())
}

/// A float32 `H×W` array in NumPy's `.npy` format.
pub fn npy_f32(map: &MapF32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128 + 4 * map.data.len());
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[map.height as u64, map.width as u64])
        .writer(&mut out)
        .begin_nd()
        .context("writing .npy header")?;
    writer
        .extend(map.data.iter().copied())
        .context("writing .npy data")?;
    writer.finish().context("writing .npy")?;
    Ok(out)
}

/// The ground-truth map of `input`: at its mirrored place under `dir` (`DIR/a/cat.*`), else
/// directly in `dir` (`DIR/cat.*`), any image extension.
fn find_ground_truth(dir: &Path, input: &Input) -> anyhow::Result<PathBuf> {
    let stem = input
        .relative
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy();
    let mirrored = dir.join(input.relative.parent().unwrap_or(Path::new("")));
    for folder in [mirrored.as_path(), dir] {
        for ext in IMAGE_EXTENSIONS {
            let candidate = folder.join(format!("{stem}.{ext}"));
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!("no ground-truth map {stem}.* in {}", mirrored.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(out: &Path) -> OutputSpec {
        OutputSpec {
            out: out.to_path_buf(),
            format: MapFormat::Npy,
            output: OutputKind::Saliency,
            overlay: true,
            gt: None,
            partial_prefix: ".salient-partial-shard-0-of-1-".into(),
        }
    }

    #[test]
    fn outputs_mirror_the_relative_path() {
        let input = Input {
            path: "/data/a/cat.jpg".into(),
            relative: "a/cat.jpg".into(),
            output_stem: "a/cat".into(),
        };
        let planned = spec(Path::new("/out")).plan(&input);
        assert_eq!(planned.map, PathBuf::from("/out/a/cat.npy"));
        assert_eq!(
            planned.overlay,
            Some(PathBuf::from("/out/a/cat_overlay.png"))
        );
        assert_eq!(planned.triptych, None);
    }

    #[test]
    fn npy_round_trips_through_npyz() {
        let map = MapF32 {
            width: 3,
            height: 2,
            data: vec![0.0, 0.5, 1.0, 0.25, 0.75, 0.125],
        };
        let bytes = npy_f32(&map).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        assert_eq!(npy.into_vec::<f32>().unwrap(), map.data);
    }

    #[test]
    fn atomic_writes_leave_no_partial_and_partials_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path());
        let target = dir.path().join("sub/x.bin");
        s.write_atomic(&target, b"abc").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"abc");
        assert_eq!(
            std::fs::read_dir(target.parent().unwrap()).unwrap().count(),
            1
        );
        let stale = dir.path().join("sub/.salient-partial-shard-0-of-1-XYZ");
        let other = dir.path().join("sub/.salient-partial-shard-1-of-2-XYZ");
        std::fs::write(&stale, b"half").unwrap();
        std::fs::write(&other, b"another shard's").unwrap();
        assert_eq!(s.remove_partials([target.parent().unwrap()]), 1);
        assert!(!stale.exists() && other.exists());
    }
}
