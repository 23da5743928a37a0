//! `cargo xtask fetch-weights` end to end, without the internet: the real binary against a mock hub
//! on 127.0.0.1 (see `mock_hub`), with `HF_ENDPOINT` pointing at it and a fresh `HF_HOME` per test.

mod mock_hub;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use mock_hub::{HostedFile, HostedRepo, MockHub, Serve};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use sha2::{Digest, Sha256};

const REPO: &str = "timm/resnet50.tv_in1k";
const COMMIT: &str = "7c6e2e63b4a1e1d6f0a3f1c2b9d8e7f6a5b4c3d2";
const FILE: &str = "model.safetensors";

/// The served ResNet50: every backbone tensor of `salient_model::resnet50_backbone_specs()` plus
/// `fc.*`, in f32 with small deterministic values, as torchvision's file has them. Built once.
fn resnet50() -> &'static (Arc<Vec<u8>>, String) {
    static CACHE: OnceLock<(Arc<Vec<u8>>, String)> = OnceLock::new();
    CACHE.get_or_init(|| {
        let mut specs = salient_model::resnet50_backbone_specs();
        specs.push(("fc.weight".to_string(), vec![1000, 2048]));
        specs.push(("fc.bias".to_string(), vec![1000]));
        let data: Vec<Vec<u8>> = specs
            .iter()
            .enumerate()
            .map(|(t, (name, shape))| {
                let n: usize = shape.iter().product();
                let base = if name.ends_with("running_var") {
                    1.0
                } else {
                    0.0
                };
                (0..n)
                    .flat_map(|i| (base + ((i * 7 + t) % 201) as f32 * 1e-4 - 0.01).to_le_bytes())
                    .collect()
            })
            .collect();
        let bytes = serialize(
            specs
                .iter()
                .zip(&data)
                .map(|((n, s), d)| (n.as_str(), Dtype::F32, s.clone(), d.as_slice())),
        );
        let sha = sha256(&bytes);
        (Arc::new(bytes), sha)
    })
}

fn serialize<'a>(tensors: impl Iterator<Item = (&'a str, Dtype, Vec<usize>, &'a [u8])>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'a>)> = tensors
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(d, s, b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hosted(body: Arc<Vec<u8>>, sha256: String, serve: Serve) -> HostedFile {
    HostedFile {
        body,
        sha256,
        serve,
    }
}

fn repo(file: HostedFile, token: Option<&str>) -> HostedRepo {
    HostedRepo {
        commit: COMMIT.to_string(),
        files: HashMap::from([(FILE.to_string(), file)]),
        token: token.map(str::to_string),
    }
}

/// A hub hosting the healthy ResNet50 at `timm/resnet50.tv_in1k`, plus `extra` repositories.
fn hub_with(extra: Vec<(&str, HostedRepo)>) -> MockHub {
    let (body, sha) = resnet50();
    let mut repos = HashMap::from([(
        REPO.to_string(),
        repo(hosted(body.clone(), sha.clone(), Serve::Whole), None),
    )]);
    repos.extend(extra.into_iter().map(|(name, r)| (name.to_string(), r)));
    MockHub::start(repos)
}

/// A temporary `HF_HOME` and output folder.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn hf_home(&self) -> PathBuf {
        self.dir.path().join("hf-home")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("weights/resnet50.safetensors")
    }

    fn manifest(&self) -> PathBuf {
        self.dir.path().join("weights/resnet50.safetensors.json")
    }

    /// Run `xtask fetch-weights --out <out> args...` against `endpoint` with this `HF_HOME`.
    fn run(&self, endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.arg("fetch-weights")
            .arg("--out")
            .arg(self.out())
            .args(args);
        for var in [
            "HF_TOKEN",
            "HF_TOKEN_PATH",
            "HF_HUB_CACHE",
            "HUGGINGFACE_HUB_CACHE",
            "HF_HUB_OFFLINE",
            "HF_HUB_DISABLE_IMPLICIT_TOKEN",
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "RUST_BACKTRACE",
            "RUST_LIB_BACKTRACE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HF_ENDPOINT", endpoint)
            .env("HF_HOME", self.hf_home())
            .env("NO_PROXY", "127.0.0.1,localhost");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let output = cmd.output().expect("run xtask");
        eprintln!(
            "--- xtask {args:?} exit {:?}\n{}",
            output.status.code(),
            stderr(&output)
        );
        output
    }

    /// Names in the output folder (to spot leftovers).
    fn out_dir_entries(&self) -> Vec<String> {
        let dir = self.dir.path().join("weights");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A valid output from an earlier run, with a recognisable manifest.
    fn install_existing_output(&self) {
        std::fs::create_dir_all(self.out().parent().unwrap()).unwrap();
        std::fs::write(self.out(), resnet50().0.as_slice()).unwrap();
        std::fs::write(self.manifest(), b"{\"earlier\": true}").unwrap();
    }

    fn assert_existing_output_untouched(&self) {
        assert!(
            std::fs::read(self.out()).unwrap() == *resnet50().0,
            "existing weights were changed"
        );
        assert_eq!(
            std::fs::read(self.manifest()).unwrap(),
            b"{\"earlier\": true}"
        );
        assert_eq!(
            self.out_dir_entries(),
            ["resnet50.safetensors", "resnet50.safetensors.json"]
        );
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_failed_with(output: &Output, fragments: &[&str]) {
    assert!(!output.status.success(), "expected failure");
    let text = stderr(output);
    for fragment in fragments {
        assert!(
            text.contains(fragment),
            "stderr lacks {fragment:?}:\n{text}"
        );
    }
}

fn resolve_path(repo: &str) -> String {
    format!("/{repo}/resolve/main/{FILE}")
}

#[test]
fn downloads_verifies_installs_then_serves_from_cache() {
    let hub = hub_with(vec![]);
    let scratch = Scratch::new();
    let (body, sha) = resnet50();

    let first = scratch.run(&hub.endpoint(), &[], &[]);
    assert!(first.status.success());
    assert!(
        std::fs::read(scratch.out()).unwrap() == **body,
        "output differs from the hub's file"
    );
    assert_eq!(
        scratch.out_dir_entries(),
        ["resnet50.safetensors", "resnet50.safetensors.json"]
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.manifest()).unwrap()).unwrap();
    assert_eq!(manifest["repo"], REPO);
    assert_eq!(manifest["revision"], "main");
    assert_eq!(manifest["commit"], COMMIT);
    assert_eq!(manifest["file"], FILE);
    assert_eq!(manifest["sha256"], sha.as_str());
    assert_eq!(manifest["size"], body.len() as u64);
    assert_eq!(manifest["dtype"], "F32");
    assert_eq!(
        manifest["source"],
        format!("{}{}", hub.endpoint(), resolve_path(REPO))
    );
    // hf-hub's requests: HEAD the resolve URL, then GET it and follow the redirect to the CDN.
    assert_eq!(hub.count("HEAD", &resolve_path(REPO)), 1);
    assert_eq!(hub.count("GET", &resolve_path(REPO)), 1);
    assert_eq!(hub.count("GET", &format!("/cdn/{REPO}/{sha}")), 1);
    assert!(hub
        .requests()
        .iter()
        .all(|r| r.range.is_none() && r.authorization.is_none()));

    // Second run: one HEAD to learn the commit, no GET: the cache answers.
    let before = hub.requests().len();
    std::fs::remove_file(scratch.out()).unwrap();
    let second = scratch.run(&hub.endpoint(), &[], &[]);
    assert!(second.status.success());
    assert!(stderr(&second).contains("nothing downloaded"));
    let new: Vec<_> = hub.requests()[before..].to_vec();
    assert!(new.iter().all(|r| r.method == "HEAD"), "{new:?}");
    assert!(std::fs::read(scratch.out()).unwrap() == **body);

    // Offline (HF_HUB_OFFLINE, or an unreachable hub): the cache alone.
    let before = hub.requests().len();
    let offline = scratch.run(&hub.endpoint(), &[], &[("HF_HUB_OFFLINE", "1")]);
    assert!(offline.status.success());
    assert_eq!(hub.requests().len(), before);
    let unreachable = scratch.run(&closed_port_endpoint(), &["--retries", "0"], &[]);
    assert!(
        unreachable.status.success(),
        "the cached file should be used when the hub is down"
    );
}

#[test]
fn installed_file_loads_as_the_model_backbone() {
    let hub = hub_with(vec![]);
    let scratch = Scratch::new();
    assert!(scratch.run(&hub.endpoint(), &[], &[]).status.success());
    let device = candle_core::Device::Cpu;
    let mut net =
        salient_model::SaliencyNet::new(salient_model::ModelConfig::default(), 0, &device).unwrap();
    net.load_backbone(&scratch.out())
        .expect("salient-model loads the fetched backbone");
}

#[test]
fn reuses_a_file_another_tool_cached() {
    let hub = hub_with(vec![]);
    let scratch = Scratch::new();
    let (body, sha) = resnet50();
    // The layout huggingface_hub (Python) leaves behind.
    let repo_dir = scratch.hf_home().join("hub/models--timm--resnet50.tv_in1k");
    std::fs::create_dir_all(repo_dir.join("blobs")).unwrap();
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::create_dir_all(repo_dir.join("snapshots").join(COMMIT)).unwrap();
    std::fs::write(repo_dir.join("blobs").join(sha), body.as_slice()).unwrap();
    std::fs::write(repo_dir.join("refs/main"), COMMIT).unwrap();
    std::os::unix::fs::symlink(
        format!("../../blobs/{sha}"),
        repo_dir.join("snapshots").join(COMMIT).join(FILE),
    )
    .unwrap();

    let output = scratch.run(&hub.endpoint(), &[], &[]);
    assert!(output.status.success());
    assert_eq!(hub.count("GET", ""), 0, "{:?}", hub.requests());
    assert!(std::fs::read(scratch.out()).unwrap() == **body);
}

/// An endpoint nothing listens on.
fn closed_port_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[test]
fn unreachable_hub_explains_the_manual_route() {
    let scratch = Scratch::new();
    let endpoint = closed_port_endpoint();
    let output = scratch.run(&endpoint, &["--retries", "0"], &[]);
    let url = format!("{endpoint}{}", resolve_path(REPO));
    let out = scratch.out().display().to_string();
    assert_failed_with(
        &output,
        &["cannot reach the hub", &url, "--from-file", &out],
    );
    assert!(!scratch.out().exists());
}

#[test]
fn manual_route_verifies_a_hand_downloaded_file() {
    let scratch = Scratch::new();
    let endpoint = closed_port_endpoint();
    let (body, sha) = resnet50();
    let download = scratch.dir.path().join("model.safetensors");
    std::fs::write(&download, body.as_slice()).unwrap();
    let path = download.to_str().unwrap();

    let wrong = "0".repeat(64);
    let refused = scratch.run(&endpoint, &["--from-file", path, "--sha256", &wrong], &[]);
    assert_failed_with(&refused, &["SHA-256 mismatch", sha.as_str()]);
    assert!(!scratch.out().exists());

    let output = scratch.run(
        &endpoint,
        &["--from-file", path, "--sha256", sha.as_str()],
        &[],
    );
    assert!(output.status.success());
    assert!(std::fs::read(scratch.out()).unwrap() == **body);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.manifest()).unwrap()).unwrap();
    assert_eq!(manifest["sha256"], sha.as_str());
    assert!(manifest["source"].as_str().unwrap().starts_with("file:"));
    assert!(manifest["commit"].is_null());
}

#[test]
fn unknown_repository_or_file_is_named() {
    let hub = hub_with(vec![]);
    let scratch = Scratch::new();
    // Anonymous: the hub answers 401 RepoNotFound, hiding whether a private repository exists.
    let anonymous = scratch.run(&hub.endpoint(), &["--repo", "nobody/nothing"], &[]);
    assert_failed_with(
        &anonymous,
        &["401", "nobody/nothing", "does not exist, or it is private"],
    );
    // With a token: 404.
    let with_token = scratch.run(
        &hub.endpoint(),
        &["--repo", "nobody/nothing"],
        &[("HF_TOKEN", "hf_x")],
    );
    assert_failed_with(
        &with_token,
        &["not found (404)", "nobody/nothing", "--repo"],
    );
    let no_file = scratch.run(&hub.endpoint(), &["--file", "pytorch_model.bin"], &[]);
    assert_failed_with(
        &no_file,
        &["not found (404)", "pytorch_model.bin", "--file"],
    );
    let no_revision = scratch.run(&hub.endpoint(), &["--revision", "v9"], &[]);
    assert_failed_with(&no_revision, &["not found (404)", "\"v9\""]);
    assert!(!scratch.out().exists());
}

#[test]
fn gated_repository_needs_a_token() {
    let (body, sha) = resnet50();
    let gated = repo(
        hosted(body.clone(), sha.clone(), Serve::Whole),
        Some("hf_secret"),
    );
    let hub = hub_with(vec![("gated/resnet50", gated)]);
    let scratch = Scratch::new();

    let anonymous = scratch.run(&hub.endpoint(), &["--repo", "gated/resnet50"], &[]);
    assert_failed_with(&anonymous, &["401", "gated", "HF_TOKEN"]);
    let wrong = scratch.run(
        &hub.endpoint(),
        &["--repo", "gated/resnet50"],
        &[("HF_TOKEN", "hf_wrong")],
    );
    assert_failed_with(&wrong, &["403", "HF_TOKEN"]);
    assert!(!scratch.out().exists());

    let right = scratch.run(
        &hub.endpoint(),
        &["--repo", "gated/resnet50"],
        &[("HF_TOKEN", "hf_secret")],
    );
    assert!(right.status.success());
    assert!(hub
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.authorization.as_deref() == Some("Bearer hf_secret")));
}

#[test]
fn truncated_transfer_fails_and_keeps_the_existing_output() {
    let (body, sha) = resnet50();
    let cut = repo(
        hosted(body.clone(), sha.clone(), Serve::CutAfter(body.len() / 3)),
        None,
    );
    let hub = hub_with(vec![("flaky/resnet50", cut)]);
    let scratch = Scratch::new();
    scratch.install_existing_output();

    let output = scratch.run(&hub.endpoint(), &["--repo", "flaky/resnet50"], &[]);
    assert_failed_with(&output, &["broke off", "nothing was written"]);
    scratch.assert_existing_output_untouched();
}

#[test]
fn hash_mismatch_fails_and_drops_the_bad_cache_entry() {
    let (body, _) = resnet50();
    // The hub advertises one hash; the CDN serves bytes with another.
    let advertised = sha256(b"some other file");
    let corrupt = repo(hosted(body.clone(), advertised.clone(), Serve::Whole), None);
    let hub = hub_with(vec![("corrupt/resnet50", corrupt)]);
    let scratch = Scratch::new();
    scratch.install_existing_output();

    let output = scratch.run(&hub.endpoint(), &["--repo", "corrupt/resnet50"], &[]);
    assert_failed_with(
        &output,
        &["SHA-256 mismatch", &advertised, "nothing was written"],
    );
    scratch.assert_existing_output_untouched();
    let blob = scratch
        .hf_home()
        .join("hub/models--corrupt--resnet50/blobs")
        .join(&advertised);
    assert!(
        !blob.exists(),
        "the corrupt blob should be removed so a rerun downloads afresh"
    );
}

#[test]
fn file_that_is_not_resnet50_is_rejected_naming_the_tensors() {
    // A small file: conv1 with a 3x3 kernel and nothing else.
    let conv1 = vec![0u8; 64 * 3 * 3 * 3 * 4];
    let bytes = serialize(
        [(
            "conv1.weight",
            Dtype::F32,
            vec![64, 3, 3, 3],
            conv1.as_slice(),
        )]
        .into_iter(),
    );
    let sha = sha256(&bytes);
    let wrong = repo(hosted(Arc::new(bytes), sha, Serve::Whole), None);
    let hub = hub_with(vec![("someone/not-a-resnet", wrong)]);
    let scratch = Scratch::new();
    scratch.install_existing_output();

    let output = scratch.run(&hub.endpoint(), &["--repo", "someone/not-a-resnet"], &[]);
    assert_failed_with(
        &output,
        &[
            "not a ResNet50 backbone in torchvision naming",
            "conv1.weight is [64, 3, 3, 3], expected [64, 3, 7, 7]",
            "missing: bn1.weight",
        ],
    );
    scratch.assert_existing_output_untouched();
}
