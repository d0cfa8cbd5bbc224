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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use http::HeaderName;

pub use entry::{Entry, Note};
pub use format::{Format, DEFAULT_FORMAT};

/// Lines that may wait for the writer before new ones are dropped.
const BACKLOG_LINES: usize = 16 * 1024;

/// The log: its format and the channel to the writer thread.
#[derive(Debug)]
pub struct AccessLog {
    format: Format,
    wanted: Vec<HeaderName>,
    lines: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    /// Wakes the reporter thread after a drop (a full channel means it is already awake).
    drops: SyncSender<()>,
}

impl AccessLog {
    /// Starts the writer thread, which writes to stdout until every sender is gone, and the
    /// thread that reports dropped lines.
    pub fn start(format: Format) -> std::io::Result<Arc<Self>> {
        let (lines, receiver) = sync_channel(BACKLOG_LINES);
        std::thread::Builder::new().name("amphicorn-access-log".into()).spawn(move || writer::write_lines(receiver))?;
        let dropped = Arc::new(AtomicU64::new(0));
        let (drops, reports) = sync_channel(1);
        let counter = dropped.clone();
        std::thread::Builder::new()
            .name("amphicorn-access-log-drops".into())
            .spawn(move || writer::report_drops(reports, counter))?;
        let wanted = format.wanted_headers();
        Ok(Arc::new(Self { format, wanted, lines, dropped, drops }))
    }

    /// Lines dropped since start because the writer was too far behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn emit(&self, line: Vec<u8>) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                let _ = self.drops.try_send(());
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}
