//! The per-shard manifest (JSON lines: input, output, status, error; one line per input as it is
//! done) and the summary written at the end of a run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use super::shard::Shard;

/// What happened to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Predicted and written.
    Written,
    /// Every output already existed (`--skip-existing`).
    Skipped,
    /// Unreadable, or an output could not be written; `error` says why.
    Failed,
}

#[derive(Serialize)]
struct Line<'a> {
    input: &'a str,
    output: &'a str,
    status: Status,
    error: Option<&'a str>,
}

/// Counts of a run, written as JSON beside the manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub shard: usize,
    pub shards: usize,
    /// Inputs of the whole list, and of this shard.
    pub inputs_total: usize,
    pub inputs: usize,
    pub written: usize,
    pub skipped: usize,
    pub failed: usize,
    pub seconds: f64,
    pub manifest: PathBuf,
}

/// The manifest being written; each line is flushed as it is recorded, so a killed run leaves
/// the lines of what it finished.
pub struct Manifest {
    path: PathBuf,
    file: BufWriter<File>,
    pub summary: Summary,
}

impl Manifest {
    /// Creates (truncates) the manifest of `shard` at `path`.
    pub fn create(
        path: &Path,
        shard: Shard,
        inputs_total: usize,
        inputs: usize,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            summary: Summary {
                shard: shard.index,
                shards: shard.count,
                inputs_total,
                inputs,
                manifest: path.to_path_buf(),
                ..Summary::default()
            },
        })
    }

    pub fn record(
        &mut self,
        input: &Path,
        output: &Path,
        status: Status,
        error: Option<&str>,
    ) -> anyhow::Result<()> {
        match status {
            Status::Written => self.summary.written += 1,
            Status::Skipped => self.summary.skipped += 1,
            Status::Failed => self.summary.failed += 1,
        }
        let line = Line {
            input: &input.to_string_lossy(),
            output: &output.to_string_lossy(),
            status,
            error,
        };
        serde_json::to_writer(&mut self.file, &line)?;
        self.file.write_all(b"\n")?;
        self.file
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Writes the summary as JSON to `path` and returns it.
    pub fn finish(mut self, path: &Path, seconds: f64) -> anyhow::Result<Summary> {
        self.file
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.summary.seconds = seconds;
        let text = serde_json::to_string_pretty(&self.summary)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(self.summary)
    }
}
