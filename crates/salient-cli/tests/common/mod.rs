//! Shared set-up of the `salient` binary's integration tests: a small random checkpoint, fixture
//! images, and the real server started on 127.0.0.1 with an ephemeral port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Cursor};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use salient_model::{CheckpointMeta, ModelConfig, SaliencyNet};

/// An unsplit `stimuli/ saliency/ fixations/` dataset of `n` 32×32 scenes: one bright square
/// per image, its map a Gaussian blob and one fixation on it.
pub fn write_flat_dataset(root: &Path, n: usize) {
    for dir in ["stimuli", "saliency", "fixations"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for i in 0..n {
        let (cx, cy) = (8 + (i as u32 * 5) % 16, 8 + (i as u32 * 3) % 16);
        RgbImage::from_fn(32, 32, |x, y| {
            let near = (x as i32 - cx as i32).abs() < 4 && (y as i32 - cy as i32).abs() < 4;
            Rgb(if near { [250, 240, 30] } else { [20, 30, 40] })
        })
        .save(root.join(format!("stimuli/{i:02}.png")))
        .unwrap();
        GrayImage::from_fn(32, 32, |x, y| {
            let d2 = (x as f32 - cx as f32).powi(2) + (y as f32 - cy as f32).powi(2);
            Luma([(255.0 * (-d2 / 20.0).exp()) as u8])
        })
        .save(root.join(format!("saliency/{i:02}.png")))
        .unwrap();
        let mut fix = GrayImage::new(32, 32);
        fix.put_pixel(cx, cy, Luma([255]));
        fix.save(root.join(format!("fixations/{i:02}.png")))
            .unwrap();
    }
}

/// `salient args` run in `dir`, waited for.
pub fn run_in(args: &[&str], dir: &Path) -> std::process::Output {
    salient().args(args).current_dir(dir).output().unwrap()
}

/// A finished command's stdout then stderr, as text.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `salient` binary under test.
pub fn salient() -> Command {
    Command::new(env!("CARGO_BIN_EXE_salient"))
}

/// A random-init checkpoint with a 64×64 input (fast in debug builds), written once per test
/// process under cargo's test temp dir (`CARGO_TARGET_TMPDIR`, so nothing piles up in /tmp).
/// A random network's map is flat (0.500 ± 0.004); its output BatchNorm's running statistics are
/// set so the map spreads over about [0.4, 0.8] and the heatmaps show something.
pub fn checkpoint() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("salient-cli-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tiny.safetensors");
        let net = SaliencyNet::new(ModelConfig::default(), 7, &Device::Cpu).unwrap();
        let tensors = net
            .tensors()
            .into_iter()
            .map(|(name, tensor)| match name.as_str() {
                "conv_0.1.running_mean" => (name, Tensor::new(&[0.005f32], &Device::Cpu).unwrap()),
                "conv_0.1.running_var" => (name, Tensor::new(&[1e-4f32], &Device::Cpu).unwrap()),
                _ => (name, tensor),
            })
            .collect();
        let net = SaliencyNet::from_tensors(ModelConfig::default(), tensors, &Device::Cpu).unwrap();
        let mut meta = CheckpointMeta::new();
        meta.set_input_size(64, 64).set_normalize("unit");
        // Atomic: a test process writing it while another's server reads it is harmless.
        net.save_checkpoint(&path, &meta).unwrap();
        path
    })
}

/// A synthetic photo-like scene: a sky-to-ground gradient, a red disc and a dark square.
pub fn scene(width: u32, height: u32, seed: u32) -> RgbImage {
    let (cx, cy) = ((width * (3 + seed % 4)) / 10, height / 2);
    let r = width.min(height) / 5;
    RgbImage::from_fn(width, height, |x, y| {
        let t = y as f32 / height.max(1) as f32;
        let mut p = [
            (120.0 + 100.0 * t) as u8,
            (170.0 - 40.0 * t) as u8,
            (235.0 - 150.0 * t) as u8,
        ];
        let (dx, dy) = (x as i64 - cx as i64, y as i64 - cy as i64);
        if dx * dx + dy * dy < i64::from(r * r) {
            p = [220, 40, 40];
        }
        if x > width * 3 / 4 && x < width * 9 / 10 && y > height / 5 && y < height * 2 / 5 {
            p = [30, 30, 40];
        }
        Rgb(p)
    })
}

/// `image` encoded as `format`.
pub fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    if format == ImageFormat::Jpeg {
        // libjpeg-turbo: the `image` crate is built without its JPEG codec.
        return salient_data::jpeg::encode(image.as_raw(), image.width(), image.height(), 3, 90)
            .unwrap();
    }
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A running `salient serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `salient serve --port 0` on the test checkpoint with `extra` flags, and waits until
    /// it listens.
    pub fn start(extra: &[&str]) -> Server {
        let mut child = salient()
            .args(["serve", "--device", "cpu", "--port", "0", "--checkpoint"])
            .arg(checkpoint())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting salient serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split('/').next().unwrap().to_string();
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "salient serve did not start listening:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Server { child, addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client for the tests (no proxy: everything is on loopback).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// The value of a sample line `name{labels} value` in a metrics text, 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}
