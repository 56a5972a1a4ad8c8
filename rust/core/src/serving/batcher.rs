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
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use tokio::sync::oneshot;

use super::metrics::{DispatchReason, ErrorKind, PerformanceMetrics};
use super::tensor::{DataType, RowShape, Tensor};

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

/// Rows queued by [`Batcher::enqueue`] that nobody has been asked to run yet.
#[must_use = "dropping it hands the rows to the dispatcher thread; call run_here to run them"]
pub struct PendingRun(Option<Arc<Executor>>);

impl PendingRun {
    /// Runs what is queued on this thread, when no batch is running, the model is quick (its
    /// last call took under [`INLINE_LIMIT`]) and batches are never held back for company (no
    /// `max_delay`); else leaves it to the thread that is running batches, or the dispatcher.
    /// Running here saves the two thread switches of a hand-off to the dispatcher and back.
    /// Blocks for the model calls it makes.
    pub fn run_here(mut self) {
        if let Some(executor) = self.0.take() {
            executor.start(true);
        }
    }
}

impl Drop for PendingRun {
    fn drop(&mut self) {
        if let Some(executor) = self.0.take() {
            executor.start(false);
        }
    }
}

/// A submitter runs batches itself only for a model whose last call took less than this, so a
/// slow model (or one not run yet) does not hold up a thread serving other connections: the
/// dispatcher runs it.
pub const INLINE_LIMIT: Duration = Duration::from_millis(1);

/// How long a submitter keeps running batches (its own first, then whatever else is queued)
/// before it leaves the rest to the dispatcher thread and goes back to its own work.
const INLINE_BUDGET: Duration = Duration::from_micros(500);

/// What runs batches: the model, the batching rules and the rows carried over between
/// batches. Either the dispatcher thread or a submitter runs it, one at a time (`executing`).
struct Executor {
    shared: Arc<Shared>,
    predictor: Arc<dyn Predictor>,
    dtype: DataType,
    config: BatcherConfig,
    metrics: Arc<PerformanceMetrics>,
    /// Rows taken from the queue that did not fit the last batch, served first. Locked only
    /// by the holder of `executing`, so never contended.
    carried: Mutex<VecDeque<Entry>>,
}

/// The dispatcher thread's loop: sleep until asked, run the queue dry, and at close run the
/// rest, then fail anything that still arrives.
fn dispatch(executor: &Executor) {
    let shared = &*executor.shared;
    loop {
        let closing = executor.sleep_until_wanted();
        if closing {
            while !shared.try_execute() {
                std::thread::yield_now();
            }
            executor.run_batches(None);
            shared.exited.store(true, Ordering::SeqCst);
            shared.drain_closed();
            shared.executing.store(false, Ordering::SeqCst);
            return;
        }
        while shared.try_execute() {
            executor.run_batches(None);
            shared.executing.store(false, Ordering::SeqCst);
            if shared.depth.load(Ordering::SeqCst) == 0 {
                break;
            }
        }
    }
}

impl Executor {
    /// Sees that queued rows run: here (see [`PendingRun::run_here`]) when `here` allows it,
    /// else by the thread running batches, or the dispatcher.
    fn start(&self, here: bool) {
        let shared = &*self.shared;
        // The dispatcher sets `exited` before its last drain; seeing it here means the rows may
        // have missed that drain, so fail whatever is left rather than strand it.
        if shared.exited.load(Ordering::SeqCst) {
            shared.drain_closed();
        } else if here && self.runs_inline() && shared.depth.load(Ordering::SeqCst) > 1 {
            self.run_inline();
        } else if !shared.executing.load(Ordering::SeqCst) {
            shared.wake();
        }
        // Else the thread running a batch looks at the queue again when it finishes.
    }

    fn runs_inline(&self) -> bool {
        self.config.max_delay.is_zero()
            && self.shared.last_compute_ns.load(Ordering::Relaxed)
                < u64::try_from(INLINE_LIMIT.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Runs queued batches on the calling thread for up to [`INLINE_BUDGET`], unless a batch
    /// is already running (its thread will see the new rows); hands what is left to the
    /// dispatcher thread.
    fn run_inline(&self) {
        let shared = &*self.shared;
        if !shared.try_execute() {
            return;
        }
        let left = self.run_batches(Some(Instant::now() + INLINE_BUDGET));
        shared.executing.store(false, Ordering::SeqCst);
        if left || shared.depth.load(Ordering::SeqCst) > 0 {
            shared.wake();
        }
    }

    /// Runs batches while rows are queued, until `until` if given; whether rows are left.
    fn run_batches(&self, until: Option<Instant>) -> bool {
        let mut carried = self.carried.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(first) = self.next_live(&mut carried) {
            let (batch, reason) = self.collect(&mut carried, first);
            self.execute(batch, reason);
            if until.is_some_and(|until| Instant::now() >= until) {
                return !carried.is_empty() || self.shared.depth.load(Ordering::SeqCst) > 0;
            }
        }
        false
    }

    /// Sleeps until someone asks for the queue to be run or the batcher closes; whether it
    /// closed.
    fn sleep_until_wanted(&self) -> bool {
        let shared = &*self.shared;
        loop {
            if shared.wanted.swap(false, Ordering::SeqCst) {
                return shared.closed.load(Ordering::Acquire);
            }
            if shared.closed.load(Ordering::Acquire) {
                return true;
            }
            if !spin_until_work(shared) {
                shared.sleeping.store(true, Ordering::SeqCst);
                if !shared.wanted.load(Ordering::SeqCst) && !shared.closed.load(Ordering::SeqCst) {
                    std::thread::park();
                }
                shared.sleeping.store(false, Ordering::SeqCst);
            }
        }
    }

    fn take(&self, carried: &mut VecDeque<Entry>) -> Option<Entry> {
        carried.pop_front().or_else(|| self.shared.pop())
    }

    /// The next live row, if any is queued.
    fn next_live(&self, carried: &mut VecDeque<Entry>) -> Option<Entry> {
        while let Some(entry) = self.take(carried) {
            if let Some(entry) = self.live(entry) {
                return Some(entry);
            }
        }
        None
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
    fn collect(&self, carried: &mut VecDeque<Entry>, first: Entry) -> (Vec<Entry>, DispatchReason) {
        let limit = self.shared.limit.load(Ordering::Relaxed);
        let deadline = first.enqueued + self.config.max_delay;
        let mut batch = Vec::with_capacity(limit);
        batch.push(first);
        loop {
            while batch.len() < limit {
                let Some(entry) = self.take(carried) else {
                    break;
                };
                let Some(entry) = self.live(entry) else {
                    continue;
                };
                if entry.shape != batch[0].shape {
                    // Rows of another shape start the next batch.
                    carried.push_front(entry);
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
                return self.cut_to_preferred(carried, batch, reason);
            }
            // Only the dispatcher thread gets here: submitters run only without a max_delay.
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if self.shared.depth.load(Ordering::SeqCst) == 0 {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
            }
            self.shared.sleeping.store(false, Ordering::SeqCst);
        }
    }

    /// With preferred sizes, sends the largest preferred size that fits and keeps the rest for
    /// the next batch.
    fn cut_to_preferred(
        &self,
        carried: &mut VecDeque<Entry>,
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
                    carried.push_front(entry);
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
        self.shared.last_compute_ns.store(
            u64::try_from(compute.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
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
            if shared.wanted.load(Ordering::Acquire) || shared.closed.load(Ordering::Acquire) {
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
