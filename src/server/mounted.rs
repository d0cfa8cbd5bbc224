//! A mount as the service runs it: its app (WSGI, ASGI or a static directory), the limits
//! it lets requests in with, the mount that answers in its place when it says `404`, how it
//! compresses responses (`compression/`), if it does, its weighted canary: the state
//! that picks a variant (`canary.rs`) and the canary mount as it answers for this one, and
//! its shadow (`shadow.rs`), likewise.
//!
//! `mounts.rs` builds these from what Python describes; `service.rs` routes requests to
//! them. How each app runs a request is `wsgi/`, `asgi/` and `static_files/`'s.

use std::sync::Arc;

use http::Response;

use super::canary::CanaryState;
use super::router::MountPoint;
use super::shadow::ShadowState;
use crate::asgi::AsgiApp;
use crate::compression::CompressSettings;
use crate::connection_info::ConnectionInfo;
use crate::http::connection::RequestState;
use crate::http::request_body::{BodyLimits, RequestBody};
use crate::http::response_body::ResponseBody;
use crate::http::Head;
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

    /// The same app answering at another prefix (its `SCRIPT_NAME` or `root_path`).
    fn at(&self, prefix: &str) -> Self {
        match self {
            Self::Wsgi(app) => Self::Wsgi(app.at(prefix)),
            Self::Asgi(app) => Self::Asgi(app.at(prefix)),
            Self::Static(app) => Self::Static(app.at(prefix)),
        }
    }

    pub async fn dispatch(
        &self,
        head: Head,
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
    /// The share of its requests another mount takes (None: no canary).
    pub canary: Option<CanaryRoute>,
    /// The mount its requests are also run on, in the background (None: no shadow).
    pub shadow: Option<ShadowRoute>,
}

/// A mount's canary: the state that picks, and the canary mount as it answers for this one.
pub struct CanaryRoute {
    pub state: Arc<CanaryState>,
    pub variant: Box<Mounted>,
}

/// A mount's shadow: the state, and the shadow mount as it answers for this one (shared
/// with the background runs).
#[derive(Clone)]
pub struct ShadowRoute {
    pub state: Arc<ShadowState>,
    pub mount: Arc<Mounted>,
}

impl Mounted {
    /// Whether this mount, or its canary, takes WebSockets (an ASGI app with `--ws` on).
    pub fn serves_websockets(&self) -> bool {
        let own = matches!(&self.app, App::Asgi(app) if app.serves_websockets());
        own || self.canary.as_ref().is_some_and(|route| route.variant.serves_websockets())
    }

    /// This mount answering at `prefix` instead of its own: the same app, pool, limits,
    /// metrics, compression and fallback, with `SCRIPT_NAME`/`root_path` `prefix` (a
    /// canary taking requests for its primary, or a shadow); without a canary or shadow of its own.
    pub fn at(&self, prefix: &str) -> Self {
        Self {
            app: self.app.at(prefix),
            label: self.label.clone(),
            fallback: self.fallback.clone(),
            limits: self.limits.clone(),
            metrics: self.metrics.clone(),
            compress: self.compress.clone(),
            canary: None,
            shadow: None,
        }
    }
}
