//! What the documentation names exists: every `configs/*.toml` and every TOML example in `docs/`
//! is a valid training config, every config key of docs/train.md's table (and its "config-only"
//! list) is a `TrainConfig` key, and every flag of that table is a `salient train` flag. A
//! documented key or flag that the code cannot reach fails here.

mod common;

use std::path::{Path, PathBuf};

use salient_train::TrainConfig;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Backquoted words of a Markdown table cell (`--flag X` gives `--flag X`).
fn quoted(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Whether TOML `key = value` is a known key of the training config (the config denies unknown
/// keys, so anything else is "unknown field").
fn is_config_key(key: &str) -> bool {
    match TrainConfig::from_toml_str(&format!("{key} = \"?\"\n")) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown field"),
    }
}

#[test]
fn config_files_and_toml_examples_are_valid_train_configs() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg = TrainConfig::from_toml_file(&path).unwrap();
            cfg.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked += 1;
        }
    }
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = read(&path);
        for block in text.split("```toml").skip(1) {
            let toml = block.split("```").next().unwrap();
            TrainConfig::from_toml_str(toml).unwrap_or_else(|e| {
                panic!("{}: a TOML example is not a config: {e}", path.display())
            });
            checked += 1;
        }
    }
    assert!(checked >= 2, "found {checked} configs and examples");
}

#[test]
fn every_documented_train_key_and_flag_exists() {
    let text = read(&repo().join("docs/train.md"));
    let help = common::salient()
        .args(["train", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let (mut keys, mut flags) = (Vec::new(), Vec::new());
    for line in text
        .lines()
        .filter(|l| l.starts_with("| `--") || l.starts_with("| |"))
    {
        let cells: Vec<&str> = line.split('|').collect();
        if let Some(flag) = quoted(cells[1]).first() {
            flags.push(flag.split_whitespace().next().unwrap().to_string());
        }
        keys.extend(quoted(cells[2]));
    }
    let config_only = text
        .lines()
        .find(|l| l.starts_with("Config-only keys:"))
        .expect("docs/train.md lists its config-only keys");
    keys.extend(quoted(config_only));
    assert!(keys.len() >= 30 && flags.len() >= 30, "{keys:?} {flags:?}");
    for key in &keys {
        assert!(
            is_config_key(key),
            "docs/train.md names config key `{key}`, which TrainConfig does not have"
        );
    }
    for flag in &flags {
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "docs/train.md names `salient train {flag}`, which does not exist"
        );
    }
    assert!(
        !is_config_key("no_such_key"),
        "the check itself would catch a wrong key"
    );
}
