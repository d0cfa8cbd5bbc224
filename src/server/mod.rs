//! The `Server` Python class: owns the tokio runtime, the listeners and the app pools, and
//! runs until told to stop.
//!
//! Python binds the sockets (so bind errors and socket options stay policy) and passes their
//! descriptors in; `serve()` blocks the calling thread with the GIL released, waking every
//! 100 ms to let Python run its signal handlers, which call `stop()`.

mod listen;
mod service;

use std::net::TcpListener;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::sync::watch;

use crate::wsgi::pool::Pool;
use crate::wsgi::{WsgiApp, WsgiSettings};
use service::Service;

/// How often `serve()` lets Python check for signals.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

#[pyclass(module = "amphicorn._amphicorn")]
pub struct Server {
    app: Py<PyAny>,
    listeners: Mutex<Vec<TcpListener>>,
    threads: usize,
    queue_size: usize,
    settings: WsgiSettings,
    io_threads: usize,
    graceful_timeout: Duration,
    stop: watch::Sender<bool>,
}

#[pymethods]
impl Server {
    /// `fds` are listening sockets; the server dups them, so the caller may close its own.
    #[new]
    #[pyo3(signature = (app, fds, *, threads, queue_size, queue_timeout, preread_limit, io_threads, graceful_timeout))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        app: Py<PyAny>,
        fds: Vec<i32>,
        threads: usize,
        queue_size: usize,
        queue_timeout: f64,
        preread_limit: usize,
        io_threads: usize,
        graceful_timeout: f64,
    ) -> PyResult<Self> {
        let listeners = fds.into_iter().map(listener_from_fd).collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            app,
            listeners: Mutex::new(listeners),
            threads,
            queue_size,
            settings: WsgiSettings {
                preread_limit,
                queue_timeout: seconds(queue_timeout, "queue_timeout")?,
                script_name: String::new(),
            },
            io_threads: io_threads.max(1),
            graceful_timeout: seconds(graceful_timeout, "graceful_timeout")?,
            stop: watch::channel(false).0,
        })
    }

    /// Serves until `stop()` (or a Python exception from a signal handler), then drains:
    /// stops accepting, lets in-flight requests finish for up to `graceful_timeout`.
    fn serve(&self, py: Python<'_>) -> PyResult<()> {
        let listeners =
            std::mem::take(&mut *self.listeners.lock().map_err(|_| PyRuntimeError::new_err("server state poisoned"))?);
        if listeners.is_empty() {
            return Err(PyRuntimeError::new_err("serve() needs at least one listening socket, and runs once"));
        }
        let pool = Pool::start(py, &self.app, self.threads, self.queue_size, "amphicorn-wsgi")?;
        let service = Arc::new(Service::new(WsgiApp::new(pool, self.settings.clone())));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.io_threads)
            .thread_name("amphicorn-io")
            .enable_all()
            .build()?;
        let serving = {
            let _entered = runtime.enter();
            let listeners = listeners
                .into_iter()
                .map(|listener| {
                    listener.set_nonblocking(true)?;
                    tokio::net::TcpListener::from_std(listener)
                })
                .collect::<std::io::Result<Vec<_>>>()?;
            runtime.spawn(listen::serve(listeners, service.clone(), self.stop.subscribe(), self.graceful_timeout))
        };
        let mut serving = serving;
        let mut interrupted = None;
        loop {
            if let Err(error) = py.check_signals() {
                interrupted.get_or_insert(error);
                self.stop.send_replace(true);
            }
            let finished =
                py.detach(|| runtime.block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut serving).await.is_ok() }));
            if finished {
                break;
            }
        }
        let pool = service.wsgi().pool();
        pool.close();
        let graceful_timeout = self.graceful_timeout;
        let stuck = py.detach(|| pool.join(graceful_timeout));
        py.detach(|| runtime.shutdown_timeout(Duration::from_secs(1)));
        if stuck > 0 {
            crate::log::debug(py, &format!("{stuck} WSGI threads were still busy at shutdown"));
        }
        interrupted.map_or(Ok(()), Err)
    }

    /// Asks a running `serve()` to drain and return. Safe from signal handlers and threads.
    fn stop(&self) {
        self.stop.send_replace(true);
    }
}

fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a non-negative number of seconds, got {value}")))
}

fn listener_from_fd(fd: i32) -> PyResult<TcpListener> {
    if fd < 0 {
        return Err(PyValueError::new_err(format!("invalid socket descriptor {fd}")));
    }
    #[allow(unsafe_code)]
    // SAFETY: the caller passes the descriptor of a socket it keeps open for this call; we
    // only borrow it to dup it, and own the duplicate from then on.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned: OwnedFd = borrowed.try_clone_to_owned()?;
    Ok(TcpListener::from(owned))
}
