//! The hand-off between tokio and the asyncio event loop that runs ASGI apps.
//!
//! tokio never calls into Python. It pushes `LoopEvent`s onto a queue and, if the loop
//! was not already told, writes one byte to a socketpair whose other end the loop watches
//! with `add_reader`. The loop thread then runs `LoopBridge.drain()`, which empties the
//! queue with the GIL held: it starts app tasks and resolves the asyncio futures that
//! `receive()`/`send()` returned while they waited on Rust.
//!
//! Futures are never handed to tokio: they stay in the bridge's table, keyed by a number,
//! and tokio tasks refer to them by that number; the events themselves (`AsgiJob`,
//! `Resolution`) hold no Python object. So no Python object is created or touched on a tokio
//! thread. One kind is dropped there: a connection's address objects
//! (`connection_info::AddressObjects`), when the last request's `ConnectionInfo` goes with
//! the connection; pyo3 then defers their decrements to the next thread holding the GIL.
//!
//! Wakes are coalesced: one byte per drain, however many events a burst brings.
//!
//! The bridge only carries jobs: what starting one means (scope, `receive`, `send`, the
//! app's task) is `call.rs`'s, handed in as a `Starter` when the bridge is made.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use super::job::AsgiJob;
use super::messages::Incoming;
use crate::errors::Error;
use crate::log;
use crate::sync::lock;
use crate::wake::{self, WakeReceiver, WakeSender};

/// Something the loop thread must do.
pub enum LoopEvent {
    /// Start the app for a new request.
    Start(Box<AsgiJob>),
    /// Resolve the future registered under this number.
    Resolve(u64, Resolution),
}

/// How a waiting future ends.
pub enum Resolution {
    /// `receive()` gets this message.
    Received(Incoming),
    /// `send()` went through.
    Sent,
    /// `send()` failed: the client is gone.
    SendFailed,
}

/// The tokio-side handle: push events, spawn waiters.
pub struct Bridge {
    queue: Mutex<VecDeque<LoopEvent>>,
    waker: WakeSender,
    next_waiter: AtomicU64,
    runtime: tokio::runtime::Handle,
}

impl Bridge {
    pub fn push(&self, event: LoopEvent) {
        lock(&self.queue).push_back(event);
        self.waker.wake();
    }

    /// Runs `future` on tokio and resolves waiter `id` with its outcome.
    pub fn resolve_with<F>(self: &Arc<Self>, id: u64, future: F)
    where
        F: std::future::Future<Output = Resolution> + Send + 'static,
    {
        let bridge = self.clone();
        self.runtime.spawn(async move {
            let resolution = future.await;
            bridge.push(LoopEvent::Resolve(id, resolution));
        });
    }

    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }
}

/// Counts the app tasks in progress, so that a stop lets them end before the loop cancels
/// what is left (as uvicorn waits for its request tasks): a response's background work, or
/// a WebSocket app reading the disconnect of a connection the drain just closed.
#[derive(Default)]
pub struct AppTasks {
    running: AtomicUsize,
    ended: Notify,
}

impl AppTasks {
    /// One task more, until the returned guard is dropped (with the task's done-callback).
    pub fn start(self: &Arc<Self>) -> AppTask {
        self.running.fetch_add(1, Ordering::AcqRel);
        AppTask(self.clone())
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Resolves once no task is in progress.
    pub async fn all_ended(&self) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            ended.await;
        }
    }
}

/// One app task in progress (see `AppTasks`).
pub struct AppTask(Arc<AppTasks>);

impl Drop for AppTask {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.ended.notify_waiters();
        }
    }
}

/// Starts one job on the loop thread: `(bridge, app, lifespan state, job)`.
pub type Starter =
    fn(Python<'_>, &Bound<'_, LoopBridge>, &Bound<'_, PyAny>, &Bound<'_, PyAny>, AsgiJob) -> PyResult<()>;

/// The loop-side half, given to Python: `loop.add_reader(bridge.fileno(), bridge.drain)`.
#[pyclass(module = "amphicorn._amphicorn", frozen)]
pub struct LoopBridge {
    bridge: Arc<Bridge>,
    reader: WakeReceiver,
    event_loop: Py<PyAny>,
    app: Py<PyAny>,
    /// Futures waiting on tokio, by number. Only the loop thread touches it.
    waiters: Mutex<HashMap<u64, Py<PyAny>>>,
    state: Py<PyAny>,
    start: Starter,
    tasks: Arc<AppTasks>,
}

impl LoopBridge {
    pub fn new(
        runtime: tokio::runtime::Handle,
        event_loop: Py<PyAny>,
        app: Py<PyAny>,
        state: Py<PyAny>,
        start: Starter,
    ) -> std::io::Result<Self> {
        let (waker, reader) = wake::pair()?;
        let bridge =
            Arc::new(Bridge { queue: Mutex::new(VecDeque::new()), waker, next_waiter: AtomicU64::new(0), runtime });
        let waiters = Mutex::new(HashMap::new());
        Ok(Self { bridge, reader, event_loop, app, waiters, state, start, tasks: Arc::default() })
    }

    pub fn handle(&self) -> Arc<Bridge> {
        self.bridge.clone()
    }

    /// The app tasks this bridge started that have not ended yet.
    pub fn tasks(&self) -> &Arc<AppTasks> {
        &self.tasks
    }

    pub fn event_loop(&self) -> &Py<PyAny> {
        &self.event_loop
    }

    /// A new asyncio future, registered for a later `Resolve`; returns it and its number.
    pub fn waiter<'py>(&self, py: Python<'py>) -> PyResult<(u64, Bound<'py, PyAny>)> {
        let future = self.event_loop.bind(py).call_method0(pyo3::intern!(py, "create_future"))?;
        let id = self.bridge.next_waiter.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiters).insert(id, future.clone().unbind());
        Ok((id, future))
    }

    fn resolve(&self, py: Python<'_>, id: u64, resolution: Resolution) -> PyResult<()> {
        let Some(future) = lock(&self.waiters).remove(&id) else {
            return Ok(());
        };
        let future = future.bind(py);
        // The app may have stopped waiting (a timeout cancelled the future).
        if future.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
            return Ok(());
        }
        match resolution {
            Resolution::Received(message) => {
                future.call_method1(pyo3::intern!(py, "set_result"), (message.into_dict(py)?,))?;
            }
            Resolution::Sent => {
                future.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
            }
            Resolution::SendFailed => {
                let error = PyErr::from(Error::client_gone());
                future.call_method1(pyo3::intern!(py, "set_exception"), (error.value(py),))?;
            }
        }
        Ok(())
    }
}

#[pymethods]
impl LoopBridge {
    fn fileno(&self) -> i32 {
        self.reader.fileno()
    }

    /// Runs on the loop thread whenever tokio has pushed events.
    fn drain(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if let Err(error) = this.reader.drain(&this.bridge.waker) {
            return Err(PyRuntimeError::new_err(format!("ASGI bridge wake-up failed: {error}")));
        }
        loop {
            // Take one event at a time: handling one may push more (and must not deadlock).
            let Some(event) = lock(&this.bridge.queue).pop_front() else {
                return Ok(());
            };
            let handled = match event {
                LoopEvent::Start(job) => (this.start)(py, slf, this.app.bind(py), this.state.bind(py), *job),
                LoopEvent::Resolve(id, resolution) => this.resolve(py, id, resolution),
            };
            if let Err(error) = handled {
                log::exception(py, "ASGI bridge error", &error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn ends_within(tasks: &AppTasks, wait: Duration) -> bool {
        tokio::time::timeout(wait, tasks.all_ended()).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn all_ended_waits_for_the_last_task_in_progress() {
        let tasks = Arc::new(AppTasks::default());
        assert!(ends_within(&tasks, Duration::ZERO).await, "no task: nothing to wait for");
        let first = tasks.start();
        let second = tasks.start();
        assert_eq!(tasks.running(), 2);
        let waiting = tokio::spawn({
            let tasks = tasks.clone();
            async move { tasks.all_ended().await }
        });
        drop(first);
        assert!(!ends_within(&tasks, Duration::from_secs(1)).await, "one task is still running");
        assert!(!waiting.is_finished());
        drop(second);
        assert_eq!(tasks.running(), 0);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("woken by the last task's end")
            .expect("the waiting task ran to its end");
    }
}
