//! Awaitables whose answer is already known, so `await receive()` or `await send(...)`
//! completes without going back to the event loop or creating a future.
//!
//! `await` calls `__await__`, gets the object back as the iterator, and calls `__next__`:
//! - `Ready` raises `StopIteration(value)`: the value is the result of the `await`;
//! - `Done`, for a result of `None` (every `send()` that did not have to wait), says the
//!   iteration is over without an exception, and is one shared, stateless object: no
//!   allocation and no exception per call.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static DONE: PyOnceLock<Py<Done>> = PyOnceLock::new();

/// The shared awaitable whose result is `None`.
pub fn done(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let done = DONE.get_or_try_init(py, || Py::new(py, Done))?;
    Ok(done.bind(py).clone().into_any())
}

#[pyclass(module = "amphicorn._amphicorn", frozen)]
pub struct Done;

#[pymethods]
impl Done {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `None`: the iteration is over (no `StopIteration` object needed), and the `await`
    /// gives `None`.
    fn __next__(&self) -> Option<Py<PyAny>> {
        None
    }

    fn send(&self, _value: Py<PyAny>) -> PyResult<()> {
        Err(PyStopIteration::new_err(()))
    }

    /// An exception thrown into the awaitable propagates out of the `await`.
    #[pyo3(signature = (kind, value = None, _traceback = None))]
    fn throw(
        &self,
        kind: Bound<'_, PyAny>,
        value: Option<Bound<'_, PyAny>>,
        _traceback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Err(thrown(kind, value)?)
    }

    fn close(&self) {}
}

fn thrown(kind: Bound<'_, PyAny>, value: Option<Bound<'_, PyAny>>) -> PyResult<PyErr> {
    Ok(match value {
        Some(value) if !value.is_none() => PyErr::from_value(value),
        _ => PyErr::from_value(kind.call0()?),
    })
}

#[pyclass(module = "amphicorn._amphicorn")]
pub struct Ready {
    value: Option<Py<PyAny>>,
}

impl Ready {
    pub fn new(value: Py<PyAny>) -> Self {
        Self { value: Some(value) }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<()> {
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(PyStopIteration::new_err((value,)))
    }

    /// `coroutine.send(None)`, as the await machinery may call it.
    fn send(&mut self, py: Python<'_>, _value: Py<PyAny>) -> PyResult<()> {
        self.__next__(py)
    }

    /// An exception thrown into the awaitable propagates out of the `await`.
    #[pyo3(signature = (kind, value = None, _traceback = None))]
    fn throw(
        &mut self,
        kind: Bound<'_, PyAny>,
        value: Option<Bound<'_, PyAny>>,
        _traceback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Err(thrown(kind, value)?)
    }

    fn close(&mut self) {
        self.value = None;
    }
}
