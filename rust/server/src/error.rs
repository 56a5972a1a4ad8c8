//! Errors as HTTP answers: a status and a JSON body `{"error": "..."}` that names the problem
//! and, where there is one, the fix. The Open Inference Protocol uses the same body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use aidot_core::serving::ErrorKind;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds a client should wait before retrying (overload answers).
    pub retry_after: Option<u32>,
    /// The error counter it belongs to, if any.
    pub kind: Option<ErrorKind>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            kind: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            kind: Some(ErrorKind::BadRequest),
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unknown_model(name: &str) -> Self {
        Self::not_found(format!(
            "no model named '{name}' is loaded; GET /api/models lists the loaded models"
        ))
    }

    pub fn too_large(limit: usize) -> Self {
        Self {
            kind: Some(ErrorKind::TooLarge),
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than the server's limit of {limit} bytes; send fewer rows per request"),
            )
        }
    }

    pub fn model_failed(message: impl Into<String>) -> Self {
        Self {
            kind: Some(ErrorKind::Model),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
        }
    }

    /// An overload answer (503, or 429 when so configured) with `Retry-After: 1`.
    pub fn overloaded(status: u16, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            kind: Some(kind),
            ..Self::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                message,
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON answer with status 200.
pub fn json_ok(value: &impl serde::Serialize) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::to_vec(value).expect("serializable"),
    )
        .into_response()
}
