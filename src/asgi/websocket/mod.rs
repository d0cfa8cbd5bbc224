//! ASGI `websocket` scopes: the tokio half of the handshake and of the open connection.
//!
//! `handle` checks the opening request and hands a `Session` to the app through the
//! bridge; the app's first send decides the answer (to accept: `101` over HTTP/1.1, `200`
//! over HTTP/2; `403` for a close; or its own denial response). Once accepted, `pump` takes
//! the upgraded connection (over HTTP/2, the request's stream: hyper hands it over as an
//! `Upgraded` as it does a whole HTTP/1.1 connection) and moves frames both ways: from
//! tungstenite into a bounded channel for `receive()`, and from a bounded channel filled by
//! `send()` into tungstenite. Both bounds are backpressure; over HTTP/2 the stream's flow
//! control is too.
//!
//! A stopping server's drain counts every open WebSocket, whichever its HTTP version, until
//! `pump` ends: the answer that opens it (`101` or `200`) carries a `StreamOpen`
//! (`http/websocket.rs`) that the connection holds on to (`server/listen.rs`). An HTTP/2
//! WebSocket is one stream among the connection's others, which must also count it as in
//! flight, or it would think itself idle and send a GOAWAY; an HTTP/1.1 WebSocket has left
//! hyper with its whole connection, and without the hold the drain would end at once and
//! cut it with the runtime. On a stop the connection asks `pump` to close (once what the app
//! already queued has gone out): the client gets `1001` (going away), the app a
//! `websocket.disconnect` with the client's answer, or `1006` when none came within
//! `WEBSOCKET_CLOSE_TIMEOUT`. So the drain waits that long at most for a WebSocket, not the
//! graceful timeout, unless the app never stops sending or the client stops reading (then
//! the graceful timeout bounds it).
//!
//! The loop-side callables are `receive.rs` and `send.rs`.

pub mod receive;
pub mod send;

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::bridge::{Bridge, LoopEvent};
use super::job::{AsgiJob, Exchange, Session};
use super::messages::Incoming;
use crate::connection_info::ConnectionInfo;
use crate::http::connection::{PendingResponse, RequestState};
use crate::http::response_body::ResponseBody;
use crate::http::status;
use crate::http::upgrade::Upgrade;
use crate::http::websocket::{accept_key, is_version_13, offered_subprotocols, OpenUntil, StreamOpen};
use crate::http::wire_body::WireBody;
use crate::http::Head;
use crate::metrics::WebSockets;
use crate::timers::WEBSOCKET_CLOSE_TIMEOUT;

/// Messages that may wait in each direction.
const CHANNEL_MESSAGES: usize = 16;

#[derive(Debug, Clone)]
pub struct WebSocketSettings {
    /// The largest message (and frame) accepted from a client; larger ones close the
    /// connection with 1009.
    pub max_message_size: usize,
}

pub async fn handle(
    bridge: &Arc<Bridge>,
    settings: &WebSocketSettings,
    (request, connection): (Request<WireBody>, Arc<ConnectionInfo>),
    root_path: Arc<str>,
    open: Option<WebSockets>,
) -> Response<ResponseBody> {
    let (mut head, _body) = request.into_parts();
    let http2 = head.version == Version::HTTP_2;
    // Over HTTP/2 there is no key to answer (RFC 8441 §5), only the version to check.
    let accept_key = if http2 {
        if !is_version_13(&head.headers) {
            return status::plain(StatusCode::BAD_REQUEST);
        }
        None
    } else {
        let Some(key) = accept_key(&head.headers) else {
            return status::plain(StatusCode::BAD_REQUEST);
        };
        Some(key)
    };
    let Some(upgrade) = Upgrade::take(&mut head.extensions) else {
        return status::plain(StatusCode::BAD_REQUEST);
    };
    let state = RequestState::new();
    let pending = PendingResponse::new(state.clone());
    let (incoming_sender, incoming) = async_channel::bounded(CHANNEL_MESSAGES);
    let (outgoing, outgoing_receiver) = async_channel::bounded(CHANNEL_MESSAGES);
    let session = Session { accept_key, subprotocols: offered_subprotocols(&head.headers), incoming, outgoing };
    let (respond, response) = oneshot::channel();
    let job = AsgiJob {
        head: Head::new(head),
        exchange: Exchange::WebSocket(session),
        connection,
        state: state.clone(),
        respond,
        root_path,
    };
    bridge.push(LoopEvent::Start(Box::new(job)));
    let Ok(mut response) = response.await else {
        return status::plain(StatusCode::SERVICE_UNAVAILABLE);
    };
    pending.disarm();
    // `send.rs` answers an accept so, and refuses a denial response that would look the same.
    let accepted = response.status() == if http2 { StatusCode::OK } else { StatusCode::SWITCHING_PROTOCOLS };
    if accepted {
        let config = WebSocketConfig::default()
            .max_message_size(Some(settings.max_message_size))
            .max_frame_size(Some(settings.max_message_size));
        let channels = (incoming_sender, outgoing_receiver);
        // For the connection (`server/listen.rs`): see the module's header.
        let (stream_open, open_until) = StreamOpen::pair();
        response.extensions_mut().insert(stream_open);
        bridge.runtime().spawn(pump(upgrade, channels, state, config, (open, open_until)));
    }
    response
}

/// Runs an accepted connection until both sides are done with it.
///
/// After a client's protocol error the connection must be failed with a close frame naming
/// it (1002, 1007 or 1009), but not before the app has answered what came ahead of the bad
/// frame: a client sending a text message and then a bad frame in one write gets the echo
/// of the message first, then the close. So the close waits until the app has taken the
/// `websocket.disconnect` from `receive()` (whatever it sent before asking is queued ahead
/// of it), or finished, or sent its own close, or `WEBSOCKET_CLOSE_TIMEOUT` passed.
async fn pump(
    upgrade: Upgrade,
    (incoming, outgoing): (async_channel::Sender<Incoming>, async_channel::Receiver<Message>),
    state: Arc<RequestState>,
    config: WebSocketConfig,
    // `open_until` is dropped with this task: the connection then stops counting the
    // WebSocket as open (see the module's header).
    (open, open_until): (Option<WebSockets>, OpenUntil),
) {
    let channels = (incoming, outgoing);
    match upgrade {
        Upgrade::Http1(upgrade) => {
            if let Ok(upgraded) = upgrade.await {
                return open_on(TokioIo::new(upgraded), config, channels, state, (open, open_until)).await;
            }
        }
        Upgrade::Http2(stream) => {
            if let Ok(stream) = stream.await {
                return open_on(stream, config, channels, state, (open, open_until)).await;
            }
        }
    }
    // The client left before its connection was handed over.
    state.mark_disconnected();
    let _ = channels.0.send(Incoming::WebSocketDisconnect { code: 1006, reason: String::new() }).await;
}

/// Runs the WebSocket on its connection: the HTTP/1.1 connection, or the HTTP/2 stream.
async fn open_on<S>(
    socket: S,
    config: WebSocketConfig,
    channels: (async_channel::Sender<Incoming>, async_channel::Receiver<Message>),
    state: Arc<RequestState>,
    (open, open_until): (Option<WebSockets>, OpenUntil),
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Counted open (`--admin-bind`) until this task ends.
    let _open = open.as_ref().map(WebSockets::open);
    let socket = WebSocketStream::from_raw_socket(socket, Role::Server, Some(config)).await;
    exchange(socket, channels, state, open_until).await;
}

/// The open WebSocket's part of `pump`, on any socket.
async fn exchange<S>(
    socket: WebSocketStream<S>,
    (incoming, outgoing): (async_channel::Sender<Incoming>, async_channel::Receiver<Message>),
    state: Arc<RequestState>,
    open_until: OpenUntil,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, stream) = socket.split();
    // The reader hands over the close frame failing the connection before the app can hear
    // of it: an app that answers the disconnect with a close (or ends) at once must still
    // find the failure here, though the reader task's end may not have been seen yet.
    let (failed, mut failure_handed) = oneshot::channel();
    let mut reader = tokio::spawn(read_frames(stream, incoming, failed, state.clone()));
    let mut reader_done = false;
    // The close frame failing the connection, and when it is due at the latest.
    let mut failure: Option<(Message, Instant)> = None;
    // The close frame is the app's own: whatever it queued after it never goes out.
    let mut app_closed = false;
    loop {
        let deadline = failure.as_ref().map(|(_, deadline)| *deadline);
        let message = tokio::select! {
            // In this order: what the app queued goes out before the failure's close frame.
            biased;
            message = outgoing.recv() => match message {
                // The app's own close after a protocol error: the error's code wins.
                Ok(Message::Close(close)) => {
                    app_closed = true;
                    take_failure(&mut failure, &mut failure_handed).unwrap_or(Message::Close(close))
                }
                Ok(message) => message,
                // All senders gone: the app finished without closing.
                Err(_) => take_failure(&mut failure, &mut failure_handed)
                    .unwrap_or_else(|| close_message(CloseCode::Normal, "")),
            },
            ended = &mut reader, if !reader_done => {
                reader_done = true;
                match ended {
                    Ok(Some(close)) => {
                        failure = Some((close, Instant::now() + WEBSOCKET_CLOSE_TIMEOUT));
                        continue;
                    }
                    // The client closed or vanished: nothing more to send.
                    _ => break,
                }
            }
            // The server is stopping (the connection asks, see the module's header); only once
            // what the app queued has gone out (`biased`).
            () = open_until.going_away() => close_message(CloseCode::Away, "server shutting down"),
            // The app has been told (`receive.rs` marks it), and has nothing queued.
            () = state.disconnected(), if failure.is_some() => match failure.take() {
                Some((close, _)) => close,
                None => continue,
            },
            () = sleep_until_some(deadline), if failure.is_some() => match failure.take() {
                Some((close, _)) => close,
                None => continue,
            },
        };
        let closing = matches!(message, Message::Close(_));
        if closing {
            // From here on `send()` raises: nothing more can reach the client. Closing the
            // channel is what makes that exact: a `send()` on the app's thread either got
            // its message in before (it goes out below, ahead of the close frame) or fails.
            outgoing.close();
            state.mark_disconnected();
            if !app_closed && !send_queued(&mut sink, &outgoing).await {
                break;
            }
        }
        if sink.send(message).await.is_err() {
            state.mark_disconnected();
            break;
        }
        if closing {
            break;
        }
    }
    if !reader_done {
        // Give the client time to answer our close frame (the reader then ends).
        let _ = tokio::time::timeout(WEBSOCKET_CLOSE_TIMEOUT, &mut reader).await;
        reader.abort();
    }
    let _ = sink.close().await;
}

/// Sends what the app queued before the channel closed, up to a close frame of its own if
/// one comes (what follows that was never to go out). False if the client is gone.
async fn send_queued<S>(sink: &mut S, outgoing: &async_channel::Receiver<Message>) -> bool
where
    S: futures::Sink<Message> + Unpin,
{
    while let Ok(message) = outgoing.try_recv() {
        if matches!(message, Message::Close(_)) {
            break;
        }
        if sink.send(message).await.is_err() {
            return false;
        }
    }
    true
}

/// The failure's close frame, whether the reader's end was seen or it was only handed over.
fn take_failure(failure: &mut Option<(Message, Instant)>, handed: &mut oneshot::Receiver<Message>) -> Option<Message> {
    failure.take().map(|(close, _)| close).or_else(|| handed.try_recv().ok())
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Moves client messages to `receive()`; ends with a `websocket.disconnect`. Returns the
/// close frame that fails the connection after a protocol error (the disconnect carries its
/// code, and `receive.rs` marks the state disconnected when the app takes it), or None when
/// the client closed or vanished.
async fn read_frames<S>(
    mut stream: S,
    incoming: async_channel::Sender<Incoming>,
    failed: oneshot::Sender<Message>,
    state: Arc<RequestState>,
) -> Option<Message>
where
    S: futures::Stream<Item = Result<Message, WsError>> + Unpin,
{
    let (code, reason, failure) = loop {
        let message = match stream.next().await {
            Some(Ok(Message::Text(text))) => Incoming::WebSocketText(text.as_str().to_owned()),
            Some(Ok(Message::Binary(data))) => Incoming::WebSocketBinary(data),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map_or((1005, String::new()), |frame| (u16::from(frame.code), frame.reason.as_str().to_owned()));
                break (code, reason, None);
            }
            // Pings are answered by tungstenite itself; pongs need no answer.
            Some(Ok(_)) => continue,
            Some(Err(error)) => match failure_code(&error) {
                Some((code, reason)) => break (u16::from(code), String::new(), Some(close_message(code, reason))),
                None => break (1006, String::new(), None),
            },
            None => break (1006, String::new(), None),
        };
        if incoming.send(message).await.is_err() {
            // The app is done receiving; keep reading so the close handshake completes.
            continue;
        }
    };
    match &failure {
        // Handed over before the app hears of the disconnect (see `pump`).
        Some(close) => {
            let _ = failed.send(close.clone());
        }
        None => state.mark_disconnected(),
    }
    let _ = incoming.send(Incoming::WebSocketDisconnect { code, reason }).await;
    failure
}

/// The close code (and reason) that fails the connection after a read error, per RFC 6455
/// section 7.4.1; None when the client is gone and there is no one to tell.
fn failure_code(error: &WsError) -> Option<(CloseCode, &'static str)> {
    match error {
        WsError::Capacity(_) => Some((CloseCode::Size, "message too big")),
        WsError::Utf8(_) => Some((CloseCode::Invalid, "invalid UTF-8")),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((CloseCode::Protocol, "protocol error")),
        _ => None,
    }
}

pub fn close_message(code: CloseCode, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A server-side `exchange` on one end of an in-memory socket, and a client on the other.
    async fn open() -> (WebSocketStream<tokio::io::DuplexStream>, async_channel::Sender<Message>, StreamOpen) {
        let (server, client) = tokio::io::duplex(64 * 1024);
        let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let (incoming, _received) = async_channel::bounded(8);
        let (outgoing_sender, outgoing) = async_channel::bounded(8);
        let (stream_open, open_until) = StreamOpen::pair();
        tokio::spawn(exchange(server, (incoming, outgoing), RequestState::new(), open_until));
        (client, outgoing_sender, stream_open)
    }

    async fn next(client: &mut WebSocketStream<tokio::io::DuplexStream>) -> Message {
        tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("a frame in time")
            .expect("a frame")
            .expect("a valid frame")
    }

    #[tokio::test]
    async fn a_stop_sends_what_the_app_queued_then_the_close_and_refuses_what_comes_after() {
        let (mut client, app, stream_open) = open().await;
        app.try_send(Message::text("a")).expect("queued");
        app.try_send(Message::text("b")).expect("queued");
        stream_open.go_away();
        assert_eq!(next(&mut client).await, Message::text("a"));
        assert_eq!(next(&mut client).await, Message::text("b"));
        let Message::Close(Some(frame)) = next(&mut client).await else { panic!("a close frame") };
        assert_eq!(frame.code, CloseCode::Away);
        // The client has not answered the close: the exchange is still waiting for it, and a
        // `send()` now must fail rather than queue a message that never goes out.
        assert!(matches!(app.try_send(Message::text("late")), Err(async_channel::TrySendError::Closed(_))));
    }

    #[tokio::test]
    async fn what_the_app_queued_after_its_own_close_never_goes_out() {
        let (mut client, app, _stream_open) = open().await;
        app.try_send(Message::text("a")).expect("queued");
        app.try_send(close_message(CloseCode::Normal, "bye")).expect("queued");
        app.try_send(Message::text("after the close")).expect("queued");
        assert_eq!(next(&mut client).await, Message::text("a"));
        let Message::Close(Some(frame)) = next(&mut client).await else { panic!("a close frame") };
        assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::Normal, "bye"));
    }
}
