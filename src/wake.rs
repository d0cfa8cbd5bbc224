//! Waking an asyncio event loop from any thread, without Python: one byte on a socketpair
//! whose other end the loop watches with `add_reader`, written only when the loop has not
//! already been told. Used by the ASGI bridge (`asgi/bridge.rs`) and by `WSGIMiddleware`
//! (`wsgi/middleware/waker.rs`); what the loop then does is theirs.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

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
            // WouldBlock means the socket is full of wakes already: the loop will run.
            let _ = (&self.writer).write(&[1]);
        }
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
        sender.pending.store(false, Ordering::SeqCst);
        Ok(())
    }
}
