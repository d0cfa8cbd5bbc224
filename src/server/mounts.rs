//! Turns the mounts Python describes into what serves them: a WSGI mount gets its own
//! thread pool, an ASGI mount its own bridge to the shared event loop.
//!
//! Building happens in two steps because the pools start only when `serve()` runs, while
//! the bridges must exist before, for Python to register them with the loop.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::router::MountPoint;
use super::service::App;
use crate::asgi::bridge::LoopBridge;
use crate::asgi::websocket::WebSocketSettings;
use crate::asgi::{AsgiApp, AsgiSettings};
use crate::wsgi::pool::Pool;
use crate::wsgi::{WsgiApp, WsgiSettings};

/// One mount as Python describes it (read by attribute from `amphicorn.server.Mount`).
#[derive(FromPyObject)]
pub struct MountSpec {
    #[pyo3(attribute)]
    point: String,
    #[pyo3(attribute)]
    app: Py<PyAny>,
    #[pyo3(attribute)]
    interface: String,
    #[pyo3(attribute)]
    threads: usize,
    #[pyo3(attribute)]
    queue_size: usize,
    #[pyo3(attribute)]
    queue_timeout: f64,
    #[pyo3(attribute)]
    lifespan_state: Py<PyAny>,
}

/// Settings every mount shares, read by attribute from the Python `Config`.
#[derive(FromPyObject)]
pub struct SharedSettings {
    #[pyo3(attribute)]
    preread_limit: usize,
    /// `auto` or `none`.
    #[pyo3(attribute)]
    ws: String,
    #[pyo3(attribute)]
    ws_max_size: usize,
}

/// A mount between `Server()` and `serve()`.
pub enum Prepared {
    Wsgi { app: Py<PyAny>, threads: usize, queue_size: usize, settings: WsgiSettings },
    Asgi { bridge: Py<LoopBridge>, settings: AsgiSettings },
}

impl Prepared {
    pub fn new(
        py: Python<'_>,
        spec: MountSpec,
        shared: &SharedSettings,
        runtime: &tokio::runtime::Handle,
        event_loop: Option<&Py<PyAny>>,
    ) -> PyResult<(MountPoint, Self)> {
        let point = MountPoint::parse(&spec.point).map_err(|error| PyValueError::new_err(error.to_string()))?;
        let prepared = match spec.interface.as_str() {
            "wsgi" => Self::Wsgi {
                app: spec.app,
                threads: spec.threads,
                queue_size: spec.queue_size,
                settings: WsgiSettings {
                    preread_limit: shared.preread_limit,
                    queue_timeout: seconds(spec.queue_timeout, "queue_timeout")?,
                    script_name: point.prefix.clone(),
                },
            },
            "asgi" => {
                let event_loop = event_loop
                    .ok_or_else(|| PyValueError::new_err("ASGI mounts need the event loop that runs them"))?;
                let bridge = LoopBridge::new(runtime.clone(), event_loop.clone_ref(py), spec.app, spec.lifespan_state)?;
                Self::Asgi {
                    bridge: Py::new(py, bridge)?,
                    settings: AsgiSettings {
                        preread_limit: shared.preread_limit,
                        root_path: point.prefix.clone(),
                        websocket: (shared.ws != "none")
                            .then_some(WebSocketSettings { max_message_size: shared.ws_max_size }),
                    },
                }
            }
            other => return Err(PyValueError::new_err(format!("interface must be 'wsgi' or 'asgi', got {other:?}"))),
        };
        Ok((point, prepared))
    }

    pub fn bridge(&self) -> Option<&Py<LoopBridge>> {
        match self {
            Self::Asgi { bridge, .. } => Some(bridge),
            Self::Wsgi { .. } => None,
        }
    }

    /// Starts what serves the mount: the pool's threads, for WSGI.
    pub fn start(&self, py: Python<'_>, point: &MountPoint) -> PyResult<(App, Option<Arc<Pool>>)> {
        match self {
            Self::Wsgi { app, threads, queue_size, settings } => {
                let name = format!("amphicorn-wsgi{}", point.prefix.replace('/', "-"));
                let pool = Arc::new(Pool::start(py, app, *threads, *queue_size, &name)?);
                Ok((App::Wsgi(WsgiApp::new(pool.clone(), settings.clone())), Some(pool)))
            }
            Self::Asgi { bridge, settings } => {
                Ok((App::Asgi(AsgiApp::new(bridge.get().handle(), settings.clone())), None))
            }
        }
    }
}

pub fn seconds(value: f64, name: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a non-negative number of seconds, got {value}")))
}

/// Checks a mount address as the router will read it: for config validation in Python.
#[pyfunction]
pub fn check_mount_point(text: &str) -> PyResult<String> {
    MountPoint::parse(text).map(|point| point.to_string()).map_err(|error| PyValueError::new_err(error.to_string()))
}
