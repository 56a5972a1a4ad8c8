//! Reading request bodies within the size limit and the client's time allowance.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;
use crate::state::AppState;

/// The whole body, or 413 when it is over the limit and 408 when the client is too slow.
pub async fn read(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let collect = Limited::new(body, limit).collect();
    match tokio::time::timeout(state.config.body_read_timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<LengthLimitError>() => Err(ApiError::too_large(limit)),
        Ok(Err(err)) => Err(ApiError::bad_request(format!("cannot read the request body: {err}"))),
        Err(_) => Err(ApiError {
            kind: Some(aidot_core::serving::ErrorKind::BadRequest),
            ..ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s; send it faster or in smaller requests",
                    state.config.body_read_timeout.as_secs_f64()
                ),
            )
        }),
    }
}

/// Parses JSON into `T`, naming the path of the first offending field. The fast path is plain
/// `serde_json`; only a body that fails is parsed again with path tracking, for the message.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let outcome: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let Err(err) = outcome else {
        // Only trailing characters after a valid value can fail the plain parse here.
        let detail = deserializer
            .end()
            .err()
            .map_or_else(String::new, |err| format!(": {err}"));
        return Err(ApiError::bad_request(format!("invalid JSON body{detail}")));
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    Err(if path == "." {
        ApiError::bad_request(format!("invalid JSON body: {inner}"))
    } else {
        ApiError::bad_request(format!("invalid JSON body at '{path}': {inner}"))
    })
}
