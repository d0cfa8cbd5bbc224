//! `Ready`: an awaitable whose answer is already known, so `await receive()` or
//! `await send(...)` completes without going back to the event loop or creating a future.
//!
//! `await` calls `__await__`, gets this object back as the iterator, and the first
//! `__next__` raises `StopIteration(value)`: the value is the result of the `await`.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

#[pyclass(module = "amphicorn._amphicorn")]
pub struct Ready {
    value: Option<Py<PyAny>>,
}

impl Ready {
    pub fn new(value: Py<PyAny>) -> Self {
        Self { value: Some(value) }
    }

    pub fn none(py: Python<'_>) -> Self {
        Self::new(py.None())
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
        let error = match value {
            Some(value) if !value.is_none() => PyErr::from_value(value),
            _ => PyErr::from_value(kind.call0()?),
        };
        Err(error)
    }

    fn close(&mut self) {
        self.value = None;
    }
}
