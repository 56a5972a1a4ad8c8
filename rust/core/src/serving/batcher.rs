//! The request batcher: a bounded lock-free queue per model and one dispatcher thread that
//! turns waiting rows into batches.
//!
//! Whenever the model is free, the dispatcher takes what is waiting, up to the batch size limit.
//! With no `max_delay` (the default) it sends that at once, so a lone request is never held back
//! and batches grow by themselves under load, from the rows that queued while the model was busy.
//! With a `max_delay` it waits up to that long after the first row for more to arrive, but not
//! once the batch is full or has reached a preferred size. Rows are copied into one contiguous
//! buffer per batch, the model is called once, and each row's output goes back to its caller
//! through a one-shot channel.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tokio::sync::oneshot;

use super::metrics::{DispatchReason, ErrorKind, PerformanceMetrics};
use super::tensor::{DataType, RowShape, Tensor};

/// A model as the batcher calls it: one batch in, one output tensor out whose first dimension
/// has a row per input row. Called from the model's dispatcher thread only.
pub trait Predictor: Send + Sync + 'static {
    /// Runs the model on `batch`; an `Err` fails every request in the batch with its message.
    fn predict(&self, batch: Tensor) -> Result<Tensor, String>;

    /// Runs the whole dispatcher loop, `body`, on the dispatcher thread. Bindings wrap it to
    /// set up per-thread state once (a Python thread state, say) rather than once per batch.
    fn run_dispatcher(&self, body: &mut dyn FnMut()) {
        body();
    }

    /// Runs `wait` (the dispatcher sleeping until rows arrive) so that the model's runtime is
    /// free meanwhile: bindings release the GIL here.
    fn idle(&self, wait: &mut (dyn FnMut() + Send)) {
        wait();
    }
}

/// How the batcher forms batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatcherConfig {
    /// The most rows in one model call.
    pub max_batch_size: usize,
    /// How long a batch that is neither full nor at a preferred size may wait for more rows
    /// after its first arrived. Zero (the default) never holds a row back.
    pub max_delay: Duration,
    /// Rows that may wait in the queue; more are refused (the server answers 503).
    pub queue_capacity: usize,
    /// Batch sizes the model runs best at; a batch is cut to the largest one that fits.
    pub preferred_batch_sizes: Vec<usize>,
    /// How long a row may wait in the queue before it fails with a timeout, unless the request
    /// sets its own.
    pub timeout: Option<Duration>,
    /// Adaptive batching (additive increase, multiplicative decrease, as in Clipper): the batch
    /// size limit halves when a model call takes longer than this and grows by one when a full
    /// batch stays under it.
    pub latency_target: Option<Duration>,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_batch_size: 64,
            max_delay: Duration::ZERO,
            queue_capacity: 4096,
            preferred_batch_sizes: Vec::new(),
            timeout: None,
            latency_target: None,
        }
    }
}

impl BatcherConfig {
    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_batch_size == 0 {
            return Err("max_batch_size must be at least 1".into());
        }
        if self.queue_capacity == 0 {
            return Err("queue_capacity must be at least 1".into());
        }
        if let Some(&bad) = self
            .preferred_batch_sizes
            .iter()
            .find(|&&size| size == 0 || size > self.max_batch_size)
        {
            return Err(format!(
                "preferred batch size {bad} is outside 1..={} (max_batch_size)",
                self.max_batch_size
            ));
        }
        Ok(())
    }
}

/// How urgently a row should run: higher priorities are batched first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    High = 0,
    #[default]
    Normal = 1,
    Low = 2,
}

const PRIORITIES: usize = 3;

/// One row's result: the output tensor of its batch, shared, and where its row lies in it.
#[derive(Clone, Debug)]
pub struct RowOutput {
    batch: Arc<BatchOutput>,
    row: usize,
}

#[derive(Debug)]
struct BatchOutput {
    tensor: Tensor,
    offsets: Vec<usize>,
    batch_size: usize,
}

impl RowOutput {
    /// The element type of the output.
    pub fn dtype(&self) -> DataType {
        self.batch.tensor.dtype
    }

    /// The shape of this row (the output's shape without its batch dimension).
    pub fn shape(&self) -> &[usize] {
        &self.batch.tensor.shape[1..]
    }

    /// This row's raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.batch.tensor.data[self.batch.offsets[self.row]..self.batch.offsets[self.row + 1]]
    }

    /// How many rows the batch that computed this one held.
    pub fn batch_size(&self) -> usize {
        self.batch.batch_size
    }
}

/// Why a queued row got no output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The model raised, panicked or returned an unusable output for the row's batch.
    #[error("{0}")]
    Model(Arc<str>),
    /// The row waited in the queue longer than its timeout.
    #[error("the request waited {0:?} in the queue, longer than its timeout; retry later or raise the timeout")]
    Timeout(Duration),
    /// The batcher closed (the model was unloaded or replaced) before the row ran.
    #[error("the model was unloaded before the request ran")]
    Closed,
}

/// Why a row could not be queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the model's queue is full ({capacity} rows waiting); retry later")]
    QueueFull { capacity: usize },
    #[error("the model was unloaded or replaced; submit to the current one")]
    Closed,
}

/// A pending row's result.
pub struct Ticket(oneshot::Receiver<Result<RowOutput, RowError>>);

impl Ticket {
    /// Waits for the row's output in async code.
    pub async fn output(self) -> Result<RowOutput, RowError> {
        self.0.await.unwrap_or(Err(RowError::Closed))
    }

    /// Blocks the calling thread until the row's output is ready (not from async code).
    pub fn wait(self) -> Result<RowOutput, RowError> {
        self.0.blocking_recv().unwrap_or(Err(RowError::Closed))
    }
}

/// One row to run, as a caller submits it.
pub struct RowRequest {
    /// The row's elements in the model's input type (see [`Tensor`] for the encoding).
    pub data: Vec<u8>,
    /// The row's shape (the input's shape without the batch dimension).
    pub shape: RowShape,
    pub priority: Priority,
    /// Overrides the batcher's timeout for this row.
    pub timeout: Option<Duration>,
}

struct Entry {
    data: Vec<u8>,
    shape: RowShape,
    enqueued: Instant,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Result<RowOutput, RowError>>,
}

struct Shared {
    queues: [ArrayQueue<Entry>; PRIORITIES],
    depth: AtomicUsize,
    capacity: usize,
    sleeping: AtomicBool,
    /// The dispatcher thread, to wake it.
    dispatcher: OnceLock<Thread>,
    closed: AtomicBool,
    exited: AtomicBool,
    limit: AtomicUsize,
}

impl Shared {
    fn pop(&self) -> Option<Entry> {
        let entry = self.queues.iter().find_map(ArrayQueue::pop)?;
        self.depth.fetch_sub(1, Ordering::AcqRel);
        Some(entry)
    }

    fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            self.unpark();
        }
    }

    fn unpark(&self) {
        if let Some(thread) = self.dispatcher.get() {
            thread.unpark();
        }
    }

    /// Fails every queued row with `Closed`, once the dispatcher is gone.
    fn drain_closed(&self) {
        while let Some(entry) = self.pop() {
            let _ = entry.reply.send(Err(RowError::Closed));
        }
    }
}

/// A model's queue and dispatcher. Dropping it (or [`Batcher::close`]) lets the rows already
/// queued finish, then stops the dispatcher.
pub struct Batcher {
    shared: Arc<Shared>,
    dtype: DataType,
    config: BatcherConfig,
    metrics: Arc<PerformanceMetrics>,
    dispatcher: Option<JoinHandle<()>>,
}

impl Batcher {
    /// Starts a dispatcher thread named after `name` that calls `predictor` with batches of
    /// `dtype` rows.
    pub fn start(
        name: &str,
        predictor: Arc<dyn Predictor>,
        dtype: DataType,
        config: BatcherConfig,
        metrics: Arc<PerformanceMetrics>,
    ) -> Result<Self, String> {
        config.validate()?;
        let shared = Arc::new(Shared {
            queues: std::array::from_fn(|_| ArrayQueue::new(config.queue_capacity)),
            depth: AtomicUsize::new(0),
            capacity: config.queue_capacity,
            sleeping: AtomicBool::new(false),
            dispatcher: OnceLock::new(),
            closed: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            limit: AtomicUsize::new(config.max_batch_size),
        });
        metrics.set_max_batch_size(config.max_batch_size);
        let dispatcher = Dispatcher {
            shared: Arc::clone(&shared),
            predictor,
            dtype,
            config: config.clone(),
            metrics: Arc::clone(&metrics),
            carried: VecDeque::new(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("aidot-batch-{name}"))
            .spawn(move || {
                let predictor = Arc::clone(&dispatcher.predictor);
                let mut dispatcher = Some(dispatcher);
                predictor.run_dispatcher(&mut || {
                    if let Some(dispatcher) = dispatcher.take() {
                        dispatcher.run();
                    }
                });
            })
            .map_err(|err| format!("cannot start the dispatcher thread: {err}"))?;
        // Set before any row can be submitted; the dispatcher checks the queue before its first
        // sleep, so nothing is missed meanwhile.
        let _ = shared.dispatcher.set(handle.thread().clone());
        Ok(Self {
            shared,
            dtype,
            config,
            metrics,
            dispatcher: Some(handle),
        })
    }

    /// Queues one row; its output arrives through the returned ticket.
    pub fn submit(&self, request: RowRequest) -> Result<Ticket, SubmitError> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(SubmitError::Closed);
        }
        if shared.depth.fetch_add(1, Ordering::SeqCst) >= shared.capacity {
            shared.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(SubmitError::QueueFull {
                capacity: shared.capacity,
            });
        }
        let (reply, receiver) = oneshot::channel();
        let enqueued = Instant::now();
        let entry = Entry {
            data: request.data,
            shape: request.shape,
            enqueued,
            deadline: request
                .timeout
                .or(self.config.timeout)
                .map(|timeout| enqueued + timeout),
            reply,
        };
        if shared.queues[request.priority as usize]
            .push(entry)
            .is_err()
        {
            // Unreachable while `depth` bounds every queue by the capacity; kept as a refusal.
            shared.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(SubmitError::QueueFull {
                capacity: shared.capacity,
            });
        }
        // The dispatcher sets `exited` before its last drain; seeing it here means the row may
        // have missed that drain, so fail whatever is left rather than strand it.
        if shared.exited.load(Ordering::SeqCst) {
            shared.drain_closed();
        } else {
            shared.wake();
        }
        Ok(Ticket(receiver))
    }

    /// Rows waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.shared.depth.load(Ordering::Acquire)
    }

    /// The batch size limit in force (below `max_batch_size` when adaptive batching cut it).
    pub fn current_limit(&self) -> usize {
        self.shared.limit.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &BatcherConfig {
        &self.config
    }

    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    pub fn metrics(&self) -> &Arc<PerformanceMetrics> {
        &self.metrics
    }

    /// Refuses new rows; the dispatcher finishes the queued ones, then exits.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.unpark();
    }

    /// Closes and waits until every queued row has been answered.
    pub fn shutdown(mut self) {
        self.close();
        if let Some(handle) = self.dispatcher.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        // Not joined: dropping happens on whatever thread released the last reference, which
        // must not block on a model call in progress.
        self.close();
    }
}

struct Dispatcher {
    shared: Arc<Shared>,
    predictor: Arc<dyn Predictor>,
    dtype: DataType,
    config: BatcherConfig,
    metrics: Arc<PerformanceMetrics>,
    /// Rows taken from the queue that did not fit the last batch, served first.
    carried: VecDeque<Entry>,
}

impl Dispatcher {
    fn run(mut self) {
        while let Some(first) = self.next_first() {
            let (batch, reason) = self.collect(first);
            self.execute(batch, reason);
        }
        self.shared.exited.store(true, Ordering::SeqCst);
        self.shared.drain_closed();
    }

    fn take(&mut self) -> Option<Entry> {
        self.carried.pop_front().or_else(|| self.shared.pop())
    }

    /// The first live row of the next batch, sleeping while there is none; `None` once closed
    /// and empty.
    fn next_first(&mut self) -> Option<Entry> {
        loop {
            while let Some(entry) = self.take() {
                if let Some(entry) = self.live(entry) {
                    return Some(entry);
                }
            }
            if self.shared.closed.load(Ordering::Acquire) {
                return None;
            }
            let shared = &*self.shared;
            self.predictor.idle(&mut || {
                if spin_until_work(shared) {
                    return;
                }
                shared.sleeping.store(true, Ordering::SeqCst);
                if shared.depth.load(Ordering::SeqCst) == 0 && !shared.closed.load(Ordering::SeqCst)
                {
                    std::thread::park();
                }
            });
            self.shared.sleeping.store(false, Ordering::SeqCst);
        }
    }

    /// `entry` unless its caller gave up or its deadline passed (then it is answered here).
    fn live(&self, entry: Entry) -> Option<Entry> {
        if entry.reply.is_closed() {
            return None;
        }
        match entry.deadline {
            Some(deadline) if Instant::now() > deadline => {
                self.metrics.record_error(ErrorKind::Timeout);
                let waited = entry.enqueued.elapsed();
                let _ = entry.reply.send(Err(RowError::Timeout(waited)));
                None
            }
            _ => Some(entry),
        }
    }

    /// Grows a batch from `first` by the batching rules.
    fn collect(&mut self, first: Entry) -> (Vec<Entry>, DispatchReason) {
        let limit = self.shared.limit.load(Ordering::Relaxed);
        let deadline = first.enqueued + self.config.max_delay;
        let mut batch = Vec::with_capacity(limit);
        batch.push(first);
        loop {
            while batch.len() < limit {
                let Some(entry) = self.take() else { break };
                let Some(entry) = self.live(entry) else {
                    continue;
                };
                if entry.shape != batch[0].shape {
                    // Rows of another shape start the next batch.
                    self.carried.push_front(entry);
                    return (batch, DispatchReason::QueueDrained);
                }
                batch.push(entry);
            }
            if batch.len() >= limit {
                return (batch, DispatchReason::Full);
            }
            if self.config.preferred_batch_sizes.contains(&batch.len()) {
                return (batch, DispatchReason::PreferredSize);
            }
            let now = Instant::now();
            if now >= deadline || self.shared.closed.load(Ordering::Acquire) {
                let reason = if self.config.max_delay.is_zero() {
                    DispatchReason::QueueDrained
                } else {
                    DispatchReason::DelayExpired
                };
                return self.cut_to_preferred(batch, reason);
            }
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if self.shared.depth.load(Ordering::SeqCst) == 0 {
                self.predictor.idle(&mut || {
                    std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
                });
            }
            self.shared.sleeping.store(false, Ordering::SeqCst);
        }
    }

    /// With preferred sizes, sends the largest preferred size that fits and keeps the rest for
    /// the next batch.
    fn cut_to_preferred(
        &mut self,
        mut batch: Vec<Entry>,
        reason: DispatchReason,
    ) -> (Vec<Entry>, DispatchReason) {
        let best = self
            .config
            .preferred_batch_sizes
            .iter()
            .copied()
            .filter(|&size| size <= batch.len())
            .max();
        match best {
            Some(size) => {
                for entry in batch.drain(size..).rev() {
                    self.carried.push_front(entry);
                }
                (batch, DispatchReason::PreferredSize)
            }
            None => (batch, reason),
        }
    }

    fn execute(&self, batch: Vec<Entry>, reason: DispatchReason) {
        let dispatched = Instant::now();
        self.metrics.queue_wait.record_all(
            batch
                .iter()
                .map(|entry| dispatched.saturating_duration_since(entry.enqueued)),
        );
        let rows = batch.len();
        let row_shape = &batch[0].shape;
        let mut data = Vec::with_capacity(batch.iter().map(|entry| entry.data.len()).sum());
        for entry in &batch {
            data.extend_from_slice(&entry.data);
        }
        let mut shape = Vec::with_capacity(row_shape.len() + 1);
        shape.push(rows);
        shape.extend_from_slice(row_shape);
        let input = Tensor {
            dtype: self.dtype,
            shape,
            data,
        };

        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.predictor.predict(input)))
            .unwrap_or_else(|panic| Err(format!("the model panicked: {}", panic_message(&panic))))
            .and_then(|output| checked_output(output, rows));
        let compute = started.elapsed();
        self.metrics.record_batch(rows, reason, compute);
        self.adapt(rows, compute);

        match outcome {
            Ok((tensor, offsets)) => {
                let shared = Arc::new(BatchOutput {
                    tensor,
                    offsets,
                    batch_size: rows,
                });
                for (row, entry) in batch.into_iter().enumerate() {
                    let _ = entry.reply.send(Ok(RowOutput {
                        batch: Arc::clone(&shared),
                        row,
                    }));
                }
            }
            Err(message) => {
                let message: Arc<str> = message.into();
                for entry in batch {
                    self.metrics.record_error(ErrorKind::Model);
                    let _ = entry.reply.send(Err(RowError::Model(Arc::clone(&message))));
                }
            }
        }
    }

    /// Additive increase, multiplicative decrease of the batch size limit.
    fn adapt(&self, rows: usize, compute: Duration) {
        let Some(target) = self.config.latency_target else {
            return;
        };
        let limit = self.shared.limit.load(Ordering::Relaxed);
        let next = if compute > target {
            (limit / 2).max(1)
        } else if rows >= limit {
            (limit + 1).min(self.config.max_batch_size)
        } else {
            limit
        };
        self.shared.limit.store(next, Ordering::Relaxed);
        self.metrics.set_max_batch_size(next);
    }
}

/// How long the dispatcher polls for rows before it sleeps. Polling saves the futex wake and
/// context switch a sleep costs, about 20 us of a 1-connection request's latency on 2 cores:
/// the 1-connection p50 went from 160-230 us to 115-195 us. The poll yields the core between
/// checks, so under load it does not starve the HTTP threads (a pure busy poll of this length
/// cut 64-connection throughput from ~50,000 to 30,000 requests/s; yielding kept it).
const SPIN: Duration = Duration::from_micros(250);

/// Polls for queued rows (or a close) for up to [`SPIN`]; whether any turned up.
fn spin_until_work(shared: &Shared) -> bool {
    let started = Instant::now();
    loop {
        for _ in 0..8 {
            if shared.depth.load(Ordering::Acquire) > 0 || shared.closed.load(Ordering::Acquire) {
                return true;
            }
            std::hint::spin_loop();
        }
        // Leaves the core to any thread that is ready to run (an HTTP thread parsing the next
        // request, say); returns at once on an idle core.
        std::thread::yield_now();
        if started.elapsed() >= SPIN {
            return false;
        }
    }
}

/// The output with its row offsets, or why it cannot be split into `rows` rows.
fn checked_output(output: Tensor, rows: usize) -> Result<(Tensor, Vec<usize>), String> {
    if output.shape.first() != Some(&rows) {
        return Err(format!(
            "the model returned shape {:?} for a batch of {rows} rows; its output must have one row per input row",
            output.shape
        ));
    }
    output.validate()?;
    let offsets = output.row_offsets()?;
    Ok((output, offsets))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests;
