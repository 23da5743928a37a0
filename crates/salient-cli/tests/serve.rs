//! `salient serve` end to end: the real binary on 127.0.0.1 with an ephemeral port.

mod common;

use std::time::{Duration, Instant};

use common::{client, encode, metric, scene, Server};
use image::ImageFormat;
use rand::{Rng, SeedableRng};
use reqwest::blocking::multipart;
use reqwest::StatusCode;

const PREDICT_OK: &str = r#"salient_http_requests_total{route="/v1/predict",status="200"}"#;

fn post(server: &Server, query: &str, body: Vec<u8>) -> reqwest::blocking::Response {
    client()
        .post(server.url(&format!("/v1/predict{query}")))
        .body(body)
        .send()
        .unwrap()
}

fn json(response: reqwest::blocking::Response) -> serde_json::Value {
    let text = response.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Expects a JSON error with `status` and `code`; returns its message.
fn expect_error(response: reqwest::blocking::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status);
    let body = json(response);
    assert_eq!(body["error"], code, "{body}");
    body["message"].as_str().unwrap().to_string()
}

/// Each format, at the image's own size, equal to `salient predict`'s output; the metadata
/// routes; multipart; each bad input; 200 random and mutated bodies; the counters moving.
#[test]
fn formats_bad_input_fuzz_and_metrics() {
    let mut server = Server::start(&["--max-body-mib", "1", "--max-pixels", "1000000"]);
    let http = client();
    let metrics_before = http
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let (w, h) = (97u32, 61u32);
    let image = scene(w, h, 1);
    let png_body = encode(&image, ImageFormat::Png);

    // --- formats
    let response = post(&server, "?format=png", png_body.clone());
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    let grey = image::load_from_memory(&response.bytes().unwrap()).unwrap();
    assert_eq!((grey.width(), grey.height()), (w, h));
    assert!(matches!(grey, image::DynamicImage::ImageLuma8(_)));
    let grey = grey.into_luma8();

    let default = post(&server, "", png_body.clone());
    assert_eq!(
        image::load_from_memory(&default.bytes().unwrap())
            .unwrap()
            .into_luma8(),
        grey,
        "png is the default format"
    );

    let response = post(&server, "?format=overlay", png_body.clone());
    assert_eq!(response.status(), StatusCode::OK);
    let overlay = image::load_from_memory(&response.bytes().unwrap()).unwrap();
    assert!(matches!(overlay, image::DynamicImage::ImageRgb8(_)));
    assert_eq!((overlay.width(), overlay.height()), (w, h));

    let response = post(&server, "?format=npy", png_body.clone());
    assert_eq!(response.status(), StatusCode::OK);
    let npy_bytes = response.bytes().unwrap();
    let npy = npyz::NpyFile::new(&npy_bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[u64::from(h), u64::from(w)]);
    let values: Vec<f32> = npy.into_vec().unwrap();
    for (v, g) in values.iter().zip(grey.as_raw()) {
        assert!((0.0..=1.0).contains(v), "{v}");
        assert_eq!((v * 255.0).round() as u8, *g, "png = round(255 · npy)");
    }

    let response = post(&server, "?format=json", png_body.clone());
    assert_eq!(response.status(), StatusCode::OK);
    let summary = json(response);
    assert_eq!(
        (summary["width"].as_u64(), summary["height"].as_u64()),
        (Some(97), Some(61))
    );
    let max = values.iter().copied().fold(f32::MIN, f32::max);
    let min = values.iter().copied().fold(f32::MAX, f32::min);
    assert_eq!(summary["max"].as_f64().unwrap() as f32, max);
    assert_eq!(summary["min"].as_f64().unwrap() as f32, min);
    let (px, py) = (
        summary["peak"]["x"].as_u64().unwrap() as usize,
        summary["peak"]["y"].as_u64().unwrap() as usize,
    );
    assert_eq!(
        values[py * w as usize + px],
        max,
        "the peak holds the maximum"
    );
    assert_eq!(summary["model"]["input_size"], "64x64");
    assert_eq!(summary["model"]["metadata"]["input_size"], "64x64");

    // Multipart, as a browser form sends it; JPEG this time.
    let jpeg = encode(&image, ImageFormat::Jpeg);
    let form = multipart::Form::new().text("note", "ignored").part(
        "image",
        multipart::Part::bytes(jpeg.clone()).file_name("scene.jpg"),
    );
    let response = http
        .post(server.url("/v1/predict?format=json"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response)["width"], 97);

    // The server computes what `salient predict` computes.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scene.png");
    std::fs::write(&input, &png_body).unwrap();
    let out = dir.path().join("out");
    let status = common::salient()
        .args(["predict", "--device", "cpu", "--checkpoint"])
        .arg(common::checkpoint())
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let offline = image::open(out.join("scene.png")).unwrap().into_luma8();
    assert_eq!(offline, grey, "server map = salient predict map");

    // --- metadata routes
    let health = json(http.get(server.url("/healthz")).send().unwrap());
    assert_eq!(health["status"], "ok");
    let model = json(http.get(server.url("/v1/model")).send().unwrap());
    assert_eq!(model["checkpoint"], "tiny.safetensors");
    assert_eq!(model["metadata"]["normalize"], "unit");
    assert_eq!(model["metadata"]["architecture"], "seed-resnet50-unet");
    assert_eq!(model["server"]["max_batch"], 4);
    let page = http.get(server.url("/")).send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().unwrap();
    assert!(
        html.contains("<input type=\"file\""),
        "the page has a file input"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resource"
    );

    // --- bad input: each answered with a 4xx JSON error saying what is wrong
    let message = expect_error(post(&server, "", Vec::new()), 400, "empty_body");
    assert!(message.contains("empty"), "{message}");
    let message = expect_error(
        post(&server, "", b"GIF? no: plain text".to_vec()),
        415,
        "not_an_image",
    );
    assert!(message.contains("not an image"), "{message}");
    let message = expect_error(
        post(&server, "", jpeg[..jpeg.len() * 2 / 3].to_vec()),
        400,
        "truncated_image",
    );
    assert!(message.contains("truncated"), "{message}");
    let message = expect_error(
        post(&server, "", vec![0x89; 1 << 20 | 1]),
        413,
        "body_too_large",
    );
    assert!(message.contains("1048576 bytes"), "{message}");
    // A client that sends its whole body before reading (as Python's urllib does) gets the 413
    // too, not a reset connection.
    let answer = send_then_read(&server, &vec![7u8; 3 << 20]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    // Width 0 in the header of a BMP.
    let mut bmp = encode(&image, ImageFormat::Bmp);
    bmp[18..22].copy_from_slice(&0i32.to_le_bytes());
    let response = post(&server, "", bmp);
    assert!(response.status().is_client_error(), "{}", response.status());
    // A 260-byte PNG claiming 100000 × 100000: refused from its header, at once.
    let started = Instant::now();
    let message = expect_error(
        post(&server, "", png_claiming(&png_body, 100_000, 100_000)),
        422,
        "image_too_large",
    );
    assert!(message.contains("100000x100000"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused before decoding"
    );
    expect_error(
        post(&server, "?format=gif", png_body.clone()),
        400,
        "bad_query",
    );
    let form = multipart::Form::new().text("note", "no file here");
    let response = http
        .post(server.url("/v1/predict"))
        .multipart(form)
        .send()
        .unwrap();
    expect_error(response, 400, "no_image_field");
    expect_error(
        http.get(server.url("/v1/predict")).send().unwrap(),
        405,
        "method_not_allowed",
    );
    expect_error(
        http.get(server.url("/nowhere")).send().unwrap(),
        404,
        "not_found",
    );

    // --- 200 random and mutated bodies: every answer 200 or 4xx, and the server lives on.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    let seeds = [
        png_body.clone(),
        jpeg.clone(),
        encode(&scene(40, 30, 2), ImageFormat::Bmp),
        encode(&scene(33, 47, 3), ImageFormat::WebP),
        encode(&scene(20, 20, 4), ImageFormat::Tiff),
    ];
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..200 {
        let body = mutate(&mut rng, &seeds[i % seeds.len()], i);
        let response = post(&server, "?format=json", body);
        let status = response.status().as_u16();
        assert!(
            status == 200 || (400..500).contains(&status),
            "body {i}: status {status}"
        );
        if status != 200 {
            let body = json(response);
            assert!(body["error"].is_string(), "body {i}: {body}");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    eprintln!("fuzz statuses: {statuses:?}");
    assert!(
        statuses.len() >= 3,
        "the mutations reach several outcomes: {statuses:?}"
    );
    assert!(server.alive(), "the server survived:\n{}", server.log());
    assert_eq!(
        http.get(server.url("/healthz")).send().unwrap().status(),
        StatusCode::OK
    );

    // --- the counters moved
    let text = http
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let ok = metric(&text, PREDICT_OK) - metric(&metrics_before, PREDICT_OK);
    // png, default, overlay, npy, json, multipart, and the fuzz bodies that were images.
    assert_eq!(ok, 6.0 + f64::from(statuses[&200]), "{text}");
    assert!(
        metric(
            &text,
            r#"salient_http_requests_total{route="/v1/predict",status="415"}"#
        ) >= 1.0
    );
    assert!(
        metric(
            &text,
            r#"salient_http_requests_total{route="/v1/predict",status="413"}"#
        ) >= 1.0
    );
    assert!(metric(&text, "salient_batch_size_count") >= ok, "{text}");
    assert!(
        metric(
            &text,
            r#"salient_http_request_duration_seconds_count{route="/v1/predict"}"#
        ) >= ok
    );
    assert!(text.contains("salient_queue_depth 0"), "{text}");
    assert!(
        text.contains("# TYPE salient_http_request_duration_seconds histogram"),
        "{text}"
    );
}

/// Writes a whole `POST /v1/predict` with `body` on a plain socket, then reads the answer.
fn send_then_read(server: &Server, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(server.addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        socket,
        "POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    socket
        .write_all(body)
        .expect("the server reads the whole body");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    answer
}

/// A copy of a PNG whose header claims `width × height` (CRC recomputed).
fn png_claiming(png: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png[..33].to_vec();
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    // An IDAT with a few bytes of nothing, and the end.
    bytes.extend_from_slice(&png[33..png.len().min(260)]);
    bytes
}

/// One of several mutations of `seed`: random bytes, a truncation, flipped bytes, a header
/// rewritten with random dimensions, or junk appended.
fn mutate(rng: &mut impl Rng, seed: &[u8], i: usize) -> Vec<u8> {
    let mut body = seed.to_vec();
    match i % 5 {
        0 => (0..rng.random_range(0..2048))
            .map(|_| rng.random())
            .collect(),
        1 => {
            body.truncate(rng.random_range(0..body.len()));
            body
        }
        2 => {
            for _ in 0..rng.random_range(1..16) {
                let at = rng.random_range(0..body.len());
                body[at] = rng.random();
            }
            body
        }
        3 => {
            // Overwrite bytes 12..28, where most formats keep their dimensions.
            for b in body.iter_mut().skip(12).take(16) {
                if rng.random_bool(0.4) {
                    *b = rng.random();
                }
            }
            body
        }
        _ => {
            body.extend((0..rng.random_range(1..512)).map(|_| rng.random::<u8>()));
            body
        }
    }
}

/// With one queue slot and a slow model, concurrent requests beyond it get 503 + Retry-After,
/// and the admitted ones their maps.
#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let server = Server::start(&["--size", "256x256", "--max-batch", "1", "--max-queue", "2"]);
    let body = encode(&scene(64, 48, 5), ImageFormat::Png);
    let answers: Vec<(u16, Option<String>, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    let response = post(&server, "?format=json", body.clone());
                    let status = response.status().as_u16();
                    let retry = response
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    (status, retry, response.text().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let full: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    assert!(
        !full.is_empty(),
        "some requests found the queue full: {answers:?}"
    );
    assert!(ok >= 2, "the admitted requests were answered: {answers:?}");
    assert_eq!(ok + full.len(), answers.len(), "{answers:?}");
    for (_, retry, text) in full {
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(text.contains("queue_full"), "{text}");
    }
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metric(&text, r#"salient_rejected_total{reason="queue_full"}"#) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"salient_http_requests_total{route="/v1/predict",status="503"}"#
        ) >= 1.0
    );
}

/// SIGTERM while requests are in the model: each gets its map, then the process exits 0.
#[test]
fn sigterm_drains_in_flight_requests_and_exits_0() {
    let mut server = Server::start(&["--size", "256x256", "--max-batch", "1"]);
    let body = encode(&scene(50, 40, 6), ImageFormat::Png);
    let http = client();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| post(&server, "?format=png", body.clone()).status().as_u16()))
            .collect();
        // Wait until all three are admitted, then ask the server to stop.
        let started = Instant::now();
        loop {
            let text = http
                .get(server.url("/metrics"))
                .send()
                .unwrap()
                .text()
                .unwrap();
            if metric(&text, "salient_requests_in_flight") >= 3.0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "requests never in flight"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        server.terminate();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses,
        [200, 200, 200],
        "in-flight requests were answered"
    );
    let status = server
        .wait(Duration::from_secs(60))
        .expect("the server exited");
    assert!(status.success(), "exit status {status:?}\n{}", server.log());
    let log = server.log();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        client().get(server.url("/healthz")).send().is_err(),
        "nothing listens any more"
    );
}
