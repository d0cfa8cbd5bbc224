//! The accept loop and the per-request path: hyper hands a request to `handle`, which calls
//! the app with the GIL and awaits its response through pyo3-async-runtimes.
//!
//! Leaves the scope to `scope.rs`, `receive()` to `receive.rs` and `send()` and the response
//! body to `send.rs`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::receive::{HttpReceive, RequestBody};
use crate::scope;
use crate::send::{HttpSend, ResponseBody, SendState};

/// Bodies up to this size are read before the app is called, as amphicorn's pre-read does.
const PREREAD_LIMIT: u64 = 64 * 1024;

/// What every request needs: the app and the loop's task locals.
struct App {
    app: Py<PyAny>,
    locals: TaskLocals,
    /// Call the app from a `spawn_blocking` thread rather than from the tokio worker.
    call_in_blocking: bool,
}

/// `serve(app, event_loop, bind, io_threads, call_in_blocking, max_blocking_threads)`:
/// serves `app` until the process ends. `event_loop` must already run in another thread.
/// `max_blocking_threads` bounds tokio's blocking pool, where pyo3-async-runtimes resolves
/// every asyncio future (see `__main__.py` for why the benchmark bounds it).
#[pyfunction]
#[pyo3(signature = (app, event_loop, bind, io_threads, call_in_blocking = false, max_blocking_threads = 512))]
pub fn serve(
    py: Python<'_>,
    app: Py<PyAny>,
    event_loop: Bound<'_, PyAny>,
    bind: String,
    io_threads: usize,
    call_in_blocking: bool,
    max_blocking_threads: usize,
) -> PyResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads.max(1))
        .thread_name("bridge-io")
        .max_blocking_threads(max_blocking_threads.max(1))
        .enable_all()
        .build()?;
    // pyo3-async-runtimes spawns the futures of `future_into_py` on the runtime it was given:
    // the one hyper runs on, as in amphicorn (one runtime for I/O and bridge).
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
    pyo3_async_runtimes::tokio::init_with_runtime(runtime)
        .map_err(|()| PyRuntimeError::new_err("the pyo3-async-runtimes tokio runtime was already set"))?;
    let shared = Arc::new(App { app, locals: TaskLocals::new(event_loop), call_in_blocking });
    let address: SocketAddr = bind.parse().map_err(|error| PyRuntimeError::new_err(format!("bad address: {error}")))?;
    py.detach(|| runtime.block_on(accept_loop(address, shared)))
}

async fn accept_loop(address: SocketAddr, app: Arc<App>) -> PyResult<()> {
    let listener = TcpListener::bind(address).await?;
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).keep_alive(true);
    let builder = Arc::new(builder);
    loop {
        let Ok((stream, remote)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let handler = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(app, request, remote, address).await) }
            });
            let _ = builder.serve_connection(TokioIo::new(stream), handler).await;
        });
    }
}

async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    remote: SocketAddr,
    local: SocketAddr,
) -> Response<ResponseBody> {
    let (head, incoming) = request.into_parts();
    let small = incoming.size_hint().upper().is_some_and(|upper| upper <= PREREAD_LIMIT);
    let body = if small {
        match incoming.collect().await {
            Ok(collected) => RequestBody::Complete(collected.to_bytes()),
            Err(_) => return plain(StatusCode::BAD_REQUEST),
        }
    } else {
        RequestBody::Streaming(incoming)
    };
    let (respond, response) = oneshot::channel();
    let (finished, finished_watch) = watch::channel(false);
    let state = SendState::new(respond, finished);
    let target = head.uri.path_and_query().map_or_else(|| "/".to_owned(), ToString::to_string);
    // The idiomatic pyo3-async-runtimes request path: attach to Python on this tokio thread
    // (or, with `call_in_blocking`, on a blocking-pool thread, so a tokio worker never waits
    // for the GIL), call the app, and hand its coroutine to the loop with
    // `into_future_with_locals`.
    let call = {
        let (app, state) = (app.clone(), state.clone());
        move || {
            Python::attach(|py| -> PyResult<_> {
                let scope = scope::build(py, &head, remote, local)?;
                let receive = HttpReceive::new(body, finished_watch, app.locals.clone());
                let send = HttpSend::new(state, app.locals.clone());
                let coroutine = app.app.bind(py).call1((scope, receive, send))?;
                pyo3_async_runtimes::into_future_with_locals(&app.locals, coroutine)
            })
        }
    };
    let started = if app.call_in_blocking {
        match tokio::task::spawn_blocking(call).await {
            Ok(started) => started,
            Err(_) => return internal_error(),
        }
    } else {
        call()
    };
    match started {
        Ok(running) => {
            let state = state.clone();
            tokio::spawn(async move {
                let outcome = running.await;
                if let Err(error) = outcome {
                    Python::attach(|py| {
                        eprintln!("Exception in ASGI application for {target}:");
                        error.print(py);
                    });
                }
                // Answers 500 (or ends a started body) if the app did not complete its response.
                state.fail();
            });
        }
        Err(error) => {
            Python::attach(|py| error.print(py));
            state.fail();
        }
    }
    response.await.unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR))
}

fn plain(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from(status.canonical_reason().unwrap_or("error"))));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}

pub fn internal_error() -> Response<ResponseBody> {
    plain(StatusCode::INTERNAL_SERVER_ERROR)
}
