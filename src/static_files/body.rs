//! A static file's bytes (the file opened and checked by `resolve.rs`): read whole when small,
//! else streamed in bounded pieces.
//!
//! Reads happen on the event loop when the page cache holds the bytes (`pread` with
//! `RWF_NOWAIT`, which fails rather than wait for the disk; the common case for assets) and
//! on tokio's blocking pool otherwise (a cold file, a filesystem without `RWF_NOWAIT`): a hop
//! to the pool and back costs more than the read itself. A body up to `BLOCK` bytes is read
//! at once with the open when it is cached; a larger one (or a small one not cached) is read
//! `BLOCK` at a time into the response channel: a slow client fills the channel and the reads
//! wait, so a download holds at most the channel's worth of memory and no thread while it
//! waits. A file that ends sooner than its length said (truncated meanwhile) aborts the
//! response, so the client cannot take the partial body for the whole.
//!
//! Which bytes (range, sibling) is decided by `conditional.rs` and `encoding.rs`.

use std::fs::File;
use std::io;
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::http::connection::RequestState;
use crate::http::response_body::ResponseChunk;
use crate::sync::lock;

/// The most read from a file at once; bodies up to this size go out as one buffer.
pub const BLOCK: u64 = 256 * 1024;

/// Streamed pieces are read into `BLOCK`-sized buffers that come back here once hyper has
/// sent them (`Piece`), so a download allocates nothing after its first pieces, whatever
/// the allocator keeps of freed memory; at most `SPARE_PIECES` wait here (4 MiB).
static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const SPARE_PIECES: usize = 16;

/// A piece of a streamed body, in a buffer that goes back to `SPARE` when dropped.
struct Piece(Vec<u8>);

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.0);
        buffer.clear();
        let mut spare = lock(&SPARE);
        if spare.len() < SPARE_PIECES {
            spare.push(buffer);
        }
    }
}

/// Reads what the page cache holds of `range`, from its start, without waiting for the disk
/// (`RWF_NOWAIT`): possibly fewer bytes than asked, none when the first are not cached, the
/// filesystem cannot tell, or the file ends there. Never blocks on I/O: fit for the event
/// loop. Into a buffer of the range's size, to keep (`cache.rs`) or send.
pub fn read_cached(file: &File, range: &RangeInclusive<u64>) -> Bytes {
    let Ok(length) = usize::try_from(range.end() + 1 - range.start()) else {
        return Bytes::new();
    };
    let mut buffer = Vec::with_capacity(length);
    let _ = fill(&mut buffer, file, range, false);
    Bytes::from(buffer)
}

/// Reads `range` (at most `BLOCK` bytes) into a buffer from `SPARE`: what the page cache
/// holds, as `read_cached`, or with `wait` what one `pread` gives, which may wait for the
/// disk (empty at the end of the file).
fn read_piece(file: &File, range: &RangeInclusive<u64>, wait: bool) -> io::Result<Bytes> {
    let spare = lock(&SPARE).pop();
    let mut buffer = spare.unwrap_or_else(|| Vec::with_capacity(BLOCK as usize));
    let read = fill(&mut buffer, file, range, wait);
    let piece = Bytes::from_owner(Piece(buffer));
    read.map(|()| piece)
}

/// Reads `range` of `file` into `buffer` (empty, with room for the range), not zeroed
/// first: with `wait`, one `pread`; else as many `preadv2(RWF_NOWAIT)` as the page cache
/// answers. The error is that of a `pread` that failed.
fn fill(buffer: &mut Vec<u8>, file: &File, range: &RangeInclusive<u64>, wait: bool) -> io::Result<()> {
    let length = usize::try_from(range.end() + 1 - range.start()).unwrap_or(usize::MAX).min(buffer.capacity());
    while buffer.len() < length {
        let filled = buffer.len();
        let Ok(at) = libc::off_t::try_from(range.start() + filled as u64) else {
            return Ok(());
        };
        let spare = &mut buffer.spare_capacity_mut()[..length - filled];
        let slice = libc::iovec { iov_base: spare.as_mut_ptr().cast(), iov_len: spare.len() };
        let flags = if wait { 0 } else { libc::RWF_NOWAIT };
        // SAFETY: the kernel writes at most `iov_len` bytes at `iov_base`, which is the
        // buffer's spare capacity, ours for the length of the call.
        #[allow(unsafe_code)]
        let read = unsafe { libc::preadv2(file.as_raw_fd(), &slice, 1, at, flags) };
        let Ok(count) = usize::try_from(read) else {
            return if wait { Err(io::Error::last_os_error()) } else { Ok(()) };
        };
        if count == 0 {
            return Ok(());
        }
        // SAFETY: the kernel wrote `count` bytes (at most `iov_len`) at the start of the
        // spare capacity.
        #[allow(unsafe_code)]
        unsafe {
            buffer.set_len(filled + count.min(length - filled));
        }
        if wait {
            return Ok(());
        }
    }
    Ok(())
}

/// Sends `range` of `file` into `chunks`, `BLOCK` at a time (a task on tokio); ends when the
/// range is sent, the client is gone (the channel closed), or the file runs short (the
/// response is then aborted).
pub async fn pump(
    file: Arc<File>,
    range: RangeInclusive<u64>,
    chunks: async_channel::Sender<ResponseChunk>,
    state: Arc<RequestState>,
) {
    let mut at = *range.start();
    let end = range.end() + 1;
    while at < end {
        let piece = at..=(at + BLOCK.min(end - at) - 1);
        let mut block = read_piece(&file, &piece, false).unwrap_or_default();
        if block.is_empty() {
            // Not in the page cache: read on the blocking pool, where waiting for the disk
            // holds no connection up.
            let reader = file.clone();
            let read = tokio::task::spawn_blocking(move || read_piece(&reader, &piece, true)).await;
            block = read.ok().and_then(Result::ok).unwrap_or_default();
        }
        if block.is_empty() {
            // Short file, read error, or the runtime shutting down: the length promised
            // cannot be met. Flag first, then close: the body checks the flag at the close.
            state.mark_aborted();
            return;
        }
        at += block.len() as u64;
        if chunks.send(Ok(block)).await.is_err() {
            return; // The client is gone.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let file = directory.path().join("data.bin");
        std::fs::write(&file, b"0123456789").expect("write");
        let opened = File::open(&file).expect("open");
        assert_eq!(read_cached(&opened, &(2..=4)).as_ref(), b"234");
        assert_eq!(read_cached(&opened, &(8..=12)).as_ref(), b"89", "up to the end");
        assert_eq!(read_piece(&opened, &(2..=4), true).expect("read").as_ref(), b"234");
        assert_eq!(read_piece(&opened, &(8..=12), false).expect("read").as_ref(), b"89");
    }

    /// Pumps `range` of a file holding `data`, evicted from the page cache first when `cold`
    /// (so the reads go to the blocking pool); what the channel received.
    async fn pumped(data: &[u8], range: RangeInclusive<u64>, cold: bool) -> Vec<u8> {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("big.bin");
        std::fs::write(&path, data).expect("write");
        let file = File::open(&path).expect("open");
        if cold {
            file.sync_all().expect("fsync");
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
        }
        let (sender, receiver) = async_channel::bounded(4);
        let state = RequestState::new();
        tokio::spawn(pump(Arc::new(file), range, sender, state.clone()));
        let mut received = Vec::new();
        while let Ok(chunk) = receiver.recv().await {
            let chunk = chunk.expect("no abort");
            assert!(!chunk.is_empty() && chunk.len() as u64 <= BLOCK);
            received.extend_from_slice(&chunk);
        }
        assert!(!state.is_aborted());
        received
    }

    #[tokio::test]
    async fn pump_sends_the_range_in_blocks_cached_or_not() {
        let data: Vec<u8> = (0..(BLOCK * 2 + 10)).map(|index| (index % 251) as u8).collect();
        let range = 5..=(BLOCK * 2 + 7);
        let (start, end) = (*range.start() as usize, *range.end() as usize);
        for cold in [false, true] {
            assert_eq!(pumped(&data, range.clone(), cold).await, data[start..=end], "cold: {cold}");
        }
    }

    #[tokio::test]
    async fn a_file_shorter_than_promised_aborts() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("short.bin");
        std::fs::write(&path, b"abc").expect("write");
        let file = File::open(&path).expect("open");
        let (sender, receiver) = async_channel::bounded(4);
        let state = RequestState::new();
        tokio::spawn(pump(Arc::new(file), 0..=9, sender, state.clone()));
        assert_eq!(receiver.recv().await.ok().and_then(Result::ok).as_deref(), Some(&b"abc"[..]));
        assert!(receiver.recv().await.is_err(), "closed");
        assert!(state.is_aborted());
    }
}
