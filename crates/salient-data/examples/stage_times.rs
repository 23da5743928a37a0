//! Times each stage of the training pipeline separately over a dataset's train split (a
//! profiling aid beside `cargo xtask bench data`):
//! `cargo run --release -p salient-data --example stage_times -- DIR [REPEATS] [loader|hash]`
//! (`loader`: only the whole loader, 1 and 2 threads, REPEATS epochs; `hash`: the same, also
//! printing a hash of every batch's contents, to check that a change leaves them identical).

use std::time::Instant;

use salient_data::resize::{resize_to_f32, resize_u8, View};
use salient_data::warp::{invert, rotation_about_centre, warp_rgb_and_map};
use salient_data::{
    load_map_pixels, load_source_with, write_chw, Dataset, DecodeBuffers, DiscoverOptions,
    MapPixels, Normalize, Split,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("usage: stage_times DIR [REPEATS]");
    let repeats: usize = args
        .next()
        .map_or(3, |r| r.parse().expect("REPEATS is a number"));
    let mode = args.next();
    let loader_only = matches!(mode.as_deref(), Some("loader" | "hash"));
    let hashing = mode.as_deref() == Some("hash");
    let data = Dataset::discover(root.as_ref(), &DiscoverOptions::default()).expect("dataset");
    let samples = data.split(Split::Train);
    let (tw, th) = (256, 256);
    let mut buffers = DecodeBuffers::default();
    let mut t = [0f64; 7];
    let mut rgb = vec![0u8; tw * th * 3];
    let mut map = vec![0f32; tw * th];
    let mut rgb2 = vec![0u8; tw * th * 3];
    let mut map2 = vec![0f32; tw * th];
    let mut chw = vec![0f32; 3 * tw * th];
    let inverse = invert(&rotation_about_centre(7.3, tw, th));
    for _ in 0..if loader_only { 0 } else { repeats } {
        for sample in samples {
            let s = Instant::now();
            let source = load_source_with(sample, false, &mut buffers).expect("decode");
            t[0] += s.elapsed().as_secs_f64();
            let s = Instant::now();
            resize_u8(
                View::full(&source.rgb, source.width, source.height, 3),
                &mut rgb,
                tw,
                th,
            );
            t[1] += s.elapsed().as_secs_f64();
            let s = Instant::now();
            if let MapPixels::U8(bytes) = &source.map {
                resize_to_f32(
                    View::full(bytes, source.width, source.height, 1),
                    &mut map,
                    tw,
                    th,
                    1.0 / 255.0,
                );
            }
            t[2] += s.elapsed().as_secs_f64();
            let s = Instant::now();
            warp_rgb_and_map((tw, th), &rgb, &map, &inverse, &mut rgb2, &mut map2);
            t[3] += s.elapsed().as_secs_f64();
            let s = Instant::now();
            salient_data::warp::warp_u8(View::full(&rgb, tw, th, 3), &mut rgb2, tw, th, &inverse);
            salient_data::warp::warp_f32(View::full(&map, tw, th, 1), &mut map2, tw, th, &inverse);
            t[6] += s.elapsed().as_secs_f64();
            let s = Instant::now();
            write_chw(&rgb2, Normalize::Imagenet, &mut chw);
            t[4] += s.elapsed().as_secs_f64();
            let s = Instant::now();
            if let Some(path) = sample.map.file() {
                let _ = load_map_pixels(path).expect("map");
            }
            t[5] += s.elapsed().as_secs_f64();
            buffers.recycle(source);
        }
    }
    let n = (samples.len() * repeats) as f64;
    for threads in [1, 2] {
        let config = salient_data::LoaderConfig {
            normalize: Normalize::Unit,
            threads,
            ..Default::default()
        };
        let loader = salient_data::Loader::new(samples, config).expect("loader");
        let (s, cpu) = (Instant::now(), cpu_seconds());
        let (mut images, mut hash) = (0, 0xcbf2_9ce4_8422_2325u64);
        for epoch in 0..repeats as u64 {
            for batch in loader.epoch(epoch) {
                let batch = batch.expect("batch");
                images += batch.n;
                for v in batch.images.iter().chain(&batch.maps).filter(|_| hashing) {
                    hash = (hash ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3);
                }
                loader.recycle(batch);
            }
        }
        if hashing {
            println!("threads={threads}: batch contents hash {hash:016x}");
        }
        println!(
            "loader threads={threads}: images/s={:.1} cpu ms/image={:.3}",
            images as f64 / s.elapsed().as_secs_f64(),
            (cpu_seconds() - cpu) / images as f64 * 1e3
        );
    }
    if loader_only {
        return;
    }
    for (name, v) in [
        "decode jpeg+png",
        "resize rgb",
        "resize map",
        "warp rgb+map",
        "write chw",
        "(png map alone)",
        "(warp separately)",
    ]
    .iter()
    .zip(t)
    {
        println!("{name:>16}: {:.3} ms/sample", v / n * 1e3);
    }
}

/// User + system CPU time of the whole process so far (from `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
