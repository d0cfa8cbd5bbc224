//! The access log's two threads: the writer, which takes finished lines from a bounded
//! channel and writes them to stdout, flushing whenever it has caught up; and the reporter,
//! which says on the `amphicorn.error` logger how many lines were dropped when the writer
//! fell behind (at most once per `timers::ACCESS_LOG_DROP_REPORT`).
//!
//! Both are plain threads, not tokio ones: the writer may block on a slow stdout for as long
//! as stdout likes (which is why reporting cannot be its job), and the reporter takes the
//! GIL, only when lines were dropped.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use pyo3::Python;

use crate::timers::ACCESS_LOG_DROP_REPORT;

/// Writes lines until every sender is gone.
pub fn write_lines(receiver: Receiver<Vec<u8>>) {
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
pub fn report_drops(drops: Receiver<()>, dropped: Arc<AtomicU64>) {
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
