//! The admin HTTP endpoint on its own port: `/metrics` (Prometheus text),
//! `/healthz` (the process answers) and `/readyz` (accepting, not shutting
//! down, and the upstream answers with a 220 greeting).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::metrics::metrics;
use crate::state::Shared;
use crate::upstream::UpstreamClient;

/// Whether doorman should receive new connections.
#[derive(Debug, Default)]
pub struct Readiness {
    shutting_down: AtomicBool,
}

impl Readiness {
    /// Marks the start of a shutdown: `/readyz` fails from now on.
    pub fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// A shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct AdminState {
    shared: Arc<ArcSwap<Shared>>,
    ready: Arc<Readiness>,
}

/// Serves the admin endpoint until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<ArcSwap<Shared>>,
    ready: Arc<Readiness>,
    stop: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState { shared, ready });
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await {
        warn!(error = %e, "admin endpoint failed");
    }
}

async fn metrics_page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics().encode())
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    if state.ready.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    let shared = state.shared.load_full();
    let mut upstream = shared.config.upstream.clone();
    upstream.connect_timeout = shared.config.admin.probe_timeout;
    match UpstreamClient::connect(&upstream, None).await {
        Ok((client, greeting)) if greeting.code() == 220 => {
            client.close_quietly().await;
            match tokio::time::timeout(shared.config.admin.probe_timeout.0, shared.scan.probe()).await {
                Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
                Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("scanner unreachable: {e}\n")),
                Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "scanner probe timed out\n".into()),
            }
        }
        Ok((client, greeting)) => {
            client.close_quietly().await;
            (StatusCode::SERVICE_UNAVAILABLE, format!("upstream greeted with {}\n", greeting.code()))
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("upstream unreachable: {e}\n")),
    }
}
