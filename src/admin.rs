//! The admin HTTP endpoint on its own port: `/metrics` (Prometheus text),
//! `/healthz` (the process answers) and `/readyz` (see [`crate::readiness`]).

use std::sync::Arc;

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
use crate::readiness::Readiness;
use crate::state::Shared;

#[derive(Clone)]
struct AdminState {
    shared: Arc<ArcSwap<Shared>>,
    ready: Arc<Readiness>,
}

/// Serves the admin endpoint until `stop` is cancelled.
pub(crate) async fn serve(
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
    let shared = state.shared.load_full();
    let report = state.ready.check(&shared).await;
    let status = if report.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, format!("{}\n", report.detail))
}
