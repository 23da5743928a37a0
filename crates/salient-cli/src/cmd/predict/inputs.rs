//! The inputs of `salient predict`: one image, a folder (recursive) or a list file; each input
//! with the relative path its outputs mirror, sorted, so every shard of a run sees the same list.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};

/// Image extensions read from folders.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"];

/// One image to predict and where its outputs go, relative to `--out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    /// The input's path relative to its root (`a/cat.jpg`).
    pub relative: PathBuf,
    /// The outputs' path without extension, relative to `--out` (`a/cat`; `a/cat.jpg` when
    /// another input would otherwise write the same files, e.g. `a/cat.png`).
    pub output_stem: PathBuf,
}

/// Every image of `--input` (a file, or a folder walked recursively), sorted by relative path.
pub fn from_path(input: &Path) -> anyhow::Result<Vec<Input>> {
    if input.is_file() {
        let name = PathBuf::from(input.file_name().context("--input has no file name")?);
        return Ok(finish(vec![(input.to_path_buf(), name)]));
    }
    if !input.is_dir() {
        bail!("--input {}: no such file or folder", input.display());
    }
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(input).follow_links(true) {
        let entry = entry.with_context(|| format!("listing {}", input.display()))?;
        let path = entry.path();
        if entry.file_type().is_file() && has_image_extension(path) {
            let relative = path
                .strip_prefix(input)
                .expect("walkdir yields paths under its root")
                .to_path_buf();
            found.push((path.to_path_buf(), relative));
        }
    }
    if found.is_empty() {
        bail!(
            "--input {}: no images ({}) in the folder or its sub-folders",
            input.display(),
            IMAGE_EXTENSIONS.join(", ")
        );
    }
    Ok(finish(found))
}

/// The images named in `list` (one path per line; blank lines and lines starting with `#` are
/// skipped; relative paths are relative to the list file's folder), with their paths relative to
/// `root` (default: the deepest folder holding them all). Duplicates count once.
pub fn from_list(list: &Path, root: Option<&Path>) -> anyhow::Result<Vec<Input>> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("reading --input-list {}", list.display()))?;
    let base = list.parent().unwrap_or(Path::new(""));
    let paths: Vec<PathBuf> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| lexically_normal(&base.join(l)))
        .collect();
    if paths.is_empty() {
        bail!("--input-list {}: no paths in the file", list.display());
    }
    let root = match root {
        Some(root) => lexically_normal(root),
        None => common_folder(&paths),
    };
    let mut found = Vec::with_capacity(paths.len());
    for path in paths {
        let relative = path
            .strip_prefix(&root)
            .with_context(|| {
                format!(
                    "--input-list {}: {} is not under --root {}",
                    list.display(),
                    path.display(),
                    root.display()
                )
            })?
            .to_path_buf();
        if relative.as_os_str().is_empty() {
            bail!(
                "--input-list {}: {} is the root folder itself, not an image",
                list.display(),
                path.display()
            );
        }
        found.push((path, relative));
    }
    Ok(finish(found))
}

/// Sorts by relative path, drops duplicates, and names each input's outputs.
fn finish(mut found: Vec<(PathBuf, PathBuf)>) -> Vec<Input> {
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found.dedup_by(|a, b| a.1 == b.1);
    // Inputs that differ only by extension (a/cat.jpg, a/cat.png) would write the same files:
    // those keep their extension in the output name. Decided on the whole list, so every shard
    // agrees.
    let mut by_stem: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (_, relative) in &found {
        *by_stem.entry(relative.with_extension("")).or_default() += 1;
    }
    found
        .into_iter()
        .map(|(path, relative)| {
            let stem = relative.with_extension("");
            let output_stem = if by_stem[&stem] > 1 {
                relative.clone()
            } else {
                stem
            };
            Input {
                path,
                relative,
                output_stem,
            }
        })
        .collect()
}

pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `path` with `.` dropped and `x/..` folded, without touching the file system (the files of a
/// list may live on storage this machine reads later, or not at all).
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The deepest folder that holds every path.
fn common_folder(paths: &[PathBuf]) -> PathBuf {
    let mut common: Vec<Component> = paths[0]
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for path in &paths[1..] {
        let parent: Vec<Component> = path
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        let shared = common
            .iter()
            .zip(&parent)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(shared);
    }
    common.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn folders_are_walked_and_mirrored() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b/cat.jpg",
            "a/cat.jpg",
            "top.png",
            "a/notes.txt",
            "a/deep/dog.JPEG",
        ] {
            touch(&dir.path().join(name));
        }
        let inputs = from_path(dir.path()).unwrap();
        let relative: Vec<_> = inputs.iter().map(|i| i.relative.clone()).collect();
        assert_eq!(
            relative,
            ["a/cat.jpg", "a/deep/dog.JPEG", "b/cat.jpg", "top.png"].map(PathBuf::from)
        );
        assert_eq!(inputs[0].output_stem, PathBuf::from("a/cat"));
        assert_eq!(inputs[2].output_stem, PathBuf::from("b/cat"));
    }

    #[test]
    fn same_stem_different_extension_keeps_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["x/cat.jpg", "x/cat.png", "x/dog.png"] {
            touch(&dir.path().join(name));
        }
        let stems: Vec<_> = from_path(dir.path())
            .unwrap()
            .into_iter()
            .map(|i| i.output_stem)
            .collect();
        assert_eq!(
            stems,
            ["x/cat.jpg", "x/cat.png", "x/dog"].map(PathBuf::from)
        );
    }

    #[test]
    fn lists_resolve_against_their_folder_and_find_the_common_root() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("lists/all.txt");
        touch(&list);
        std::fs::write(
            &list,
            "# images\n../data/set1/a/cat.jpg\n\n../data/set1/b/cat.jpg\n../data/./set1/a/cat.jpg\n",
        )
        .unwrap();
        let inputs = from_list(&list, None).unwrap();
        assert_eq!(inputs.len(), 2, "the duplicate counts once");
        assert_eq!(inputs[0].path, dir.path().join("data/set1/a/cat.jpg"));
        assert_eq!(inputs[0].relative, PathBuf::from("a/cat.jpg"));
        let inputs = from_list(&list, Some(&dir.path().join("data"))).unwrap();
        assert_eq!(inputs[1].relative, PathBuf::from("set1/b/cat.jpg"));
        let e = from_list(&list, Some(&dir.path().join("elsewhere")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not under --root"), "{e}");
    }
}
