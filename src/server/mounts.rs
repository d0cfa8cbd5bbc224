//! Turns the mounts Python describes into what serves them: a WSGI mount gets its own
//! thread pool, an ASGI mount its own bridge to the shared event loop, a static mount its
//! canonical root directory (an error naming it when it is not a directory).
//!
//! Building happens in two steps because the pools start only when `serve()` runs, while
//! the bridges must exist before, for Python to register them with the loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::canary::{CanarySettings, CanaryState};
use super::mounted::{App, CanaryRoute, Limits, Mounted};
use super::router::MountPoint;
use super::shadow::ShadowSettings;
use crate::asgi;
use crate::asgi::bridge::LoopBridge;
use crate::asgi::websocket::WebSocketSettings;
use crate::asgi::{AsgiApp, AsgiSettings};
use crate::compression::CompressSettings;
use crate::errors::Error;
use crate::http::request_body::BodyLimits;
use crate::static_files::resolve::Root;
use crate::static_files::{FileCache, StaticApp, StaticSettings};
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
    /// The address of the mount that answers when this one says 404.
    #[pyo3(attribute)]
    fallback: Option<String>,
    #[pyo3(attribute)]
    max_body_size: Option<u64>,
    #[pyo3(attribute)]
    limit_concurrency: Option<usize>,
    #[pyo3(attribute)]
    timeout_request_body: Option<f64>,
    /// A static mount's `Cache-Control` for names without a content hash.
    #[pyo3(attribute)]
    static_cache_control: Option<String>,
    /// The file a static mount serves for a directory (e.g. `index.html`).
    #[pyo3(attribute)]
    static_index: Option<String>,
    /// The codings responses are compressed with, in order of preference (empty: off).
    #[pyo3(attribute)]
    compress: Vec<String>,
    /// Responses known to be shorter are not compressed.
    #[pyo3(attribute)]
    compress_min_size: u64,
    /// The `Content-Type`s compressed (`text/*`, `application/json`, `application/*+xml`).
    #[pyo3(attribute)]
    compress_types: Vec<String>,
    /// Its name (for `/canary/<name>` on the admin listener).
    #[pyo3(attribute)]
    name: Option<String>,
    /// The address of its weighted canary (`canary.rs`), and that canary's settings.
    #[pyo3(attribute)]
    canary: Option<String>,
    #[pyo3(attribute)]
    canary_weight: f64,
    #[pyo3(attribute)]
    canary_cookie: String,
    #[pyo3(attribute)]
    canary_key_header: Option<String>,
    #[pyo3(attribute)]
    canary_max_error_rate: Option<f64>,
    #[pyo3(attribute)]
    canary_window: f64,
    /// The address of its shadow (`shadow.rs`), and how it samples and compares.
    #[pyo3(attribute)]
    shadow: Option<String>,
    #[pyo3(attribute)]
    shadow_sample: f64,
    #[pyo3(attribute)]
    shadow_methods: Vec<String>,
    #[pyo3(attribute)]
    shadow_ignore_headers: Vec<String>,
    #[pyo3(attribute)]
    shadow_max_concurrency: usize,
}

/// Settings every mount shares, read by attribute from the Python `Config`.
#[derive(FromPyObject)]
pub struct SharedSettings {
    #[pyo3(attribute)]
    pub preread_limit: usize,
    /// `auto` or `none`.
    #[pyo3(attribute)]
    ws: String,
    #[pyo3(attribute)]
    ws_max_size: usize,
}

/// A mount between `Server()` and `serve()`, the mount it falls back to, and its canary.
pub struct Prepared {
    executor: Executor,
    fallback: Option<MountPoint>,
    canary: Option<Arc<CanaryState>>,
    shadow: Option<ShadowSettings>,
    limits: Limits,
    compress: Option<Arc<CompressSettings>>,
}

enum Executor {
    Wsgi { app: Py<PyAny>, threads: usize, queue_size: usize, settings: WsgiSettings },
    Asgi { bridge: Py<LoopBridge>, settings: AsgiSettings },
    Static(Arc<StaticSettings>),
}

impl Prepared {
    pub fn new(
        py: Python<'_>,
        spec: MountSpec,
        shared: &SharedSettings,
        runtime: &tokio::runtime::Handle,
        event_loop: Option<&Py<PyAny>>,
    ) -> PyResult<(MountPoint, Self)> {
        let point = MountPoint::parse(&spec.point)?;
        let canary = canary(&point, &spec)?;
        let shadow = spec
            .shadow
            .as_deref()
            .map(|shadow| {
                let (methods, ignored) = (&spec.shadow_methods, &spec.shadow_ignore_headers);
                ShadowSettings::new(shadow, spec.shadow_sample, methods, ignored, spec.shadow_max_concurrency)
            })
            .transpose()
            .map_err(|error| error.in_context(format_args!("shadow of mount {point}")))?;
        let fallback = spec
            .fallback
            .map(|text| MountPoint::parse(&text))
            .transpose()
            .map_err(|error| error.in_context(format_args!("fallback of mount {point}")))?;
        let executor = match spec.interface.as_str() {
            "wsgi" => Executor::Wsgi {
                app: spec.app,
                threads: spec.threads,
                queue_size: spec.queue_size,
                settings: WsgiSettings {
                    queue_timeout: seconds(spec.queue_timeout, "queue_timeout")?,
                    script_name: point.prefix.clone(),
                },
            },
            "asgi" => {
                let event_loop = event_loop
                    .ok_or_else(|| PyValueError::new_err("ASGI mounts need the event loop that runs them"))?;
                let bridge = LoopBridge::new(
                    runtime.clone(),
                    event_loop.clone_ref(py),
                    spec.app,
                    spec.lifespan_state,
                    asgi::call::start,
                )?;
                Executor::Asgi {
                    bridge: Py::new(py, bridge)?,
                    settings: AsgiSettings {
                        root_path: point.prefix.clone(),
                        websocket: (shared.ws != "none")
                            .then_some(WebSocketSettings { max_message_size: shared.ws_max_size }),
                    },
                }
            }
            "static" => {
                // For a static mount, Python passes the directory as the app.
                let directory: String = spec.app.extract(py)?;
                let root = Root::new(std::path::Path::new(&directory), spec.static_index.map(Into::into))
                    .map_err(|error| Error::setting_value("static root of mount", &directory, error))
                    .map_err(|error| error.in_context(format_args!("mount {point}")))?;
                let cache_control = spec
                    .static_cache_control
                    .map(|text| {
                        http::HeaderValue::from_str(&text).map_err(|_| {
                            Error::setting_value("static_cache_control", &text, "not a valid header value")
                        })
                    })
                    .transpose()?;
                Executor::Static(Arc::new(StaticSettings {
                    root,
                    prefix: point.prefix.clone(),
                    cache_control,
                    cache: FileCache::default(),
                }))
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "interface must be 'wsgi', 'asgi' or 'static', got {other:?}"
                )))
            }
        };
        let limits = Limits {
            body: BodyLimits {
                max_size: spec.max_body_size,
                idle_timeout: spec
                    .timeout_request_body
                    .map(|value| seconds(value, "timeout_request_body"))
                    .transpose()?,
            },
            concurrency: spec.limit_concurrency.map(|limit| Arc::new(tokio::sync::Semaphore::new(limit))),
        };
        let compress = CompressSettings::new(&spec.compress, spec.compress_min_size, &spec.compress_types)
            .map_err(|error| error.in_context(format_args!("mount {point}")))?
            .map(Arc::new);
        Ok((point, Self { executor, fallback, canary, shadow, limits, compress }))
    }

    pub fn bridge(&self) -> Option<&Py<LoopBridge>> {
        match &self.executor {
            Executor::Asgi { bridge, .. } => Some(bridge),
            Executor::Wsgi { .. } | Executor::Static(_) => None,
        }
    }

    pub fn fallback(&self) -> Option<&MountPoint> {
        self.fallback.as_ref()
    }

    pub fn canary(&self) -> Option<&Arc<CanaryState>> {
        self.canary.as_ref()
    }

    pub fn shadow(&self) -> Option<&ShadowSettings> {
        self.shadow.as_ref()
    }

    /// Starts what serves the mount: the pool's threads, for WSGI.
    pub fn start(&self, py: Python<'_>, point: &MountPoint) -> PyResult<(Mounted, Option<Arc<Pool>>)> {
        let (app, pool) = match &self.executor {
            Executor::Wsgi { app, threads, queue_size, settings } => {
                let name = format!("amphicorn-wsgi{}", point.prefix.replace('/', "-"));
                let pool = Arc::new(Pool::start(py, app, *threads, *queue_size, &name)?);
                (App::Wsgi(WsgiApp::new(pool.clone(), settings.clone())), Some(pool))
            }
            Executor::Asgi { bridge, settings } => {
                (App::Asgi(AsgiApp::new(bridge.get().handle(), settings.clone())), None)
            }
            Executor::Static(settings) => (App::Static(StaticApp::new(settings.clone())), None),
        };
        let label = Arc::from(point.to_string());
        let mounted = Mounted {
            app,
            label,
            fallback: self.fallback.clone(),
            limits: self.limits.clone(),
            metrics: None,
            compress: self.compress.clone(),
            canary: None,
            shadow: None,
        };
        Ok((mounted, pool))
    }
}

/// Gives each started mount with a canary its route to it: the canary mount's copy that
/// answers at this mount's prefix (`apps` and `prepared` are in the same order).
pub fn route_canaries(apps: &mut [(MountPoint, Mounted)], prepared: &[(MountPoint, Prepared)]) {
    for (index, (point, mount)) in prepared.iter().enumerate() {
        let Some(state) = mount.canary() else { continue };
        let Some(variant) =
            apps.iter().find(|(other, _)| other == state.canary()).map(|(_, app)| app.at(&point.prefix))
        else {
            continue; // Server::new checked that it exists
        };
        if let Some((_, app)) = apps.get_mut(index) {
            app.canary = Some(CanaryRoute { state: state.clone(), variant: Box::new(variant) });
        }
    }
}

/// The weighted canary a mount spec describes (None without `canary`).
fn canary(point: &MountPoint, spec: &MountSpec) -> PyResult<Option<Arc<CanaryState>>> {
    let Some(text) = &spec.canary else {
        return Ok(None);
    };
    let in_context = |error: Error| error.in_context(format_args!("canary of mount {point}"));
    let key_header = spec
        .canary_key_header
        .as_ref()
        .map(|name| {
            http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::setting_value("canary_key_header", name, "not a header name"))
        })
        .transpose()
        .map_err(in_context)?;
    let settings = CanarySettings {
        canary: MountPoint::parse(text).map_err(in_context)?,
        weight: spec.canary_weight,
        cookie: spec.canary_cookie.clone(),
        key_header,
        max_error_rate: spec.canary_max_error_rate,
        window: seconds(spec.canary_window, "canary_window")?,
    };
    let state = CanaryState::new(point.clone(), spec.name.clone(), settings)
        .map_err(|why| PyValueError::new_err(format!("mount {point}: {why}")))?;
    Ok(Some(Arc::new(state)))
}

/// A setting in seconds as a `Duration`: an error, never a panic, for a negative, infinite or
/// NaN value, and for one too large for a deadline (`Instant::now()` plus it must exist).
pub fn seconds(value: f64, name: &str) -> Result<Duration, Error> {
    let invalid = || Error::setting(name, format_args!("must be a non-negative number of seconds, got {value}"));
    let duration = Duration::try_from_secs_f64(value).map_err(|_| invalid())?;
    Instant::now().checked_add(duration).ok_or_else(invalid)?;
    Ok(duration)
}

/// Checks a mount address as the router will read it: for config validation in Python.
#[pyfunction]
pub fn check_mount_point(text: &str) -> PyResult<String> {
    Ok(MountPoint::parse(text)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuses_what_no_clock_can_hold_without_panicking() {
        assert_eq!(seconds(1.5, "queue_timeout"), Ok(Duration::from_millis(1500)));
        assert_eq!(seconds(0.0, "queue_timeout"), Ok(Duration::ZERO));
        // 1e19 s fits a Duration but not the clock: Instant::now() + it would panic.
        for value in [-1.0, f64::NAN, f64::INFINITY, 1e300, 1e19] {
            let error = seconds(value, "queue_timeout").expect_err("refused");
            assert_eq!(
                error.to_string(),
                format!("queue_timeout: must be a non-negative number of seconds, got {value}")
            );
        }
    }
}
