//! Atomic file writes, the one way the workspace replaces a file (checkpoints, train state,
//! `metrics.jsonl`, plots, split lists, fetched weights, reports): the new content goes to a
//! temporary file beside the target (same folder, so the same file system), is flushed to disk,
//! then renamed over the target. A reader, a crash or a Ctrl-C sees the old file or the new one,
//! never half of one, and on any failure the temporary file is removed. The temporary file is
//! `tempfile`'s [`NamedTempFile`] (removed on drop unless persisted).
//!
//! The new file gets the permissions `File::create` would give it (`0o666` less the umask), not
//! `tempfile`'s private `0o600`: checkpoints and reports are meant to be read by others.
//!
//! It lives in this crate because this is the lowest crate that writes files (checkpoints);
//! `salient-train`, the `salient` binary and `xtask` use it from here.

use std::io::{self, Write};
use std::path::Path;

use tempfile::NamedTempFile;

/// An empty temporary file in `path`'s folder, named `.<file name>.<random>.<extension>` (hidden,
/// and with the target's extension for writers that pick the format from it, like image
/// encoders). Write it through [`NamedTempFile::as_file_mut`] or by its path, then [`commit`] it;
/// dropped uncommitted, it is removed.
pub fn temp_beside(path: &Path) -> io::Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let prefix = format!(
        ".{}.",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let suffix = path
        .extension()
        .map(|ext| format!(".{}", ext.to_string_lossy()))
        .unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// Flushes `temp` to disk and renames it over `path` (on failure the temporary file is removed
/// and `path` is untouched).
pub fn commit(temp: NamedTempFile, path: &Path) -> io::Result<()> {
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Lets `write` produce the file at a temporary path beside `path` (it may open that path itself,
/// e.g. an encoder given a file name), then [`commit`]s it over `path`.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temp_beside(path)?;
    write(temp.path())?;
    commit(temp, path)
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = temp_beside(path)?;
    temp.as_file_mut().write_all(bytes)?;
    commit(temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_files_and_cleans_up_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        // A writer that fails half-way leaves the old file and no temporary.
        let err = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.txt"]);
        // A rename that fails (the target is a non-empty folder) leaves no temporary either.
        let blocked = dir.path().join("blocked.txt");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("keep"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(names(dir.path()), ["a.txt", "blocked.txt"]);
    }

    #[test]
    fn temporary_is_hidden_beside_the_target_with_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        let temp = temp_beside(&dir.path().join("loss.png")).unwrap();
        let name = temp.path().file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with(".loss.png.") && name.ends_with(".png"),
            "{name}"
        );
        assert_eq!(temp.path().parent(), Some(dir.path()));
    }

    /// Files come out readable by others like `File::create`'s, not private like a tempfile's.
    #[cfg(unix)]
    #[test]
    fn permissions_are_those_of_a_created_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (ours, plain) = (dir.path().join("a"), dir.path().join("b"));
        write_atomic(&ours, b"x").unwrap();
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&plain));
    }
}
