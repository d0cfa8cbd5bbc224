//! Static mounts (`--mount /static=static:PATH`): files under a directory served by Rust
//! alone, never touching Python or the GIL.
//!
//! The flow for one request:
//! 1. `StaticApp::dispatch` (tokio) hands the request head to tokio's blocking pool, where
//!    `response::prepare` resolves the path safely below the root (`resolve.rs`), picks a
//!    precompressed sibling by `Accept-Encoding` (`encoding.rs`), opens the file, evaluates
//!    the conditional and range headers (`conditional.rs`) and writes the head; a small body
//!    is read there too.
//! 2. A larger body is streamed: a task on tokio reads it in bounded pieces into the
//!    response channel (`body.rs`), so memory stays bounded however large the file.
//!
//! The request body, if any, is ignored (a static mount reads no uploads). Routing, limits
//! and the fallback to another mount on `404` are `server/`'s.

mod body;
mod conditional;
mod encoding;
pub mod resolve;
mod response;

use std::sync::Arc;

use http::{request, Response, StatusCode};

use crate::http::connection::RequestState;
use crate::http::response_body::ResponseBody;
use crate::http::status;
use response::Prepared;
pub use response::StaticSettings;

/// How many body pieces (each at most 256 KiB) may wait between the file and the socket.
const CHANNEL_PIECES: usize = 8;

/// A mounted directory.
pub struct StaticApp {
    settings: Arc<StaticSettings>,
}

impl StaticApp {
    pub fn new(settings: Arc<StaticSettings>) -> Self {
        Self { settings }
    }

    /// Answers one request; `state` is the request's, for a streamed body.
    /// The same directory, served at another prefix (a canary answering at its primary's
    /// prefix, `server/canary.rs`).
    pub fn at(&self, prefix: &str) -> Self {
        let settings = &self.settings;
        Self::new(Arc::new(StaticSettings {
            root: settings.root.clone(),
            prefix: prefix.to_owned(),
            cache_control: settings.cache_control.clone(),
        }))
    }

    pub async fn dispatch(&self, head: request::Parts, state: Arc<RequestState>) -> Response<ResponseBody> {
        let settings = self.settings.clone();
        let prepared = tokio::task::spawn_blocking(move || response::prepare(&settings, &head)).await;
        match prepared {
            Ok(Prepared::Ready(response)) => response,
            Ok(Prepared::Stream { mut head, file, range }) => {
                let (chunks, receiver) = async_channel::bounded(CHANNEL_PIECES);
                *head.body_mut() = ResponseBody::channel(receiver, state.clone(), None);
                tokio::spawn(body::pump(file, range, chunks, state));
                head
            }
            // The blocking task panicked or the runtime is shutting down.
            Err(_) => status::plain(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}
