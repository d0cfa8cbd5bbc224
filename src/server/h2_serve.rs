//! HTTP/2 served on the `h2` crate directly, not through hyper.
//!
//! hyper's HTTP/2 server gives the service a request and takes back a response: the stream
//! itself stays inside hyper, so nothing but the final response can be sent on it, and an
//! ASGI app's `103 Early Hints` could not reach an HTTP/2 client (hyperium/hyper#4114).
//! Here each stream's task holds its `SendResponse`, and sends the app's hints on it
//! (`send_informational`) until the final head goes out.
//!
//! The rest is what hyper's glue did:
//! - the settings (`protocol.rs`: our limits, and hyper's windows of 1 MiB per stream and
//!   per connection);
//! - each stream served on its own (a future per stream, polled by the connection's task),
//!   waiting for the answer unless the client resets the stream first (dropping the answer
//!   tells the app the client has gone);
//! - the response head cleaned of HTTP/1.1's connection fields, given a `content-length`
//!   when the body is not empty and its size is known, and a `date`;
//! - the body sent as the client's flow-control window allows (the backpressure of a
//!   streamed download), then its trailers; a reset in the middle drops the body;
//! - a graceful shutdown (GOAWAY, the open streams finish) for `protocol::drive`.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::stream::{FuturesUnordered, StreamExt};
use h2::ext::Protocol;
use h2::server::{Connection, Handshake, SendResponse};
use h2::{Reason, RecvStream, SendStream};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, LINK, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use super::timeouts::TrackedBody;
use crate::http::early_hints::StreamHints;
use crate::http::upgrade::{H2Upgrade, StreamIo};
use crate::http::wire_body::{StreamBody, WireBody};

/// One HTTP/2 connection, served until the client closes it or a graceful shutdown ends.
/// `answer` makes each request's answer (the same as HTTP/1.1's); `S` is `serve_stream`'s
/// future, one per stream in flight.
///
/// The streams are polled here, in the connection's task, rather than each spawned as a task
/// of its own (as hyper does): a stream then costs one allocation (its node in `streams`), not
/// a runtime task's (allocation, registration in the runtime's task list, scheduling), and the
/// answers that are ready when the connection is polled go out in one flush.
pub struct Served<T, F, A, S> {
    state: State<T>,
    answer: F,
    serve: fn(A, SendResponse<Bytes>, Extra) -> S,
    streams: FuturesUnordered<S>,
    /// A shutdown asked for during the handshake, applied once it is done.
    shut_down: bool,
    /// False once the client may open no more streams: what is left is to close.
    accepting: bool,
}

// The connection's state is most of `Served`, which `listen.rs` boxes whole.
#[allow(clippy::large_enum_variant)]
enum State<T> {
    Handshaking(Pin<Box<Handshake<T, Bytes>>>),
    Serving(Connection<T, Bytes>),
}

/// Serves HTTP/2 on `io` (the client's preface not yet read), with `answer` making each
/// request's answer.
pub fn served<T, F, A>(
    io: T,
    builder: &h2::server::Builder,
    answer: F,
) -> Served<T, F, A, impl Future<Output = ()> + Send>
where
    T: AsyncRead + AsyncWrite + Unpin,
    F: Fn(Request<WireBody>) -> A,
    A: Future<Output = Result<Response<TrackedBody>, Infallible>> + Send,
{
    Served {
        state: State::Handshaking(Box::pin(builder.handshake(io))),
        answer,
        serve: serve_stream::<A>,
        streams: FuturesUnordered::new(),
        shut_down: false,
        accepting: true,
    }
}

impl<T, F, A, S> Served<T, F, A, S>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    /// Sends GOAWAY: no new streams, the open ones finish.
    pub fn graceful_shutdown(&mut self) {
        match &mut self.state {
            State::Handshaking(_) => self.shut_down = true,
            State::Serving(connection) => connection.graceful_shutdown(),
        }
    }
}

impl<T, F, A, S> Future for Served<T, F, A, S>
where
    T: AsyncRead + AsyncWrite + Unpin,
    F: Fn(Request<WireBody>) -> A + Unpin,
    S: Future<Output = ()>,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `Unpin`: `streams` keeps its futures pinned in nodes of their own.
        let this = &mut *self;
        loop {
            // The streams first: what their answers queue goes out with the connection's
            // flush below. A stream's end is its own business (nothing comes back from it).
            while let Poll::Ready(Some(())) = this.streams.poll_next_unpin(cx) {}
            match &mut this.state {
                State::Handshaking(handshake) => match std::task::ready!(handshake.as_mut().poll(cx)) {
                    Ok(mut connection) => {
                        if this.shut_down {
                            connection.graceful_shutdown();
                        }
                        this.state = State::Serving(connection);
                    }
                    Err(_) => return Poll::Ready(()),
                },
                State::Serving(connection) if !this.accepting => return connection.poll_closed(cx).map(|_| ()),
                State::Serving(connection) => match std::task::ready!(connection.poll_accept(cx)) {
                    Some(Ok((request, respond))) => {
                        let (mut head, body) = request.into_parts();
                        if head.method == Method::CONNECT && head.extensions.get::<Protocol>().is_some() {
                            // An extended CONNECT (a WebSocket): its stream is the app's once
                            // the answer accepts it.
                            let (upgrade, handed) = H2Upgrade::pair();
                            head.extensions.insert(upgrade);
                            let answer = (this.answer)(Request::from_parts(head, WireBody::Empty));
                            this.streams.push((this.serve)(answer, respond, Extra::Upgrade(handed, body)));
                        } else {
                            let hints = StreamHints::default();
                            head.extensions.insert(hints.clone());
                            let body = WireBody::Http2(StreamBody::new(body, &head.headers));
                            let answer = (this.answer)(Request::from_parts(head, body));
                            this.streams.push((this.serve)(answer, respond, Extra::Hints(hints)));
                        }
                    }
                    Some(Err(_)) => return Poll::Ready(()),
                    None => this.accepting = false,
                },
            }
        }
    }
}

/// What a stream holds besides the answer.
pub enum Extra {
    /// The app's `103 Early Hints`, sent before the final head.
    Hints(StreamHints),
    /// An extended CONNECT's: where its stream goes once accepted, and its receiving half.
    Upgrade(oneshot::Sender<StreamIo>, RecvStream),
}

/// Answers one stream: waits for the answer (unless the client resets the stream first),
/// sending the app's early hints meanwhile, then sends its head and its body. An extended
/// CONNECT's stream goes to the app after a `2xx`, which has no body (RFC 9110 §9.3.6).
async fn serve_stream<A>(answer: A, mut respond: SendResponse<Bytes>, extra: Extra)
where
    A: Future<Output = Result<Response<TrackedBody>, Infallible>>,
{
    tokio::pin!(answer);
    let response = loop {
        tokio::select! {
            // Hints first: one queued before the answer's head goes out before it.
            biased;
            queued = hints(&extra) => {
                for links in queued {
                    send_hint(&mut respond, &links);
                }
            }
            response = &mut answer => break response,
            _ = poll_fn(|cx| respond.poll_reset(cx)) => return,
        }
    };
    let Ok(response) = response;
    let (mut head, body) = response.into_parts();
    match extra {
        Extra::Hints(hints) => {
            for links in hints.take() {
                send_hint(&mut respond, &links);
            }
        }
        Extra::Upgrade(handed, recv) if head.status.is_success() => {
            head.headers.remove(CONTENT_LENGTH);
            clean_head(&mut head.headers, None);
            if let Ok(send) = respond.send_response(Response::from_parts(head, ()), false) {
                let _ = handed.send(StreamIo::new(send, recv));
            }
            return;
        }
        Extra::Upgrade(..) => {}
    }
    let ended = body.is_end_stream();
    clean_head(&mut head.headers, body.size_hint().exact().filter(|_| !ended));
    let Ok(stream) = respond.send_response(Response::from_parts(head, ()), ended) else {
        return;
    };
    if !ended {
        send_body(body, stream).await;
    }
}

/// The early hints queued since the last look, once there are some (never for an extended
/// CONNECT).
async fn hints(extra: &Extra) -> Vec<Vec<HeaderValue>> {
    match extra {
        Extra::Hints(hints) => poll_fn(|cx| hints.poll_queued(cx)).await,
        Extra::Upgrade(..) => std::future::pending().await,
    }
}

/// Sends a `103 Early Hints` with a `link` field per link (a stream already answered or
/// reset takes none: nothing to do).
fn send_hint(respond: &mut SendResponse<Bytes>, links: &[HeaderValue]) {
    let mut hint = Response::new(());
    *hint.status_mut() = StatusCode::from_u16(103).unwrap_or(StatusCode::CONTINUE);
    for link in links {
        hint.headers_mut().append(LINK, link.clone());
    }
    let _ = respond.send_informational(hint);
}

/// What HTTP/2 forbids or needs in a response head (RFC 9113 §8.2.2): no connection-specific
/// fields (nor those `Connection` names); and, as HTTP/1.1 answers carry them, a
/// `content-length` when the body is not empty and its size is known, and a `date`.
fn clean_head(headers: &mut HeaderMap, length: Option<u64>) {
    /// HTTP/1.1's connection-specific fields, which HTTP/2 forbids.
    static CONNECTION_FIELDS: [HeaderName; 6] = [
        CONNECTION,
        TRANSFER_ENCODING,
        UPGRADE,
        TE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ];
    // One look at the names first: an app's head seldom has any of these, and each removal
    // by name is a hash and a probe.
    let (mut forbidden, mut has_length, mut has_date) = (false, false, false);
    for name in headers.keys() {
        if name == CONTENT_LENGTH {
            has_length = true;
        } else if name == DATE {
            has_date = true;
        } else if CONNECTION_FIELDS.contains(name) {
            forbidden = true;
        }
    }
    if forbidden {
        let named: Vec<String> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(',').map(|name| name.trim().to_owned()))
            .filter(|name| !name.is_empty())
            .collect();
        for name in named {
            headers.remove(name.as_str());
        }
        for name in &CONNECTION_FIELDS {
            headers.remove(name);
        }
        // A `Connection` may have named the length or the date.
        has_length = headers.contains_key(CONTENT_LENGTH);
        has_date = headers.contains_key(DATE);
    }
    if let (false, Some(length)) = (has_length, length) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    if !has_date {
        headers.insert(DATE, crate::http::date::now());
    }
}

/// Sends `body`'s frames as the client's window allows; its trailers end the stream. A reset
/// (or a failed body) drops the body where it is.
async fn send_body(mut body: TrackedBody, mut stream: SendStream<Bytes>) {
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = poll_fn(|cx| stream.poll_reset(cx)) => return,
        };
        let frame = match frame {
            None => {
                let _ = stream.send_data(Bytes::new(), true);
                return;
            }
            Some(Err(_)) => {
                stream.send_reset(Reason::INTERNAL_ERROR);
                return;
            }
            Some(Ok(frame)) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                let last = body.is_end_stream();
                if send_data(&mut stream, data, last).await.is_err() || last {
                    return;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    let _ = stream.send_trailers(trailers);
                }
                return;
            }
        }
    }
}

/// Sends `data` in pieces as large as the window allows; `last` ends the stream with it.
async fn send_data(stream: &mut SendStream<Bytes>, mut data: Bytes, last: bool) -> Result<(), h2::Error> {
    if data.is_empty() {
        return if last { stream.send_data(data, true) } else { Ok(()) };
    }
    while data.has_remaining() {
        stream.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(Reason::CANCEL)),
        };
        if granted == 0 {
            continue;
        }
        let piece = data.split_to(granted.min(data.len()));
        stream.send_data(piece, last && data.is_empty())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_loses_its_connection_fields_and_gains_a_length_and_a_date() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-hop"),
            ("keep-alive", "timeout=5"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("te", "trailers"),
            ("proxy-connection", "close"),
            ("x-kept", "yes"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        clean_head(&mut headers, Some(13));
        let mut names: Vec<&str> = headers.keys().map(http::HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-length", "date", "x-kept"]);
        assert_eq!(headers[CONTENT_LENGTH], "13");
    }

    #[test]
    fn each_connection_field_alone_is_found_and_removed() {
        for name in ["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "proxy-connection"] {
            let mut headers = HeaderMap::new();
            headers.insert("x-kept", HeaderValue::from_static("yes"));
            headers.insert(http::HeaderName::from_static(name), HeaderValue::from_static("close"));
            clean_head(&mut headers, None);
            assert!(!headers.contains_key(name), "{name} kept");
            assert!(headers.contains_key("x-kept") && headers.contains_key(DATE), "{name}");
        }
    }

    #[test]
    fn the_app_s_own_length_and_date_stay_and_an_unknown_length_adds_none() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("5"));
        headers.insert(DATE, HeaderValue::from_static("Sun, 06 Dec 2026 00:00:00 GMT"));
        clean_head(&mut headers, Some(13));
        assert_eq!(headers[CONTENT_LENGTH], "5");
        assert_eq!(headers[DATE], "Sun, 06 Dec 2026 00:00:00 GMT");
        let mut headers = HeaderMap::new();
        clean_head(&mut headers, None);
        assert!(!headers.contains_key(CONTENT_LENGTH));
    }
}
