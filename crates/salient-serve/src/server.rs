//! The server's shared state, its router and its life: [`serve`] until a shutdown signal, then
//! drain.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::batcher::{BatchConfig, Batcher};
use crate::config::ServeConfig;
use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::model::{ModelInfo, SaliencyModel};
use crate::routes;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub batcher: Batcher,
    pub metrics: Arc<Metrics>,
    pub info: ModelInfo,
    pub config: ServeConfig,
    /// One permit per admitted request ([`ServeConfig::max_queue`]).
    pub admission: Arc<Semaphore>,
    /// Longest a client may take to send its body once admitted.
    pub body_timeout: Duration,
}

impl AppState {
    /// Starts the model workers. `config` must be valid ([`ServeConfig::validate`]).
    pub fn new(model: Arc<dyn SaliencyModel>, info: ModelInfo, config: ServeConfig) -> Self {
        let metrics = Arc::new(Metrics::new(config.max_batch));
        let batcher = Batcher::start(
            model,
            BatchConfig {
                max_batch: config.max_batch,
                max_wait: config.max_wait,
                workers: config.workers,
                capacity: config.max_queue,
            },
            Arc::clone(&metrics),
        );
        Self {
            shared: Arc::new(Shared {
                batcher,
                metrics,
                info,
                admission: Arc::new(Semaphore::new(config.max_queue)),
                config,
                body_timeout: Duration::from_secs(60),
            }),
        }
    }

    /// Lets queued images finish and stops the model workers (blocks until they have).
    pub fn stop_workers(&self) {
        self.shared.batcher.shutdown();
    }
}

/// Every route, the metrics middleware, the body limit and JSON 404/405 answers.
pub fn router(state: AppState) -> Router {
    let body_limit = state.shared.config.max_body_bytes;
    Router::new()
        .route("/", get(routes::page))
        .route("/healthz", get(routes::healthz))
        .route("/v1/model", get(routes::model))
        .route("/metrics", get(routes::metrics))
        .route("/v1/predict", post(routes::predict))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::track,
        ))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes, then stops accepting connections, lets
/// in-flight requests finish, and stops the model workers.
pub async fn serve(
    listener: TcpListener,
    model: Arc<dyn SaliencyModel>,
    info: ModelInfo,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate().map_err(ServeError::Config)?;
    let state = AppState::new(model, info, config);
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve);
    let workers = state.clone();
    // Joining threads blocks: off the async runtime.
    let _ = tokio::task::spawn_blocking(move || workers.stop_workers()).await;
    served
}

/// Completes on SIGTERM or SIGINT (Ctrl-C): what `salient serve` drains on.
pub async fn shutdown_signal() {
    let interrupt = async {
        // Without a handler, wait for the other signal only.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
