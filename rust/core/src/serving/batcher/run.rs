//! Running batches: the dispatcher thread's loop, a submitter running its own rows
//! ([`PendingRun::run_here`]), and what both share (taking rows, growing a batch by the rules,
//! calling the model, sending each row its output).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{BatchOutput, BatcherConfig, Entry, Predictor, RowError, RowOutput, Shared};
use crate::serving::metrics::{DispatchReason, ErrorKind, PerformanceMetrics};
use crate::serving::tensor::{DataType, Tensor};

/// Rows queued by [`Batcher::enqueue`](super::Batcher::enqueue) that nobody has been asked to
/// run yet.
#[must_use = "dropping it hands the rows to the dispatcher thread; call run_here to run them"]
pub struct PendingRun(pub(super) Option<Arc<Executor>>);

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
pub(super) struct Executor {
    pub(super) shared: Arc<Shared>,
    pub(super) predictor: Arc<dyn Predictor>,
    pub(super) dtype: DataType,
    pub(super) config: BatcherConfig,
    pub(super) metrics: Arc<PerformanceMetrics>,
    /// Rows taken from the queue that did not fit the last batch, served first. Locked only
    /// by the holder of `executing`, so never contended.
    pub(super) carried: Mutex<VecDeque<Entry>>,
}

/// The dispatcher thread's loop: sleep until asked, run the queue dry, and at close run the
/// rest, then fail anything that still arrives.
pub(super) fn dispatch(executor: &Executor) {
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
    pub(super) fn start(&self, here: bool) {
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
