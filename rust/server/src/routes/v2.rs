//! The Open Inference Protocol v2 REST API (KServe, Triton): health, metadata, inference with
//! JSON or binary tensors, the model repository extension and statistics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aidot_core::serving::tensor::bytes_element_ends;
use aidot_core::serving::{DataType, LoadedModel, Priority};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::body::{parse_json, read};
use crate::error::{json_ok, ApiError};
use crate::infer::{self, concat, Rows};
use crate::routes::seed::{load, unload};
use crate::state::AppState;
use crate::values::{push_json_tree, write_json_elements};

const HEADER_LENGTH: &str = "inference-header-content-length";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/stats", get(all_stats))
        .route("/v2/models/{name}", get(metadata))
        .route("/v2/models/{name}/versions/{version}", get(metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready),
        )
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer))
        .route("/v2/models/{name}/stats", get(stats))
        .route("/v2/models/{name}/versions/{version}/stats", get(stats))
        .route("/v2/repository/index", post(repository_index))
        .route("/v2/repository/models/{name}/load", post(repository_load))
        .route(
            "/v2/repository/models/{name}/unload",
            post(repository_unload),
        )
}

async fn server_metadata() -> Response {
    json_ok(&json!({
        "name": "aidot",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "model_repository", "statistics"],
    }))
}

async fn live() -> Response {
    json_ok(&json!({ "live": true }))
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
        .into_response()
    } else {
        json_ok(&json!({ "ready": true }))
    }
}

fn metadata_of(model: &LoadedModel) -> Value {
    json!({
        "name": model.info.name,
        "versions": [model.info.version],
        "platform": format!("aidot_{}", model.info.platform),
        "inputs": model.info.inputs,
        "outputs": model.info.outputs,
    })
}

/// A model route's path: the name, and the version when the route has one.
#[derive(Deserialize)]
struct ModelPath {
    name: String,
    #[serde(default)]
    version: Option<String>,
}

impl ModelPath {
    fn lookup(&self, state: &AppState) -> Result<Arc<LoadedModel>, ApiError> {
        state.model(&self.name, self.version.as_deref())
    }
}

async fn metadata(State(state): State<Arc<AppState>>, Path(path): Path<ModelPath>) -> Response {
    path.lookup(&state)
        .map_or_else(IntoResponse::into_response, |m| json_ok(&metadata_of(&m)))
}

async fn model_ready(State(state): State<Arc<AppState>>, Path(path): Path<ModelPath>) -> Response {
    path.lookup(&state)
        .map_or_else(IntoResponse::into_response, |m| {
            json_ok(&json!({ "name": m.info.name, "ready": true }))
        })
}

#[derive(Deserialize)]
struct InferRequest {
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<InferInput>,
    #[serde(default)]
    outputs: Vec<RequestedOutput>,
}

#[derive(Deserialize)]
struct InferInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

async fn infer(
    State(state): State<Arc<AppState>>,
    Path(path): Path<ModelPath>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    infer::answer(&state, path.lookup(&state), |model| {
        infer_rows(&state, model, headers, body, started)
    })
    .await
}

async fn infer_rows(
    state: &AppState,
    model: Arc<LoadedModel>,
    headers: HeaderMap,
    body: Body,
    started: Instant,
) -> Result<Response, ApiError> {
    let bytes = read(state, &headers, body).await?;
    let (json_part, mut binary) = split_binary(&headers, &bytes)?;
    let request: InferRequest = parse_json(json_part)?;
    let rows = input_rows(&model, &request, &mut binary)?;
    let row_count = rows.data.len();
    let (model, outputs) = infer::run(state, model, &rows).await?;
    let (dtype, shape, data) = concat(&outputs)?;

    let output_spec_name = model
        .info
        .outputs
        .first()
        .map_or_else(|| "output".to_owned(), |spec| spec.name.clone());
    let binary_all = request
        .parameters
        .get("binary_data_output")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut binary_output = binary_all;
    if let Some(requested) = request.outputs.first() {
        if request.outputs.len() > 1 || requested.name != output_spec_name {
            let names: Vec<_> = request.outputs.iter().map(|o| o.name.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "model '{}' has one output, '{output_spec_name}'; the request asks for {names:?}",
                model.info.name
            )));
        }
        if let Some(flag) = requested
            .parameters
            .get("binary_data")
            .and_then(Value::as_bool)
        {
            binary_output = flag;
        }
    }

    let mut header_json = Vec::with_capacity(128 + data.len() * 3);
    header_json.extend_from_slice(b"{\"model_name\":");
    serde_json::to_writer(&mut header_json, &model.info.name).expect("Vec");
    header_json.extend_from_slice(b",\"model_version\":");
    serde_json::to_writer(&mut header_json, &model.info.version).expect("Vec");
    if let Some(id) = &request.id {
        header_json.extend_from_slice(b",\"id\":");
        serde_json::to_writer(&mut header_json, id).expect("Vec");
    }
    header_json.extend_from_slice(b",\"outputs\":[{\"name\":");
    serde_json::to_writer(&mut header_json, &output_spec_name).expect("Vec");
    header_json.extend_from_slice(format!(",\"datatype\":\"{dtype}\",\"shape\":").as_bytes());
    serde_json::to_writer(&mut header_json, &shape).expect("Vec");
    let elapsed = started.elapsed();
    model.batcher.metrics().record_request(elapsed, row_count);
    if binary_output {
        header_json.extend_from_slice(
            format!(
                ",\"parameters\":{{\"binary_data_size\":{}}}}}]}}",
                data.len()
            )
            .as_bytes(),
        );
        let json_length = header_json.len();
        header_json.extend_from_slice(&data);
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                ),
                (
                    header::HeaderName::from_static(HEADER_LENGTH),
                    HeaderValue::from(json_length),
                ),
            ],
            header_json,
        )
            .into_response());
    }
    header_json.extend_from_slice(b",\"data\":[");
    write_json_elements(dtype, &data, &mut header_json);
    header_json.extend_from_slice(b"]}]}");
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        header_json,
    )
        .into_response())
}

/// The JSON part of the body and the binary tensor data after it (binary extension).
fn split_binary<'a>(
    headers: &HeaderMap,
    body: &'a Bytes,
) -> Result<(&'a [u8], &'a [u8]), ApiError> {
    let Some(value) = headers.get(HEADER_LENGTH) else {
        return Ok((body, &[]));
    };
    let length = value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .ok_or_else(|| {
            ApiError::bad_request("Inference-Header-Content-Length must be a byte count")
        })?;
    if length > body.len() {
        return Err(ApiError::bad_request(format!(
            "Inference-Header-Content-Length is {length} but the body has only {} bytes",
            body.len()
        )));
    }
    Ok(body.split_at(length))
}

/// The request's single input, checked against the model and split into rows.
fn input_rows(
    model: &LoadedModel,
    request: &InferRequest,
    binary: &mut &[u8],
) -> Result<Rows, ApiError> {
    let name = &model.info.name;
    let [input] = request.inputs.as_slice() else {
        let expected = model.input().map_or("input", |spec| spec.name.as_str());
        return Err(ApiError::bad_request(format!(
            "model '{name}' takes exactly one input ('{expected}'); the request has {}",
            request.inputs.len()
        )));
    };
    let Some(dtype) = DataType::from_v2_name(&input.datatype) else {
        let known: Vec<_> = DataType::ALL.iter().map(|t| t.v2_name()).collect();
        return Err(ApiError::bad_request(format!(
            "inputs[0].datatype '{}' is not a protocol datatype; use one of {known:?}",
            input.datatype
        )));
    };
    let shape: Vec<usize> = input
        .shape
        .iter()
        .map(|&dim| usize::try_from(dim))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::bad_request(format!(
                "inputs[0].shape {:?} has a negative dimension",
                input.shape
            ))
        })?;
    let Some((&rows, row_shape)) = shape.split_first() else {
        return Err(ApiError::bad_request(
            "inputs[0].shape is empty; the first dimension is the batch (rows)",
        ));
    };
    if let Some(spec) = model.input() {
        if spec.name != input.name {
            return Err(ApiError::bad_request(format!(
                "model '{name}' has no input '{}'; its input is '{}'",
                input.name, spec.name
            )));
        }
        if spec.dtype != dtype {
            return Err(ApiError::bad_request(format!(
                "input '{}' is {dtype} but model '{name}' takes {}",
                input.name, spec.dtype
            )));
        }
        let expected = spec.row_shape();
        let fits = expected.len() == row_shape.len()
            && expected
                .iter()
                .zip(row_shape)
                .all(|(&want, &got)| want == -1 || usize::try_from(want) == Ok(got));
        if !fits {
            return Err(ApiError::bad_request(format!(
                "input '{}' has shape {:?}; model '{name}' takes {:?} (-1: any size)",
                input.name, input.shape, spec.shape
            )));
        }
    }
    if rows == 0 {
        return Err(ApiError::bad_request(
            "inputs[0] has no rows (its first dimension is 0)",
        ));
    }
    let data = input_data(input, dtype, shape.iter().product(), binary)?;
    let tensor = aidot_core::serving::Tensor {
        dtype,
        shape: shape.clone(),
        data,
    };
    let offsets = tensor.row_offsets().map_err(ApiError::bad_request)?;
    let data = offsets
        .windows(2)
        .map(|bounds| tensor.data[bounds[0]..bounds[1]].to_vec())
        .collect();
    Ok(Rows {
        dtype,
        shape: row_shape.into(),
        data,
        priority: priority(&request.parameters)?,
        timeout: request
            .parameters
            .get("timeout")
            .and_then(Value::as_u64)
            .map(Duration::from_micros),
    })
}

/// The input's elements as raw bytes: from the binary part of the body when it declares a
/// `binary_data_size`, else from its JSON `data`.
fn input_data(
    input: &InferInput,
    dtype: DataType,
    elements: usize,
    binary: &mut &[u8],
) -> Result<Vec<u8>, ApiError> {
    if let Some(size) = input.parameters.get("binary_data_size") {
        let size = size
            .as_u64()
            .and_then(|size| usize::try_from(size).ok())
            .ok_or_else(|| {
                ApiError::bad_request("inputs[0].parameters.binary_data_size must be a byte count")
            })?;
        if size > binary.len() {
            return Err(ApiError::bad_request(format!(
                "inputs[0] declares {size} bytes of binary data but only {} follow the JSON header",
                binary.len()
            )));
        }
        let (mine, rest) = binary.split_at(size);
        *binary = rest;
        check_binary(dtype, mine, elements)?;
        return Ok(mine.to_vec());
    }
    let Some(value) = &input.data else {
        return Err(ApiError::bad_request(
            "inputs[0] has neither 'data' nor parameters.binary_data_size",
        ));
    };
    let mut out = Vec::with_capacity(elements * dtype.size().unwrap_or(8));
    let count =
        push_json_tree(dtype, value, "inputs[0].data", &mut out).map_err(ApiError::bad_request)?;
    if count != elements {
        return Err(ApiError::bad_request(format!(
            "inputs[0].data has {count} elements but shape {:?} calls for {elements}",
            input.shape
        )));
    }
    Ok(out)
}

fn check_binary(dtype: DataType, data: &[u8], elements: usize) -> Result<(), ApiError> {
    match dtype.size() {
        Some(size) if data.len() == elements * size => Ok(()),
        Some(size) => Err(ApiError::bad_request(format!(
            "inputs[0] has {} bytes of binary data but its shape calls for {elements} {dtype} elements ({} bytes)",
            data.len(),
            elements * size
        ))),
        None => bytes_element_ends(data, elements)
            .map(|_| ())
            .map_err(|err| ApiError::bad_request(format!("inputs[0] binary data: {err}"))),
    }
}

/// Triton's convention: priority 1 is the highest, larger numbers are lower, 0 is the default.
fn priority(parameters: &Map<String, Value>) -> Result<Priority, ApiError> {
    match parameters.get("priority") {
        None => Ok(Priority::Normal),
        Some(value) => match value.as_u64() {
            Some(0 | 2) => Ok(Priority::Normal),
            Some(1) => Ok(Priority::High),
            Some(_) => Ok(Priority::Low),
            None => Err(ApiError::bad_request(
                "parameters.priority must be a non-negative integer (1 is the highest)",
            )),
        },
    }
}

fn stats_of(model: &LoadedModel) -> Value {
    let snapshot = model
        .batcher
        .metrics()
        .snapshot(model.batcher.queue_depth());
    #[allow(clippy::cast_sign_loss)] // means and counts are never negative
    let ns = |histogram: &aidot_core::serving::histogram::LatencySummary| {
        (histogram.mean_ms * 1e6 * histogram.count as f64) as u64
    };
    let failures: u64 = snapshot.errors.values().sum();
    json!({
        "name": model.info.name,
        "version": model.info.version,
        "last_inference": snapshot.last_inference_ms,
        "inference_count": snapshot.rows_total,
        "execution_count": snapshot.batches_total,
        "inference_stats": {
            "success": { "count": snapshot.requests_total, "ns": ns(&snapshot.end_to_end) },
            "fail": { "count": failures, "ns": 0 },
            "queue": { "count": snapshot.queue_wait.count, "ns": ns(&snapshot.queue_wait) },
            "compute_infer": { "count": snapshot.compute.count, "ns": ns(&snapshot.compute) },
        },
        "batch_stats": snapshot.batch_size_distribution.iter().map(|(size, count)| json!({
            "batch_size": size,
            "compute_infer": { "count": count },
        })).collect::<Vec<_>>(),
    })
}

async fn all_stats(State(state): State<Arc<AppState>>) -> Response {
    let all: Vec<_> = state.table.list().iter().map(|m| stats_of(m)).collect();
    json_ok(&json!({ "model_stats": all }))
}

async fn stats(State(state): State<Arc<AppState>>, Path(path): Path<ModelPath>) -> Response {
    path.lookup(&state)
        .map_or_else(IntoResponse::into_response, |m| {
            json_ok(&json!({ "model_stats": [stats_of(&m)] }))
        })
}

async fn repository_index(State(state): State<Arc<AppState>>) -> Response {
    let index: Vec<_> = state
        .table
        .list()
        .iter()
        .map(|m| json!({ "name": m.info.name, "version": m.info.version, "state": "READY", "reason": "" }))
        .collect();
    json_ok(&index)
}

#[derive(Deserialize, Default)]
struct RepositoryLoad {
    #[serde(default)]
    parameters: Map<String, Value>,
}

async fn repository_load(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        state.authorize(&headers)?;
        let bytes = read(&state, &headers, body).await?;
        let request: RepositoryLoad = if bytes.iter().all(u8::is_ascii_whitespace) {
            RepositoryLoad::default()
        } else {
            parse_json(&bytes)?
        };
        // Without a URI, the name's Production version (the registry's convention).
        let uri = match request.parameters.get("uri") {
            Some(Value::String(uri)) => uri.clone(),
            Some(_) => return Err(ApiError::bad_request("parameters.uri must be a string")),
            None => format!("models:/{name}@Production"),
        };
        load(&state, name, uri).await?;
        Ok(json_ok(&json!({})))
    }
    .await;
    result.unwrap_or_else(|err: ApiError| err.into_response())
}

async fn repository_unload(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        state.authorize(&headers)?;
        state.model(&name, None)?;
        unload(&state, name).await?;
        Ok(json_ok(&json!({})))
    }
    .await;
    result.unwrap_or_else(|err: ApiError| err.into_response())
}
