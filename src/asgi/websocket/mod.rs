//! ASGI `websocket` scopes: the tokio half of the handshake and of the open connection.
//!
//! `handle` checks the upgrade request and hands a `Session` to the app through the
//! bridge; the app's first send decides the answer (`101` to accept, `403` for a close,
//! or its own denial response). After a `101`, `pump` takes the upgraded connection and
//! moves frames both ways: from tungstenite into a bounded channel for `receive()`, and from
//! a bounded channel filled by `send()` into tungstenite. Both bounds are backpressure.
//!
//! The loop-side callables are `receive.rs` and `send.rs`.

pub mod receive;
pub mod send;

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming as IncomingBody;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
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
use crate::http::websocket::{accept_key, offered_subprotocols};
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
    request: Request<IncomingBody>,
    connection: Arc<ConnectionInfo>,
    root_path: Arc<str>,
) -> Response<ResponseBody> {
    let (mut head, _body) = request.into_parts();
    let Some(accept_key) = accept_key(&head.headers) else {
        return status::plain(StatusCode::BAD_REQUEST);
    };
    let Some(on_upgrade) = head.extensions.remove::<OnUpgrade>() else {
        return status::plain(StatusCode::BAD_REQUEST);
    };
    let state = RequestState::new();
    let pending = PendingResponse::new(state.clone());
    let (incoming_sender, incoming) = async_channel::bounded(CHANNEL_MESSAGES);
    let (outgoing, outgoing_receiver) = async_channel::bounded(CHANNEL_MESSAGES);
    let session = Session { accept_key, subprotocols: offered_subprotocols(&head.headers), incoming, outgoing };
    let (respond, response) = oneshot::channel();
    let job =
        AsgiJob { head, exchange: Exchange::WebSocket(session), connection, state: state.clone(), respond, root_path };
    bridge.push(LoopEvent::Start(Box::new(job)));
    let Ok(response) = response.await else {
        return status::plain(StatusCode::SERVICE_UNAVAILABLE);
    };
    pending.disarm();
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let config = WebSocketConfig::default()
            .max_message_size(Some(settings.max_message_size))
            .max_frame_size(Some(settings.max_message_size));
        bridge.runtime().spawn(pump(on_upgrade, incoming_sender, outgoing_receiver, state, config));
    }
    response
}

/// Runs an accepted connection until both sides are done with it.
async fn pump(
    on_upgrade: OnUpgrade,
    incoming: async_channel::Sender<Incoming>,
    outgoing: async_channel::Receiver<Message>,
    state: Arc<RequestState>,
    config: WebSocketConfig,
) {
    let Ok(upgraded) = on_upgrade.await else {
        state.mark_disconnected();
        let _ = incoming.send(Incoming::WebSocketDisconnect { code: 1006, reason: String::new() }).await;
        return;
    };
    let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let (mut sink, stream) = socket.split();
    let (control, control_receiver) = async_channel::bounded(1);
    let mut reader = tokio::spawn(read_frames(stream, incoming, control, state.clone()));
    let mut reader_done = false;
    loop {
        let message = tokio::select! {
            // In this order: the reader queues its close frame (1009) before it ends, so
            // that frame must go out before the reader's end is noticed.
            // A closed control channel (the reader ended without a close of its own)
            // disables its branch.
            biased;
            Ok(message) = control_receiver.recv() => message,
            // All senders gone: the app finished without closing, so close normally.
            message = outgoing.recv() => message.unwrap_or_else(|_| close_message(CloseCode::Normal, "")),
            _ = &mut reader => {
                reader_done = true;
                break;
            }
        };
        let closing = matches!(message, Message::Close(_));
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

/// Moves client messages to `receive()`; ends with a `websocket.disconnect`.
async fn read_frames<S>(
    mut stream: S,
    incoming: async_channel::Sender<Incoming>,
    control: async_channel::Sender<Message>,
    state: Arc<RequestState>,
) where
    S: futures::Stream<Item = Result<Message, WsError>> + Unpin,
{
    let (code, reason) = loop {
        let message = match stream.next().await {
            Some(Ok(Message::Text(text))) => Incoming::WebSocketText(text.as_str().to_owned()),
            Some(Ok(Message::Binary(data))) => Incoming::WebSocketBinary(data),
            Some(Ok(Message::Close(frame))) => {
                break frame
                    .map_or((1005, String::new()), |frame| (u16::from(frame.code), frame.reason.as_str().to_owned()));
            }
            // Pings are answered by tungstenite itself; pongs need no answer.
            Some(Ok(_)) => continue,
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                let _ = control.try_send(close_message(CloseCode::Size, "message too big"));
                break (1009, String::new());
            }
            Some(Err(_)) | None => break (1006, String::new()),
        };
        if incoming.send(message).await.is_err() {
            // The app is done receiving; keep reading so the close handshake completes.
            continue;
        }
    };
    state.mark_disconnected();
    let _ = incoming.send(Incoming::WebSocketDisconnect { code, reason }).await;
}

pub fn close_message(code: CloseCode, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}
