//! Every timer amphicorn runs, in one place: the fixed ones are defined here, the ones a
//! setting controls are listed with the setting, its default and the code that enforces it.
//!
//! | timer | length | enforced by |
//! |---|---|---|
//! | request head (first byte to complete head; also a fresh connection's first head) | `--timeout-request-headers`, 10 s | `server/timeouts.rs` (`TimedIo`: 408, close) |
//! | idle keep-alive connection | `--timeout-keep-alive`, 5 s | `server/timeouts.rs` (`TimedIo`: quiet close) |
//! | an idle HTTP/1.1 connection keeps hyper's buffers | [`IDLE_PARK`] | `server/timeouts.rs` (`TimedIo`), `server/parking.rs` |
//! | an I/O thread gives freed pages back to the kernel, at most once per | [`GIVE_BACK_EVERY`] | `server/allocator.rs`, `server/parking.rs` |
//! | pause while a request body arrives | `--timeout-request-body`, 60 s, per mount | `http/request_body.rs` (408) |
//! | wait for a WSGI thread | `queue-timeout`, 30 s, per mount | `wsgi/pool.rs` (`Pool::submit`: 503) |
//! | in-flight requests after a stop | `--timeout-graceful-shutdown`, 30 s | `server/listen.rs` (drain), `server/mod.rs` (WSGI threads) |
//! | one more request on an idle connection once stopping | [`LAST_REQUEST_GRACE`] | `server/protocol.rs` |
//! | an idle HTTP/2 connection (no stream open) | `--timeout-keep-alive`, 5 s (from the accept: `--timeout-request-headers`) | `server/timeouts.rs` (`TimedIo`), `server/protocol.rs` (GOAWAY) |
//! | the client's acknowledgement of an idle (or, on a stop, drained) connection's GOAWAY | [`GOAWAY_GRACE`] | `server/protocol.rs` |
//! | a trusted peer's PROXY header | the request-head timeout, else [`PROXY_HEADER_TIMEOUT`] | `server/listen.rs` |
//! | the TLS handshake | the request-head timeout, else [`PROXY_HEADER_TIMEOUT`] | `server/listen.rs`, `server/tls.rs` |
//! | the client's answer to our WebSocket close | [`WEBSOCKET_CLOSE_TIMEOUT`] | `asgi/websocket/mod.rs` |
//! | an ASGI app's lifespan shutdown | 30 s (`LIFESPAN_SHUTDOWN_TIMEOUT`) | Python: `amphicorn/server.py` |
//! | a pause after a failed `accept()` | [`ACCEPT_BACKOFF`] | `server/listen.rs`, `server/admin.rs` |
//! | warnings that descriptors ran out, at most one per | [`ACCEPT_ERROR_REPORT`] | `server/listeners.rs` |
//! | Python's turn to run signal handlers while serving | [`SIGNAL_POLL`] | `server/mod.rs` |
//! | tokio's tasks after the drain | [`RUNTIME_SHUTDOWN`] | `server/mod.rs` |
//! | a shadow request, from its dispatch to the end of its body | [`SHADOW_TIMEOUT`] | `server/shadow_run.rs` (`shadow_error`) |
//! | reports of dropped access-log lines, at most one per | [`ACCESS_LOG_DROP_REPORT`] | `server/access_log/writer.rs` |
//!
//! The settings' values are checked in Python (`amphicorn/settings.py`: at most a year, so
//! a deadline can never overflow the clock) before they reach the Rust core.

use std::time::Duration;

/// How long a connection may take to send one more request once the server is stopping
/// (a client that just reused an idle keep-alive connection gets its answer).
pub const LAST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// How long an idle HTTP/1.1 connection keeps hyper's state (its buffers) before letting go
/// of it until its next request (`server/parking.rs`).
pub const IDLE_PARK: Duration = Duration::from_secs(1);

/// How often, at most, an I/O thread gives the pages it freed back to the kernel once idle
/// connections let go of their buffers (`server/allocator.rs`; one `mi_collect` took
/// 0.1-0.3 ms with 2,000 connections open).
pub const GIVE_BACK_EVERY: Duration = Duration::from_millis(100);

/// How long an idle HTTP/2 connection's client has, after our GOAWAY, to acknowledge it
/// before the connection is dropped; and, on a stop, a connection with nothing in flight
/// any more to close (checked at this interval: idle at two checks, it is dropped).
pub const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// How long a trusted peer has to send its PROXY header, and a client to finish its TLS
/// handshake, when there is no header timeout.
pub const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for the client's answer to our WebSocket close frame.
pub const WEBSOCKET_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Back-off after a failed `accept()` (out of descriptors, say), so the loop cannot spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How often, at most, running out of descriptors is reported while `accept()` keeps failing.
pub const ACCEPT_ERROR_REPORT: Duration = Duration::from_secs(1);

/// How often `Server.serve()` lets Python check for signals.
pub const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// How long tokio's remaining tasks get after the drain, before the runtime is dropped.
pub const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// How often, at most, dropped access-log lines are reported while they keep being dropped.
pub const ACCESS_LOG_DROP_REPORT: Duration = Duration::from_secs(1);

/// How long a shadow mount has to answer a shadowed request in full; past it the comparison
/// is a `shadow_error`, and its slot is free again.
pub const SHADOW_TIMEOUT: Duration = Duration::from_secs(30);
