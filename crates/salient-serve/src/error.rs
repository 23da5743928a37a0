//! Errors: [`ServeError`] stops the server (binding, serving); [`ApiError`] answers one request.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding the listening socket: {0}")]
    Bind(#[source] std::io::Error),
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
    #[error("invalid server configuration: {0}")]
    Config(String),
}

/// One request's failure: an HTTP status, a stable machine-readable code and a sentence for a
/// person. Rendered as `{"error": code, "message": message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `Retry-After` seconds (queue full, shutting down).
    pub retry_after_s: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// `400`: the request is malformed (empty body, bad form, bad query).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `413`: the body is over the limit.
    pub fn body_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body is over the limit of {limit_bytes} bytes ({:.1} MiB; server flag --max-body-mib)",
                limit_bytes as f64 / (1u64 << 20) as f64
            ),
        )
    }

    /// `503` with `Retry-After`: every queue slot is taken.
    pub fn queue_full(capacity: usize, retry_after_s: u32) -> Self {
        Self {
            retry_after_s: Some(retry_after_s),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                format!("the server is busy ({capacity} requests in progress); retry after {retry_after_s} s"),
            )
        }
    }

    /// `503`: the server is stopping and takes no new work.
    pub fn shutting_down() -> Self {
        Self {
            retry_after_s: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            )
        }
    }

    /// `500`: the model failed on this request's batch (the server itself keeps running).
    pub fn model_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "model_failed", message)
    }

    /// `500`: a bug on our side while handling the request.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
