//! A response body that passes its frames on unchanged while keeping a copy of their data, up
//! to a cap, and hands that copy to a callback when it is dropped: shadow traffic
//! (`server/shadow.rs`) compares the answer a client got with another app's.
//!
//! Nothing about the body changes for the client: every frame, the size hint and the end of
//! the stream are the inner body's, and the copy costs a reference count per frame (`Bytes`
//! clones share their buffer). The callback runs on drop, which hyper does once it is done
//! with the body: after the last frame went out, or when the client left.
//!
//! What the callback learns (`TeeEnd`): the data (None when it passed the cap: only that
//! much is ever held), and whether the body was sent to its end: it said so, or as many
//! bytes passed as its `Content-Length` announced (hyper stops polling a body once that
//! many went out, without waiting for its end). A body that is not expected
//! (the answer to `HEAD`, a `204` or `304`, whose body hyper never polls) counts as sent
//! once hyper drops it. A copy may also be given up front (`Tee::copied`): a body already
//! whole in memory is kept before compression, and the tee only waits for the end.
//!
//! What to do with the copy, and on which runtime, is the callback's business.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::frames::Frames;

/// How a teed body ended.
pub struct TeeEnd {
    /// Its data, joined; None when it passed the cap.
    pub data: Option<Bytes>,
    /// It was sent to its end (or none was expected); false when it failed or the client left.
    pub complete: bool,
}

/// Called once, when the tee is dropped.
pub type OnEnd = Box<dyn FnOnce(TeeEnd) + Send>;

pub struct Tee<B: Body> {
    inner: B,
    /// The copy so far (None once past the cap).
    copy: Option<Frames>,
    /// Copying frames as they pass (false when the copy was given up front).
    copying: bool,
    cap: usize,
    ended: bool,
    failed: bool,
    /// A body is expected (not the answer to HEAD, nor a 204 or 304).
    expects_body: bool,
    /// The length its answer announced (`Content-Length`), and the bytes passed so far.
    length: Option<u64>,
    sent: u64,
    on_end: Option<OnEnd>,
}

impl<B: Body> Tee<B> {
    /// Copies `inner`'s data as it passes, up to `cap` bytes.
    pub fn copying(inner: B, cap: usize, expects_body: bool, on_end: OnEnd) -> Self {
        let copy = Some(Frames::default());
        Self {
            inner,
            copy,
            copying: true,
            cap,
            ended: false,
            failed: false,
            expects_body,
            length: None,
            sent: 0,
            on_end: Some(on_end),
        }
    }

    /// Passes `inner` on with a copy of its data taken before (None: past the cap).
    pub fn copied(inner: B, copy: Option<Bytes>, expects_body: bool, on_end: OnEnd) -> Self {
        let copy = copy.map(Frames::from);
        Self {
            inner,
            copy,
            copying: false,
            cap: usize::MAX,
            ended: false,
            failed: false,
            expects_body,
            length: None,
            sent: 0,
            on_end: Some(on_end),
        }
    }

    /// The body is complete once `length` bytes passed (its answer's `Content-Length`).
    pub fn announced(mut self, length: Option<u64>) -> Self {
        self.length = length;
        self
    }

    fn keep(&mut self, data: &Bytes) {
        self.sent += data.len() as u64;
        if !self.copying {
            return;
        }
        if let Some(copy) = &mut self.copy {
            if copy.len().saturating_add(data.len()) > self.cap {
                self.copy = None;
            } else {
                copy.push(data.clone());
            }
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tee<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.keep(data);
                }
            }
            Poll::Ready(Some(Err(_))) => this.failed = true,
            Poll::Ready(None) => this.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body> Drop for Tee<B> {
    fn drop(&mut self) {
        let Some(on_end) = self.on_end.take() else {
            return;
        };
        let whole = self.length.is_some_and(|length| length == self.sent);
        let complete = !self.failed && (self.ended || whole || self.inner.is_end_stream() || !self.expects_body);
        on_end(TeeEnd { data: self.copy.take().map(Frames::into_bytes), complete });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use std::convert::Infallible;

    use http_body_util::{BodyExt, Empty, StreamBody};

    use super::*;

    type Seen = Arc<Mutex<Option<(Option<Bytes>, bool)>>>;

    fn recorder() -> (Seen, OnEnd) {
        let seen: Seen = Arc::default();
        let into = seen.clone();
        let on_end: OnEnd = Box::new(move |end: TeeEnd| {
            if let Ok(mut slot) = into.lock() {
                *slot = Some((end.data, end.complete));
            }
        });
        (seen, on_end)
    }

    type Chunks = StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

    fn channel(chunks: &[&'static str]) -> Chunks {
        let frames =
            chunks.iter().map(|chunk| Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))).collect::<Vec<_>>();
        StreamBody::new(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn the_client_gets_every_frame_and_the_callback_the_copy() {
        let (seen, on_end) = recorder();
        let tee = Tee::copying(channel(&["ab", "cd"]), 10, true, on_end);
        let sent = tee.collect().await.map(|body| body.to_bytes()).ok();
        assert_eq!(sent, Some(Bytes::from_static(b"abcd")));
        assert_eq!(seen.lock().ok().and_then(|seen| seen.clone()), Some((Some(Bytes::from_static(b"abcd")), true)));
    }

    #[tokio::test]
    async fn past_the_cap_the_copy_is_dropped_but_not_the_body() {
        let (seen, on_end) = recorder();
        let tee = Tee::copying(channel(&["abc", "def"]), 4, true, on_end);
        let sent = tee.collect().await.map(|body| body.to_bytes()).ok();
        assert_eq!(sent, Some(Bytes::from_static(b"abcdef")));
        assert_eq!(seen.lock().ok().and_then(|seen| seen.clone()), Some((None, true)));
    }

    #[tokio::test]
    async fn a_body_is_complete_once_its_announced_length_passed() {
        let (seen, on_end) = recorder();
        let mut tee = Tee::copying(channel(&["ab", "cd"]), 10, true, on_end).announced(Some(2));
        // hyper takes one frame of the announced length, and drops the body.
        assert!(tee.frame().await.is_some());
        drop(tee);
        assert_eq!(seen.lock().ok().and_then(|seen| seen.clone()), Some((Some(Bytes::from_static(b"ab")), true)));
    }

    #[test]
    fn a_body_dropped_unsent_is_incomplete_unless_none_was_expected() {
        let (seen, on_end) = recorder();
        drop(Tee::copying(channel(&["ab"]), 10, true, on_end));
        assert_eq!(seen.lock().ok().and_then(|seen| seen.clone()).map(|seen| seen.1), Some(false));
        let (seen, on_end) = recorder();
        drop(Tee::copied(Empty::<Bytes>::new(), Some(Bytes::new()), false, on_end));
        assert_eq!(seen.lock().ok().and_then(|seen| seen.clone()).map(|seen| seen.1), Some(true));
    }
}
