//! # salient-serve
//!
//! Saliency prediction as an HTTP service, on axum + tokio. One job: turn image bytes arriving over
//! HTTP into saliency maps from a loaded model, batching concurrent requests on it, with a bounded
//! queue, a self-contained web page and Prometheus metrics.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/predict?format=png\|overlay\|npy\|json` | the map at the image's original size: 8-bit grey PNG (`round(255·map)`), the JET overlay PNG (`0.7·image + 0.3·JET`, as `salient predict --overlay`), a float32 `H×W` `.npy` with values in `[0,1]`, or JSON (size, min, max, mean, peak, model) |
//! | `GET /` | the page: choose or drop an image, see image / heatmap / overlay, opacity slider, downloads |
//! | `GET /healthz` | `{"status":"ok"}` |
//! | `GET /v1/model` | the checkpoint's metadata and how the model runs ([`ModelInfo`]) |
//! | `GET /metrics` | request counts by route and status, latency and batch-size histograms, queue depth (OpenMetrics text, which Prometheus scrapes) |
//!
//! The request body is the image file itself, or a `multipart/form-data` form whose first file
//! field (or field named `image`) holds it. JPEG, PNG, BMP, TIFF and WebP are accepted.
//!
//! **Admission and memory.** A request first takes one of [`ServeConfig::max_queue`] slots (none
//! free: `503` with `Retry-After`), then reads at most [`ServeConfig::max_body_bytes`] (`413`
//! beyond), reads the image header only and refuses zero-sized images and images over
//! [`ServeConfig::max_pixels`] before any pixel is decoded (`422`), decodes, and waits for a model
//! worker. So memory is bounded by about `max_queue × (max_body + 16 · max_pixels)` bytes (RGB image,
//! f32 map, encoded answer) plus the model's own.
//!
//! **Batching** ([`batcher`]): [`ServeConfig::workers`] threads each take the first waiting image,
//! then whatever else arrives within [`ServeConfig::max_wait`], up to [`ServeConfig::max_batch`]
//! images, and run them through the model as one batch. A model error or panic fails that batch's
//! requests with `500`; the server keeps serving.
//!
//! **Errors** are JSON, `{"error": CODE, "message": TEXT}`, with a 4xx status for anything the
//! client sent ([`ApiError`]). **Shutdown**: the future given to [`serve`] (SIGTERM or Ctrl-C for
//! the `salient serve` command, see [`shutdown_signal`]) stops accepting connections, lets
//! in-flight requests finish, then stops the model workers.
//!
//! ```no_run
//! # async fn run(predictor: salient_train::Predictor) -> Result<(), salient_serve::ServeError> {
//! use std::sync::Arc;
//! use salient_serve::{serve, shutdown_signal, ModelInfo, ServeConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(salient_serve::ServeError::Bind)?;
//! serve(listener, Arc::new(predictor), ModelInfo::default(), ServeConfig::default(), shutdown_signal()).await
//! # }
//! ```

pub mod batcher;
pub mod config;
pub mod error;
pub mod image_input;
pub mod metrics;
pub mod model;
mod page;
pub mod render;
mod routes;
mod server;

pub use config::ServeConfig;
pub use error::{ApiError, ServeError};
pub use model::{ModelInfo, SaliencyModel};
pub use render::OutputFormat;
pub use server::{router, serve, shutdown_signal, AppState};
