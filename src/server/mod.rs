//! The `Server` Python class: owns the tokio runtime, the listeners and the app's
//! executor (a WSGI thread pool, or the bridge to an ASGI event loop), and runs until told
//! to stop.
//!
//! Python binds the sockets (so bind errors and socket options stay policy) and passes their
//! descriptors in; for ASGI it also runs the event loop thread and registers
//! `server.asgi_bridge` with it. `serve()` blocks the calling thread with the GIL released,
//! waking every 100 ms to let Python run its signal handlers, which call `stop()`.

mod listen;
mod service;

use std::net::TcpListener;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::asgi::bridge::LoopBridge;
use crate::asgi::websocket::WebSocketSettings;
use crate::asgi::{AsgiApp, AsgiSettings};
use crate::wsgi::pool::Pool;
use crate::wsgi::{WsgiApp, WsgiSettings};
use service::{App, Service};

/// How often `serve()` lets Python check for signals.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The settings the core reads from the Python `Config` object, by attribute.
#[derive(FromPyObject)]
pub struct Settings {
    #[pyo3(attribute)]
    threads: usize,
    #[pyo3(attribute)]
    queue_size: usize,
    #[pyo3(attribute)]
    queue_timeout: f64,
    #[pyo3(attribute)]
    preread_limit: usize,
    #[pyo3(attribute)]
    io_threads: usize,
    #[pyo3(attribute)]
    graceful_timeout: f64,
    /// `auto` or `none`.
    #[pyo3(attribute)]
    ws: String,
    #[pyo3(attribute)]
    ws_max_size: usize,
}

/// The app and what runs it, before `serve()` starts it.
enum Executor {
    Wsgi { app: Py<PyAny>, threads: usize, queue_size: usize, settings: WsgiSettings },
    Asgi { bridge: Py<LoopBridge>, settings: AsgiSettings },
}

#[pyclass(module = "amphicorn._amphicorn")]
pub struct Server {
    listeners: Mutex<Vec<TcpListener>>,
    runtime: Mutex<Option<Runtime>>,
    executor: Executor,
    graceful_timeout: Duration,
    stop: watch::Sender<bool>,
}

#[pymethods]
impl Server {
    /// `fds` are listening sockets; the server dups them, so the caller may close its own.
    /// `interface` is `"wsgi"` or `"asgi"`; ASGI needs the `event_loop` that will run the
    /// app and the lifespan `state` dict to copy into each scope.
    #[new]
    #[pyo3(signature = (app, fds, settings, *, interface, event_loop = None, lifespan_state = None))]
    fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        fds: Vec<i32>,
        settings: Settings,
        interface: &str,
        event_loop: Option<Py<PyAny>>,
        lifespan_state: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let listeners = fds.into_iter().map(listener_from_fd).collect::<PyResult<Vec<_>>>()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.io_threads.max(1))
            .thread_name("amphicorn-io")
            .enable_all()
            .build()?;
        let executor = match interface {
            "wsgi" => Executor::Wsgi {
                app,
                threads: settings.threads,
                queue_size: settings.queue_size,
                settings: WsgiSettings {
                    preread_limit: settings.preread_limit,
                    queue_timeout: seconds(settings.queue_timeout, "queue_timeout")?,
                    script_name: String::new(),
                },
            },
            "asgi" => {
                let event_loop =
                    event_loop.ok_or_else(|| PyValueError::new_err("an ASGI app needs the event loop that runs it"))?;
                let state = lifespan_state.unwrap_or_else(|| py.None());
                let bridge = LoopBridge::new(runtime.handle().clone(), event_loop, app, state)?;
                Executor::Asgi {
                    bridge: Py::new(py, bridge)?,
                    settings: AsgiSettings {
                        preread_limit: settings.preread_limit,
                        root_path: String::new(),
                        websocket: (settings.ws != "none")
                            .then_some(WebSocketSettings { max_message_size: settings.ws_max_size }),
                    },
                }
            }
            other => return Err(PyValueError::new_err(format!("interface must be 'wsgi' or 'asgi', got {other:?}"))),
        };
        Ok(Self {
            listeners: Mutex::new(listeners),
            runtime: Mutex::new(Some(runtime)),
            executor,
            graceful_timeout: seconds(settings.graceful_timeout, "graceful_timeout")?,
            stop: watch::channel(false).0,
        })
    }

    /// For ASGI: the loop-side end of the bridge, to register with
    /// `loop.add_reader(bridge.fileno(), bridge.drain)` on the loop's thread.
    #[getter]
    fn asgi_bridge(&self, py: Python<'_>) -> Option<Py<LoopBridge>> {
        match &self.executor {
            Executor::Asgi { bridge, .. } => Some(bridge.clone_ref(py)),
            Executor::Wsgi { .. } => None,
        }
    }

    /// Serves until `stop()` (or a Python exception from a signal handler), then drains:
    /// stops accepting, lets in-flight requests finish for up to `graceful_timeout`.
    fn serve(&self, py: Python<'_>) -> PyResult<()> {
        let listeners = std::mem::take(&mut *lock(&self.listeners));
        let runtime = lock(&self.runtime).take();
        let (Some(runtime), false) = (runtime, listeners.is_empty()) else {
            return Err(PyRuntimeError::new_err("serve() needs at least one listening socket, and runs once"));
        };
        let (app, pool) = match &self.executor {
            Executor::Wsgi { app, threads, queue_size, settings } => {
                let pool = std::sync::Arc::new(Pool::start(py, app, *threads, *queue_size, "amphicorn-wsgi")?);
                (App::Wsgi(WsgiApp::new(pool.clone(), settings.clone())), Some(pool))
            }
            Executor::Asgi { bridge, settings } => {
                (App::Asgi(AsgiApp::new(bridge.get().handle(), settings.clone())), None)
            }
        };
        let service = std::sync::Arc::new(Service::new(app));
        let mut serving = {
            let _entered = runtime.enter();
            let listeners = listeners
                .into_iter()
                .map(|listener| {
                    listener.set_nonblocking(true)?;
                    tokio::net::TcpListener::from_std(listener)
                })
                .collect::<std::io::Result<Vec<_>>>()?;
            runtime.spawn(listen::serve(listeners, service, self.stop.subscribe(), self.graceful_timeout))
        };
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
        if let Some(pool) = pool {
            pool.close();
            let graceful_timeout = self.graceful_timeout;
            let stuck = py.detach(|| pool.join(graceful_timeout));
            if stuck > 0 {
                crate::log::debug(py, &format!("{stuck} WSGI threads were still busy at shutdown"));
            }
        }
        py.detach(|| runtime.shutdown_timeout(Duration::from_secs(1)));
        interrupted.map_or(Ok(()), Err)
    }

    /// Asks a running `serve()` to drain and return. Safe from signal handlers and threads.
    fn stop(&self) {
        self.stop.send_replace(true);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind the lock: still consistent if a holder panicked.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
