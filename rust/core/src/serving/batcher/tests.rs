use super::*;
use crate::serving::metrics::{DispatchReason, ErrorKind};
use std::sync::{Condvar, Mutex};

/// Doubles float32 rows; can be held shut to let rows pile up, and records batch sizes.
#[derive(Default)]
struct Doubler {
    gate: Mutex<bool>,
    opened: Condvar,
    sizes: Mutex<Vec<usize>>,
    firsts: Mutex<Vec<f32>>,
    /// The name of the thread that ran each batch.
    threads: Mutex<Vec<String>>,
    fail_next: AtomicBool,
    /// Milliseconds each batch takes.
    pause_ms: std::sync::atomic::AtomicU64,
}

impl Doubler {
    fn closed_gate() -> Arc<Self> {
        let doubler = Self::default();
        *doubler.gate.lock().unwrap() = true;
        Arc::new(doubler)
    }

    fn open(&self) {
        *self.gate.lock().unwrap() = false;
        self.opened.notify_all();
    }

    fn sizes(&self) -> Vec<usize> {
        self.sizes.lock().unwrap().clone()
    }

    fn threads(&self) -> Vec<String> {
        self.threads.lock().unwrap().clone()
    }
}

fn this_thread() -> String {
    std::thread::current()
        .name()
        .unwrap_or_default()
        .to_string()
}

/// Waits until no thread is running batches (the dispatcher finishes its loop a moment after
/// the last reply).
fn until_idle(batcher: &Batcher) {
    while batcher.executor.shared.executing.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
}

/// The dispatcher thread of a batcher made by [`start`].
const DISPATCHER: &str = "aidot-batch-test";

impl Predictor for Doubler {
    fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
        let mut shut = self.gate.lock().unwrap();
        while *shut {
            shut = self.opened.wait(shut).unwrap();
        }
        drop(shut);
        std::thread::sleep(Duration::from_millis(self.pause_ms.load(Ordering::SeqCst)));
        self.sizes.lock().unwrap().push(batch.shape[0]);
        self.threads.lock().unwrap().push(this_thread());
        let first = f32::from_le_bytes(batch.data[..4].try_into().unwrap());
        self.firsts.lock().unwrap().push(first);
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err("ValueError: bad batch".into());
        }
        let data = batch
            .data
            .chunks_exact(4)
            .flat_map(|b| (f32::from_le_bytes(b.try_into().unwrap()) * 2.0).to_le_bytes())
            .collect();
        Ok(Tensor { data, ..batch })
    }
}

fn start(predictor: Arc<dyn Predictor>, config: BatcherConfig) -> Batcher {
    Batcher::start(
        "test",
        predictor,
        DataType::Fp32,
        config,
        Arc::new(PerformanceMetrics::new()),
    )
    .unwrap()
}

fn row(values: &[f32]) -> RowRequest {
    RowRequest {
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        shape: RowShape::from_slice(&[values.len()]),
        priority: Priority::Normal,
        timeout: None,
    }
}

fn floats(output: &RowOutput) -> Vec<f32> {
    output
        .bytes()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Submits a row while the model is held shut, and waits until the dispatcher has taken it
/// into a (blocked) batch, so later rows queue behind it.
fn occupy(batcher: &Batcher) -> Ticket {
    let ticket = batcher.submit(row(&[0.0])).unwrap();
    while batcher.queue_depth() > 0 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(20));
    ticket
}

#[test]
fn a_lone_row_is_not_held_back() {
    let doubler = Arc::new(Doubler::default());
    let batcher = start(doubler.clone(), BatcherConfig::default());
    let output = batcher.submit(row(&[1.0, 2.5])).unwrap().wait().unwrap();
    assert_eq!(floats(&output), vec![2.0, 5.0]);
    assert_eq!(output.shape(), &[2]);
    assert_eq!(output.batch_size(), 1);
    assert_eq!(
        batcher.metrics().dispatched(DispatchReason::QueueDrained),
        1
    );
}

#[test]
fn batches_grow_from_rows_that_queue_while_the_model_is_busy() {
    let doubler = Doubler::closed_gate();
    let batcher = start(
        doubler.clone(),
        BatcherConfig {
            max_batch_size: 8,
            ..BatcherConfig::default()
        },
    );
    let first = occupy(&batcher);
    let tickets: Vec<_> = (1..=20)
        .map(|i| batcher.submit(row(&[i as f32])).unwrap())
        .collect();
    doubler.open();
    assert_eq!(floats(&first.wait().unwrap()), vec![0.0]);
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(floats(&ticket.wait().unwrap()), vec![2.0 * (i + 1) as f32]);
    }
    assert_eq!(doubler.sizes(), vec![1, 8, 8, 4]);
    let metrics = batcher.metrics();
    assert_eq!(metrics.dispatched(DispatchReason::Full), 2);
    assert_eq!(metrics.snapshot(0).batch_size_distribution[&8], 2);
}

#[test]
fn max_delay_waits_for_company_but_not_past_a_full_or_preferred_batch() {
    let doubler = Arc::new(Doubler::default());
    let batcher = start(
        doubler.clone(),
        BatcherConfig {
            max_batch_size: 4,
            max_delay: Duration::from_secs(1),
            preferred_batch_sizes: vec![3],
            ..BatcherConfig::default()
        },
    );
    let started = Instant::now();
    let tickets: Vec<_> = (0..3)
        .map(|i| batcher.submit(row(&[i as f32])).unwrap())
        .collect();
    for ticket in tickets {
        ticket.wait().unwrap();
    }
    // Three rows reach the preferred size: sent without waiting out the delay.
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(doubler.sizes(), vec![3]);

    let started = Instant::now();
    batcher.submit(row(&[1.0])).unwrap().wait().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let metrics = batcher.metrics();
    assert_eq!(metrics.dispatched(DispatchReason::PreferredSize), 1);
    assert_eq!(metrics.dispatched(DispatchReason::DelayExpired), 1);
}

#[test]
fn preferred_sizes_cut_a_batch_and_carry_the_rest() {
    let doubler = Doubler::closed_gate();
    let batcher = start(
        doubler.clone(),
        BatcherConfig {
            max_batch_size: 16,
            preferred_batch_sizes: vec![4, 8],
            ..BatcherConfig::default()
        },
    );
    let first = occupy(&batcher);
    let tickets: Vec<_> = (0..11)
        .map(|i| batcher.submit(row(&[i as f32])).unwrap())
        .collect();
    doubler.open();
    first.wait().unwrap();
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(floats(&ticket.wait().unwrap()), vec![2.0 * i as f32]);
    }
    assert_eq!(doubler.sizes(), vec![1, 8, 3]);
}

#[test]
fn a_full_queue_refuses_rows_and_keeps_the_queued_ones() {
    let doubler = Doubler::closed_gate();
    let batcher = start(
        doubler.clone(),
        BatcherConfig {
            queue_capacity: 2,
            ..BatcherConfig::default()
        },
    );
    let first = occupy(&batcher);
    let queued = [
        batcher.submit(row(&[1.0])).unwrap(),
        batcher.submit(row(&[2.0])).unwrap(),
    ];
    assert_eq!(
        batcher.submit(row(&[3.0])).err(),
        Some(SubmitError::QueueFull { capacity: 2 })
    );
    doubler.open();
    first.wait().unwrap();
    for ticket in queued {
        ticket.wait().unwrap();
    }
}

#[test]
fn a_model_error_fails_only_its_batch() {
    let doubler = Arc::new(Doubler::default());
    let batcher = start(doubler.clone(), BatcherConfig::default());
    doubler.fail_next.store(true, Ordering::SeqCst);
    let err = batcher.submit(row(&[1.0])).unwrap().wait().unwrap_err();
    assert_eq!(err, RowError::Model("ValueError: bad batch".into()));
    assert_eq!(
        floats(&batcher.submit(row(&[1.0])).unwrap().wait().unwrap()),
        vec![2.0]
    );
    assert_eq!(batcher.metrics().errors(ErrorKind::Model), 1);
}

struct Misbehaving(fn(Tensor) -> Tensor);

impl Predictor for Misbehaving {
    fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
        Ok((self.0)(batch))
    }
}

#[test]
fn panics_and_wrong_output_shapes_fail_the_batch_with_a_message() {
    let panicking = start(
        Arc::new(Misbehaving(|_| panic!("index out of range"))),
        BatcherConfig::default(),
    );
    let err = panicking.submit(row(&[1.0])).unwrap().wait().unwrap_err();
    assert!(
        err.to_string().contains("panicked: index out of range"),
        "{err}"
    );
    // The dispatcher survives the panic.
    assert!(panicking.submit(row(&[1.0])).unwrap().wait().is_err());

    let short = start(
        Arc::new(Misbehaving(|batch| Tensor {
            shape: vec![batch.shape[0] + 1],
            data: vec![0; 4 * (batch.shape[0] + 1)],
            ..batch
        })),
        BatcherConfig::default(),
    );
    let err = short.submit(row(&[1.0])).unwrap().wait().unwrap_err();
    assert!(err.to_string().contains("one row per input row"), "{err}");
}

#[test]
fn rows_past_their_timeout_fail_without_running() {
    let doubler = Doubler::closed_gate();
    let batcher = start(doubler.clone(), BatcherConfig::default());
    let first = occupy(&batcher);
    let mut late = row(&[1.0]);
    late.timeout = Some(Duration::from_millis(10));
    let ticket = batcher.submit(late).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    doubler.open();
    first.wait().unwrap();
    assert!(matches!(ticket.wait(), Err(RowError::Timeout(_))));
    assert_eq!(doubler.sizes(), vec![1]);
    assert_eq!(batcher.metrics().errors(ErrorKind::Timeout), 1);
}

#[test]
fn higher_priorities_run_first() {
    let doubler = Doubler::closed_gate();
    let batcher = start(
        doubler.clone(),
        BatcherConfig {
            max_batch_size: 1,
            ..BatcherConfig::default()
        },
    );
    let first = occupy(&batcher);
    let tickets: Vec<_> = [
        (1.0, Priority::Low),
        (2.0, Priority::Normal),
        (3.0, Priority::High),
    ]
    .into_iter()
    .map(|(value, priority)| {
        let mut request = row(&[value]);
        request.priority = priority;
        batcher.submit(request).unwrap()
    })
    .collect();
    doubler.open();
    first.wait().unwrap();
    for ticket in tickets {
        ticket.wait().unwrap();
    }
    assert_eq!(*doubler.firsts.lock().unwrap(), vec![0.0, 3.0, 2.0, 1.0]);
}

#[test]
fn rows_of_another_shape_start_their_own_batch() {
    let doubler = Doubler::closed_gate();
    let batcher = start(doubler.clone(), BatcherConfig::default());
    let first = occupy(&batcher);
    let a = batcher.submit(row(&[1.0, 2.0])).unwrap();
    let b = batcher.submit(row(&[3.0])).unwrap();
    let c = batcher.submit(row(&[4.0])).unwrap();
    doubler.open();
    first.wait().unwrap();
    assert_eq!(floats(&a.wait().unwrap()), vec![2.0, 4.0]);
    assert_eq!(floats(&b.wait().unwrap()), vec![6.0]);
    assert_eq!(floats(&c.wait().unwrap()), vec![8.0]);
    assert_eq!(doubler.sizes(), vec![1, 1, 2]);
}

#[test]
fn closing_finishes_queued_rows_and_refuses_new_ones() {
    let doubler = Doubler::closed_gate();
    let batcher = start(doubler.clone(), BatcherConfig::default());
    let first = occupy(&batcher);
    let queued = batcher.submit(row(&[5.0])).unwrap();
    batcher.close();
    assert_eq!(batcher.submit(row(&[1.0])).err(), Some(SubmitError::Closed));
    doubler.open();
    assert_eq!(floats(&first.wait().unwrap()), vec![0.0]);
    assert_eq!(floats(&queued.wait().unwrap()), vec![10.0]);
    batcher.shutdown();
}

/// Calls `call(batcher, round, value)` from 8 threads at once, `rounds` times each, with a
/// value unique to the thread and round; returns how many rows the batcher ran.
fn from_eight_threads(rounds: usize, call: impl Fn(&Batcher, usize, f32) + Sync) -> u64 {
    let batcher = start(
        Arc::new(Doubler::default()),
        BatcherConfig {
            max_batch_size: 16,
            ..BatcherConfig::default()
        },
    );
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (batcher, call) = (&batcher, &call);
            scope.spawn(move || {
                for i in 0..rounds {
                    call(batcher, i, (thread * 1000 + i) as f32);
                }
            });
        }
    });
    batcher.metrics().snapshot(0).queue_wait.count
}

#[test]
fn many_threads_get_their_own_rows_back() {
    let rows = from_eight_threads(500, |batcher, _, value| {
        let output = batcher
            .submit(row(&[value, -value]))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(floats(&output), vec![2.0 * value, -2.0 * value]);
    });
    assert_eq!(rows, 4000);
}

#[test]
fn many_threads_running_their_own_rows_get_them_back() {
    let rows = from_eight_threads(300, |batcher, round, value| {
        let (tickets, queued) =
            batcher.enqueue([row(&[value]), row(&[-value]), row(&[value + 0.5])]);
        // Every third time the rows are left to the dispatcher.
        if round % 3 == 0 {
            drop(queued);
        } else {
            queued.run_here();
        }
        let outputs: Vec<_> = tickets
            .into_iter()
            .map(|ticket| floats(&ticket.unwrap().wait().unwrap()))
            .collect();
        assert_eq!(
            outputs,
            vec![
                vec![2.0 * value],
                vec![-2.0 * value],
                vec![2.0 * value + 1.0]
            ]
        );
    });
    assert_eq!(rows, 7200);
}

#[test]
fn rows_queued_together_run_on_the_calling_thread_when_the_model_is_free() {
    let doubler = Arc::new(Doubler::default());
    let batcher = start(doubler.clone(), BatcherConfig::default());
    // Once the model has run (on the dispatcher) and proved quick.
    batcher.submit(row(&[0.0])).unwrap().wait().unwrap();
    until_idle(&batcher);
    let (tickets, queued) = batcher.enqueue((1..=3).map(|i| row(&[i as f32])));
    queued.run_here();
    assert_eq!(doubler.threads(), vec![DISPATCHER.into(), this_thread()]);
    assert_eq!(doubler.sizes(), vec![1, 3]);
    for (i, ticket) in tickets.into_iter().enumerate() {
        assert_eq!(
            floats(&ticket.unwrap().wait().unwrap()),
            vec![2.0 * (i + 1) as f32]
        );
    }
}

#[test]
fn a_lone_row_and_rows_left_unrun_go_to_the_dispatcher_thread() {
    let doubler = Arc::new(Doubler::default());
    let batcher = start(doubler.clone(), BatcherConfig::default());
    // A lone row: the dispatcher, which polls for a while after each batch, answers the next
    // one sooner than a thread waking from sleep would.
    let (mut tickets, queued) = batcher.enqueue([row(&[1.0])]);
    queued.run_here();
    tickets.pop().unwrap().unwrap().wait().unwrap();
    // Dropped without `run_here` (the caller gave up, say): the rows still run.
    let (tickets, queued) = batcher.enqueue([row(&[2.0]), row(&[3.0])]);
    drop(queued);
    for ticket in tickets {
        ticket.unwrap().wait().unwrap();
    }
    assert_eq!(doubler.threads(), vec![DISPATCHER, DISPATCHER]);
}

#[test]
fn run_here_leaves_rows_to_a_batch_running_elsewhere_without_waiting_for_it() {
    let doubler = Doubler::closed_gate();
    let batcher = start(doubler.clone(), BatcherConfig::default());
    let first = occupy(&batcher);
    let (tickets, queued) = batcher.enqueue([row(&[1.0]), row(&[2.0])]);
    // Returns at once although the model is held shut: the dispatcher runs the rows next.
    queued.run_here();
    assert_eq!(batcher.queue_depth(), 2);
    doubler.open();
    first.wait().unwrap();
    for ticket in tickets {
        ticket.unwrap().wait().unwrap();
    }
    assert_eq!(doubler.threads(), vec![DISPATCHER, DISPATCHER]);
    assert_eq!(doubler.sizes(), vec![1, 2]);
}

#[test]
fn slow_models_and_batches_that_wait_for_company_run_on_the_dispatcher_thread() {
    let run = |batcher: &Batcher| {
        until_idle(batcher);
        let (tickets, queued) = batcher.enqueue([row(&[1.0]), row(&[2.0])]);
        queued.run_here();
        for ticket in tickets {
            ticket.unwrap().wait().unwrap();
        }
    };
    // A model not run yet, then one that took 2 ms, and the same model once quick again.
    let model = Arc::new(Doubler::default());
    let batcher = start(model.clone(), BatcherConfig::default());
    model.pause_ms.store(2, Ordering::SeqCst);
    run(&batcher);
    model.pause_ms.store(0, Ordering::SeqCst);
    run(&batcher);
    run(&batcher);
    assert_eq!(
        model.threads(),
        vec![DISPATCHER.into(), DISPATCHER.into(), this_thread()]
    );

    let doubler = Arc::new(Doubler::default());
    let delayed = start(
        doubler.clone(),
        BatcherConfig {
            max_delay: Duration::from_millis(1),
            ..BatcherConfig::default()
        },
    );
    run(&delayed);
    assert_eq!(doubler.threads(), vec![DISPATCHER]);
}

struct Slow;

impl Predictor for Slow {
    fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
        std::thread::sleep(Duration::from_millis(2) * batch.shape[0] as u32);
        Ok(batch)
    }
}

#[test]
fn adaptive_batching_shrinks_the_limit_when_calls_exceed_the_target() {
    let batcher = start(
        Arc::new(Slow),
        BatcherConfig {
            max_batch_size: 32,
            latency_target: Some(Duration::from_millis(5)),
            ..BatcherConfig::default()
        },
    );
    let first = occupy(&batcher);
    let tickets: Vec<_> = (0..200)
        .map(|i| batcher.submit(row(&[i as f32])).unwrap())
        .collect();
    first.wait().unwrap();
    for ticket in tickets {
        ticket.wait().unwrap();
    }
    // 2 ms per row against a 5 ms target settles at two or three rows per batch.
    assert!(batcher.current_limit() <= 3, "{}", batcher.current_limit());
}

#[test]
fn invalid_settings_are_refused_with_the_reason() {
    let config = BatcherConfig {
        max_batch_size: 8,
        preferred_batch_sizes: vec![16],
        ..BatcherConfig::default()
    };
    let err = Batcher::start(
        "bad",
        Arc::new(Slow),
        DataType::Fp32,
        config,
        Arc::new(PerformanceMetrics::new()),
    )
    .err()
    .unwrap();
    assert!(err.contains("preferred batch size 16"), "{err}");
}
