//! The ASGI `http` scope of one request, with the fields and types amphicorn gives
//! (its `src/asgi/scope.rs`, without mounts, extensions and lifespan state).

use std::net::SocketAddr;

use http::{request, Version};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

pub fn build<'py>(
    py: Python<'py>,
    head: &request::Parts,
    remote: SocketAddr,
    local: SocketAddr,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = PyDict::new(py);
    scope.set_item(intern!(py, "type"), intern!(py, "http"))?;
    let asgi = PyDict::new(py);
    asgi.set_item(intern!(py, "version"), intern!(py, "3.0"))?;
    asgi.set_item(intern!(py, "spec_version"), intern!(py, "2.4"))?;
    scope.set_item(intern!(py, "asgi"), asgi)?;
    let version = match head.version {
        Version::HTTP_10 => "1.0",
        _ => "1.1",
    };
    scope.set_item(intern!(py, "http_version"), version)?;
    scope.set_item(intern!(py, "method"), head.method.as_str())?;
    scope.set_item(intern!(py, "scheme"), intern!(py, "http"))?;
    let raw_path = head.uri.path();
    let decoded: Vec<u8> = percent_encoding::percent_decode(raw_path.as_bytes()).collect();
    scope.set_item(intern!(py, "path"), String::from_utf8_lossy(&decoded))?;
    scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, raw_path.as_bytes()))?;
    scope.set_item(intern!(py, "query_string"), PyBytes::new(py, head.uri.query().unwrap_or("").as_bytes()))?;
    scope.set_item(intern!(py, "root_path"), intern!(py, ""))?;
    let headers = PyList::empty(py);
    for (name, value) in &head.headers {
        headers.append(PyTuple::new(
            py,
            [PyBytes::new(py, name.as_str().as_bytes()), PyBytes::new(py, value.as_bytes())],
        )?)?;
    }
    scope.set_item(intern!(py, "headers"), headers)?;
    scope.set_item(intern!(py, "client"), (remote.ip().to_string(), remote.port()))?;
    scope.set_item(intern!(py, "server"), (local.ip().to_string(), local.port()))?;
    Ok(scope)
}
