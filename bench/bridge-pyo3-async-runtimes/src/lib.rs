//! `pyo3_async_runtimes_server._server`: a minimal ASGI (`http` scopes only) HTTP/1.1 server
//! whose bridge between tokio and the asyncio loop is pyo3-async-runtimes, for amphicorn's
//! benchmark (the `pyo3-async-runtimes` peer). It answers one question: how fast would
//! amphicorn's ASGI path be with the library bridge instead of its hand-written one?
//!
//! What it shares with amphicorn, so that only the bridge differs: a tokio multi-thread
//! runtime with one worker per core, hyper 1 `http1` with keep-alive and `TCP_NODELAY`, the
//! asyncio loop (uvloop when installed) in a Python thread of its own, request bodies up to
//! 64 KiB read by Rust before the app is called (one `http.request` message), larger ones
//! streamed frame by frame, and a one-message response sent with its length.
//!
//! The bridge, as the library's documentation shows it (`server.rs`, `receive.rs`,
//! `send.rs`): the tokio task builds the scope and calls the app with the GIL
//! (`Python::attach`), turns the coroutine into a Rust future with
//! `pyo3_async_runtimes::into_future_with_locals` (the loop's `TaskLocals`), and every
//! `receive()`/`send()` returns an asyncio future made by
//! `pyo3_async_runtimes::tokio::future_into_py_with_locals`.
//!
//! What it leaves out: lifespan, WebSockets, TLS, graceful shutdown, limits and timeouts.

mod receive;
mod scope;
mod send;
mod server;

use pyo3::prelude::*;

#[pymodule]
fn _server(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(server::serve, module)?)?;
    Ok(())
}
