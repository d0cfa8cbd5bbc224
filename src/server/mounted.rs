//! A mount as the service runs it: its app (WSGI, ASGI or a static directory), the limits
//! it lets requests in with, the mount that answers in its place when it says `404`, and
//! how it compresses responses (`compression/`), if it does.
//!
//! `mounts.rs` builds these from what Python describes; `service.rs` routes requests to
//! them. How each app runs a request is `wsgi/`, `asgi/` and `static_files/`'s.

use std::sync::Arc;

use http::{request, Response};

use super::router::MountPoint;
use crate::asgi::AsgiApp;
use crate::compression::CompressSettings;
use crate::connection_info::ConnectionInfo;
use crate::http::connection::RequestState;
use crate::http::request_body::{BodyLimits, RequestBody};
use crate::http::response_body::ResponseBody;
use crate::metrics::MountMetrics;
use crate::static_files::StaticApp;
use crate::wsgi::WsgiApp;

pub enum App {
    Wsgi(WsgiApp),
    Asgi(AsgiApp),
    /// Files served by Rust; the request body is ignored.
    Static(StaticApp),
}

impl App {
    /// The `interface` label of the mount's metrics.
    pub fn interface(&self) -> &'static str {
        match self {
            Self::Wsgi(_) => "wsgi",
            Self::Asgi(_) => "asgi",
            Self::Static(_) => "static",
        }
    }

    pub async fn dispatch(
        &self,
        head: request::Parts,
        body: RequestBody,
        connection: Arc<ConnectionInfo>,
        state: Arc<RequestState>,
    ) -> Response<ResponseBody> {
        match self {
            Self::Wsgi(app) => app.dispatch(head, body, connection, state).await,
            Self::Asgi(app) => app.dispatch(head, body, connection, state).await,
            Self::Static(app) => app.dispatch(head, state).await,
        }
    }
}

/// What a mount lets in.
#[derive(Clone)]
pub struct Limits {
    /// Larger request bodies get `413`, stalled ones `408`.
    pub body: BodyLimits,
    /// At most this many requests in the app at once; more get `503` at once.
    pub concurrency: Option<Arc<tokio::sync::Semaphore>>,
}

/// A mount's app and the mount that answers in its place when it says `404`.
pub struct Mounted {
    pub app: App,
    /// The mount point as the access log shows it.
    pub label: Arc<str>,
    pub fallback: Option<MountPoint>,
    pub limits: Limits,
    /// Its handles into the metrics (with `--admin-bind`).
    pub metrics: Option<Arc<MountMetrics>>,
    /// None: responses pass untouched (`compress` is off).
    pub compress: Option<Arc<CompressSettings>>,
}
