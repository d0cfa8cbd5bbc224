//! What tokio hands a pool thread to run one WSGI request: the request head and body, where
//! the client came from, and where the response goes.
//!
//! Built by `WsgiApp::dispatch` (`mod.rs`) and by `WSGIMiddleware` (`middleware/`), queued
//! by `pool.rs`, taken apart by `call.rs`.

use std::sync::Arc;

use http::Response;
use pyo3::prelude::*;
use tokio::sync::oneshot;

use super::environ::Origin;
use crate::http::connection::RequestState;
use crate::http::request_body::RequestBody;
use crate::http::response_body::ResponseBody;
use crate::http::Head;

/// Everything a pool thread needs to run one request.
pub struct Job {
    pub head: Head,
    pub body: RequestBody,
    pub origin: Origin,
    pub state: Arc<RequestState>,
    pub respond: oneshot::Sender<Response<ResponseBody>>,
    pub script_name: Arc<str>,
    /// The `contextvars.Context` to run the app in (`WSGIMiddleware` passes its caller's).
    pub context: Option<Py<PyAny>>,
}
