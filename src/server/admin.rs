//! The admin listener (`--admin-bind`): liveness, readiness, metrics and status, answered by Rust
//! apart from the mounts. Its requests never reach an app, are not counted in the metrics
//! and are not in the access log.
//!
//! This file runs it: the `Admin` Python class, the listener's own thread and runtime, its
//! accept loops and, under a supervisor, the periodic reading of the workers' figures and
//! canaries. What each path answers, and the state the answers come from (`AdminState`), are
//! `admin_routes.rs`'s.
//!
//! Python binds the sockets (as for the apps' listeners) and makes the `Admin` first thing,
//! before importing the apps, so probes get an answer during a slow start. That is before
//! the `Server` and its runtime exist, so the admin listener runs on a small runtime of its
//! own, on one thread: scrapes and probes then also answer while the I/O threads are busy.
//! The `Server` records into the `Admin`'s metrics and tells it when it serves (`attach`).
//!
//! With `--workers`, the supervisor's admin listener answers for its workers instead
//! (`admin_workers.rs`, `canary_workers.rs`): `tend_workers` keeps their last figures recent
//! and their canaries one.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use http::Request;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::sync::watch;

use super::admin_routes::{route, AdminState};
use super::admin_workers::{self, Workers, REFRESH};
use super::canary_workers::POLL;
use super::listeners::{accept, Listener};
use super::protocol::stopped;
use crate::sync::lock;
use crate::timers::ACCEPT_BACKOFF;

/// The admin listener, serving on its own thread from creation until `close()`.
#[pyclass(module = "amphicorn._amphicorn")]
pub struct Admin {
    state: Arc<AdminState>,
    stop: watch::Sender<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Admin {
    pub fn state(&self) -> Arc<AdminState> {
        self.state.clone()
    }
}

#[pymethods]
impl Admin {
    /// Serves `/healthz`, `/readyz` and `/metrics` on the listening sockets `fds` (the admin
    /// dups them, so the caller may close its own) until `close()`. A supervisor's
    /// (`workers=True`) answers for the workers it reports (`worker_started`, `worker_gone`).
    #[new]
    #[pyo3(signature = (fds, *, workers = false))]
    fn new(fds: Vec<i32>, workers: bool) -> PyResult<Self> {
        let listeners = fds
            .into_iter()
            .map(|fd| {
                let owned = crate::fds::duplicate(fd)
                    .map_err(|error| PyValueError::new_err(format!("socket descriptor {fd}: {error}")))?;
                Listener::from_fd(owned)
                    .map_err(|error| PyValueError::new_err(format!("socket descriptor {fd}: {error}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        if listeners.is_empty() {
            return Err(PyValueError::new_err("the admin listener needs a listening socket"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let state = Arc::new(AdminState::new(workers.then(Workers::default)));
        let (stop, stopping) = watch::channel(false);
        let serving = state.clone();
        let thread = std::thread::Builder::new()
            .name("amphicorn-admin".to_owned())
            .spawn(move || runtime.block_on(serve(listeners, serving, stopping)))
            .map_err(|error| PyRuntimeError::new_err(format!("cannot start the admin listener: {error}")))?;
        Ok(Self { state, stop, thread: Mutex::new(Some(thread)) })
    }

    /// The supervisor started the worker `pid`, whose admin listener serves on the Unix
    /// socket `socket`; its per-process figures get `worker="<slot>"`.
    fn worker_started(&self, slot: u32, pid: u32, socket: std::path::PathBuf) {
        if let Some(workers) = &self.state.workers {
            workers.started(slot, pid, socket);
        }
    }

    /// The worker serving on `socket` serves (`ready`), or was asked to stop: `/canary`
    /// covers the ready ones.
    fn worker_ready(&self, socket: std::path::PathBuf, ready: bool) {
        if let Some(workers) = &self.state.workers {
            workers.set_worker_ready(&socket, ready);
        }
    }

    /// The canary weights set through this supervisor (`PUT /canary/<mount>`, or a rollback
    /// in a worker), by mount: the supervisor starts new workers with them.
    fn canary_weights(&self) -> std::collections::BTreeMap<String, f64> {
        self.state.worker_canaries.weights()
    }

    /// Forgets the canary weights set for `mounts` (SIGHUP read the config file's anew).
    fn forget_canary_weights(&self, mounts: Vec<String>) {
        self.state.worker_canaries.forget(&mounts);
    }

    /// The worker serving on `socket` is gone (its counts are kept).
    fn worker_gone(&self, socket: std::path::PathBuf) {
        if let Some(workers) = &self.state.workers {
            workers.gone(&socket);
        }
    }

    /// The supervisor replaced a worker, for `cause` (`max_requests`, `crash`, `reload`).
    fn worker_restarted(&self, cause: &str) -> PyResult<()> {
        if self.state.metrics.worker_restarted(cause) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!("unknown worker restart cause {cause:?}")))
        }
    }

    /// A supervisor's readiness: whether a worker serves and no stop has begun.
    fn set_ready(&self, ready: bool) {
        if let Some(workers) = &self.state.workers {
            workers.set_ready(ready);
        }
    }

    /// A worker's, as it exits: leaves this process's figures (its exposition and its
    /// `/status`) next to its admin listener's socket `socket`, where the supervisor reads
    /// them once it is gone (`admin_workers.rs`).
    fn leave_final_figures(&self, py: Python<'_>, socket: std::path::PathBuf) -> PyResult<()> {
        let state = &self.state;
        let exposition =
            state.metrics.encode(false).map_err(|_| PyRuntimeError::new_err("the metrics could not be encoded"))?;
        py.detach(|| admin_workers::leave_final_figures(&socket, &exposition, &state.status()))?;
        Ok(())
    }

    /// Stops answering (the listening sockets close; open connections are dropped).
    fn close(&self, py: Python<'_>) {
        self.stop.send_replace(true);
        if let Some(thread) = lock(&self.thread).take() {
            py.detach(|| {
                let _ = thread.join();
            });
        }
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn serve(listeners: Vec<Listener>, state: Arc<AdminState>, stop: watch::Receiver<bool>) {
    let mut loops = tokio::task::JoinSet::new();
    if state.workers.is_some() {
        loops.spawn(tend_workers(state.clone(), stop.clone()));
    }
    for listener in listeners {
        match listener.into_tokio() {
            Ok(listener) => {
                loops.spawn(accept_loop(listener, state.clone(), stop.clone()));
            }
            Err(_) => continue,
        }
    }
    while loops.join_next().await.is_some() {}
}

/// Keeps the workers' last figures recent, for those that die without a final word, and
/// their canaries one (`canary_workers.rs`).
async fn tend_workers(state: Arc<AdminState>, mut stop: watch::Receiver<bool>) {
    let Some(workers) = &state.workers else {
        return;
    };
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + POLL, POLL);
    for interval in [&mut refresh, &mut poll] {
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = refresh.tick() => workers.refresh().await,
            _ = poll.tick() => state.worker_canaries.poll(workers).await,
        }
    }
}

async fn accept_loop(
    listener: super::listeners::TokioListener,
    state: Arc<AdminState>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = accept(&listener) => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            continue;
        };
        let state = state.clone();
        let handler = service_fn(move |request: Request<hyper::body::Incoming>| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(route(&state, request).await) }
        });
        match stream {
            super::listeners::Stream::Tcp(stream) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), handler));
            }
            super::listeners::Stream::Unix(stream) => {
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), handler));
            }
        }
    }
}
