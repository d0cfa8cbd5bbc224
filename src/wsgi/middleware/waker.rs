//! Awaiting a Rust future from asyncio without a thread of its own, and without Python in
//! the waker.
//!
//! The Python side makes an asyncio future and asks us to poll; if the Rust future is not
//! ready, the future is filed in the loop's `WakeChannel` under a number, and the `Waker` we
//! poll with carries that number. Whoever makes the Rust future ready (a WSGI pool thread
//! sending the response head, say) wakes it: the number goes on a queue and, if the loop was
//! not already told, one byte on a socketpair that the loop watches with `add_reader`
//! (`crate::wake`, as the ASGI bridge does). The
//! loop then runs `drain()`, which resolves the filed futures, and the Python side polls
//! again. When the answer is already there (the common case for a small response), nothing
//! is filed at all.
//!
//! A waker never takes the GIL: it may run while its caller holds a lock (async-channel wakes
//! listeners under its own), and the loop thread may hold the GIL while it waits for that
//! same lock, so a waker that wanted the GIL could deadlock the two.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;

use crate::sync::lock;
use crate::wake::{self, WakeReceiver, WakeSender};

/// The thread-safe half: what wakers touch.
struct Signal {
    woken: Mutex<Vec<u64>>,
    sender: WakeSender,
}

impl Signal {
    fn wake(&self, id: u64) {
        lock(&self.woken).push(id);
        self.sender.wake();
    }
}

struct FiledWaker {
    signal: Arc<Signal>,
    id: u64,
}

impl Wake for FiledWaker {
    fn wake(self: Arc<Self>) {
        self.signal.wake(self.id);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.signal.wake(self.id);
    }
}

/// One event loop's side: the futures waiting on Rust, and the socket it watches.
#[pyclass(module = "amphicorn._amphicorn", frozen)]
pub struct WakeChannel {
    signal: Arc<Signal>,
    reader: WakeReceiver,
    /// Touched only on the loop's thread, with the GIL.
    filed: Mutex<HashMap<u64, Py<PyAny>>>,
    next_id: AtomicU64,
}

#[pymethods]
impl WakeChannel {
    #[new]
    fn new() -> PyResult<Self> {
        let (sender, reader) = wake::pair()?;
        let signal = Signal { woken: Mutex::default(), sender };
        Ok(Self { signal: Arc::new(signal), reader, filed: Mutex::default(), next_id: AtomicU64::new(1) })
    }

    /// The descriptor to watch: `loop.add_reader(channel.fileno(), channel.drain)`.
    fn fileno(&self) -> i32 {
        self.reader.fileno()
    }

    /// Resolves the futures whose Rust side woke (those the loop already gave up on, e.g.
    /// cancelled, are skipped).
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        if let Err(error) = self.reader.drain(&self.signal.sender) {
            return Err(PyRuntimeError::new_err(format!("WSGIMiddleware wake-up failed: {error}")));
        }
        let woken = std::mem::take(&mut *lock(&self.signal.woken));
        for id in woken {
            let future = lock(&self.filed).remove(&id);
            if let Some(future) = future {
                let future = future.bind(py);
                if !future.call_method0(intern!(py, "done"))?.is_truthy()? {
                    future.call_method1(intern!(py, "set_result"), (py.None(),))?;
                }
            }
        }
        Ok(())
    }
}

impl WakeChannel {
    /// Polls `future` once; when it is pending, `asyncio_future` is filed to be resolved the
    /// next time the Rust future may make progress, and its number goes on `filed_ids` (for
    /// `forget`, should the wake never come).
    pub fn poll<F: Future + Unpin + ?Sized>(
        &self,
        future: &mut F,
        asyncio_future: &Bound<'_, PyAny>,
        filed_ids: &mut Vec<u64>,
    ) -> Poll<F::Output> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let waker = Waker::from(Arc::new(FiledWaker { signal: self.signal.clone(), id }));
        let polled = Pin::new(future).poll(&mut Context::from_waker(&waker));
        if polled.is_pending() {
            lock(&self.filed).insert(id, asyncio_future.clone().unbind());
            filed_ids.push(id);
        }
        polled
    }

    /// Drops what is still filed under `ids`: their Rust futures are gone, no wake will come.
    pub fn forget(&self, ids: &[u64]) {
        let mut filed = lock(&self.filed);
        for id in ids {
            filed.remove(id);
        }
    }
}
