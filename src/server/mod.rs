//! The `Server` Python class: owns the tokio runtime, the listeners and the mounts (each a
//! WSGI thread pool or a bridge to the ASGI event loop), and runs until told to stop.
//!
//! Python binds the sockets (so bind errors and socket options stay policy) and passes their
//! descriptors in (TCP or Unix); for ASGI mounts it also runs the event loop thread and
//! registers each of `server.asgi_bridges` with it. `serve()` blocks the calling thread with
//! the GIL released, waking every 100 ms to let Python run its signal handlers, which call
//! `stop()` (after `withdraw()` and the `--shutdown-delay`, which Python times); with
//! `max_requests`, the server also stops itself after that many requests.
//! With an `admin` listener (`admin.rs`), it records its requests into the admin's metrics
//! and tells it when it serves.

pub mod access_log;
pub mod admin;
mod admin_responses;
mod admin_routes;
mod admin_workers;
mod allocator;
mod batched_body;
mod canary;
mod canary_admin;
mod canary_combine;
mod canary_window;
mod canary_workers;
mod forward;
pub(crate) mod framing_watch;
mod h2_serve;
mod hint_writer;
mod joined_writes;
mod listen;
mod listeners;
mod mounted;
pub mod mounts;
mod parking;
mod protocol;
pub(crate) mod proxy;
pub(crate) mod proxy_protocol;
pub(crate) mod request_framing;
pub(crate) mod request_line;
pub mod router;
mod service;
mod shadow;
mod shadow_compare;
mod shadow_route;
mod shadow_run;
mod timeouts;
pub mod tls;
mod tls_cert;
mod tls_clients;
mod tls_pem;
mod when_woken;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::asgi::bridge::LoopBridge;
use crate::errors::Error;
use crate::sync::lock;
use crate::timers::{RUNTIME_SHUTDOWN, SIGNAL_POLL};
use access_log::AccessLog;
use admin::Admin;
use admin_routes::AdminState;
use listen::{ListenSettings, RequestBudget};
use listeners::Listener;
use mounts::{route_canaries, seconds, MountSpec, Prepared, SharedSettings};
use protocol::Versions;
use proxy::TrustedPeers;
use router::{MountPoint, Router};
use service::Service;
use timeouts::ConnectionTimeouts;
use tls::TlsFiles;
use tls_clients::ClientCerts;

/// Process-wide settings, read by attribute from the Python `Config`.
#[derive(FromPyObject)]
pub struct ServerSettings {
    #[pyo3(attribute)]
    io_threads: usize,
    #[pyo3(attribute)]
    graceful_timeout: f64,
    #[pyo3(attribute)]
    timeout_request_headers: Option<f64>,
    #[pyo3(attribute)]
    timeout_keep_alive: Option<f64>,
    #[pyo3(attribute)]
    max_header_size: usize,
    /// `auto`, `1` or `2`.
    #[pyo3(attribute)]
    http: String,
    #[pyo3(attribute)]
    http2_max_concurrent_streams: u32,
    #[pyo3(attribute)]
    proxy_headers: bool,
    #[pyo3(attribute)]
    proxy_protocol: bool,
    #[pyo3(attribute)]
    forwarded_allow_ips: Vec<String>,
    #[pyo3(attribute)]
    access_log: bool,
    #[pyo3(attribute)]
    access_log_format: String,
    /// `text` or `json`.
    #[pyo3(attribute)]
    log_format: String,
    /// PEM certificate chain and private key: TLS on TCP listeners when both are set.
    #[pyo3(attribute)]
    ssl_certfile: Option<String>,
    #[pyo3(attribute)]
    ssl_keyfile: Option<String>,
    #[pyo3(attribute)]
    ssl_keyfile_password: Option<String>,
    /// Client certificates: the CAs they are verified against, and `none|optional|required`.
    #[pyo3(attribute)]
    ssl_ca_certs: Option<String>,
    #[pyo3(attribute)]
    ssl_cert_reqs: String,
    /// `--health-path`: answered as alive by the service, before routing.
    #[pyo3(attribute)]
    health_path: Option<String>,
}

impl ServerSettings {
    fn listen_settings(&self) -> PyResult<ListenSettings> {
        let optional = |value: Option<f64>, name| value.map(|value| seconds(value, name)).transpose();
        let versions = Versions::parse(&self.http)
            .ok_or_else(|| Error::setting_value("http", &self.http, "expected one of auto, 1, 2"))?;
        Ok(ListenSettings {
            graceful_timeout: seconds(self.graceful_timeout, "graceful_timeout")?,
            timeouts: ConnectionTimeouts {
                header: optional(self.timeout_request_headers, "timeout_request_headers")?,
                keep_alive: optional(self.timeout_keep_alive, "timeout_keep_alive")?,
            },
            max_header_size: self.max_header_size,
            versions,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams,
            proxy_protocol: self.proxy_protocol.then(|| self.trusted_peers()).transpose()?,
            access_log: self.access_log.then(|| self.start_access_log()).transpose()?,
            tls: self.tls_files()?.map(|files| files.load(versions)).transpose()?,
        })
    }

    fn tls_files(&self) -> Result<Option<TlsFiles>, Error> {
        Ok(match (&self.ssl_certfile, &self.ssl_keyfile) {
            (Some(certfile), Some(keyfile)) => Some(TlsFiles {
                certfile: certfile.clone(),
                keyfile: keyfile.clone(),
                password: self.ssl_keyfile_password.clone(),
                ca_certs: self.ssl_ca_certs.clone(),
                client_certs: ClientCerts::parse_setting(&self.ssl_cert_reqs)?,
            }),
            _ => None,
        })
    }

    fn start_access_log(&self) -> PyResult<Arc<AccessLog>> {
        let format = access_log::Format::parse(&self.access_log_format, self.log_format == "json")
            .map_err(|error| Error::setting("access_log_format", error))?;
        Ok(AccessLog::start(format)?)
    }

    fn trusted_peers(&self) -> PyResult<TrustedPeers> {
        TrustedPeers::parse(&self.forwarded_allow_ips)
            .map_err(|error| Error::setting("forwarded_allow_ips", error).into())
    }
}

#[pyclass(module = "amphicorn._amphicorn")]
pub struct Server {
    listeners: Mutex<Vec<Listener>>,
    runtime: Mutex<Option<Runtime>>,
    mounts: Vec<(MountPoint, Prepared)>,
    preread_limit: usize,
    listen: ListenSettings,
    proxy_headers: Option<TrustedPeers>,
    stop: watch::Sender<bool>,
    /// Requests to serve before stopping by itself (a worker's `max_requests`).
    max_requests: Option<u64>,
    /// The admin listener's state: metrics to record into, readiness to report.
    admin: Option<Arc<AdminState>>,
    /// `--health-path`.
    health_path: Option<String>,
}

#[pymethods]
impl Server {
    /// `mounts` are `amphicorn.server.Mount` objects; `fds` are listening sockets (the server
    /// dups them, so the caller may close its own); `config` is the validated `Config`;
    /// ASGI mounts need the `event_loop` that runs them. With `max_requests`, `serve()`
    /// stops accepting after that many requests and drains, as after `stop()`. With an
    /// `admin` listener, requests are recorded in its metrics and it reports the server
    /// ready while `serve()` serves.
    #[new]
    #[pyo3(signature = (mounts, fds, config, *, event_loop = None, max_requests = None, admin = None))]
    fn new(
        py: Python<'_>,
        mounts: Vec<MountSpec>,
        fds: Vec<i32>,
        config: &Bound<'_, PyAny>,
        event_loop: Option<Py<PyAny>>,
        max_requests: Option<u64>,
        admin: Option<PyRef<'_, Admin>>,
    ) -> PyResult<Self> {
        if max_requests == Some(0) {
            return Err(PyValueError::new_err("max_requests must be at least 1"));
        }
        let settings: ServerSettings = config.extract()?;
        allocator::tune();
        let shared: SharedSettings = config.extract()?;
        let listeners = fds.into_iter().map(listener_from_fd).collect::<PyResult<Vec<_>>>()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.io_threads.max(1))
            .thread_name("amphicorn-io")
            .on_thread_start(crate::scheduling::defer_wakeups)
            .on_thread_park(allocator::give_back_if_freed)
            .enable_all()
            .build()?;
        let mounts = mounts
            .into_iter()
            .map(|spec| Prepared::new(py, spec, &shared, runtime.handle(), event_loop.as_ref()))
            .collect::<PyResult<Vec<_>>>()?;
        for (point, mount) in &mounts {
            if let Some(fallback) = mount.fallback() {
                if fallback == point || !mounts.iter().any(|(other, _)| other == fallback) {
                    return Err(PyValueError::new_err(format!(
                        "mount {point}: its fallback {fallback} is not another mount"
                    )));
                }
            }
            if let Some(canary) = mount.canary().map(|state| state.canary()) {
                if canary == point || !mounts.iter().any(|(other, _)| other == canary) {
                    return Err(PyValueError::new_err(format!(
                        "mount {point}: its canary {canary} is not another mount"
                    )));
                }
            }
        }
        let shadows: Vec<_> = mounts.iter().map(|(point, mount)| (point.clone(), mount.shadow())).collect();
        shadow::check_targets(&shadows).map_err(PyValueError::new_err)?;
        if let Some(admin) = &admin {
            admin.state().attach_canaries(mounts.iter().filter_map(|(_, mount)| mount.canary().cloned()).collect());
        }
        Ok(Self {
            listeners: Mutex::new(listeners),
            runtime: Mutex::new(Some(runtime)),
            preread_limit: shared.preread_limit,
            mounts,
            listen: settings.listen_settings()?,
            proxy_headers: settings.proxy_headers.then(|| settings.trusted_peers()).transpose()?,
            stop: watch::channel(false).0,
            max_requests,
            admin: admin.map(|admin| admin.state()),
            health_path: settings.health_path.clone(),
        })
    }

    /// Reads the TLS certificate chain and key files again (SIGHUP in a single process):
    /// handshakes from now on use them, connections already open keep theirs. Returns the
    /// certificate file, or None without TLS; raises ValueError naming the file if the new
    /// files cannot serve, and the previous pair stays in use.
    fn reload_tls(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let Some(tls) = &self.listen.tls else {
            return Ok(None);
        };
        // Decrypting a key may take a while (scrypt): let the other Python threads run.
        py.detach(|| tls.reload())?;
        Ok(Some(tls.certfile().to_owned()))
    }

    /// Sets the weight (percent) of the canary of the mount at `point` (SIGHUP re-reads it
    /// from the config file); False when that mount has no canary. Raises ValueError for a
    /// weight outside 0 to 100.
    fn set_canary_weight(&self, point: &str, weight: f64) -> PyResult<bool> {
        let point = MountPoint::parse(point)?;
        let Some(state) = self.mounts.iter().find(|(other, _)| *other == point).and_then(|(_, mount)| mount.canary())
        else {
            return Ok(false);
        };
        state.set_weight(weight).map_err(PyValueError::new_err)?;
        Ok(true)
    }

    /// The loop-side ends of the ASGI mounts' bridges, in mount order: register each with
    /// `loop.add_reader(bridge.fileno(), bridge.drain)` on the loop's thread.
    #[getter]
    fn asgi_bridges(&self, py: Python<'_>) -> Vec<Py<LoopBridge>> {
        self.mounts.iter().filter_map(|(_, mount)| mount.bridge()).map(|bridge| bridge.clone_ref(py)).collect()
    }

    /// Serves until `stop()` (or a Python exception from a signal handler, or the
    /// `max_requests` budget is spent), then drains: stops accepting, lets in-flight requests
    /// finish for up to `graceful_timeout` in all. Returns how many WSGI threads were still
    /// busy when that time ran out (their requests were abandoned): the caller should not
    /// wait for them to exit.
    fn serve(&self, py: Python<'_>) -> PyResult<usize> {
        let listeners = std::mem::take(&mut *lock(&self.listeners));
        let runtime = lock(&self.runtime).take();
        let (Some(runtime), false) = (runtime, listeners.is_empty()) else {
            return Err(PyRuntimeError::new_err("serve() needs at least one listening socket, and runs once"));
        };
        let mut pools = Vec::new();
        let mut apps = Vec::with_capacity(self.mounts.len());
        for (point, mount) in &self.mounts {
            let (mut app, pool) = mount.start(py, point)?;
            if let Some(admin) = &self.admin {
                let fallback = app.fallback.as_ref().map(ToString::to_string);
                let metrics = admin.metrics.mount(&app.label, app.app.interface(), fallback.as_deref());
                if let Some(pool) = &pool {
                    pool.record_into(&metrics, admin.metrics.pools());
                }
                app.metrics = Some(metrics);
            }
            pools.extend(pool);
            apps.push((point.clone(), app));
        }
        if let (Some(admin), Some(log)) = (&self.admin, &self.listen.access_log) {
            admin.metrics.watch_access_log(log.dropped_counter());
        }
        route_canaries(&mut apps, &self.mounts);
        let shadows: Vec<_> = self.mounts.iter().map(|(_, mount)| mount.shadow().cloned()).collect();
        shadow_route::route_shadows(&mut apps, &shadows, self.admin.as_ref().map(|admin| &*admin.metrics));
        let router = Router::new(apps)?;
        let notes = self.listen.access_log.is_some();
        let service = Service::new(
            router,
            self.preread_limit,
            self.proxy_headers.clone(),
            notes,
            self.listen.max_header_size,
            self.admin.as_ref().map(|admin| admin.metrics.clone()),
        );
        let service = Arc::new(service.with_health_path(self.health_path.as_deref()));
        let budget = self.max_requests.map(|limit| Arc::new(RequestBudget::new(limit, self.stop.clone())));
        let mut serving = {
            let _entered = runtime.enter();
            runtime.spawn(listen::serve(listeners, service, self.stop.subscribe(), self.listen.clone(), budget))
        };
        if let Some(admin) = &self.admin {
            // Every lifespan startup finished before this server was made: ready now.
            admin.attach(self.stop.subscribe());
        }
        let mut interrupted = None;
        let served = loop {
            if let Err(error) = py.check_signals() {
                interrupted.get_or_insert(error);
                self.stop.send_replace(true);
            }
            let finished =
                py.detach(|| runtime.block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut serving).await }));
            if let Ok(served) = finished {
                break served;
            }
        };
        for pool in &pools {
            pool.close();
        }
        // One graceful timeout in all: what the connections' drain used is not given again.
        let left = match &served {
            Ok(Ok(draining)) => self.listen.graceful_timeout.saturating_sub(draining.elapsed()),
            _ => Duration::ZERO,
        };
        let deadline = Instant::now() + left;
        let stuck: usize = py.detach(|| pools.iter().map(|pool| pool.join(left)).sum());
        let running = finish_app_tasks(py, &self.mounts, &runtime, deadline);
        if running > 0 {
            let message = format!(
                "ASGI app tasks still running after the graceful timeout ({:?}) are cancelled: {running}",
                self.listen.graceful_timeout
            );
            crate::log::warning(py, &message);
        }
        py.detach(|| runtime.shutdown_timeout(RUNTIME_SHUTDOWN));
        let dropped = self.access_log_dropped();
        if dropped > 0 {
            let message = format!("Access log: {dropped} lines in all were dropped because stdout was too slow");
            crate::log::warning(py, &message);
        }
        if let Some(error) = interrupted {
            return Err(error);
        }
        match served {
            Ok(Ok(_)) => Ok(stuck),
            Ok(Err(error)) => Err(error.into()),
            Err(error) => Err(PyRuntimeError::new_err(format!("the accept loop failed: {error}"))),
        }
    }

    /// Access-log lines dropped since start because stdout could not keep up (each burst is
    /// also logged as a warning), as the metrics show it.
    #[getter]
    fn access_log_dropped(&self) -> u64 {
        self.listen.access_log.as_ref().map_or(0, |log| log.dropped())
    }

    /// Asks a running `serve()` to drain and return. Safe from signal handlers and threads.
    fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Reports the server not ready (`/readyz` 503) while it goes on serving as usual: the
    /// start of `--shutdown-delay`, before `stop()`. Without an admin listener, nothing to do.
    fn withdraw(&self) {
        if let Some(admin) = &self.admin {
            admin.withdraw();
        }
    }
}

/// Lets the ASGI mounts' app tasks end until `deadline` (the rest of the graceful timeout):
/// the drain ends with the last connection, and an app may still be at work for it (a
/// background task after its response, a WebSocket app reading its disconnect). The event
/// loop cancels what is left once `serve()` returns. Returns how many are left.
fn finish_app_tasks(py: Python<'_>, mounts: &[(MountPoint, Prepared)], runtime: &Runtime, deadline: Instant) -> usize {
    let tasks: Vec<_> =
        mounts.iter().filter_map(|(_, mount)| mount.bridge()).map(|b| b.get().tasks().clone()).collect();
    py.detach(|| {
        runtime.block_on(async {
            let all_ended = futures::future::join_all(tasks.iter().map(|tasks| tasks.all_ended()));
            let _ = tokio::time::timeout_at(deadline.into(), all_ended).await;
        });
    });
    tasks.iter().map(|tasks| tasks.running()).sum()
}

/// Checks an `--access-log-format`; the error names the atom it does not know.
#[pyfunction]
pub fn check_access_log_format(format: &str) -> PyResult<()> {
    access_log::Format::parse(format, false).map(drop).map_err(PyValueError::new_err)
}

fn listener_from_fd(fd: i32) -> PyResult<Listener> {
    let owned =
        crate::fds::duplicate(fd).map_err(|error| PyValueError::new_err(format!("socket descriptor {fd}: {error}")))?;
    Listener::from_fd(owned).map_err(|error| PyValueError::new_err(format!("socket descriptor {fd}: {error}")))
}
