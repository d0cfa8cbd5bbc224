//! Static mounts (`--mount /static=static:PATH`): files under a directory served by Rust
//! alone, never touching Python or the GIL.
//!
//! The flow for one request:
//! 1. `StaticApp::dispatch` calls `response::prepare` right on the event loop: it resolves
//!    the path safely below the root (`resolve.rs`), picks a precompressed sibling by
//!    `Accept-Encoding` (`encoding.rs`), opens the file, evaluates the conditional and range
//!    headers (`conditional.rs`) and writes the head; a small body is read there too when
//!    the page cache holds it. These are a few cheap system calls on cached metadata and
//!    pages, like nginx's (without its thread pools): a hop to tokio's blocking pool and
//!    back cost several times more than the work (measured in bench/README.md). Only file
//!    reads that would wait for the disk go to the blocking pool (`body.rs`); path lookups
//!    and `open` on a cold directory tree may still block the loop briefly. The file is then
//!    kept with its siblings (`cache.rs`: read when at most 256 KiB, else open): the
//!    requests for the same path in the next second answer from what is kept.
//! 2. A larger body (or a small one not cached) is streamed: a task on tokio reads it in
//!    bounded pieces into the response channel (`body.rs`), so memory stays bounded however
//!    large the file.
//!
//! The request body, if any, is ignored (a static mount reads no uploads). Routing, limits
//! and the fallback to another mount on `404` are `server/`'s.

mod body;
mod cache;
mod conditional;
mod encoding;
mod representation;
pub mod resolve;
mod response;

use std::sync::Arc;

use http::Response;

use crate::http::connection::RequestState;
use crate::http::response_body::ResponseBody;
use crate::http::Head;
pub use cache::FileCache;
use response::Prepared;
pub use response::StaticSettings;

/// How many body pieces (each at most `body::BLOCK`, 256 KiB) may wait between the file and the socket.
const CHANNEL_PIECES: usize = 8;

/// A mounted directory.
pub struct StaticApp {
    settings: Arc<StaticSettings>,
}

impl StaticApp {
    pub fn new(settings: Arc<StaticSettings>) -> Self {
        Self { settings }
    }

    /// The same directory, served at another prefix (a canary answering at its primary's
    /// prefix, `server/canary.rs`).
    pub fn at(&self, prefix: &str) -> Self {
        let settings = &self.settings;
        Self::new(Arc::new(StaticSettings {
            root: settings.root.clone(),
            prefix: prefix.to_owned(),
            cache_control: settings.cache_control.clone(),
            cache: FileCache::default(),
        }))
    }

    /// Answers one request; `state` is the request's, for a streamed body.
    pub async fn dispatch(&self, head: Head, state: Arc<RequestState>) -> Response<ResponseBody> {
        match response::prepare(&self.settings, &head) {
            Prepared::Ready(response) => response,
            Prepared::Stream { mut head, file, range } => {
                let (chunks, receiver) = async_channel::bounded(CHANNEL_PIECES);
                *head.body_mut() = ResponseBody::channel(receiver, state.clone(), None);
                tokio::spawn(body::pump(file, range, chunks, state));
                head
            }
        }
    }
}
