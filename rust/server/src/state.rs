//! What every handler shares: the served models, the loader that brings models in from the
//! registry, the settings and the server-wide error counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aidot_core::serving::{ErrorKind, LoadedModel, ModelTable};
use axum::http::{HeaderMap, StatusCode};

use crate::config::ServerConfig;
use crate::error::ApiError;

/// Loads and unloads models by name for the management routes. The Python bindings implement it
/// over `ModelRepository`, which resolves `models:/` URIs in the registry; calls run on a
/// blocking thread, never on the HTTP threads.
pub trait ModelLoader: Send + Sync + 'static {
    /// Loads the model at `uri` (`models:/churn@Production`) and serves it as `name`.
    fn load(&self, name: &str, uri: &str) -> Result<(), LoadError>;
    /// Stops serving `name`.
    fn unload(&self, name: &str) -> Result<(), LoadError>;
}

/// Why a load or unload failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The model, version, stage or alias does not exist (404).
    NotFound(String),
    /// The request cannot work as given (400).
    Invalid(String),
    /// Loading failed for another reason (500).
    Failed(String),
}

impl From<LoadError> for ApiError {
    fn from(err: LoadError) -> Self {
        match err {
            LoadError::NotFound(message) => ApiError::not_found(message),
            LoadError::Invalid(message) => ApiError::bad_request(message),
            LoadError::Failed(message) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message),
        }
    }
}

/// Shared state of one server.
pub struct AppState {
    pub table: Arc<ModelTable>,
    pub loader: Option<Arc<dyn ModelLoader>>,
    pub config: ServerConfig,
    pub started: Instant,
    /// Set when `stop` begins: readiness turns false while in-flight requests finish.
    pub draining: AtomicBool,
    /// Errors not attributable to a loaded model (unknown model, unauthenticated...), by kind.
    pub errors: ServerErrors,
}

impl AppState {
    pub fn new(
        table: Arc<ModelTable>,
        loader: Option<Arc<dyn ModelLoader>>,
        config: ServerConfig,
    ) -> Self {
        Self {
            table,
            loader,
            config,
            started: Instant::now(),
            draining: AtomicBool::new(false),
            errors: ServerErrors::default(),
        }
    }

    /// The model served as `name` (and `version`, when given), or the 404 that says why not.
    pub fn model(&self, name: &str, version: Option<&str>) -> Result<Arc<LoadedModel>, ApiError> {
        let Some(model) = self.table.get(name) else {
            self.errors.count_not_found();
            return Err(ApiError::unknown_model(name));
        };
        match version {
            Some(version) if version != model.info.version => {
                self.errors.count_not_found();
                Err(ApiError::not_found(format!(
                    "model '{name}' version '{version}' is not loaded; version '{}' is",
                    model.info.version
                )))
            }
            _ => Ok(model),
        }
    }

    /// Refuses management calls without the configured token, and all of them on a
    /// non-loopback address without a token.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.config.token else {
            if self.config.is_loopback() {
                return Ok(());
            }
            self.errors.count_unauthorized();
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "model management is disabled: the server listens on {} without a token; set a token (aidot serve --token, or AIDOT_SERVE_TOKEN) to enable it",
                    self.config.host
                ),
            ));
        };
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if presented
            .is_some_and(|presented| constant_time_eq(presented.as_bytes(), token.as_bytes()))
        {
            Ok(())
        } else {
            self.errors.count_unauthorized();
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "model management requires the server's token: send 'Authorization: Bearer <token>'",
            ))
        }
    }

    /// Counts `err` against `model` (when it names a kind).
    pub fn count(&self, model: Option<&LoadedModel>, err: &ApiError) {
        if let Some(kind) = err.kind {
            match model {
                Some(model) => model.batcher.metrics().record_error(kind),
                None => self.errors.count(kind),
            }
        }
    }
}

/// Compares secrets without an early exit that would leak how much of the token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Server-wide error counters.
#[derive(Default)]
pub struct ServerErrors {
    by_kind: [AtomicU64; ErrorKind::ALL.len()],
    not_found: AtomicU64,
    unauthorized: AtomicU64,
}

impl ServerErrors {
    pub fn count(&self, kind: ErrorKind) {
        self.by_kind[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_not_found(&self) {
        self.not_found.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }

    /// `(kind, count)` for every counter.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        let mut counts: Vec<_> = ErrorKind::ALL
            .into_iter()
            .map(|kind| {
                (
                    kind.as_str(),
                    self.by_kind[kind as usize].load(Ordering::Relaxed),
                )
            })
            .collect();
        counts.push(("not_found", self.not_found.load(Ordering::Relaxed)));
        counts.push(("unauthorized", self.unauthorized.load(Ordering::Relaxed)));
        counts
    }
}
