//! Serving bindings: the model table, the HTTP server and the in-process request batcher, with
//! Python models plugged into the Rust batcher.
//!
//! The batcher's dispatcher threads are Rust threads that attach to Python once per batch to
//! call the model; the HTTP threads never touch Python. Conversions between raw tensor bytes
//! and NumPy arrays happen in `aidot.serving._convert`, called once per batch.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aidot_core::serving::{
    Batcher, BatcherConfig, DataType, LoadedModel, ModelInfo, ModelTable, Predictor, Priority,
    RowError, RowRequest, SubmitError, Tensor, TensorSpec,
};
use aidot_server::{LoadError, ModelLoader, Server, ServerConfig, ThreadSetup};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};

use crate::errors::{
    InvalidArgumentError, ModelExecutionError, ModelUnloadedError, QueueFullError,
    RequestTimeoutError, ServerStartError,
};

/// A Python callable `(data: bytes, dtype: str, shape: tuple) -> (dtype, shape, bytes)` run on
/// each batch (see `aidot.serving._convert.batch_caller`).
struct PyPredictor {
    call: Py<PyAny>,
}

impl Predictor for PyPredictor {
    fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
        Python::attach(|py| -> PyResult<Result<Tensor, String>> {
            // A bytearray, so the NumPy batch over it is writable (models may work in place,
            // and torch.from_numpy warns on read-only memory); the copy is the same as bytes'.
            let data = PyByteArray::new(py, &batch.data);
            let shape = PyTuple::new(py, &batch.shape)?;
            let result = self.call.call1(py, (data, batch.dtype.numpy(), shape))?;
            let (dtype, shape, bytes): (Bound<'_, PyString>, Vec<usize>, Bound<'_, PyBytes>) =
                result.extract(py)?;
            let dtype = dtype.to_str()?;
            let Some(dtype) = DataType::from_numpy(dtype) else {
                return Ok(Err(format!(
                    "the model returned an array of dtype {dtype}, which no protocol datatype carries; return numbers, booleans or strings"
                )));
            };
            Ok(Ok(Tensor {
                dtype,
                shape,
                data: bytes.as_bytes().to_vec(),
            }))
        })
        .unwrap_or_else(|err| Err(err.to_string()))
    }

    fn run_dispatcher(&self, body: &mut (dyn FnMut() + Send)) {
        attached_for_life(body);
    }
}

/// Keeps a thread that runs models (the dispatcher, an HTTP thread) attached to Python for its
/// whole life, so that each model call does not create and destroy a thread state (measured:
/// 40 us -> 16 us per call of an identity model), with the GIL released but for the calls: the
/// dispatcher holding it between batches would deadlock with an HTTP thread running a batch
/// when the model closes (the dispatcher waits for that batch to finish).
fn attached_for_life(body: &mut (dyn FnMut() + Send)) {
    Python::attach(|py| py.detach(body));
}

fn config(
    max_batch_size: usize,
    max_delay_ms: f64,
    queue_capacity: usize,
    preferred_batch_sizes: Vec<usize>,
    timeout_ms: Option<f64>,
    latency_target_ms: Option<f64>,
) -> PyResult<BatcherConfig> {
    let millis = |value: f64, what: &str| -> PyResult<Duration> {
        Duration::try_from_secs_f64(value / 1e3).map_err(|_| {
            InvalidArgumentError::new_err(format!(
                "{what} must be a non-negative number of milliseconds, not {value}"
            ))
        })
    };
    let config = BatcherConfig {
        max_batch_size,
        max_delay: millis(max_delay_ms, "max_delay_ms")?,
        queue_capacity,
        preferred_batch_sizes,
        timeout: timeout_ms.map(|t| millis(t, "timeout_ms")).transpose()?,
        latency_target: latency_target_ms
            .map(|t| millis(t, "latency_target_ms"))
            .transpose()?,
    };
    config.validate().map_err(InvalidArgumentError::new_err)?;
    Ok(config)
}

fn spec((name, dtype, shape): (String, String, Vec<i64>)) -> PyResult<TensorSpec> {
    let dtype = DataType::from_numpy(&dtype).ok_or_else(|| {
        InvalidArgumentError::new_err(format!(
            "tensor '{name}' has dtype {dtype}, which no protocol datatype carries"
        ))
    })?;
    Ok(TensorSpec { name, dtype, shape })
}

/// The models a server serves, by name.
#[pyclass(name = "ModelTable", module = "aidot._core", frozen)]
pub(crate) struct PyModelTable {
    inner: Arc<ModelTable>,
}

#[pymethods]
impl PyModelTable {
    #[new]
    fn new() -> Self {
        Self {
            inner: Arc::new(ModelTable::new()),
        }
    }

    /// Serves `call` as `name`, replacing (hot swap) a model of that name.
    #[pyo3(signature = (name, call, *, version, platform, source, inputs, outputs, max_batch_size, max_delay_ms, queue_capacity, preferred_batch_sizes, timeout_ms, latency_target_ms, loaded_at_ms))]
    #[allow(clippy::too_many_arguments)]
    fn load(
        &self,
        name: String,
        call: Py<PyAny>,
        version: String,
        platform: String,
        source: Option<String>,
        inputs: Vec<(String, String, Vec<i64>)>,
        outputs: Vec<(String, String, Vec<i64>)>,
        max_batch_size: usize,
        max_delay_ms: f64,
        queue_capacity: usize,
        preferred_batch_sizes: Vec<usize>,
        timeout_ms: Option<f64>,
        latency_target_ms: Option<f64>,
        loaded_at_ms: u64,
    ) -> PyResult<()> {
        let inputs: Vec<TensorSpec> = inputs.into_iter().map(spec).collect::<PyResult<_>>()?;
        let outputs: Vec<TensorSpec> = outputs.into_iter().map(spec).collect::<PyResult<_>>()?;
        let Some(input) = inputs.first() else {
            return Err(InvalidArgumentError::new_err(format!(
                "model '{name}' declares no input; serving needs the input's dtype and shape"
            )));
        };
        let config = config(
            max_batch_size,
            max_delay_ms,
            queue_capacity,
            preferred_batch_sizes,
            timeout_ms,
            latency_target_ms,
        )?;
        let batcher = Batcher::start(
            &name,
            Arc::new(PyPredictor { call }),
            input.dtype,
            config,
            self.inner.metrics_for(&name),
        )
        .map_err(PyRuntimeError::new_err)?;
        self.inner.insert(LoadedModel {
            info: ModelInfo {
                name,
                version,
                platform,
                source,
                inputs,
                outputs,
                loaded_at_ms,
            },
            batcher,
        });
        Ok(())
    }

    /// Stops serving `name`; `False` if it was not served.
    fn unload(&self, name: &str) -> bool {
        self.inner.remove(name).is_some()
    }

    /// Names of the served models, sorted.
    fn names(&self) -> Vec<String> {
        self.inner
            .list()
            .iter()
            .map(|m| m.info.name.clone())
            .collect()
    }

    /// The model's description as JSON (as `GET /api/models/{name}` shows it), or `None`.
    fn describe(&self, name: &str) -> Option<String> {
        self.inner
            .get(name)
            .map(|model| aidot_server::describe(&model).to_string())
    }

    /// The model's metrics snapshot as JSON, or `None`.
    fn metrics(&self, name: &str) -> Option<String> {
        self.inner.get(name).map(|model| {
            let snapshot = model
                .batcher
                .metrics()
                .snapshot(model.batcher.queue_depth());
            serde_json::to_string(&snapshot).expect("serializable")
        })
    }
}

/// Calls back into a Python object's `_http_load(name, uri)` / `_http_unload(name)`, which
/// return `None` on success or `(kind, message)` with kind `"not_found"`, `"invalid"` or `"failed"`.
struct PyLoader {
    target: Py<PyAny>,
}

impl PyLoader {
    fn call(
        &self,
        invoke: impl for<'py> FnOnce(Python<'py>, &Py<PyAny>) -> PyResult<Py<PyAny>>,
    ) -> Result<(), LoadError> {
        Python::attach(|py| {
            let outcome = invoke(py, &self.target)
                .and_then(|value| value.extract::<Option<(String, String)>>(py));
            match outcome {
                Ok(None) => Ok(()),
                Ok(Some((kind, message))) => Err(match kind.as_str() {
                    "not_found" => LoadError::NotFound(message),
                    "invalid" => LoadError::Invalid(message),
                    _ => LoadError::Failed(message),
                }),
                Err(err) => Err(LoadError::Failed(err.to_string())),
            }
        })
    }
}

impl ModelLoader for PyLoader {
    fn load(&self, name: &str, uri: &str) -> Result<(), LoadError> {
        self.call(|py, target| target.call_method1(py, "_http_load", (name, uri)))
    }

    fn unload(&self, name: &str) -> Result<(), LoadError> {
        self.call(|py, target| target.call_method1(py, "_http_unload", (name,)))
    }
}

/// A running HTTP server.
#[pyclass(name = "Server", module = "aidot._core", frozen)]
pub(crate) struct PyServer {
    inner: Mutex<Option<Server>>,
    state: Arc<aidot_server::AppState>,
    host: String,
    port: u16,
}

impl Drop for PyServer {
    /// A server dropped while running (garbage collected, or left at exit) stops with the GIL
    /// released: its in-flight requests need the models, and the models need the GIL.
    fn drop(&mut self) {
        let server = self
            .inner
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut server) = server {
            Python::attach(|py| py.detach(move || server.stop()));
        }
    }
}

#[pymethods]
impl PyServer {
    #[new]
    #[pyo3(signature = (table, loader, *, host, port, reuse_port, max_body_bytes, token, overload_status, threads, header_read_timeout_s, body_read_timeout_s, drain_timeout_s))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        table: &PyModelTable,
        loader: Option<Py<PyAny>>,
        host: String,
        port: u16,
        reuse_port: bool,
        max_body_bytes: usize,
        token: Option<String>,
        overload_status: u16,
        threads: usize,
        header_read_timeout_s: f64,
        body_read_timeout_s: f64,
        drain_timeout_s: f64,
    ) -> PyResult<Self> {
        let seconds = |value: f64, what: &str| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                InvalidArgumentError::new_err(format!(
                    "{what} must be a non-negative number of seconds"
                ))
            })
        };
        let config = ServerConfig {
            host: host.clone(),
            port,
            reuse_port,
            max_body_bytes,
            token,
            overload_status,
            header_read_timeout: seconds(header_read_timeout_s, "header_read_timeout")?,
            body_read_timeout: seconds(body_read_timeout_s, "body_read_timeout")?,
            threads,
            drain_timeout: seconds(drain_timeout_s, "drain_timeout")?,
        };
        config.validate().map_err(InvalidArgumentError::new_err)?;
        let table = Arc::clone(&table.inner);
        let loader = loader.map(|target| Arc::new(PyLoader { target }) as Arc<dyn ModelLoader>);
        let attach: ThreadSetup = Arc::new(attached_for_life);
        let server = py
            .detach(|| Server::start(table, loader, config, Some(&attach)))
            .map_err(ServerStartError::new_err)?;
        Ok(Self {
            port: server.local_addr().port(),
            state: Arc::clone(server.state()),
            inner: Mutex::new(Some(server)),
            host,
        })
    }

    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    #[getter]
    fn host(&self) -> &str {
        &self.host
    }

    /// Whether the server still serves.
    #[getter]
    fn running(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(Server::is_running)
    }

    /// Stops accepting, lets in-flight requests finish, then returns (the GIL is released, so
    /// the models can finish their batches).
    fn stop(&self, py: Python<'_>) {
        let server = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut server) = server {
            py.detach(move || server.stop());
        }
    }

    /// The Prometheus text of `GET /metrics`.
    fn prometheus(&self) -> String {
        aidot_server::prometheus::render(&self.state)
    }
}

/// An in-process batcher: rows submitted from many Python threads run through `call` in
/// batches.
#[pyclass(name = "RequestBatcher", module = "aidot._core", frozen)]
pub(crate) struct PyRequestBatcher {
    inner: Batcher,
}

#[pymethods]
impl PyRequestBatcher {
    #[new]
    #[pyo3(signature = (name, call, dtype, *, max_batch_size, max_delay_ms, queue_capacity, preferred_batch_sizes, timeout_ms, latency_target_ms))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &str,
        call: Py<PyAny>,
        dtype: &str,
        max_batch_size: usize,
        max_delay_ms: f64,
        queue_capacity: usize,
        preferred_batch_sizes: Vec<usize>,
        timeout_ms: Option<f64>,
        latency_target_ms: Option<f64>,
    ) -> PyResult<Self> {
        let dtype = DataType::from_numpy(dtype).ok_or_else(|| {
            InvalidArgumentError::new_err(format!("dtype {dtype} has no protocol datatype"))
        })?;
        let config = config(
            max_batch_size,
            max_delay_ms,
            queue_capacity,
            preferred_batch_sizes,
            timeout_ms,
            latency_target_ms,
        )?;
        let batcher = Batcher::start(
            name,
            Arc::new(PyPredictor { call }),
            dtype,
            config,
            Arc::new(aidot_core::serving::PerformanceMetrics::new()),
        )
        .map_err(PyRuntimeError::new_err)?;
        Ok(Self { inner: batcher })
    }

    /// Runs one row (raw bytes of the batcher's dtype, with its shape) and returns its output
    /// `(dtype, shape, bytes)`; blocks with the GIL released.
    #[pyo3(signature = (data, shape, priority = 1, timeout_ms = None))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        data: Vec<u8>,
        shape: Vec<usize>,
        priority: u8,
        timeout_ms: Option<f64>,
    ) -> PyResult<(&'static str, Vec<usize>, Bound<'py, PyBytes>)> {
        let priority = match priority {
            0 => Priority::High,
            1 => Priority::Normal,
            _ => Priority::Low,
        };
        let timeout = timeout_ms
            .map(|t| Duration::try_from_secs_f64(t / 1e3))
            .transpose()
            .map_err(|_| InvalidArgumentError::new_err("timeout_ms must be non-negative"))?;
        let request = RowRequest {
            data,
            shape: shape.into(),
            priority,
            timeout,
        };
        let started = std::time::Instant::now();
        let output = py.detach(|| {
            self.inner
                .submit(request)
                .map(aidot_core::serving::Ticket::wait)
        });
        let output = match output {
            Ok(Ok(output)) => output,
            Err(err @ SubmitError::QueueFull { .. }) => {
                return Err(QueueFullError::new_err(err.to_string()))
            }
            Err(err @ SubmitError::Closed) => {
                return Err(ModelUnloadedError::new_err(err.to_string()))
            }
            Ok(Err(err @ RowError::Closed)) => {
                return Err(ModelUnloadedError::new_err(err.to_string()))
            }
            Ok(Err(err @ RowError::Timeout(_))) => {
                return Err(RequestTimeoutError::new_err(err.to_string()))
            }
            Ok(Err(RowError::Model(message))) => {
                return Err(ModelExecutionError::new_err(message.to_string()))
            }
        };
        self.inner.metrics().record_request(started.elapsed(), 1);
        Ok((
            output.dtype().numpy(),
            output.shape().to_vec(),
            PyBytes::new(py, output.bytes()),
        ))
    }

    /// Rows waiting.
    #[getter]
    fn queue_depth(&self) -> usize {
        self.inner.queue_depth()
    }

    /// The metrics snapshot as JSON.
    fn metrics(&self) -> String {
        let snapshot = self.inner.metrics().snapshot(self.inner.queue_depth());
        serde_json::to_string(&snapshot).expect("serializable")
    }

    /// Refuses new rows; queued ones still run.
    fn close(&self) {
        self.inner.close();
    }
}
