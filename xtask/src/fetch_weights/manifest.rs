//! The manifest written beside the weights (`<out>.json`), so that training can report exactly
//! which weights it started from.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Provenance of an installed weights file. Field meanings are documented in docs/weights.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsManifest {
    /// Hub repository, e.g. `timm/resnet50.tv_in1k`.
    pub repo: String,
    /// The revision asked for (branch, tag or commit).
    pub revision: String,
    /// The commit that revision resolved to, when known (not for `--from-file`).
    pub commit: Option<String>,
    /// File inside the repository.
    pub file: String,
    /// Where the bytes came from: the resolve URL, or `file:<path>` for `--from-file`.
    pub source: String,
    /// Lower-case hex SHA-256 of the installed file.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The backbone tensors' dtype(s), e.g. `F32`.
    pub dtype: String,
    /// When it was installed, RFC 3339 UTC.
    pub fetched_at: String,
}

/// `weights/resnet50.safetensors` → `weights/resnet50.safetensors.json`.
pub fn manifest_path(weights: &Path) -> PathBuf {
    let mut name = weights.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339_from_unix(secs)
}

fn rfc3339_from_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (the standard era-based conversion).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sits_beside_the_weights() {
        assert_eq!(
            manifest_path(Path::new("weights/resnet50.safetensors")),
            PathBuf::from("weights/resnet50.safetensors.json")
        );
    }

    #[test]
    fn unix_times_format_as_rfc3339() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_795_808_096), "2026-11-27T19:34:56Z");
    }
}
