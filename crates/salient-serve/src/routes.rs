//! Request handlers and the metrics middleware.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, MatchedPath, Multipart, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::error::ApiError;
use crate::image_input::decode_image;
use crate::page::PAGE;
use crate::render::{render, OutputFormat};
use crate::server::AppState;

/// Times every request and counts it by route and status.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state.shared.metrics.observe_request(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

pub(crate) async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    // Everything the page needs is inline; it talks to this server only.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             img-src 'self' blob: data:; connect-src 'self'; form-action 'none'",
        ),
    );
    response
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub(crate) async fn model(State(state): State<AppState>) -> Response {
    let config = &state.shared.config;
    let mut info = serde_json::to_value(&state.shared.info).unwrap_or_default();
    info["server"] = serde_json::json!({
        "max_batch": config.max_batch,
        "max_wait_ms": config.max_wait.as_secs_f64() * 1000.0,
        "max_queue": config.max_queue,
        "max_body_bytes": config.max_body_bytes,
        "max_pixels": config.max_pixels,
        "workers": config.workers,
    });
    Json(info).into_response()
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.shared.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; the server answers GET /, GET /healthz, GET /v1/model, GET /metrics and POST /v1/predict",
    )
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method (predictions are POST /v1/predict)",
    )
}

#[derive(Deserialize)]
pub(crate) struct PredictQuery {
    #[serde(default)]
    format: OutputFormat,
}

/// Decrements the in-flight gauge when the request ends, however it ends.
struct InFlight(Arc<crate::metrics::Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// `POST /v1/predict`: admission, body, header check, decode, model, encoding.
pub(crate) async fn predict(
    State(state): State<AppState>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let shared = &state.shared;
    let format = query
        .map_err(|e| {
            ApiError::bad_request(
                "bad_query",
                format!(
                    "{}; format is one of png, overlay, npy, json",
                    e.body_text()
                ),
            )
        })?
        .0
        .format;
    let Ok(_permit) = Arc::clone(&shared.admission).try_acquire_owned() else {
        shared.metrics.reject("queue_full");
        return Err(ApiError::queue_full(
            shared.config.max_queue,
            shared.config.retry_after_s,
        ));
    };
    shared.metrics.in_flight.inc();
    let _in_flight = InFlight(Arc::clone(&shared.metrics));

    let bytes = tokio::time::timeout(shared.body_timeout, read_image_bytes(request, &state))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {} s",
                    shared.body_timeout.as_secs()
                ),
            )
        })??;
    let max_pixels = shared.config.max_pixels;
    let image = tokio::task::spawn_blocking(move || decode_image(&bytes, max_pixels))
        .await
        .map_err(|e| ApiError::internal(format!("decoding task failed: {e}")))??;
    let image = Arc::new(image);
    let answer = shared.batcher.submit(Arc::clone(&image)).inspect_err(|e| {
        shared.metrics.reject(e.code);
    })?;
    let map = answer
        .await
        .map_err(|_| ApiError::model_failed("the model worker stopped before answering"))??;
    let worker_state = state.clone();
    let body = tokio::task::spawn_blocking(move || {
        render(format, &map, &image, &worker_state.shared.info)
    })
    .await
    .map_err(|e| ApiError::internal(format!("encoding task failed: {e}")))??;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// The image's bytes: the whole body, or the `image` (else the first file) field of a
/// `multipart/form-data` body. Over the body limit: `413`.
async fn read_image_bytes(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.shared.config.max_body_bytes;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_multipart {
        return read_raw_body(request, limit).await;
    }
    let mut form = Multipart::from_request(request, state)
        .await
        .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?;
    let form_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(limit)
        } else {
            ApiError::bad_request("bad_multipart", e.body_text())
        }
    };
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        if field.name() == Some("image") || field.file_name().is_some() {
            return field.bytes().await.map_err(form_error);
        }
    }
    Err(ApiError::bad_request(
        "no_image_field",
        "the multipart form has no field named `image` and no file field",
    ))
}

/// The whole body, at most `limit` bytes (beyond: `413`).
///
/// Past the limit the rest of the body is still read and thrown away, up to [`DRAIN_FACTOR`] ×
/// `limit`, before answering: clients that send their whole body before reading the answer
/// (Python's `urllib` and `requests`, for one) would otherwise see the connection reset instead
/// of the `413`. Memory stays at `limit`.
async fn read_raw_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    let drain_cap = limit.saturating_mul(DRAIN_FACTOR);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > drain_cap as u64) {
        // Too large to be worth reading even to throw away.
        return Err(ApiError::body_too_large(limit));
    }
    let mut body = request.into_body();
    let mut kept = Vec::with_capacity(declared.map_or(0, |n| n.min(limit as u64) as usize));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::bad_request("bad_body", format!("reading the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else {
            kept = Vec::new();
            if seen > drain_cap {
                break;
            }
        }
    }
    if seen > limit {
        return Err(ApiError::body_too_large(limit));
    }
    Ok(Bytes::from(kept))
}

/// How much of an over-limit body is read and discarded before answering `413`, as a multiple
/// of the limit.
const DRAIN_FACTOR: usize = 4;
