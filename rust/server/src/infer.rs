//! Running a request's rows through a model's batcher, whatever protocol they came in by.

use std::sync::Arc;
use std::time::Duration;

use aidot_core::serving::{
    DataType, ErrorKind, LoadedModel, Priority, RowError, RowOutput, RowRequest, RowShape,
    SubmitError,
};
use std::future::Future;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// A request's rows, already converted to the model's input type.
pub struct Rows {
    pub dtype: DataType,
    pub shape: RowShape,
    pub data: Vec<Vec<u8>>,
    pub priority: Priority,
    pub timeout: Option<Duration>,
}

/// Answers a request for `model` with `handle`, counting a failure against the model; an
/// unknown model answers its 404.
pub async fn answer<F, Fut>(
    state: &AppState,
    model: Result<Arc<LoadedModel>, ApiError>,
    handle: F,
) -> Response
where
    F: FnOnce(Arc<LoadedModel>) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let model = match model {
        Ok(model) => model,
        Err(err) => return err.into_response(),
    };
    match handle(Arc::clone(&model)).await {
        Ok(response) => response,
        Err(err) => {
            state.count(Some(&model), &err);
            err.into_response()
        }
    }
}

/// How many times a request follows a hot swap before giving up (each swap closes the model it
/// was sent to; only a swap storm exhausts this).
const SWAP_RETRIES: usize = 8;

/// Queues every row, then waits for all of them. A row refused because its model was replaced
/// meanwhile is sent to the model now served under the same name, so a hot swap fails nothing.
pub async fn run(
    state: &AppState,
    mut model: Arc<LoadedModel>,
    rows: &Rows,
) -> Result<(Arc<LoadedModel>, Vec<RowOutput>), ApiError> {
    let mut outputs: Vec<Option<RowOutput>> = vec![None; rows.data.len()];
    let mut pending: Vec<usize> = (0..rows.data.len()).collect();
    for _ in 0..SWAP_RETRIES {
        let requests = pending.iter().map(|&index| RowRequest {
            data: rows.data[index].clone(),
            shape: rows.shape.clone(),
            priority: rows.priority,
            timeout: rows.timeout,
        });
        let (submitted, queued) = model.batcher.enqueue(requests);
        // The requests this thread has already received queue their rows meanwhile, so one
        // model call, here if the model is free and quick, runs them all.
        tokio::task::yield_now().await;
        queued.run_here();
        let mut tickets = Vec::with_capacity(pending.len());
        let mut closed = Vec::new();
        for (&index, submitted) in pending.iter().zip(submitted) {
            match submitted {
                Ok(ticket) => tickets.push((index, ticket)),
                Err(SubmitError::Closed) => closed.push(index),
                Err(SubmitError::QueueFull { capacity }) => {
                    return Err(ApiError::overloaded(
                        state.config.overload_status,
                        ErrorKind::QueueFull,
                        format!(
                            "model '{}' is overloaded: its queue of {capacity} rows is full; retry after a moment",
                            model.info.name
                        ),
                    ));
                }
            }
        }
        for (index, ticket) in tickets {
            match ticket.output().await {
                Ok(output) => outputs[index] = Some(output),
                Err(RowError::Closed) => closed.push(index),
                // Timeouts and model failures are counted by the dispatcher, once per row.
                Err(err @ RowError::Timeout(_)) => {
                    return Err(ApiError {
                        kind: None,
                        ..ApiError::overloaded(
                            state.config.overload_status,
                            ErrorKind::Timeout,
                            format!("model '{}': {err}", model.info.name),
                        )
                    });
                }
                Err(RowError::Model(message)) => {
                    return Err(ApiError {
                        kind: None,
                        ..ApiError::model_failed(format!(
                            "model '{}' failed on its batch: {message}",
                            model.info.name
                        ))
                    });
                }
            }
        }
        if closed.is_empty() {
            let outputs = outputs
                .into_iter()
                .map(|o| o.expect("every row answered"))
                .collect();
            return Ok((model, outputs));
        }
        model = follow_swap(state, &model, rows)?;
        closed.sort_unstable();
        pending = closed;
    }
    Err(ApiError::overloaded(
        state.config.overload_status,
        ErrorKind::QueueFull,
        "the model was replaced repeatedly while the request waited; retry",
    ))
}

/// The model now served under the name of `old`, if it still takes rows of this kind.
fn follow_swap(
    state: &AppState,
    old: &LoadedModel,
    rows: &Rows,
) -> Result<Arc<LoadedModel>, ApiError> {
    let current = state.model(&old.info.name, None)?;
    let fits = current.batcher.dtype() == rows.dtype
        && current.input().is_none_or(|spec| {
            let row = spec.row_shape();
            row.len() == rows.shape.len()
                && row
                    .iter()
                    .zip(rows.shape.iter())
                    .all(|(&want, &got)| want == -1 || usize::try_from(want) == Ok(got))
        });
    if fits {
        Ok(current)
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "model '{}' was replaced by version {} with a different input while the request waited; send it again",
                old.info.name, current.info.version
            ),
        ))
    }
}

/// The row shape and element type a model takes: its signature's, or what the request sends
/// when the model declares none.
pub fn expected_input(model: &LoadedModel, fallback: DataType) -> (DataType, Option<Vec<i64>>) {
    match model.input() {
        Some(spec) => (spec.dtype, Some(spec.row_shape().to_vec())),
        None => (fallback, None),
    }
}

/// Output rows concatenated into one tensor's shape and bytes: `[rows, ...row shape]`.
pub fn concat(outputs: &[RowOutput]) -> Result<(DataType, Vec<usize>, Vec<u8>), ApiError> {
    let first = outputs
        .first()
        .ok_or_else(|| ApiError::bad_request("the request has no rows"))?;
    let row_shape = first.shape().to_vec();
    let mut data = Vec::with_capacity(outputs.iter().map(|o| o.bytes().len()).sum());
    for output in outputs {
        if output.shape() != row_shape.as_slice() || output.dtype() != first.dtype() {
            return Err(ApiError::model_failed(
                "the model returned rows of different shapes or types for one request",
            ));
        }
        data.extend_from_slice(output.bytes());
    }
    let mut shape = Vec::with_capacity(row_shape.len() + 1);
    shape.push(outputs.len());
    shape.extend(row_shape);
    Ok((first.dtype(), shape, data))
}
