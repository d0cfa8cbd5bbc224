//! Waking an asyncio event loop from any thread, without Python: one byte on a socketpair
//! whose other end the loop watches with `add_reader`, written only when the loop has not
//! already been told. Used by the ASGI bridge (`asgi/bridge.rs`) and by `WSGIMiddleware`
//! (`wsgi/middleware/waker.rs`); what the loop then does is theirs.
//!
//! It also counts the loops that have been woken and have not drained yet, process-wide,
//! and since when one has been: each of them is about to want the GIL. WSGI pool threads
//! look between jobs (`a_loop_waited`) and step aside for a loop that has waited long enough
//! (see `wsgi/pool.rs`).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Loops woken and not drained yet.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// When the count last rose from none (microseconds from `origin()`): how long the loop
/// woken first has been waiting, as long as one still is.
static WAITING_SINCE: AtomicU64 = AtomicU64::new(0);

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn micros_now() -> u64 {
    u64::try_from(origin().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Whether some asyncio loop has had work from Rust waiting for it (and so for the GIL)
/// for at least `long`.
pub fn a_loop_waited(long: Duration) -> bool {
    if WAITING.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let since = WAITING_SINCE.load(Ordering::Relaxed);
    micros_now().saturating_sub(since) >= u64::try_from(long.as_micros()).unwrap_or(u64::MAX)
}

/// The end the waking threads share.
pub struct WakeSender {
    /// A byte is on its way to the loop and not yet drained.
    pending: AtomicBool,
    writer: UnixStream,
}

/// The end the loop watches.
pub struct WakeReceiver {
    reader: UnixStream,
}

/// A connected pair, both ends non-blocking.
pub fn pair() -> std::io::Result<(WakeSender, WakeReceiver)> {
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    Ok((WakeSender { pending: AtomicBool::new(false), writer }, WakeReceiver { reader }))
}

impl WakeSender {
    /// Tells the loop to drain, unless it was told already and has not drained since.
    pub fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            if WAITING.fetch_add(1, Ordering::Relaxed) == 0 {
                WAITING_SINCE.store(micros_now(), Ordering::Relaxed);
            }
            // WouldBlock means the socket is full of wakes already: the loop will run.
            let _ = (&self.writer).write(&[1]);
        }
    }

    /// The loop has drained: it no longer waits.
    fn drained(&self) {
        if self.pending.swap(false, Ordering::SeqCst) {
            WAITING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for WakeSender {
    /// A loop that goes away undrained waits for nothing any more.
    fn drop(&mut self) {
        self.drained();
    }
}

impl WakeReceiver {
    pub fn fileno(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Consumes the wake bytes, then lets the next `wake()` write a new one. Call it before
    /// looking at what the wakers queued: had the flag been cleared first, a byte written
    /// meanwhile would be swallowed here, and work queued after the drain would wake nobody.
    pub fn drain(&self, sender: &WakeSender) -> std::io::Result<()> {
        let mut sink = [0u8; 64];
        loop {
            match (&self.reader).read(&mut sink) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
        sender.drained();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only test that makes wake pairs, so the process-wide count is this test's alone.
    #[test]
    fn a_woken_loop_counts_as_waiting_from_its_wake_until_it_drains_or_goes_away() {
        let (sender, receiver) = pair().expect("socketpair");
        assert!(!a_loop_waited(Duration::ZERO));
        sender.wake();
        sender.wake(); // Coalesced: still one loop waiting.
        assert_eq!(WAITING.load(Ordering::SeqCst), 1);
        assert!(a_loop_waited(Duration::ZERO));
        assert!(!a_loop_waited(Duration::from_secs(3600)), "it has waited for an hour");
        // Time passing is what is tested here, so the test lets it pass.
        std::thread::sleep(Duration::from_millis(50));
        assert!(a_loop_waited(Duration::from_millis(50)));
        receiver.drain(&sender).expect("drain");
        assert!(!a_loop_waited(Duration::ZERO));
        sender.wake();
        assert!(a_loop_waited(Duration::ZERO));
        assert!(!a_loop_waited(Duration::from_millis(40)), "the wait is counted from the first wake after a drain");
        drop(sender);
        assert!(!a_loop_waited(Duration::ZERO), "a loop that went away undrained still counts");
    }
}
