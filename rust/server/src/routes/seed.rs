//! The AiDotNet.Serving contract: `/api/inference/predict/{model}` and `/api/models`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aidot_core::serving::{DataType, LoadedModel, Priority};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use crate::body::{parse_json, read};
use crate::error::{json_ok, ApiError};
use crate::infer::{self, expected_input, Rows};
use crate::state::AppState;
use crate::values::{push_number, write_json_elements};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/inference/predict/{model}", post(predict))
        .route("/api/models", get(list_models).post(load_model))
        .route("/api/models/{name}", get(get_model).delete(unload_model))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PredictRequest {
    features: Vec<Vec<f64>>,
    request_id: Option<String>,
    #[serde(default)]
    priority: PriorityName,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum PriorityName {
    High,
    #[default]
    Normal,
    Low,
}

impl From<PriorityName> for Priority {
    fn from(name: PriorityName) -> Self {
        match name {
            PriorityName::High => Priority::High,
            PriorityName::Normal => Priority::Normal,
            PriorityName::Low => Priority::Low,
        }
    }
}

async fn predict(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    infer::answer(&state, state.model(&name, None), |model| {
        predict_rows(&state, model, headers, body, started)
    })
    .await
}

async fn predict_rows(
    state: &AppState,
    model: Arc<LoadedModel>,
    headers: HeaderMap,
    body: Body,
    started: Instant,
) -> Result<Response, ApiError> {
    let bytes = read(state, &headers, body).await?;
    let request: PredictRequest = parse_json(&bytes)?;
    let rows = feature_rows(&model, &request)?;
    let row_count = rows.data.len();
    let (model, outputs) = infer::run(state, model, &rows).await?;

    let mut out =
        Vec::with_capacity(64 + outputs.iter().map(|o| o.bytes().len() * 3).sum::<usize>());
    out.extend_from_slice(b"{\"predictions\":[");
    for (index, output) in outputs.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.push(b'[');
        write_json_elements(output.dtype(), output.bytes(), &mut out);
        out.push(b']');
    }
    out.extend_from_slice(b"],\"requestId\":");
    serde_json::to_writer(&mut out, &request.request_id).expect("writing to a Vec");
    let batch_size = outputs
        .iter()
        .map(aidot_core::serving::RowOutput::batch_size)
        .max()
        .unwrap_or(0);
    let elapsed = started.elapsed();
    // To the microsecond: more digits of the float (0.24083000000000002) say nothing.
    let millis = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    write!(
        out,
        ",\"processingTimeMs\":{millis},\"batchSize\":{batch_size}}}"
    )
    .expect("writing to a Vec");
    model.batcher.metrics().record_request(elapsed, row_count);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        out,
    )
        .into_response())
}

/// The request's feature rows in the model's input type, checked against its row shape.
fn feature_rows(model: &LoadedModel, request: &PredictRequest) -> Result<Rows, ApiError> {
    let name = &model.info.name;
    let Some(first) = request.features.first() else {
        return Err(ApiError::bad_request(
            "'features' is empty; send at least one row, e.g. {\"features\": [[1.0, 2.0]]}",
        ));
    };
    let (dtype, row_shape) = expected_input(model, DataType::Fp64);
    if dtype == DataType::Bytes {
        return Err(ApiError::bad_request(format!(
            "model '{name}' takes BYTES (strings); send them through the V2 API (POST /v2/models/{name}/infer)"
        )));
    }
    let width = first.len();
    let shape: Vec<usize> = match row_shape.as_deref() {
        None => vec![width],
        Some([dim]) => {
            if *dim >= 0 && usize::try_from(*dim) != Ok(width) {
                return Err(ApiError::bad_request(format!(
                    "features[0] has {width} values; model '{name}' expects {dim} per row"
                )));
            }
            vec![width]
        }
        Some(dims) if dims.iter().all(|&dim| dim >= 0) => {
            let shape: Vec<usize> = dims
                .iter()
                .map(|&dim| usize::try_from(dim).unwrap_or(0))
                .collect();
            let expected: usize = shape.iter().product();
            if width != expected {
                return Err(ApiError::bad_request(format!(
                    "features[0] has {width} values; model '{name}' expects {expected} per row (rows of shape {dims:?}, flattened)"
                )));
            }
            shape
        }
        Some(dims) => {
            return Err(ApiError::bad_request(format!(
                "model '{name}' takes rows of shape {dims:?} with free dimensions; send explicit shapes through the V2 API (POST /v2/models/{name}/infer)"
            )));
        }
    };
    let size = dtype.size().unwrap_or(8);
    let mut data = Vec::with_capacity(request.features.len());
    for (index, row) in request.features.iter().enumerate() {
        if row.len() != width {
            return Err(ApiError::bad_request(format!(
                "features[{index}] has {} values but features[0] has {width}; every row needs the same number",
                row.len()
            )));
        }
        let mut bytes = Vec::with_capacity(width * size);
        for (column, &value) in row.iter().enumerate() {
            push_number(dtype, value, &mut bytes).map_err(|err| {
                ApiError::bad_request(format!("features[{index}][{column}]: {err}"))
            })?;
        }
        data.push(bytes);
    }
    Ok(Rows {
        dtype,
        shape: shape.into(),
        data,
        priority: request.priority.into(),
        timeout: request.timeout_ms.map(Duration::from_millis),
    })
}

/// A model's description as the seed API lists it.
pub fn describe(model: &LoadedModel) -> serde_json::Value {
    let config = model.batcher.config();
    json!({
        "name": model.info.name,
        "version": model.info.version,
        "format": model.info.platform,
        "source": model.info.source,
        "inputs": model.info.inputs,
        "outputs": model.info.outputs,
        "loadedAtMs": model.info.loaded_at_ms,
        "batching": {
            "maxBatchSize": config.max_batch_size,
            "currentBatchLimit": model.batcher.current_limit(),
            "maxDelayMs": config.max_delay.as_secs_f64() * 1e3,
            "queueCapacity": config.queue_capacity,
            "preferredBatchSizes": config.preferred_batch_sizes,
            "timeoutMs": config.timeout.map(|t| t.as_secs_f64() * 1e3),
            "latencyTargetMs": config.latency_target.map(|t| t.as_secs_f64() * 1e3),
        },
        "queueDepth": model.batcher.queue_depth(),
    })
}

async fn list_models(State(state): State<Arc<AppState>>) -> Response {
    let models: Vec<_> = state.table.list().iter().map(|m| describe(m)).collect();
    json_ok(&models)
}

async fn get_model(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    match state.model(&name, None) {
        Ok(model) => json_ok(&describe(&model)),
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
struct LoadRequest {
    name: String,
    uri: String,
}

async fn load_model(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        state.authorize(&headers)?;
        let bytes = read(&state, &headers, body).await?;
        let request: LoadRequest = parse_json(&bytes)?;
        if state.table.get(&request.name).is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "a model named '{}' is already loaded; DELETE /api/models/{} first, or load under another name",
                    request.name, request.name
                ),
            ));
        }
        load(&state, request.name.clone(), request.uri).await?;
        let model = state.model(&request.name, None)?;
        Ok((StatusCode::CREATED, json_ok(&describe(&model))).into_response())
    }
    .await;
    result.unwrap_or_else(|err: ApiError| {
        state.count(None, &err);
        err.into_response()
    })
}

async fn unload_model(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        state.authorize(&headers)?;
        state.model(&name, None)?;
        unload(&state, name).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    result.unwrap_or_else(|err: ApiError| err.into_response())
}

/// Loads through the model loader on a blocking thread.
pub async fn load(state: &Arc<AppState>, name: String, uri: String) -> Result<(), ApiError> {
    let Some(loader) = state.loader.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this server was started without a model repository, so it cannot load models by URI",
        ));
    };
    tokio::task::spawn_blocking(move || loader.load(&name, &uri))
        .await
        .map_err(|err| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("loading failed: {err}"),
            )
        })?
        .map_err(ApiError::from)
}

/// Unloads through the model loader (or straight from the table without one).
pub async fn unload(state: &Arc<AppState>, name: String) -> Result<(), ApiError> {
    let Some(loader) = state.loader.clone() else {
        state.table.remove(&name);
        return Ok(());
    };
    tokio::task::spawn_blocking(move || loader.unload(&name))
        .await
        .map_err(|err| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("unloading failed: {err}"),
            )
        })?
        .map_err(ApiError::from)
}
