//! The one way long calls leave Python: release the GIL, run, map errors, honour Ctrl-C.

use std::sync::mpsc;
use std::time::Duration;

use aidot_core::blobs::Progress;
use pyo3::prelude::*;

use crate::errors::to_pyerr;

/// How often a long call wakes up to report progress and look for Ctrl-C.
const POLL: Duration = Duration::from_millis(100);

/// Runs `f` with the GIL released and maps its error.
pub(crate) fn detach<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: Send + FnOnce() -> aidot_core::Result<T>,
{
    py.detach(f).map_err(to_pyerr)
}

/// Runs `f` on a worker thread with the GIL released while this thread reports progress to
/// `callback(bytes_done, bytes_total, files_done)` and checks for signals. Ctrl-C (or an
/// exception from the callback) cancels the work, which then leaves nothing partial visible, and
/// re-raises in the caller.
pub(crate) fn run_cancellable<T, F>(
    py: Python<'_>,
    callback: Option<&Py<PyAny>>,
    f: F,
) -> PyResult<T>
where
    T: Send,
    F: Send + FnOnce(&Progress) -> aidot_core::Result<T>,
{
    let progress = Progress::default();
    // A first report before any work: a callback that raises stops the call with nothing done.
    report(py, callback, &progress)?;
    let (result, interrupt) = py.detach(|| {
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = mpsc::channel();
            let progress = &progress;
            scope.spawn(move || {
                let _ = done_tx.send(f(progress));
            });
            let mut interrupt: Option<PyErr> = None;
            loop {
                match done_rx.recv_timeout(POLL) {
                    Ok(result) => {
                        if interrupt.is_none() {
                            interrupt = Python::attach(|py| report(py, callback, progress).err());
                        }
                        return (result, interrupt);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) if interrupt.is_none() => {
                        let outcome = Python::attach(|py| {
                            py.check_signals()?;
                            report(py, callback, progress)
                        });
                        if let Err(err) = outcome {
                            progress.cancel();
                            interrupt = Some(err);
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        // The worker panicked; the scope re-raises the panic on exit, which
                        // PyO3 turns into a Python exception.
                        return (Err(aidot_core::Error::Cancelled), interrupt);
                    }
                }
            }
        })
    });
    if let Some(err) = interrupt {
        return Err(err);
    }
    result.map_err(to_pyerr)
}

fn report(py: Python<'_>, callback: Option<&Py<PyAny>>, progress: &Progress) -> PyResult<()> {
    if let Some(callback) = callback {
        callback.call1(
            py,
            (
                progress.bytes_done(),
                progress.bytes_total(),
                progress.files_done(),
            ),
        )?;
    }
    Ok(())
}
