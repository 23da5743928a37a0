//! Readers for the dataset releases as their authors ship them. Each lists a dataset's images with
//! their ground truth (a [`Sample`]) or the problem that stops one image (kept per image, so that
//! a problem in one split never stops another), plus notes on the files it skipped.
//!
//! | layout | images | maps | fixations |
//! | --- | --- | --- | --- |
//! | seed | `image/<split>/` | `mask/<split>/` | `fixations/<split>/` (binary maps) |
//! | SALICON | `images/<split>/` | `maps/<split>/` (or built) | `fixations/<split>/`: 2017 `.mat` (`gaze`) or binary maps |
//! | stimuli | `stimuli/[<split>/]` | `saliency/[<split>/]` | `fixations/[<split>/]` (binary maps) |
//! | MIT1003 | `ALLSTIMULI/` | `ALLFIXATIONMAPS/<stem>_fixMap.jpg` | `ALLFIXATIONMAPS/<stem>_fixPts.jpg` (JPEG, thresholded) |
//! | CAT2000 | `Stimuli/<Category>/` (`Output/` skipped) | `FIXATIONMAPS/<Category>/` | `FIXATIONLOCS/<Category>/<NNN>.mat` (`fixLocs`) |
//! | OSIE | `stimuli/` | built from the fixations | `fixations.mat` |
//! | generic | `stimuli/` (nested folders) | `maps/` mirroring `stimuli/` (or built) | `fixations.csv` |

pub mod cat2000;
pub mod csv;
pub mod osie;
pub mod salicon;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::DataError;
use crate::ground_truth::{FixationPoint, FixationSource, MapSigma, MapSource};
use crate::layout::{Sample, IMAGE_EXTENSIONS};

/// Suffixes that MIT1003-style map and fixation files add to their image's stem.
const MAP_STEM_SUFFIXES: &[&str] = &["_fixMap", "_fixPts", "_fixations", "_saliency"];

/// One image a reader found: its ground truth, or why it has none.
#[derive(Debug)]
pub(crate) struct Entry {
    pub stem: String,
    pub sample: Result<Sample, DataError>,
}

/// What a reader found, and the files it left out.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub entries: Vec<Entry>,
    pub skipped: Skipped,
}

/// Files and folders a reader did not use, for the report.
#[derive(Debug, Default, Clone)]
pub(crate) struct Skipped {
    /// Files that are neither images nor fixation files (first one named).
    pub files: Vec<PathBuf>,
    /// Folders left out on purpose (CAT2000's `Output/`).
    pub folders: Vec<PathBuf>,
    /// Ground-truth files with no image of their stem.
    pub orphans: Vec<PathBuf>,
    /// Image names in a fixation file (`fixations.mat`, `fixations.csv`) that match no image.
    pub unmatched: Vec<String>,
}

impl Skipped {
    /// One line per kind, e.g. "3 files that are not images skipped (first: stimuli/notes.txt)".
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut say = |list: &[PathBuf], what: &str| {
            if let Some(first) = list.first() {
                notes.push(format!(
                    "{} {what} skipped (first: {})",
                    list.len(),
                    first.display()
                ));
            }
        };
        say(&self.files, "file(s) that are not images or fixation files");
        say(&self.folders, "model-output folder(s)");
        say(&self.orphans, "ground-truth file(s) without an image");
        if let Some(first) = self.unmatched.first() {
            notes.push(format!(
                "{} image name(s) in the fixation file match no image (first: {first})",
                self.unmatched.len()
            ));
        }
        notes
    }
}

/// Files under `dir` (recursively, sorted, hidden ones left out) whose extension is among
/// `extensions`, as `(stem, path)` with the stem relative to `dir`, `/`-separated, extension
/// dropped. Other files go to `skipped.files`; folders named by `skip_dir` to `skipped.folders`.
fn list_files(
    dir: &Path,
    extensions: &[&str],
    skip_dir: &dyn Fn(&str) -> bool,
    skipped: &mut Skipped,
) -> Result<Vec<(String, PathBuf)>, DataError> {
    let mut out = Vec::new();
    walk(dir, dir, extensions, skip_dir, skipped, &mut out)?;
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    extensions: &[&str],
    skip_dir: &dyn Fn(&str) -> bool,
    skipped: &mut Skipped,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if skip_dir(&name) {
                skipped.folders.push(path);
            } else {
                walk(root, &path, extensions, skip_dir, skipped, out)?;
            }
        } else if has_extension(&path, extensions) {
            out.push((stem_of(root, &path), path));
        } else {
            skipped.files.push(path);
        }
    }
    Ok(())
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| extensions.contains(&e.as_str()))
}

/// The path relative to `root` without extension, `/`-separated (`Action/001`).
pub(crate) fn stem_of(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `(stem, path)` pairs by stem; a stem seen twice maps to the error naming both files.
fn by_stem(files: Vec<(String, PathBuf)>) -> BTreeMap<String, Result<PathBuf, DataError>> {
    let mut index: BTreeMap<String, Result<PathBuf, DataError>> = BTreeMap::new();
    for (stem, path) in files {
        match index.get(&stem) {
            Some(Ok(first)) => {
                let error = DataError::DuplicateStem {
                    stem: stem.clone(),
                    first: first.clone(),
                    second: path,
                };
                index.insert(stem, Err(error));
            }
            Some(Err(_)) => {}
            None => {
                index.insert(stem, Ok(path));
            }
        }
    }
    index
}

/// Drops a known suffix (`_fixMap`, ...) from a ground-truth file's stem.
fn strip_suffix(stem: &str) -> &str {
    MAP_STEM_SUFFIXES
        .iter()
        .find_map(|s| stem.strip_suffix(s))
        .unwrap_or(stem)
}

/// A ground-truth file looked up by the image's stem: absent, the file, or a duplicate error.
fn lookup(
    index: &BTreeMap<String, Result<PathBuf, DataError>>,
    stem: &str,
) -> Result<Option<PathBuf>, DataError> {
    match index.get(stem) {
        None => Ok(None),
        Some(Ok(path)) => Ok(Some(path.clone())),
        Some(Err(e)) => Err(clone_error(e)),
    }
}

fn clone_error(e: &DataError) -> DataError {
    match e {
        DataError::DuplicateStem {
            stem,
            first,
            second,
        } => DataError::DuplicateStem {
            stem: stem.clone(),
            first: first.clone(),
            second: second.clone(),
        },
        other => DataError::Config(other.to_string()),
    }
}

/// Image / map / fixation folders paired by stem: the seed's, SALICON's and the stimuli layouts
/// (one split folder, or the whole flat dataset). Maps are required when the map folder exists
/// (a missing file is a problem, not a reason to build one); without it, and with `build_maps`,
/// they are built from the fixations. `fixation_mat` reads `.mat` fixation files as SALICON's.
pub(crate) fn pair_folders(
    images: &Path,
    maps: Option<&Path>,
    fixations: Option<&Path>,
    build_maps: Option<MapSigma>,
    fixation_mat: bool,
) -> Result<Listing, DataError> {
    let mut skipped = Skipped::default();
    let no_skip = |_: &str| false;
    let image_files = list_files(images, IMAGE_EXTENSIONS, &no_skip, &mut skipped)?;
    if image_files.is_empty() {
        return Err(DataError::EmptyFolder {
            path: images.to_path_buf(),
        });
    }
    let strip = |files: Vec<(String, PathBuf)>| {
        files
            .into_iter()
            .map(|(stem, path)| (strip_suffix(&stem).to_string(), path))
            .collect::<Vec<_>>()
    };
    let map_folder = maps.filter(|m| m.is_dir());
    let build_maps = build_maps.filter(|_| map_folder.is_none());
    let map_index = match map_folder {
        Some(dir) => by_stem(strip(list_files(
            dir,
            IMAGE_EXTENSIONS,
            &no_skip,
            &mut skipped,
        )?)),
        None => BTreeMap::new(),
    };
    let fix_extensions: Vec<&str> = if fixation_mat {
        IMAGE_EXTENSIONS.iter().copied().chain(["mat"]).collect()
    } else {
        IMAGE_EXTENSIONS.to_vec()
    };
    let fix_index = match fixations.filter(|f| f.is_dir()) {
        Some(dir) => by_stem(strip(list_files(
            dir,
            &fix_extensions,
            &no_skip,
            &mut skipped,
        )?)),
        None => BTreeMap::new(),
    };
    let image_index = by_stem(image_files);
    for (stem, file) in map_index.iter().chain(&fix_index) {
        if let (false, Ok(path)) = (image_index.contains_key(stem), file) {
            skipped.orphans.push(path.clone());
        }
    }
    let map_dir = maps.unwrap_or(images).to_path_buf();
    let entries = image_index
        .into_iter()
        .map(|(stem, image)| {
            let sample = (|| {
                let image = image?;
                let fixations = lookup(&fix_index, &stem)?.map(|path| {
                    if has_extension(&path, &["mat"]) {
                        FixationSource::SaliconMat(path)
                    } else {
                        FixationSource::Map(path)
                    }
                });
                let map = match (lookup(&map_index, &stem)?, build_maps, &fixations) {
                    (Some(path), _, _) => MapSource::File(path),
                    (None, Some(sigma), Some(_)) => MapSource::FromFixations { sigma },
                    (None, _, _) => {
                        return Err(DataError::MissingMap {
                            image,
                            stem: stem.clone(),
                            map_dir: map_dir.clone(),
                        })
                    }
                };
                Ok(Sample {
                    stem: stem.clone(),
                    image,
                    map,
                    fixations,
                })
            })();
            Entry { stem, sample }
        })
        .collect();
    Ok(Listing { entries, skipped })
}

/// MIT1003 as downloaded: `ALLSTIMULI/*.jpeg` and, in one folder `ALLFIXATIONMAPS/`,
/// `<stem>_fixMap.jpg` (the continuous map) and `<stem>_fixPts.jpg` (the fixation points,
/// JPEG-compressed: a pixel is a fixation at grey level 128 or more, see
/// [`crate::decode::load_fixations`]), routed by suffix.
pub(crate) fn mit1003(root: &Path) -> Result<Listing, DataError> {
    let mut skipped = Skipped::default();
    let no_skip = |_: &str| false;
    let images = root.join("ALLSTIMULI");
    let image_files = list_files(&images, IMAGE_EXTENSIONS, &no_skip, &mut skipped)?;
    if image_files.is_empty() {
        return Err(DataError::EmptyFolder { path: images });
    }
    let gt_dir = root.join("ALLFIXATIONMAPS");
    let (mut maps, mut points) = (Vec::new(), Vec::new());
    for (stem, path) in list_files(&gt_dir, IMAGE_EXTENSIONS, &no_skip, &mut skipped)? {
        if let Some(s) = stem.strip_suffix("_fixMap") {
            maps.push((s.to_string(), path));
        } else if let Some(s) = stem.strip_suffix("_fixPts") {
            points.push((s.to_string(), path));
        } else {
            skipped.files.push(path);
        }
    }
    let (maps, points) = (by_stem(maps), by_stem(points));
    let image_index = by_stem(image_files);
    for (stem, file) in maps.iter().chain(&points) {
        if let (false, Ok(path)) = (image_index.contains_key(stem), file) {
            skipped.orphans.push(path.clone());
        }
    }
    let entries = required_map_entries(
        image_index,
        &maps,
        &gt_dir,
        "_fixMap",
        &points,
        FixationSource::Map,
    );
    Ok(Listing { entries, skipped })
}

/// CAT2000 (train set, or a test set with its `Stimuli/` only): `Stimuli/<Category>/<NNN>.jpg`,
/// `FIXATIONMAPS/<Category>/<NNN>.jpg`, `FIXATIONLOCS/<Category>/<NNN>.mat`; the `Output/`
/// folders (model outputs) some copies carry are skipped and counted.
pub(crate) fn cat2000(root: &Path) -> Result<Listing, DataError> {
    let mut skipped = Skipped::default();
    let output = |name: &str| name.eq_ignore_ascii_case("output");
    let images = root.join("Stimuli");
    let image_files = list_files(&images, IMAGE_EXTENSIONS, &output, &mut skipped)?;
    if image_files.is_empty() {
        return Err(DataError::EmptyFolder { path: images });
    }
    let map_dir = root.join("FIXATIONMAPS");
    let maps = if map_dir.is_dir() {
        by_stem(list_files(
            &map_dir,
            IMAGE_EXTENSIONS,
            &output,
            &mut skipped,
        )?)
    } else {
        BTreeMap::new()
    };
    let loc_dir = root.join("FIXATIONLOCS");
    let locs = if loc_dir.is_dir() {
        by_stem(list_files(&loc_dir, &["mat"], &output, &mut skipped)?)
    } else {
        BTreeMap::new()
    };
    let image_index = by_stem(image_files);
    let entries = required_map_entries(
        image_index,
        &maps,
        &map_dir,
        "",
        &locs,
        FixationSource::Cat2000Mat,
    );
    Ok(Listing { entries, skipped })
}

/// Entries of layouts whose every image needs a map file (`<stem><map_suffix>.*` in `map_dir`)
/// and may have a fixation file, wrapped as `fixation_source` (MIT1003, CAT2000).
fn required_map_entries(
    images: BTreeMap<String, Result<PathBuf, DataError>>,
    maps: &BTreeMap<String, Result<PathBuf, DataError>>,
    map_dir: &Path,
    map_suffix: &str,
    fixations: &BTreeMap<String, Result<PathBuf, DataError>>,
    fixation_source: fn(PathBuf) -> FixationSource,
) -> Vec<Entry> {
    images
        .into_iter()
        .map(|(stem, image)| {
            let sample = (|| {
                let image = image?;
                let map = lookup(maps, &stem)?.ok_or_else(|| DataError::MissingMap {
                    image: image.clone(),
                    stem: format!("{stem}{map_suffix}"),
                    map_dir: map_dir.to_path_buf(),
                })?;
                Ok(Sample {
                    stem: stem.clone(),
                    image,
                    map: MapSource::File(map),
                    fixations: lookup(fixations, &stem)?.map(fixation_source),
                })
            })();
            Entry { stem, sample }
        })
        .collect()
}

/// Images under `stimuli/` paired with coordinate lists keyed by their file name relative to
/// `stimuli/` (OSIE's `fixations.mat`, the generic `fixations.csv`); maps from `maps/` when
/// given (generic layout), else built from the fixations.
pub(crate) fn stimuli_with_points(
    root: &Path,
    points: HashMap<String, Vec<FixationPoint>>,
    fixation_file: &Path,
    maps: Option<&Path>,
    sigma: MapSigma,
) -> Result<Listing, DataError> {
    let mut skipped = Skipped::default();
    let no_skip = |_: &str| false;
    let images = root.join("stimuli");
    let image_files = list_files(&images, IMAGE_EXTENSIONS, &no_skip, &mut skipped)?;
    if image_files.is_empty() {
        return Err(DataError::EmptyFolder { path: images });
    }
    let map_index = match maps.filter(|m| m.is_dir()) {
        Some(dir) => by_stem(list_files(dir, IMAGE_EXTENSIONS, &no_skip, &mut skipped)?),
        None => BTreeMap::new(),
    };
    let mut points: HashMap<String, Arc<[FixationPoint]>> = points
        .into_iter()
        .map(|(name, list)| (name, Arc::from(list)))
        .collect();
    let mut entries = Vec::new();
    let image_index = by_stem(image_files);
    for (stem, image) in image_index {
        let relative = image
            .as_ref()
            .map(|p| {
                p.strip_prefix(&images)
                    .unwrap_or(p)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default();
        let listed = points.remove(&relative);
        let sample = (|| {
            let image = image?;
            let fixations = listed.map(FixationSource::Points);
            let map = match lookup(&map_index, &stem)? {
                Some(path) => MapSource::File(path),
                None if fixations.is_some() => MapSource::FromFixations { sigma },
                None => {
                    return Err(DataError::Decode {
                        path: image.clone(),
                        reason: format!(
                            "no fixations for '{relative}' in {} (and no map to score against)",
                            fixation_file.display()
                        ),
                    })
                }
            };
            Ok(Sample {
                stem: stem.clone(),
                image,
                map,
                fixations,
            })
        })();
        entries.push(Entry { stem, sample });
    }
    let mut unknown: Vec<String> = points.into_keys().collect();
    unknown.sort();
    skipped.unmatched = unknown;
    Ok(Listing { entries, skipped })
}
