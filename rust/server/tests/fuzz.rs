//! Property tests of the request parsing: whatever the body, the server answers with a status
//! below 500 and a JSON error, never a panic or a 5xx from bad input.

use std::sync::Arc;

use aidot_core::serving::{
    Batcher, BatcherConfig, DataType, LoadedModel, ModelInfo, ModelTable, Predictor, Tensor,
    TensorSpec,
};
use aidot_server::{router, AppState, ServerConfig};
use axum::body::{to_bytes, Body};
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Identity;

impl Predictor for Identity {
    fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
        Ok(batch)
    }
}

fn app() -> axum::Router {
    let table = Arc::new(ModelTable::new());
    for (name, dtype) in [
        ("f", DataType::Fp32),
        ("i", DataType::Int64),
        ("s", DataType::Bytes),
    ] {
        let batcher = Batcher::start(
            name,
            Arc::new(Identity),
            dtype,
            BatcherConfig::default(),
            table.metrics_for(name),
        )
        .unwrap();
        let spec = |tensor: &str| TensorSpec {
            name: tensor.into(),
            dtype,
            shape: vec![-1, 3],
        };
        table.insert(LoadedModel {
            info: ModelInfo {
                name: name.into(),
                version: "1".into(),
                platform: "test".into(),
                source: None,
                inputs: vec![spec("input")],
                outputs: vec![spec("output")],
                loaded_at_ms: 0,
            },
            batcher,
        });
    }
    router(Arc::new(AppState::new(
        table,
        None,
        ServerConfig::default(),
    )))
}

fn status_of(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = Request::builder().method("POST").uri(uri);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
    })
}

/// Arbitrary JSON, biased toward the shapes the routes expect.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e40f64..1e40).prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("features".to_owned()),
                    Just("inputs".to_owned()),
                    Just("name".to_owned()),
                    Just("shape".to_owned()),
                    Just("datatype".to_owned()),
                    Just("data".to_owned()),
                    Just("parameters".to_owned()),
                    Just("binary_data_size".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn v2_request() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("input".to_owned()), "[a-z]{1,5}"],
        prop::collection::vec(-2i64..5, 0..4),
        prop_oneof![
            Just("FP32".to_owned()),
            Just("INT64".to_owned()),
            Just("BYTES".to_owned()),
            Just("BOOL".to_owned()),
            "[A-Z0-9]{2,6}"
        ],
        json_value(),
        prop::option::of(0u64..64),
    )
        .prop_map(|(name, shape, datatype, data, binary)| {
            let mut input =
                json!({"name": name, "shape": shape, "datatype": datatype, "data": data});
            if let Some(size) = binary {
                input["parameters"] = json!({"binary_data_size": size});
            }
            json!({"inputs": [input]})
        })
}

fn assert_client_error(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(
        status < 500,
        "status {status}: {}",
        String::from_utf8_lossy(body)
    );
    if status >= 400 {
        let value: Value = serde_json::from_slice(body)
            .map_err(|err| TestCaseError::fail(format!("error body is not JSON: {err}")))?;
        prop_assert!(value["error"].is_string(), "{value}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_get_a_5xx(body in prop::collection::vec(any::<u8>(), 0..256), model in "[fis]") {
        let app = app();
        for uri in [format!("/api/inference/predict/{model}"), format!("/v2/models/{model}/infer")] {
            let (status, reply) = status_of(&app, &uri, &[], body.clone());
            assert_client_error(status, &reply)?;
        }
    }

    #[test]
    fn arbitrary_json_never_gets_a_5xx(value in json_value(), model in "[fis]") {
        let app = app();
        let body = serde_json::to_vec(&value).unwrap();
        for uri in [format!("/api/inference/predict/{model}"), format!("/v2/models/{model}/infer")] {
            let (status, reply) = status_of(&app, &uri, &[], body.clone());
            assert_client_error(status, &reply)?;
        }
    }

    #[test]
    fn v2_requests_with_binary_parts_never_get_a_5xx(
        request in v2_request(),
        tail in prop::collection::vec(any::<u8>(), 0..64),
        declared in prop::option::of(0usize..512),
        model in "[fis]",
    ) {
        let app = app();
        let mut body = serde_json::to_vec(&request).unwrap();
        let length = declared.unwrap_or(body.len());
        body.extend_from_slice(&tail);
        let headers = [("inference-header-content-length", length.to_string())];
        let (status, reply) = status_of(&app, &format!("/v2/models/{model}/infer"), &headers, body);
        assert_client_error(status, &reply)?;
    }
}
