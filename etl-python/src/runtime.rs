//! The tokio runtime loads run on, and how Python waits for them: the GIL
//! released, Ctrl-C heard.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;

/// How often a waiting call looks for a signal (Ctrl-C).
const SIGNALS_EVERY: Duration = Duration::from_millis(50);

/// The runtime every call of the package runs on, started on first use.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("etl")
            .build()
            .expect("the tokio runtime starts")
    })
}

/// Runs `future` on the runtime and waits for it with the GIL released, so
/// other Python threads run meanwhile. A signal's exception (Ctrl-C's
/// `KeyboardInterrupt`) cancels it: the future is dropped, and what it was
/// writing rolls back, before the exception is raised.
pub(crate) fn wait<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let mut task = runtime().spawn(future);
    loop {
        let waited = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNALS_EVERY, &mut task).await })
        });
        match waited {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if e.is_panic() => {
                return Err(pyo3::panic::PanicException::new_err(panic_message(
                    e.into_panic(),
                )));
            }
            Ok(Err(_)) => {
                return Err(crate::errors::CancelledError::new_err(
                    "the call was cancelled",
                ));
            }
            Err(_) => {
                if let Err(signal) = py.check_signals() {
                    task.abort();
                    // Wait for the drop: nothing half written goes on behind us.
                    let _ = py.detach(|| runtime().block_on(&mut task));
                    return Err(signal);
                }
            }
        }
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(text) => *text,
        Err(panic) => match panic.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => "a panic in etl".to_owned(),
        },
    }
}
