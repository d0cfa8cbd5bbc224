//! The access log: one line per request, formatted and written from Rust, so no Python runs
//! for it on the hot path.
//!
//! The format takes gunicorn's atoms (`%(h)s %(t)s "%(r)s" %(s)s %(b)s ...`), parsed once at
//! start-up (`format.rs`); `--log-format json` writes one JSON object per line whose fields
//! are the atoms the format asks for (the default format gives a fuller set). A line is
//! finished when hyper drops the response body, so it knows the bytes sent and the full
//! duration (`entry.rs`), and handed to a writer thread through a bounded channel
//! (`writer.rs`): a tokio thread never waits on the output. If the output falls far behind,
//! lines are dropped, counted (`AccessLog::dropped`, the figure metrics will export) and
//! reported as a warning by a thread of their own.
//!
//! What a request looked like is captured by `Entry::start` in the connection's handler
//! (`listen.rs`); the service adds the mount and the client as a proxy described it (`Note`).

mod entry;
mod format;
mod writer;

pub use entry::{Entry, Note};
pub use format::{Format, DEFAULT_FORMAT};
pub use writer::AccessLog;
