//! An HTTP/1.1 response body whose chunks, as many as are ready, go to hyper as one frame.
//!
//! hyper queues a body's frames behind the head and writes them in one vectored write, but
//! stops taking frames once 16 are queued or their bytes reach its buffer's limit (256 KiB,
//! `protocol.rs`, which is also how much it reads at once), and then writes. A streamed 1 MiB
//! in 64 KiB chunks took four `writev` calls. Every chunk already waiting in the app's
//! channel (`http/responder.rs`' `CHANNEL_CHUNKS`, 16) is now handed to hyper as one frame
//! (`Chunks`, a list of the chunks, copied nowhere), so it goes out in one write; a chunk the
//! app has not sent yet is not waited for.
//!
//! Measured (interleaved A/B of release builds, the server on one core, `wrk -t1 -c64` on the
//! other, 3–4 rounds of 4 s; `bench/apps`' stream routes): `writev` calls per request 4.07 →
//! 0.99, CPU per request on `wsgi-stream` 300 → 248 µs, on `asgi-stream` 317 → 239 µs (at 256
//! connections, `wsgi-stream` 307 → 289); the hellos unchanged within this host's noise. hyper's
//! limit raised to 1 MiB did as much for the streams, but the limit is also how much hyper
//! reads at once: 64 clients each uploading 4 MiB peaked at 458 MiB instead of 217.
//!
//! hyper drops what it has queued when a body fails, so a failure is handed on only after a
//! `Pending` since the last data: hyper writes what it holds whenever the body is pending.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};

/// At most this many chunks (the app's channel holds no more) or bytes in one frame.
const MOST_CHUNKS: usize = 16;
const MOST_BYTES: usize = 1 << 20;

pub struct Batched<B: Body> {
    inner: B,
    /// What ended the last batch, when it was not data: handed on at the next poll.
    held: Option<Result<Frame<Bytes>, B::Error>>,
    /// The inner body has ended (it is not polled again).
    done: bool,
    /// No `Pending` was returned since the last data (a failure must wait for one).
    unflushed: bool,
}

impl<B: Body<Data = Bytes>> Batched<B> {
    pub fn new(inner: B) -> Self {
        Self { inner, held: None, done: false, unflushed: false }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Batched<B>
where
    B::Error: Unpin,
{
    type Data = Chunks;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Chunks>, B::Error>>> {
        let this = &mut *self;
        if this.done && this.held.is_none() {
            return Poll::Ready(None);
        }
        let mut batch: Option<Chunks> = None;
        let ended = loop {
            if let Some(held) = this.held.take() {
                break Some(held);
            }
            let full = batch.as_ref().is_some_and(|chunks| chunks.count() >= MOST_CHUNKS || chunks.len >= MOST_BYTES);
            if full {
                break None;
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => {
                        match batch.as_mut() {
                            Some(chunks) => chunks.push(data),
                            None => batch = Some(Chunks::new(data)),
                        }
                        if this.inner.is_end_stream() {
                            break None; // Its last: no need to poll again.
                        }
                    }
                    Err(frame) => break Some(Ok(frame)),
                },
                Poll::Ready(Some(Err(error))) => break Some(Err(error)),
                Poll::Ready(None) => {
                    this.done = true;
                    break None;
                }
                Poll::Pending if batch.is_none() => {
                    this.unflushed = false;
                    return Poll::Pending;
                }
                Poll::Pending => break None,
            }
        };
        if let Some(chunks) = batch {
            this.held = ended;
            this.unflushed = true;
            return Poll::Ready(Some(Ok(Frame::data(chunks))));
        }
        match ended {
            Some(Err(error)) if this.unflushed => {
                // hyper would drop the data it has queued: let it write that first.
                this.held = Some(Err(error));
                this.unflushed = false;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(Err(error)) => Poll::Ready(Some(Err(error))),
            // Trailers (nothing else is not data).
            Some(Ok(frame)) => Poll::Ready(Some(Ok(frame.map_data(Chunks::new)))),
            None => Poll::Ready(None), // `done`
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && (self.done || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Chunks of a body, one after the other, as one buffer (no copy): hyper writes them in one
/// vectored write. The first is kept apart, so that a frame of one chunk allocates nothing.
#[derive(Debug)]
pub struct Chunks {
    first: Bytes,
    rest: VecDeque<Bytes>,
    /// Bytes left in all.
    len: usize,
}

impl Chunks {
    fn new(first: Bytes) -> Self {
        Self { len: first.len(), first, rest: VecDeque::new() }
    }

    fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.rest.push_back(chunk);
    }

    fn count(&self) -> usize {
        1 + self.rest.len()
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        &self.first
    }

    fn advance(&mut self, mut count: usize) {
        assert!(count <= self.len, "advanced {count} bytes past the {} left", self.len);
        self.len -= count;
        while count > 0 {
            let step = count.min(self.first.len());
            self.first.advance(step);
            count -= step;
            if self.first.is_empty() {
                match self.rest.pop_front() {
                    Some(next) => self.first = next,
                    None => break,
                }
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let chunks = std::iter::once(&self.first).chain(&self.rest).filter(|chunk| !chunk.is_empty());
        let mut filled = 0;
        for (slice, chunk) in slices.iter_mut().zip(chunks) {
            *slice = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;
    use std::collections::VecDeque;

    /// What a body's poll gives.
    type Step = Poll<Option<Result<Frame<Bytes>, &'static str>>>;

    /// A body that gives out its steps in order, one per poll.
    struct Scripted(VecDeque<Step>);

    impl Body for Scripted {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Step {
            self.0.pop_front().unwrap_or(Poll::Ready(None))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn data(text: &'static str) -> Step {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(text.as_bytes())))))
    }

    /// What each poll gave: the data's bytes, "trailers", "error", "pending" or "end".
    fn polls(steps: Vec<Step>) -> Vec<String> {
        let mut body = Batched::new(Scripted(steps.into()));
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut seen = Vec::new();
        loop {
            let polled = Pin::new(&mut body).poll_frame(&mut cx);
            seen.push(match polled {
                Poll::Pending => "pending".to_string(),
                Poll::Ready(None) => "end".to_string(),
                Poll::Ready(Some(Err(_))) => "error".to_string(),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut chunks) => String::from_utf8_lossy(&chunks.copy_to_bytes(chunks.remaining())).into_owned(),
                    Err(_) => "trailers".to_string(),
                },
            });
            if seen.last().is_some_and(|last| last == "end" || last == "error") || seen.len() > 20 {
                return seen;
            }
        }
    }

    #[test]
    fn the_chunks_ready_go_together_and_a_pending_ends_the_batch() {
        let steps = vec![data("a"), data("bc"), Poll::Pending, data("d"), data("")];
        assert_eq!(polls(steps), ["abc", "d", "end"]);
    }

    #[test]
    fn a_batch_holds_at_most_sixteen_chunks() {
        let steps = (0..20).map(|_| data("x")).collect();
        assert_eq!(polls(steps), ["x".repeat(16), "x".repeat(4), "end".to_string()]);
    }

    #[test]
    fn trailers_follow_the_data_before_them() {
        let trailers = Poll::Ready(Some(Ok(Frame::trailers(http::HeaderMap::new()))));
        assert_eq!(polls(vec![data("a"), trailers]), ["a", "trailers", "end"]);
    }

    #[test]
    fn a_failure_waits_for_a_pending_after_data_so_hyper_writes_the_data_first() {
        let failed = Poll::Ready(Some(Err("aborted")));
        assert_eq!(polls(vec![data("a"), failed]), ["a", "pending", "error"]);
        let failed = Poll::Ready(Some(Err("aborted")));
        assert_eq!(polls(vec![data("a"), Poll::Pending, Poll::Pending, failed]), ["a", "pending", "error"]);
        let failed = Poll::Ready(Some(Err("aborted")));
        assert_eq!(polls(vec![failed]), ["error"]);
    }

    #[test]
    fn chunks_advance_across_their_pieces_and_give_each_as_a_slice() {
        let mut chunks = Chunks::new(Bytes::from_static(b"ab"));
        chunks.push(Bytes::from_static(b"cde"));
        chunks.push(Bytes::from_static(b"f"));
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(chunks.chunks_vectored(&mut slices), 3);
        assert_eq!(&*slices[1], b"cde");
        chunks.advance(3);
        assert_eq!((chunks.remaining(), chunks.chunk()), (3, &b"de"[..]));
        let mut slices = [IoSlice::new(&[]); 1];
        assert_eq!(chunks.chunks_vectored(&mut slices), 1);
        chunks.advance(3);
        assert_eq!(chunks.remaining(), 0);
    }
}
