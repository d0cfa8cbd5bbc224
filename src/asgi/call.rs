//! Starts one ASGI request on the loop thread, and settles it when the app's task ends.
//!
//! An exception before the response started gives `500`, after it started an aborted
//! connection; both are logged with the traceback. An app that returns without
//! responding gets the same treatment, with a message that says so.

use http::{Method, Uri};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{intern, IntoPyObjectExt};

use super::bridge::{AppTask, LoopBridge};
use super::job::{AsgiJob, Exchange};
use super::receive::HttpReceive;
use super::scope::{self, ScopeKind};
use super::send::HttpSend;
use super::websocket::receive::WebSocketReceive;
use super::websocket::send::WebSocketSend;
use crate::errors::ClientDisconnected;
use crate::log;

pub fn start(
    py: Python<'_>,
    bridge: &Bound<'_, LoopBridge>,
    app: &Bound<'_, PyAny>,
    lifespan_state: &Bound<'_, PyAny>,
    job: AsgiJob,
) -> PyResult<()> {
    let AsgiJob { head, exchange, connection, state, respond, root_path } = job;
    if state.is_disconnected() {
        return Ok(()); // The client left before the app was called: nobody to answer.
    }
    let target = Target { method: head.method.clone(), uri: head.uri.clone() };
    let lifespan_state = lifespan_state.cast::<PyDict>().ok();
    let handle = bridge.clone().unbind();
    let (send, started) = match exchange {
        Exchange::Http(body) => {
            let hints = connection.hints_for(&head);
            let send =
                Bound::new(py, HttpSend::new(respond, state.clone(), head.method == Method::HEAD, handle, hints))?;
            let started =
                scope::build(py, ScopeKind::Http, &head, &connection, &root_path, lifespan_state).and_then(|scope| {
                    let receive = HttpReceive::new(body, state, bridge.clone().unbind());
                    app.call1((scope, receive, &send))
                });
            (Sender::Http(send.unbind()), started)
        }
        Exchange::WebSocket(session) => {
            let send = Bound::new(py, WebSocketSend::new(&session, respond, state.clone(), handle))?;
            let kind = ScopeKind::WebSocket { subprotocols: &session.subprotocols };
            let started = scope::build(py, kind, &head, &connection, &root_path, lifespan_state).and_then(|scope| {
                let receive = WebSocketReceive::new(session.incoming.clone(), state, bridge.clone().unbind());
                app.call1((scope, receive, &send))
            });
            (Sender::WebSocket(send.unbind()), started)
        }
    };
    let scheduled = started.and_then(|coroutine| {
        let task = bridge.get().event_loop().bind(py).call_method1(intern!(py, "create_task"), (coroutine,))?;
        let done =
            TaskDone { send: send.clone_ref(py), target: target.clone(), _running: bridge.get().tasks().start() };
        task.call_method1(intern!(py, "add_done_callback"), (done.into_bound_py_any(py)?,)).map(drop)
    });
    if let Err(error) = scheduled {
        log::exception(py, &format!("Exception in ASGI application for {target}"), &error);
        send.fail(py);
    }
    Ok(())
}

/// The request line, for log messages; formatted only when one is written.
#[derive(Clone)]
struct Target {
    method: Method,
    uri: Uri,
}

impl std::fmt::Display for Target {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.uri.path_and_query().map_or("/", |target| target.as_str());
        write!(formatter, "{} {path}", self.method)
    }
}

/// The `send` of either scope kind, as the done-callback needs it.
enum Sender {
    Http(Py<HttpSend>),
    WebSocket(Py<WebSocketSend>),
}

impl Sender {
    fn clone_ref(&self, py: Python<'_>) -> Self {
        match self {
            Self::Http(send) => Self::Http(send.clone_ref(py)),
            Self::WebSocket(send) => Self::WebSocket(send.clone_ref(py)),
        }
    }

    fn fail(&self, py: Python<'_>) {
        match self {
            Self::Http(send) => send.borrow_mut(py).fail(),
            Self::WebSocket(send) => send.borrow_mut(py).fail(),
        }
    }

    /// Whether the response (or handshake answer) has started, and whether it is complete.
    fn progress(&self, py: Python<'_>) -> (bool, bool) {
        match self {
            Self::Http(send) => {
                let send = send.borrow(py);
                (send.response_started(), send.response_complete())
            }
            Self::WebSocket(send) => {
                let send = send.borrow(py);
                (send.response_started(), send.response_complete())
            }
        }
    }
}

/// The app task's done-callback: logs failures and makes sure the client gets an answer.
#[pyclass(module = "amphicorn._amphicorn")]
pub struct TaskDone {
    send: Sender,
    target: Target,
    /// Counted until the callback is dropped, after the task ended (see `AppTasks`).
    _running: AppTask,
}

#[pymethods]
impl TaskDone {
    fn __call__(&self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<()> {
        let (started, complete) = self.send.progress(py);
        if task.call_method0(intern!(py, "cancelled"))?.is_truthy()? {
            if !complete {
                log::debug(py, &format!("ASGI task for {} was cancelled", self.target));
                self.send.fail(py);
            }
            return Ok(());
        }
        let exception = task.call_method0(intern!(py, "exception"))?;
        if !exception.is_none() {
            let error = PyErr::from_value(exception);
            if error.is_instance_of::<ClientDisconnected>(py) {
                log::debug(py, &format!("client disconnected during {}", self.target));
            } else {
                log::exception(py, &format!("Exception in ASGI application for {}", self.target), &error);
            }
            self.send.fail(py);
            return Ok(());
        }
        match (&self.send, started, complete) {
            (_, _, true) => {}
            // An open WebSocket the app stopped serving: the pump closes it with 1000.
            (Sender::WebSocket(_), true, false) => {}
            (_, started, false) => {
                let what = if started { "completing" } else { "starting" };
                log::error(py, &format!("ASGI application returned without {what} the response to {}", self.target));
                self.send.fail(py);
            }
        }
        Ok(())
    }
}
