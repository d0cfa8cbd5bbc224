//! WSGI (PEP 3333): the async half that takes a request from hyper to a pool thread and
//! brings the response back.
//!
//! The flow for one request:
//! 1. `WsgiApp::dispatch` (tokio; the service has pre-read a small body) queues a `Job` (`job.rs`) on the app's pool
//!    (waiting at most `queue_timeout` for room, else `503`), and awaits the response head.
//! 2. A pool thread (`pool.rs`) builds the environ (`environ.rs`), calls the app and walks
//!    its result (`call.rs`), sending the head and body through `StartResponse`
//!    (`start_response.rs`); `wsgi.input` is `input.rs`, `wsgi.file_wrapper` is
//!    `file_wrapper.rs`.
//!
//! tokio threads never touch Python: everything Python-side happens on pool threads.

pub mod call;
pub mod dispatch;
pub mod environ;
pub mod file_wrapper;
pub mod input;
pub mod job;
pub mod middleware;
pub mod pool;
pub mod start_response;

use std::sync::Arc;
use std::time::Duration;

use http::{Response, StatusCode};
use tokio::sync::oneshot;

use crate::connection_info::ConnectionInfo;
use crate::http::connection::RequestState;
use crate::http::request_body::RequestBody;
use crate::http::response_body::ResponseBody;
use crate::http::status;
use crate::http::Head;
use environ::Origin;
use job::Job;
use pool::Pool;

/// Per-mount WSGI settings.
#[derive(Debug, Clone)]
pub struct WsgiSettings {
    /// How long a request may wait for a free thread before it gets `503`.
    pub queue_timeout: Duration,
    /// `SCRIPT_NAME` for this mount (empty at the root).
    pub script_name: String,
}

/// A mounted WSGI app: its pool and settings.
pub struct WsgiApp {
    pool: Arc<Pool>,
    settings: WsgiSettings,
    script_name: Arc<str>,
}

impl WsgiApp {
    pub fn new(pool: Arc<Pool>, settings: WsgiSettings) -> Self {
        let script_name = Arc::from(settings.script_name.as_str());
        Self { pool, settings, script_name }
    }

    /// The same app and pool, with another `SCRIPT_NAME` (a canary answering at its
    /// primary's prefix, `server/canary.rs`).
    pub fn at(&self, script_name: &str) -> Self {
        Self::new(self.pool.clone(), WsgiSettings { script_name: script_name.to_owned(), ..self.settings.clone() })
    }

    /// Runs one request whose body the service has prepared; `state` is the request's.
    pub async fn dispatch(
        &self,
        head: Head,
        body: RequestBody,
        connection: Arc<ConnectionInfo>,
        state: Arc<RequestState>,
    ) -> Response<ResponseBody> {
        let (respond, response) = oneshot::channel();
        let origin = Origin::Socket(connection);
        let job = Job { head, body, origin, state, respond, script_name: self.script_name.clone(), context: None };
        let queued = match self.pool.submit(job, self.settings.queue_timeout) {
            Ok(None) => Ok(()),
            Ok(Some(wait_for_room)) => wait_for_room.await,
            Err(error) => Err(error),
        };
        match queued {
            Ok(()) => {}
            Err(error) if error.is_queue_timeout() => return status::overloaded(1),
            Err(_) => return status::plain(StatusCode::SERVICE_UNAVAILABLE), // shutting down
        }
        // The thread always answers; a dropped sender means it died mid-request.
        response.await.unwrap_or_else(|_| status::plain(StatusCode::INTERNAL_SERVER_ERROR))
    }
}
