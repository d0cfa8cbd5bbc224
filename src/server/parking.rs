//! Idle HTTP/1.1 connections let go of hyper's state. hyper keeps a read and a write buffer
//! (8 KiB each, a page or more of each written once a request has been served) for as long
//! as a connection lives, and has no setting to free them between requests. So a connection
//! that has waited `IDLE_PARK` for its next request is *parked*, as nginx frees an idle
//! keep-alive connection's buffers: its hyper connection ends, and the socket waits for the
//! next bytes alone. When they come, a new hyper connection serves them.
//!
//! How: `TimedIo` (`timeouts.rs`) ends the read hyper waits on, as it does when the
//! keep-alive time is up (an end of stream, which hyper takes as a clean close of an idle
//! connection), and marks the connection parked (`Activity::is_parked`). hyper then drops
//! its connection, and with it the socket lent to it (`Lent`), which comes back here rather
//! than being closed (its shutdown is skipped too). The wait for the next bytes reads them
//! into the socket's prefix (`Prefixed`), which the new hyper connection reads first; the
//! keep-alive timer still runs from the last response, and the header timer from the first
//! byte, as before, and a stop gives the client `LAST_REQUEST_GRACE` to begin a request, as
//! hyper's driver does (`protocol.rs`).
//!
//! What hyper let go of is given back to the kernel by each I/O thread as it next goes idle,
//! at most every `GIVE_BACK_EVERY` (`allocator::give_back_if_freed`): mimalloc would
//! otherwise keep it until it next works there. So that what is let go of just after a thread
//! gave back does not wait for its next request, the threads are woken once more
//! `GIVE_BACK_EVERY` later (`wake_to_give_back`).
//!
//! Only a connection with nothing of a next request read parks (`FramingWatch` tells, by
//! `Activity::set_head_begun`): hyper would lose a head it holds part of. HTTP/2
//! connections, and upgraded ones, never park.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use super::allocator;
use super::batched_body::Batched;
use super::hint_writer::HintWriter;
use super::protocol::{self, wait_for_bytes};
use super::proxy_protocol::Prefixed;
use super::timeouts::{Activity, TrackedBody};
use crate::http::early_hints::EarlyHints;
use crate::sync::lock;
use crate::timers::GIVE_BACK_EVERY;

/// How much a parked connection reads at once when its next bytes come (most heads fit).
const WAKING_READ: usize = 1024;

/// Serves HTTP/1.1 on `io` with `handler` until the connection ends, parking it whenever it
/// has waited `IDLE_PARK` for a request (see the module's header); `hints` are the apps'
/// `103 Early Hints`, written between hyper's writes (`hint_writer.rs`).
pub async fn serve<T, S>(
    mut io: Prefixed<T>,
    http1: &http1::Builder,
    (handler, hints): (&S, &EarlyHints),
    activity: &Arc<Activity>,
    stop: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<Batched<TrackedBody>>, Error = Infallible>,
{
    loop {
        let home = Arc::new(Mutex::new(None));
        {
            let lent = Lent { io: Some(io), home: home.clone(), activity: activity.clone() };
            // Boxed, as the wait below: a parked connection's task keeps only their pointers' room.
            let mut served = Box::pin(
                http1.serve_connection(TokioIo::new(HintWriter::new(lent, hints.clone())), handler).with_upgrades(),
            );
            protocol::drive(served.as_mut(), |served| served.graceful_shutdown(), activity, stop.clone()).await;
        } // hyper's connection is dropped here, and the socket comes home if it parked.
        let parked = lock(&home).take();
        drop(home);
        let Some(back) = parked else {
            return; // Closed, not parked.
        };
        io = *back;
        allocator::note_freed();
        wake_to_give_back();
        let woken =
            wait_for_bytes(&mut io, WAKING_READ, activity, stop.clone(), |prefix| (!prefix.is_empty()).then_some(()));
        if Box::pin(woken).await.is_none() {
            return; // The client closed, its keep-alive time ran out, or the server stops.
        }
    }
}

/// Set while a task that wakes the I/O threads to give freed pages back is on its way.
static WAKING: AtomicBool = AtomicBool::new(false);

/// Wakes the I/O threads `GIVE_BACK_EVERY` from now (unless a wake is on its way), so that
/// each gives back what parked connections freed meanwhile (`allocator::give_back_if_freed`,
/// which also runs whenever a thread goes idle). tokio cannot run a task on a chosen
/// thread: one task per thread, each yielding a few times, keeps work queued long enough
/// that idle threads are woken to take some. Measured (`bench/connection_memory.py`'s idle
/// connections past the park, with `--io-threads`): 5.4 KiB each with two threads (9.5 when
/// only the timer's thread gave back), 7.1 with eight.
fn wake_to_give_back() {
    if WAKING.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async {
        tokio::time::sleep(GIVE_BACK_EVERY).await;
        WAKING.store(false, Ordering::Release);
        for _ in 0..tokio::runtime::Handle::current().metrics().num_workers() {
            tokio::spawn(async {
                for _ in 0..4 {
                    allocator::give_back_if_freed();
                    tokio::task::yield_now().await;
                }
            });
        }
    });
}

/// The socket as lent to one hyper connection: back `home` when hyper drops it after the
/// connection parked, else closed as usual.
struct Lent<T> {
    /// Always there until dropped.
    io: Option<Prefixed<T>>,
    /// Boxed there: until it parks, the slot is all a connection pays for it.
    home: Arc<Mutex<Option<Box<Prefixed<T>>>>>,
    activity: Arc<Activity>,
}

impl<T> Lent<T> {
    fn io(&mut self) -> io::Result<Pin<&mut Prefixed<T>>>
    where
        T: Unpin,
    {
        self.io.as_mut().map(Pin::new).ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl<T> Drop for Lent<T> {
    fn drop(&mut self) {
        if self.activity.is_parked() {
            if let Some(io) = self.io.take() {
                *lock(&self.home) = Some(Box::new(io));
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Lent<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.io()?.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Lent<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.io()?.poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io()?.poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.activity.is_parked() {
            return Poll::Ready(Ok(())); // The socket stays open, for the next hyper connection.
        }
        self.io()?.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io()?.poll_write_vectored(cx, data)
    }
}
