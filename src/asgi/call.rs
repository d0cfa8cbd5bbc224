//! Starts one ASGI request on the loop thread, and settles it when the app's task ends.
//!
//! An exception before the response started gives `500`, after it started an aborted
//! connection; both are logged with the traceback. An app that returns without
//! responding gets the same treatment, with a message that says so.

use http::Method;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{intern, IntoPyObjectExt};

use super::bridge::LoopBridge;
use super::receive::HttpReceive;
use super::scope;
use super::send::HttpSend;
use super::AsgiJob;
use crate::errors::ClientDisconnected;
use crate::log;

pub fn start(
    py: Python<'_>,
    bridge: &Bound<'_, LoopBridge>,
    app: &Bound<'_, PyAny>,
    lifespan_state: &Bound<'_, PyAny>,
    job: AsgiJob,
) -> PyResult<()> {
    let AsgiJob { head, body, connection, state, respond, root_path } = job;
    if state.is_disconnected() {
        return Ok(()); // The client left before the app was called: nobody to answer.
    }
    let target = format!("{} {}", head.method, head.uri.path_and_query().map_or("/", |target| target.as_str()));
    let send =
        Bound::new(py, HttpSend::new(respond, state.clone(), head.method == Method::HEAD, bridge.clone().unbind()))?;
    let started =
        scope::build(py, &head, &connection, &root_path, lifespan_state.cast::<PyDict>().ok()).and_then(|scope| {
            let receive = HttpReceive::new(body, state, bridge.clone().unbind());
            let coroutine = app.call1((scope, receive, &send))?;
            let task = bridge.get().event_loop().bind(py).call_method1(intern!(py, "create_task"), (coroutine,))?;
            let done = TaskDone { send: send.clone().unbind(), target: target.clone() };
            task.call_method1(intern!(py, "add_done_callback"), (done.into_bound_py_any(py)?,))?;
            Ok(())
        });
    if let Err(error) = started {
        log::exception(py, &format!("Exception in ASGI application for {target}"), &error);
        send.borrow_mut().fail();
    }
    Ok(())
}

/// The app task's done-callback: logs failures and makes sure the client gets an answer.
#[pyclass(module = "amphicorn._amphicorn")]
pub struct TaskDone {
    send: Py<HttpSend>,
    target: String,
}

#[pymethods]
impl TaskDone {
    fn __call__(&self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut send = self.send.borrow_mut(py);
        if task.call_method0(intern!(py, "cancelled"))?.is_truthy()? {
            if !send.response_complete() {
                log::debug(py, &format!("ASGI task for {} was cancelled", self.target));
                send.fail();
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
            send.fail();
            return Ok(());
        }
        if !send.response_complete() {
            let what = if send.response_started() { "completing" } else { "starting" };
            log::error(py, &format!("ASGI application returned without {what} the response to {}", self.target));
            send.fail();
        }
        Ok(())
    }
}
