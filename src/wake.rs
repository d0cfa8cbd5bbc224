//! Waking an asyncio event loop from any thread, without Python: one byte on a socketpair
//! whose other end the loop watches with `add_reader`, written only when the loop has not
//! already been told. Used by the ASGI bridge (`asgi/bridge.rs`) and by `WSGIMiddleware`
//! (`wsgi/middleware/waker.rs`); what the loop then does is theirs.
//!
//! It also counts the loops that have been woken and have not drained yet, process-wide:
//! each of them is about to want the GIL. WSGI pool threads read the count between jobs
//! (`loops_waiting`) and step aside for them (see `wsgi/pool.rs`).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Loops woken and not drained yet.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Whether some asyncio loop has work from Rust waiting for it to get the GIL.
pub fn loops_waiting() -> bool {
    WAITING.load(Ordering::Relaxed) > 0
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
            WAITING.fetch_add(1, Ordering::Relaxed);
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
    fn a_woken_loop_counts_as_waiting_until_it_drains_or_goes_away() {
        let (sender, receiver) = pair().expect("socketpair");
        assert!(!loops_waiting());
        sender.wake();
        sender.wake(); // Coalesced: still one loop waiting.
        assert_eq!(WAITING.load(Ordering::SeqCst), 1);
        receiver.drain(&sender).expect("drain");
        assert!(!loops_waiting());
        sender.wake();
        assert!(loops_waiting());
        drop(sender);
        assert!(!loops_waiting(), "a loop that went away undrained still counts");
    }
}
