//! The HTTP API driven through the router, with Rust models standing in for Python ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use aidot_core::serving::{
    Batcher, BatcherConfig, DataType, LoadedModel, ModelInfo, ModelTable, Predictor, Tensor,
    TensorSpec,
};
use aidot_server::{router, AppState, LoadError, ModelLoader, ServerConfig};
use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

/// `y = 2x` on float32 rows; can be made to fail or be held shut.
#[derive(Default)]
struct Doubler {
    fail: AtomicBool,
    shut: Mutex<bool>,
    opened: Condvar,
}

impl Predictor for Doubler {
    fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
        let mut shut = self.shut.lock().unwrap();
        while *shut {
            shut = self.opened.wait(shut).unwrap();
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err("ValueError: the model refuses".into());
        }
        let data = batch
            .data
            .chunks_exact(4)
            .flat_map(|b| (f32::from_le_bytes(b.try_into().unwrap()) * 2.0).to_le_bytes())
            .collect();
        Ok(Tensor { data, ..batch })
    }
}

fn spec(name: &str, width: i64) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: DataType::Fp32,
        shape: vec![-1, width],
    }
}

fn serve_doubler(table: &ModelTable, name: &str, config: BatcherConfig) -> Arc<Doubler> {
    let doubler = Arc::new(Doubler::default());
    let batcher = Batcher::start(
        name,
        doubler.clone(),
        DataType::Fp32,
        config,
        table.metrics_for(name),
    )
    .unwrap();
    table.insert(LoadedModel {
        info: ModelInfo {
            name: name.into(),
            version: "3".into(),
            platform: "numpy".into(),
            source: Some(format!("models:/{name}/3")),
            inputs: vec![spec("input", 3)],
            outputs: vec![spec("output", 3)],
            loaded_at_ms: 0,
        },
        batcher,
    });
    doubler
}

/// Loads a doubler under any name whose URI starts with `models:/`.
struct Loader(Arc<ModelTable>);

impl ModelLoader for Loader {
    fn load(&self, name: &str, uri: &str) -> Result<(), LoadError> {
        if !uri.starts_with("models:/") {
            return Err(LoadError::Invalid(format!("{uri} is not a models:/ URI")));
        }
        serve_doubler(&self.0, name, BatcherConfig::default());
        Ok(())
    }

    fn unload(&self, name: &str) -> Result<(), LoadError> {
        self.0
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| LoadError::NotFound(name.into()))
    }
}

struct Api {
    app: axum::Router,
    doubler: Arc<Doubler>,
}

fn api(config: ServerConfig, batching: BatcherConfig) -> Api {
    let table = Arc::new(ModelTable::new());
    let doubler = serve_doubler(&table, "m", batching);
    let loader = Arc::new(Loader(Arc::clone(&table)));
    let state = Arc::new(AppState::new(table, Some(loader), config));
    Api {
        app: router(state),
        doubler,
    }
}

async fn call(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, headers, body)
}

async fn json_call(app: &axum::Router, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let (status, _, body) = call(app, request).await;
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()))
    };
    (status, value)
}

fn error_of(value: &Value) -> &str {
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {value}"))
}

#[tokio::test]
async fn seed_predict_answers_each_row_with_the_contract_fields() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let (status, body) = json_call(
        &api.app,
        "POST",
        "/api/inference/predict/m",
        r#"{"features": [[1, 2, 3], [0.5, -1, 0]], "requestId": "r-1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["predictions"],
        json!([[2.0, 4.0, 6.0], [1.0, -2.0, 0.0]])
    );
    assert_eq!(body["requestId"], "r-1");
    assert!(body["processingTimeMs"].as_f64().unwrap() >= 0.0);
    assert!(body["batchSize"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn bad_seed_bodies_get_400_naming_the_problem() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let cases = [
        (
            "{\"features\": [[1, 2]]}",
            "features[0] has 2 values; model 'm' expects 3",
        ),
        (
            "{\"features\": [[1, 2, 3], [1, 2]]}",
            "features[1] has 2 values but features[0] has 3",
        ),
        ("{\"features\": [[1, \"x\", 3]]}", "features[0][1]"),
        ("{\"features\": [[1, NaN, 3]]}", "invalid JSON body"),
        ("{\"features\": []}", "'features' is empty"),
        ("{\"rows\": [[1, 2, 3]]}", "missing field `features`"),
        ("{\"features\": [[1, 2, 3]]", "invalid JSON body"),
        ("{\"features\": [[1e300, 2, 3]]}", "outside the FP32 range"),
        (
            "{\"features\": [[1, 2, 3]], \"priority\": \"urgent\"}",
            "priority",
        ),
    ];
    for (body, expected) in cases {
        let (status, value) = json_call(&api.app, "POST", "/api/inference/predict/m", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert!(error_of(&value).contains(expected), "{body}: {value}");
    }
    let (status, value) = json_call(&api.app, "POST", "/api/inference/predict/nope", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_of(&value).contains("no model named 'nope'"));
    // Every bad request was counted against the model, and it still serves.
    let (_, metrics) = json_call(&api.app, "GET", "/api/inference/metrics/m", "").await;
    assert_eq!(metrics["errors"]["bad_request"], cases.len());
    let (status, _) = json_call(
        &api.app,
        "POST",
        "/api/inference/predict/m",
        "{\"features\": [[1, 2, 3]]}",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let api = api(
        ServerConfig {
            max_body_bytes: 64,
            ..ServerConfig::default()
        },
        BatcherConfig::default(),
    );
    let body = format!("{{\"features\": [{}]}}", vec!["[1, 2, 3]"; 20].join(","));
    let (status, value) = json_call(&api.app, "POST", "/api/inference/predict/m", &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(&value).contains("limit of 64 bytes"));
}

#[tokio::test]
async fn a_failing_model_fails_its_requests_and_keeps_serving() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    api.doubler.fail.store(true, Ordering::SeqCst);
    let body = "{\"features\": [[1, 2, 3]]}";
    let (status, value) = json_call(&api.app, "POST", "/api/inference/predict/m", body).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        error_of(&value).contains("ValueError: the model refuses"),
        "{value}"
    );
    api.doubler.fail.store(false, Ordering::SeqCst);
    let (status, _) = json_call(&api.app, "POST", "/api/inference/predict/m", body).await;
    assert_eq!(status, StatusCode::OK);
    let (_, metrics) = json_call(&api.app, "GET", "/api/inference/metrics/m", "").await;
    assert_eq!(metrics["errors"]["model_error"], 1);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_or_429_when_configured() {
    for (overload_status, expected) in [
        (503, StatusCode::SERVICE_UNAVAILABLE),
        (429, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let api = api(
            ServerConfig {
                overload_status,
                ..ServerConfig::default()
            },
            BatcherConfig {
                queue_capacity: 1,
                max_batch_size: 1,
                ..BatcherConfig::default()
            },
        );
        *api.doubler.shut.lock().unwrap() = true;
        let body = "{\"features\": [[1, 2, 3]]}";
        let request = |app: axum::Router| async move {
            json_call(&app, "POST", "/api/inference/predict/m", body).await
        };
        // One row runs (held shut), one waits: the queue is then full.
        let running = tokio::spawn(request(api.app.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = tokio::spawn(request(api.app.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = Request::builder()
            .method("POST")
            .uri("/api/inference/predict/m")
            .body(Body::from(body))
            .unwrap();
        let (status, headers, reply) = call(&api.app, refused).await;
        assert_eq!(status, expected);
        assert_eq!(headers["retry-after"], "1");
        assert!(String::from_utf8_lossy(&reply).contains("queue of 1 rows is full"));
        *api.doubler.shut.lock().unwrap() = false;
        api.doubler.opened.notify_all();
        assert_eq!(running.await.unwrap().0, StatusCode::OK);
        assert_eq!(waiting.await.unwrap().0, StatusCode::OK);
    }
}

#[tokio::test]
async fn v2_metadata_health_and_json_inference() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let (status, server) = json_call(&api.app, "GET", "/v2", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(server["extensions"]
        .as_array()
        .unwrap()
        .contains(&json!("binary_tensor_data")));
    assert_eq!(
        json_call(&api.app, "GET", "/v2/health/live", "").await.0,
        StatusCode::OK
    );
    assert_eq!(
        json_call(&api.app, "GET", "/v2/health/ready", "").await.0,
        StatusCode::OK
    );
    assert_eq!(
        json_call(&api.app, "GET", "/v2/models/m/ready", "").await.0,
        StatusCode::OK
    );
    assert_eq!(
        json_call(&api.app, "GET", "/v2/models/m/versions/3/ready", "")
            .await
            .0,
        StatusCode::OK
    );
    let (status, missing) = json_call(&api.app, "GET", "/v2/models/m/versions/2", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_of(&missing).contains("version '2' is not loaded; version '3' is"));

    let (_, metadata) = json_call(&api.app, "GET", "/v2/models/m", "").await;
    assert_eq!(metadata["versions"], json!(["3"]));
    assert_eq!(
        metadata["inputs"][0],
        json!({"name": "input", "datatype": "FP32", "shape": [-1, 3]})
    );

    let request = json!({
        "id": "abc",
        "inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}],
    });
    let (status, reply) = json_call(
        &api.app,
        "POST",
        "/v2/models/m/versions/3/infer",
        &request.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["id"], "abc");
    assert_eq!(reply["model_version"], "3");
    assert_eq!(reply["outputs"][0]["shape"], json!([2, 3]));
    assert_eq!(reply["outputs"][0]["datatype"], "FP32");
    assert_eq!(
        reply["outputs"][0]["data"],
        json!([2.0, 4.0, 6.0, 8.0, 10.0, 12.0])
    );

    let (_, statistics) = json_call(&api.app, "GET", "/v2/models/m/stats", "").await;
    assert_eq!(statistics["model_stats"][0]["inference_count"], 2);
}

#[tokio::test]
async fn v2_binary_tensors_in_and_out() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let header = json!({
        "inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}],
        "outputs": [{"name": "output", "parameters": {"binary_data": true}}],
    })
    .to_string();
    let mut body = header.clone().into_bytes();
    for value in [1.0f32, -2.0, 0.25] {
        body.extend_from_slice(&value.to_le_bytes());
    }
    let request = Request::builder()
        .method("POST")
        .uri("/v2/models/m/infer")
        .header("inference-header-content-length", header.len())
        .body(Body::from(body))
        .unwrap();
    let (status, headers, reply) = call(&api.app, request).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let json_length: usize = headers["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let meta: Value = serde_json::from_slice(&reply[..json_length]).unwrap();
    assert_eq!(meta["outputs"][0]["parameters"]["binary_data_size"], 12);
    let values: Vec<f32> = reply[json_length..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(values, vec![2.0, -4.0, 0.5]);
}

#[tokio::test]
async fn bad_v2_requests_get_400_naming_the_problem() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let input = |shape: Value, datatype: &str, data: Value| {
        json!({"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]})
            .to_string()
    };
    let cases = [
        (input(json!([1, 3]), "FP64", json!([1, 2, 3])), "is FP64 but model 'm' takes FP32"),
        (input(json!([1, 2]), "FP32", json!([1, 2])), "takes [-1, 3]"),
        (input(json!([1, 3]), "FP32", json!([1, 2])), "has 2 elements but shape [1, 3] calls for 3"),
        (input(json!([1, 3]), "FLOAT", json!([1, 2, 3])), "not a protocol datatype"),
        (input(json!([1, 3]), "FP32", json!([1, "a", 3])), "inputs[0].data[1]"),
        (input(json!([0, 3]), "FP32", json!([])), "no rows"),
        (json!({"inputs": []}).to_string(), "exactly one input"),
        (json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}).to_string(), "no input 'x'"),
    ];
    for (body, expected) in cases {
        let (status, value) = json_call(&api.app, "POST", "/v2/models/m/infer", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert!(error_of(&value).contains(expected), "{body}: {value}");
    }
}

#[tokio::test]
async fn management_loads_and_unloads_through_the_loader_with_auth() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let (status, loaded) = json_call(
        &api.app,
        "POST",
        "/api/models",
        r#"{"name": "n", "uri": "models:/n/1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    assert_eq!(loaded["name"], "n");
    let (status, conflict) = json_call(
        &api.app,
        "POST",
        "/api/models",
        r#"{"name": "n", "uri": "models:/n/1"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error_of(&conflict).contains("already loaded"));
    let (status, invalid) = json_call(
        &api.app,
        "POST",
        "/api/models",
        r#"{"name": "z", "uri": "s3://x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&invalid).contains("not a models:/ URI"));
    let (_, listed) = json_call(&api.app, "GET", "/api/models", "").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        json_call(&api.app, "DELETE", "/api/models/n", "").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        json_call(&api.app, "DELETE", "/api/models/n", "").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, index) = json_call(&api.app, "POST", "/v2/repository/index", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index[0]["state"], "READY");
    assert_eq!(
        json_call(&api.app, "POST", "/v2/repository/models/k/load", "")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        json_call(&api.app, "POST", "/v2/repository/models/k/unload", "")
            .await
            .0,
        StatusCode::OK
    );

    let guarded = api_with_token();
    let (status, value) = json_call(&guarded, "DELETE", "/api/models/m", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error_of(&value).contains("Bearer"));
    let request = Request::builder()
        .method("DELETE")
        .uri("/api/models/m")
        .header("authorization", "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&guarded, request).await.0, StatusCode::NO_CONTENT);

    let exposed = self::api(
        ServerConfig {
            host: "0.0.0.0".into(),
            ..ServerConfig::default()
        },
        BatcherConfig::default(),
    );
    let (status, value) =
        json_call(&exposed.app, "POST", "/v2/repository/models/m/unload", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error_of(&value).contains("set a token"));
}

fn api_with_token() -> axum::Router {
    api(
        ServerConfig {
            token: Some("s3cret".into()),
            ..ServerConfig::default()
        },
        BatcherConfig::default(),
    )
    .app
}

#[tokio::test]
async fn prometheus_text_has_histograms_in_seconds_and_counters() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    for _ in 0..3 {
        json_call(
            &api.app,
            "POST",
            "/api/inference/predict/m",
            "{\"features\": [[1, 2, 3]]}",
        )
        .await;
    }
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(&api.app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body).unwrap();
    for line in [
        "# TYPE aidot_request_duration_seconds histogram",
        "aidot_request_duration_seconds_bucket{model=\"m\",le=\"+Inf\"} 3",
        "aidot_request_duration_seconds_count{model=\"m\"} 3",
        "aidot_requests_total{model=\"m\"} 3",
        "aidot_batch_size_count{model=\"m\"} 3",
        "aidot_model_info{model=\"m\",version=\"3\",format=\"numpy\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let (status, value) = json_call(&api.app, "GET", "/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_of(&value).contains("openapi.json"));
    let (status, value) = json_call(&api.app, "GET", "/api/inference/predict/m", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(error_of(&value).contains("method"));
}

#[tokio::test]
async fn every_documented_route_exists() {
    let api = api(ServerConfig::default(), BatcherConfig::default());
    let document: Value = serde_json::from_str(aidot_server::OPENAPI).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 24, "{}", paths.len());
    for (path, operations) in paths {
        let concrete = path
            .replace("{model}", "m")
            .replace("{name}", "m")
            .replace("{version}", "3");
        for method in operations.as_object().unwrap().keys() {
            let (status, value) = json_call(&api.app, &method.to_uppercase(), &concrete, "").await;
            let routed = status != StatusCode::NOT_FOUND
                || !value["error"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("no route");
            assert!(routed, "{method} {path} is documented but not routed");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
}
