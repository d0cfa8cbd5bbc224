//! amphicorn's compiled core, imported by the Python package as `amphicorn._amphicorn`.
//!
//! This file only registers what Python sees; `server/` runs sockets and connections,
//! `http/` holds what every interface shares, `wsgi/` bridges to WSGI apps, `asgi/`
//! to ASGI apps, `static_files/` serves directories, `compression/` compresses responses, and
//! `metrics/` counts requests for the admin listener.

/// The Rust side's allocator (Python keeps its own): mimalloc, as granian uses. Against
/// glibc's, on one core: WSGI hello 1.5-3 % less CPU per request, an idle keep-alive
/// connection 12.9 KiB instead of 13.8 (`bench/connection_memory.py`). Built without
/// transparent huge pages (`no_thp`: with them an idle connection cost 30 KiB), and with
/// the TLS model a `dlopen`ed library needs (`local_dynamic_tls`). Static downloads reuse
/// their read buffers (`static_files/body.rs`), or mimalloc would keep the freed ones.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod asgi;
pub mod buffers;
pub mod compression;
pub mod connection_info;
pub mod connection_tls;
pub mod errors;
pub mod fds;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http;
pub mod interned;
pub mod log;
pub mod metrics;
pub mod scheduling;
pub mod server;
pub mod static_files;
pub mod sync;
pub mod timers;
pub mod wake;
pub mod wsgi;

use pyo3::prelude::*;

#[pymodule]
fn _amphicorn(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_class::<server::Server>()?;
    module.add_class::<server::admin::Admin>()?;
    module.add_function(wrap_pyfunction!(server::mounts::check_mount_point, module)?)?;
    module.add_function(wrap_pyfunction!(server::check_access_log_format, module)?)?;
    module.add_function(wrap_pyfunction!(server::tls::check_tls, module)?)?;
    module.add_function(wrap_pyfunction!(scheduling::defer_thread_wakeups, module)?)?;
    module.add("DEFAULT_ACCESS_LOG_FORMAT", server::access_log::DEFAULT_FORMAT)?;
    module.add_class::<wsgi::file_wrapper::FileWrapper>()?;
    module.add_class::<wsgi::input::InputStream>()?;
    module.add_class::<wsgi::middleware::WsgiBridge>()?;
    module.add_class::<wsgi::middleware::WakeChannel>()?;
    module.add_class::<asgi::bridge::LoopBridge>()?;
    module.add("ClientDisconnected", module.py().get_type::<errors::ClientDisconnected>())?;
    Ok(())
}
