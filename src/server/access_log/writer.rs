//! Where finished lines go: `AccessLog` holds the format and the bounded channel, and starts
//! two threads: the writer, which takes lines from the channel and writes them to stdout,
//! flushing whenever it has caught up; and the reporter, which says on the
//! `amphicorn.error` logger how many lines were dropped when the writer
//! fell behind (at most once per `timers::ACCESS_LOG_DROP_REPORT`).
//!
//! Both are plain threads, not tokio ones: the writer may block on a slow stdout for as long
//! as stdout likes (which is why reporting cannot be its job), and the reporter takes the
//! GIL, only when lines were dropped.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use http::HeaderName;
use pyo3::Python;

use super::format::Format;
use crate::timers::ACCESS_LOG_DROP_REPORT;

/// Lines that may wait for the writer before new ones are dropped.
const BACKLOG_LINES: usize = 16 * 1024;

/// The log: its format and the channel to the writer thread.
#[derive(Debug)]
pub struct AccessLog {
    pub(super) format: Format,
    pub(super) wanted: Vec<HeaderName>,
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
        std::thread::Builder::new().name("amphicorn-access-log".into()).spawn(move || write_lines(receiver))?;
        let dropped = Arc::new(AtomicU64::new(0));
        let (drops, reports) = sync_channel(1);
        let counter = dropped.clone();
        std::thread::Builder::new()
            .name("amphicorn-access-log-drops".into())
            .spawn(move || report_drops(reports, counter))?;
        let wanted = format.wanted_headers();
        Ok(Arc::new(Self { format, wanted, lines, dropped, drops }))
    }

    /// Lines dropped since start because the writer was too far behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The count of dropped lines itself, for the metrics to read at each scrape.
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    pub(super) fn emit(&self, line: Vec<u8>) {
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

/// Writes lines until every sender is gone.
fn write_lines(receiver: Receiver<Vec<u8>>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Ok(line) = receiver.recv() {
        let _ = out.write_all(&line);
        // Flush when caught up, so a quiet server's lines show at once.
        while let Ok(line) = receiver.try_recv() {
            let _ = out.write_all(&line);
        }
        let _ = out.flush();
    }
}

/// Reports dropped lines each time `drops` says there were some (and at most once per
/// interval), until every sender is gone.
fn report_drops(drops: Receiver<()>, dropped: Arc<AtomicU64>) {
    let mut reported = 0;
    while drops.recv().is_ok() {
        let total = dropped.load(Ordering::Relaxed);
        if total > reported {
            let message = format!(
                "Access log: stdout is too slow, {} lines were dropped ({total} since start)",
                total - reported
            );
            Python::attach(|py| crate::log::warning(py, &message));
            reported = total;
        }
        std::thread::sleep(ACCESS_LOG_DROP_REPORT);
    }
}
