//! Awaiting a Rust future from asyncio without a thread of its own.
//!
//! The Python side makes an asyncio future and asks us to poll; if the Rust future is not
//! ready, the `Waker` we poll it with remembers that asyncio future, and whoever makes the
//! Rust future ready (a WSGI pool thread sending the response head, say) wakes it with
//! `loop.call_soon_threadsafe(wake, future)`. The loop then polls again. When the answer is
//! already there (the common case for a small response), nothing is scheduled at all.
//!
//! Wakes come from pool threads, which hold the GIL or can take it; tokio is not involved.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use pyo3::prelude::*;

use crate::log;

/// How to reach the event loop that awaits: its `call_soon_threadsafe`, and the Python
/// function that resolves an asyncio future unless it is already done (cancelled, say).
pub struct LoopHandle {
    pub call_soon_threadsafe: Py<PyAny>,
    pub wake: Py<PyAny>,
}

struct AsyncioWaker {
    handle: Arc<LoopHandle>,
    future: Py<PyAny>,
}

impl Wake for AsyncioWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        Python::attach(|py| {
            let handle = &self.handle;
            if let Err(error) =
                handle.call_soon_threadsafe.call1(py, (handle.wake.clone_ref(py), self.future.clone_ref(py)))
            {
                // The loop is closed: whoever awaited is gone with it.
                log::debug(py, &format!("could not wake the event loop: {error}"));
            }
        });
    }
}

/// Polls `future` once; when it is pending, `asyncio_future` is resolved the next time it
/// may make progress.
pub fn poll_for<F: Future + Unpin + ?Sized>(
    future: &mut F,
    handle: &Arc<LoopHandle>,
    asyncio_future: &Bound<'_, PyAny>,
) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(AsyncioWaker { handle: handle.clone(), future: asyncio_future.clone().unbind() }));
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}
