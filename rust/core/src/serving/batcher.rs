//! The request batcher: a bounded lock-free queue per model, and whoever turns waiting rows
//! into batches: the model's dispatcher thread, or a thread that queued rows itself.
//!
//! Whenever the model is free, the runner takes what is waiting, up to the batch size limit.
//! With no `max_delay` (the default) it sends that at once, so a lone request is never held back
//! and batches grow by themselves under load, from the rows that queued while the model was busy.
//! With a `max_delay` it waits up to that long after the first row for more to arrive, but not
//! once the batch is full or has reached a preferred size. Rows are copied into one contiguous
//! buffer per batch, the model is called once, and each row's output goes back to its caller
//! through a one-shot channel.
//!
//! Who runs a batch: one thread at a time holds the right to (`executing`). [`Batcher::submit`]
//! hands rows to the dispatcher thread. [`Batcher::enqueue`] lets the caller run the batch
//! itself ([`PendingRun::run_here`]) when the model is free and quick and other rows wait with
//! its own: the server's HTTP threads queue the rows of every request they have read, then run
//! them in one model call, which saves the two thread switches of a hand-off to the dispatcher
//! and back. A lone row still goes to the dispatcher, which polls for a while after each batch
//! and so answers the next lone row sooner than a thread waking from sleep would.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tokio::sync::oneshot;

use super::metrics::PerformanceMetrics;
use super::tensor::{DataType, RowShape, Tensor};
use run::{dispatch, Executor};
pub use run::{PendingRun, INLINE_LIMIT};

/// A model as the batcher calls it: one batch in, one output tensor out whose first dimension
/// has a row per input row. Called once at a time, from the dispatcher thread or from a thread
/// running the rows it queued (see [`PendingRun::run_here`]).
pub trait Predictor: Send + Sync + 'static {
    /// Runs the model on `batch`; an `Err` fails every request in the batch with its message.
    fn predict(&self, batch: Tensor) -> Result<Tensor, String>;

    /// Runs the whole dispatcher loop, `body`, on the dispatcher thread. Bindings wrap it to
    /// set up per-thread state once (a Python thread state, say) rather than once per batch.
    /// The model's runtime must stay free while `body` runs between calls (the GIL released):
    /// another thread may be running a batch, and the dispatcher waits for it at close.
    fn run_dispatcher(&self, body: &mut (dyn FnMut() + Send)) {
        body();
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
    /// Set to ask the dispatcher thread to run the queue; it clears it when it wakes.
    wanted: AtomicBool,
    /// Whether some thread (the dispatcher, or a submitter running its rows itself) is running
    /// batches. Whoever clears it looks at the queue again afterwards, so no row is stranded.
    executing: AtomicBool,
    /// The dispatcher thread, to wake it.
    dispatcher: OnceLock<Thread>,
    closed: AtomicBool,
    exited: AtomicBool,
    limit: AtomicUsize,
    /// How long the model's last call took, in nanoseconds (`u64::MAX` before the first):
    /// submitters run only quick models.
    last_compute_ns: AtomicU64,
}

impl Shared {
    fn pop(&self) -> Option<Entry> {
        let entry = self.queues.iter().find_map(ArrayQueue::pop)?;
        self.depth.fetch_sub(1, Ordering::AcqRel);
        Some(entry)
    }

    /// Asks the dispatcher thread to run the queue.
    fn wake(&self) {
        self.wanted.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.unpark();
        }
    }

    fn unpark(&self) {
        if let Some(thread) = self.dispatcher.get() {
            thread.unpark();
        }
    }

    fn try_execute(&self) -> bool {
        self.executing
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
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
    executor: Arc<Executor>,
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
            wanted: AtomicBool::new(false),
            executing: AtomicBool::new(false),
            dispatcher: OnceLock::new(),
            closed: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            limit: AtomicUsize::new(config.max_batch_size),
            // Unknown until the model has run once: the first batch goes to the dispatcher.
            last_compute_ns: AtomicU64::new(u64::MAX),
        });
        metrics.set_max_batch_size(config.max_batch_size);
        let executor = Arc::new(Executor {
            shared: Arc::clone(&shared),
            predictor,
            dtype,
            config,
            metrics,
            carried: Mutex::new(VecDeque::new()),
        });
        let on_thread = Arc::clone(&executor);
        let handle = std::thread::Builder::new()
            .name(format!("aidot-batch-{name}"))
            .spawn(move || {
                let predictor = Arc::clone(&on_thread.predictor);
                predictor.run_dispatcher(&mut || dispatch(&on_thread));
            })
            .map_err(|err| format!("cannot start the dispatcher thread: {err}"))?;
        // Set before any row can be submitted; the dispatcher checks for work before its first
        // sleep, so nothing is missed meanwhile.
        let _ = shared.dispatcher.set(handle.thread().clone());
        Ok(Self {
            executor,
            dispatcher: Some(handle),
        })
    }

    /// Queues one row for the dispatcher thread; its output arrives through the returned ticket.
    pub fn submit(&self, request: RowRequest) -> Result<Ticket, SubmitError> {
        let ticket = self.push(request)?;
        self.executor.start(false);
        Ok(ticket)
    }

    /// Queues `requests` without starting them: the returned [`PendingRun`] does, when the
    /// caller is ready to wait ([`PendingRun::run_here`]) or when it is dropped. Lets a thread
    /// queue the rows of every request it has received before one model call runs them all.
    pub fn enqueue(
        &self,
        requests: impl IntoIterator<Item = RowRequest>,
    ) -> (Vec<Result<Ticket, SubmitError>>, PendingRun) {
        let tickets: Vec<_> = requests.into_iter().map(|r| self.push(r)).collect();
        let queued = tickets.iter().any(Result::is_ok);
        (
            tickets,
            PendingRun(queued.then(|| Arc::clone(&self.executor))),
        )
    }

    fn push(&self, request: RowRequest) -> Result<Ticket, SubmitError> {
        let shared = &*self.executor.shared;
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
                .or(self.executor.config.timeout)
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
        Ok(Ticket(receiver))
    }

    /// Rows waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.executor.shared.depth.load(Ordering::Acquire)
    }

    /// The batch size limit in force (below `max_batch_size` when adaptive batching cut it).
    pub fn current_limit(&self) -> usize {
        self.executor.shared.limit.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &BatcherConfig {
        &self.executor.config
    }

    pub fn dtype(&self) -> DataType {
        self.executor.dtype
    }

    pub fn metrics(&self) -> &Arc<PerformanceMetrics> {
        &self.executor.metrics
    }

    /// Refuses new rows; the dispatcher finishes the queued ones, then exits.
    pub fn close(&self) {
        let shared = &*self.executor.shared;
        shared.closed.store(true, Ordering::Release);
        shared.unpark();
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

mod run;

#[cfg(test)]
mod tests;
