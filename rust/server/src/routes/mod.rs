//! The routes, one module per family, and the few that belong to none.

pub mod seed;
pub mod v2;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use crate::error::{json_ok, ApiError};
use crate::prometheus;
use crate::state::AppState;

/// The OpenAPI document describing every route.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(seed::routes())
        .merge(v2::routes())
        .route("/api/inference/metrics", get(metrics_json))
        .route("/api/inference/metrics/{model}", get(model_metrics_json))
        .route("/api/inference/stats", get(stats_json))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn metrics_json(State(state): State<Arc<AppState>>) -> Response {
    let models: Map<String, Value> = state
        .table
        .list()
        .iter()
        .map(|m| {
            let snapshot = m.batcher.metrics().snapshot(m.batcher.queue_depth());
            (
                m.info.name.clone(),
                serde_json::to_value(snapshot).expect("serializable"),
            )
        })
        .collect();
    let errors: Map<String, Value> = state
        .errors
        .counts()
        .into_iter()
        .map(|(kind, count)| (kind.to_owned(), Value::from(count)))
        .collect();
    json_ok(&json!({
        "uptime_s": state.started.elapsed().as_secs_f64(),
        "models": models,
        "server_errors": errors,
    }))
}

async fn model_metrics_json(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Response {
    state
        .model(&name, None)
        .map_or_else(IntoResponse::into_response, |m| {
            json_ok(&m.batcher.metrics().snapshot(m.batcher.queue_depth()))
        })
}

/// One line per model: the numbers a dashboard shows first.
async fn stats_json(State(state): State<Arc<AppState>>) -> Response {
    let models: Vec<_> = state
        .table
        .list()
        .iter()
        .map(|m| {
            let s = m.batcher.metrics().snapshot(m.batcher.queue_depth());
            json!({
                "model": m.info.name,
                "version": m.info.version,
                "requests_total": s.requests_total,
                "requests_per_second": s.requests_per_second,
                "rows_per_second": s.rows_per_second,
                "p50_ms": s.end_to_end.p50_ms,
                "p95_ms": s.end_to_end.p95_ms,
                "p99_ms": s.end_to_end.p99_ms,
                "batch_size_mean": s.batch_size_mean,
                "batch_utilization": s.batch_utilization,
                "queue_depth": s.queue_depth,
                "errors_total": s.errors.values().sum::<u64>(),
            })
        })
        .collect();
    json_ok(&json!({ "models": models }))
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        prometheus::render(&state),
    )
        .into_response()
}

/// Answers from the HTTP threads alone, whatever the models are doing.
async fn healthz() -> Response {
    json_ok(&json!({ "status": "ok" }))
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(format!(
        "no route {}; GET /openapi.json describes every route",
        uri.path()
    ))
    .into_response()
}

async fn method_not_allowed(uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not accept this method; GET /openapi.json describes every route",
            uri.path()
        ),
    )
    .into_response()
}
