//! `GET /api/v1/events`: the event stream over WebSocket.
//!
//! The request is authenticated (bearer header or `?token=`, viewer role) and its
//! filter checked before the upgrade, so a refusal is an ordinary problem+json
//! answer: 401, 403 (`raw` without the admin role), 422 (a bad parameter), or 426
//! when the request is not a WebSocket upgrade.
//!
//! On the socket every frame is one JSON text message: first
//! `{"type":"subscribed",…}`, then (with `since`) a `gap` if the replay ring no
//! longer holds what was asked for, the replayed events, then live events, with
//! `{"type":"lagged","dropped":N}` where this subscriber lost events by reading too
//! slowly. Client messages are `subscribe` ops (see [`crate::service::stream`]).
//!
//! Each socket reads its subscription from its own position in the queue its
//! filter shares (see the event hub), so a slow or stalled client costs
//! no one else anything. Events go out as text frames encoded here, straight from
//! that queue and side by side in one buffer, and are written to the connection
//! directly: every subscriber gets the same bytes, so going through
//! tungstenite frame by frame (a message, a payload, a copy each) would cost the
//! daemon its busiest path for nothing. tungstenite handles everything else: the
//! handshake, client messages, pings, pongs and the close. The server
//! pings every `events.ping_interval_ms`; a client from which nothing arrived for
//! `events.idle_timeout_ms`, or which does not take a write within that time, is
//! closed (1008). Shutdown closes every socket with 1001. Binary messages are
//! refused with 1003, messages over 64 KiB with 1009.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_tungstenite::HyperWebsocketStream as Socket;
use hyper_tungstenite::tungstenite::protocol::frame::FrameHeader;
use hyper_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use hyper_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use hyper_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, MissedTickBehavior};
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, PROBLEM_JSON, Problem};
use super::extract::{Query, authenticate};
use crate::metrics::{self, WriteTally};
use crate::model::{FieldErrors, Role};
use crate::service::stream::{self, FilterError, Notice};
use crate::service::stream::{Delivery, Filter, Subscription, Timing};
use crate::service::tokens::Caller;

/// Frames written per flush at most, so a large backlog still lets the loop look
/// at pings, client messages and shutdown in between.
const BATCH: usize = 256;
/// Client messages are small `subscribe` ops.
const READ_BUFFER: usize = 4 * 1024;
/// Largest client message accepted.
const MAX_MESSAGE: usize = 64 * 1024;
/// How long a closing socket waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_UNSUPPORTED: u16 = 1003;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;

/// `GET /api/v1/events` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated event types: contact_status, hangup, call, apply, asterisk,
    /// drift, trunk_status, presence, raw and security (both admin only).
    /// Default: all but raw and security.
    #[param(example = "contact_status,hangup")]
    pub types: Option<String>,
    /// Comma-separated endpoints; events about other endpoints are left out.
    #[param(example = "1001,1002")]
    pub endpoints: Option<String>,
    /// Replay the events after this sequence number that the ring still holds.
    pub since: Option<u64>,
    /// The bearer token, for clients that cannot set headers (browsers).
    pub token: Option<String>,
}

/// A caller of the event stream: a bearer token in the header or in `?token=`.
pub struct StreamCaller(pub Caller);

impl FromRequestParts<AppState> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state, Role::Viewer, true)
            .await
            .map(StreamCaller)
    }
}

#[utoipa::path(operation_id = "event_stream", get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    description = "A WebSocket (send `Upgrade: websocket`). Frames are JSON text: `{\"type\":\"subscribed\",\"types\":…,\"endpoints\":…}` first, \
then events `{\"seq\",\"time\",\"node\",\"type\",\"data\"}`, `{\"type\":\"gap\",\"from\":A,\"to\":B}` when `since` is older than the replay ring, \
`{\"type\":\"lagged\",\"dropped\":N}` when this subscriber read too slowly, and `{\"type\":\"error\",\"message\":…}` for a refused client message. \
Send `{\"op\":\"subscribe\",\"types\":[…],\"endpoints\":[…]}` to replace the filter. Close codes: 1001 shutdown, 1003 binary message, \
1008 idle or unresponsive client, 1009 message too large.",
    responses((status = 101, description = "Switching protocols: the event stream"),
        (status = 401, body = Problem), (status = 403, body = Problem, description = "`raw` and `security` need the admin role"),
        (status = 422, body = Problem), (status = 426, body = Problem, description = "Not a WebSocket upgrade")))]
pub async fn stream(
    State(state): State<AppState>,
    StreamCaller(caller): StreamCaller,
    Query(query): Query<EventsQuery>,
    mut request: Request,
) -> Result<Response, ApiError> {
    let types = stream::split_list(query.types.as_deref());
    let endpoints = stream::split_list(query.endpoints.as_deref());
    let filter = stream::build_filter(caller.role, types.as_deref(), endpoints.as_deref(), false)
        .map_err(|e| match e {
        FilterError::Invalid(errors) => ApiError::Validation(errors),
        FilterError::AdminOnly => ApiError::Forbidden(Role::Admin),
    })?;
    if !hyper_tungstenite::is_upgrade_request(&request) {
        return Ok(upgrade_required(
            "the request has no `Connection: upgrade` and `Upgrade: websocket`",
        ));
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let (response, upgraded) = match hyper_tungstenite::upgrade(&mut request, Some(config)) {
        Ok(upgrade) => upgrade,
        Err(error) => return Ok(upgrade_required(&error.to_string())),
    };
    let streams = state.services.streams().clone();
    let timing = streams.timing();
    let since = query.since;
    streams.clone().spawn(async move {
        let socket = match upgraded.await {
            Ok(socket) => socket,
            Err(error) => {
                tracing::debug!(%error, "event stream upgrade failed");
                return;
            }
        };
        // Subscribing here, not before the upgrade, keeps a failed handshake from
        // ever holding a queue.
        let subscription = streams.subscribe(filter.clone(), since);
        let session = Session {
            subscription,
            role: caller.role,
            timing,
            filter,
        };
        session.run(socket).await;
    });
    Ok(response.map(Body::new))
}

fn upgrade_required(detail: &str) -> Response {
    let problem = Problem {
        kind: "urn:rayan:problem:upgrade-required".into(),
        title: "WebSocket upgrade required".into(),
        status: StatusCode::UPGRADE_REQUIRED.as_u16(),
        detail: format!("connect with a WebSocket client: {detail}"),
        errors: FieldErrors::new().0,
    };
    let mut response = (StatusCode::UPGRADE_REQUIRED, axum::Json(problem)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    response
}

struct Session {
    subscription: Subscription,
    role: Role,
    timing: Timing,
    filter: Filter,
}

/// Why a session ends.
enum End {
    /// Close with this code and reason, then wait briefly for the client's close.
    Close(u16, Cow<'static, str>),
    /// The client closed, went away, or cannot take writes: nothing more to send.
    Gone,
}

fn text(frame: Cow<'_, str>) -> Message {
    Message::Text(Utf8Bytes::from(frame.into_owned()))
}

/// What one write sends: messages through tungstenite (then flushed; none is an
/// empty flush), or event frames encoded into a [`Batch`].
enum Outgoing<'a> {
    Messages(Vec<Message>),
    Frames(&'a [u8]),
}

/// The event frames of one write, encoded as they leave the queue: text frames
/// (final, unmasked, as a server sends them) one after the other in one buffer,
/// with what the metrics need once the socket took them.
#[derive(Default)]
struct Batch {
    wire: Vec<u8>,
    /// The previous write's length: the next buffer is allocated at that size once,
    /// rather than grown frame by frame or kept between writes by every subscriber.
    last_length: usize,
    deliveries: usize,
    /// Each event's type index and when it was read from Asterisk.
    events: Vec<(usize, std::time::Instant)>,
    lagged: u64,
}

impl Batch {
    fn push(&mut self, delivery: &Delivery) {
        const LONGEST_HEADER: usize = 10;
        let text = delivery.to_json();
        if self.wire.capacity() == 0 {
            self.wire.reserve(self.last_length);
        }
        self.wire.reserve(LONGEST_HEADER + text.len());
        let header = FrameHeader {
            opcode: OpCode::Data(Data::Text),
            ..FrameHeader::default()
        };
        // Formatting into a Vec cannot fail: it never refuses bytes.
        let _ = header.format(text.len() as u64, &mut self.wire);
        self.wire.extend_from_slice(text.as_bytes());
        self.deliveries += 1;
        match delivery {
            Delivery::Event(event) => self.events.push((event.kind.index(), event.received())),
            Delivery::Lagged { dropped } => self.lagged += dropped,
            Delivery::Gap { .. } => {}
        }
    }

    fn is_empty(&self) -> bool {
        self.deliveries == 0
    }

    /// Records the write once the socket took it: each event's delivery latency and
    /// type, and the events its `lagged` frames reported lost. Then empties the batch.
    fn record_and_clear(&mut self) {
        let written = std::time::Instant::now();
        let mut tally = WriteTally::default();
        for &(kind, received) in &self.events {
            tally.event(kind, written.saturating_duration_since(received));
        }
        tally.lagged(self.lagged);
        metrics::record_write(&tally);
        self.last_length = self.wire.len();
        self.wire = Vec::new();
        self.events.clear();
        self.deliveries = 0;
        self.lagged = 0;
    }
}

/// Counts a connected subscriber for as long as it lives, however its session ends.
struct Counted;

impl Counted {
    fn new() -> Self {
        metrics::websocket_subscriber_joined();
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::websocket_subscriber_left();
    }
}

/// What woke a session up.
enum Wake {
    Delivery(Option<Delivery>),
    Incoming(Option<Result<Message, WsError>>),
    Ping,
}

impl Session {
    async fn run(mut self, mut socket: Socket) {
        let _counted = Counted::new();
        self.converse(&mut socket).await;
    }

    async fn converse(&mut self, socket: &mut Socket) {
        let idle_after = self.timing.idle_after;
        let hello = Notice::subscribed(&self.filter).to_json();
        let end = match write(
            socket,
            Outgoing::Messages(vec![text(hello.into())]),
            idle_after,
        )
        .await
        {
            Ok(()) => self.serve(socket).await,
            Err(end) => end,
        };
        if let End::Close(code, reason) = end {
            let close = Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: Utf8Bytes::from(reason.as_ref()),
            }));
            if write(socket, Outgoing::Messages(vec![close]), CLOSE_GRACE)
                .await
                .is_ok()
            {
                // The close handshake: the client answers with its own close frame.
                let _ = tokio::time::timeout(CLOSE_GRACE, async {
                    while let Some(Ok(_)) = socket.next().await {}
                })
                .await;
            }
        }
    }

    async fn serve(&mut self, socket: &mut Socket) -> End {
        let Timing {
            ping_every,
            idle_after,
            write_delay,
        } = self.timing;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut next_flush = Instant::now();
        let mut batch = Batch::default();
        loop {
            // Right after a flush that emptied the queue, events are only looked at again
            // once `write_delay` has passed: what arrives meanwhile waits in the queue
            // without waking anyone. A backlog is written without pause.
            let subscription = &mut self.subscription;
            let wake = tokio::select! {
                delivery = async {
                    subscription.gather_until(next_flush).await;
                    subscription.next().await
                } => Wake::Delivery(delivery),
                message = socket.next() => Wake::Incoming(message),
                _ = ping.tick() => Wake::Ping,
            };
            let outgoing = match wake {
                Wake::Delivery(Some(first)) => {
                    batch.push(&first);
                    self.subscription
                        .drain_each(BATCH - 1, |delivery| batch.push(delivery));
                    next_flush = if batch.deliveries < BATCH {
                        Instant::now() + write_delay
                    } else {
                        Instant::now()
                    };
                    Outgoing::Frames(&batch.wire)
                }
                Wake::Delivery(None) => {
                    return End::Close(CLOSE_GOING_AWAY, "rayand is shutting down".into());
                }
                Wake::Incoming(message) => {
                    last_heard = Instant::now();
                    match message {
                        Some(Ok(Message::Text(op))) => Outgoing::Messages(vec![self.apply_op(&op)]),
                        Some(Ok(Message::Binary(_))) => {
                            return End::Close(
                                CLOSE_UNSUPPORTED,
                                "only JSON text messages are accepted".into(),
                            );
                        }
                        // tungstenite queued the pong; it goes out now, so that it never
                        // waits in tungstenite's buffer while frames are written directly.
                        Some(Ok(Message::Ping(_))) => Outgoing::Messages(Vec::new()),
                        // Pongs only prove the client alive.
                        Some(Ok(Message::Pong(_) | Message::Frame(_))) => continue,
                        Some(Ok(Message::Close(_))) | None => return End::Gone,
                        Some(Err(error)) => return failed_read(error),
                    }
                }
                Wake::Ping => {
                    if last_heard.elapsed() >= idle_after {
                        let reason = format!("nothing received for {} s", idle_after.as_secs_f32());
                        return End::Close(CLOSE_POLICY, reason.into());
                    }
                    Outgoing::Messages(vec![Message::Ping(Default::default())])
                }
            };
            if let Err(end) = write(socket, outgoing, idle_after).await {
                return end;
            }
            if !batch.is_empty() {
                batch.record_and_clear();
            }
        }
    }

    fn apply_op(&mut self, op: &str) -> Message {
        let notice = match stream::handle_op(self.role, op) {
            Ok(filter) => {
                let notice = Notice::subscribed(&filter);
                self.subscription.set_filter(filter.clone());
                self.filter = filter;
                notice
            }
            Err(refused) => refused,
        };
        text(notice.to_json().into())
    }
}

/// A read error: an oversized message is answered with 1009, anything else
/// means the client is gone.
fn failed_read(error: WsError) -> End {
    if matches!(error, WsError::Capacity(_)) {
        let reason = format!("messages are limited to {} KiB", MAX_MESSAGE / 1024);
        return End::Close(CLOSE_TOO_BIG, reason.into());
    }
    tracing::debug!(%error, "event stream client failed");
    End::Gone
}

/// Writes `outgoing` and flushes it, giving up after `within`.
async fn write(socket: &mut Socket, outgoing: Outgoing<'_>, within: Duration) -> Result<(), End> {
    let written = tokio::time::timeout(within, async {
        match outgoing {
            Outgoing::Messages(messages) => {
                for message in messages {
                    socket.feed(message).await?;
                }
                socket.flush().await
            }
            // Every write through tungstenite is flushed before the next one starts
            // (a pong too, see above), so it holds nothing that could interleave.
            Outgoing::Frames(wire) => socket.get_mut().write_all(wire).await.map_err(WsError::Io),
        }
    })
    .await;
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "event stream write failed");
            Err(End::Gone)
        }
        Err(_) => {
            tracing::info!(after = ?within, "event stream client took no data; dropped");
            Err(End::Gone)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::service::stream::{EventHub, EventKind};

    /// The frames in `wire`, parsed by tungstenite as a client would: opcode, final
    /// bit, mask and text of each.
    fn parse(wire: &[u8]) -> Vec<(OpCode, bool, bool, String)> {
        let mut cursor = Cursor::new(wire);
        let mut frames = Vec::new();
        while (cursor.position() as usize) < wire.len() {
            let (header, length) = FrameHeader::parse(&mut cursor)
                .expect("a valid header")
                .expect("a whole header");
            let start = cursor.position() as usize;
            let end = start + length as usize;
            let text = std::str::from_utf8(&wire[start..end])
                .expect("UTF-8 text")
                .to_owned();
            frames.push((header.opcode, header.is_final, header.mask.is_some(), text));
            cursor.set_position(end as u64);
        }
        frames
    }

    proptest! {
        /// Each delivery becomes one final, unmasked text frame holding exactly its
        /// JSON, whatever its length: payload lengths on both sides of the 7-bit,
        /// 16-bit and 64-bit length forms are covered.
        #[test]
        fn encoded_batches_parse_back_frame_by_frame(
            lengths in prop::collection::vec(prop_oneof![0usize..300, 65_400usize..65_700], 1..6),
            dropped in any::<u64>(),
        ) {
            let hub = EventHub::new("pbx1", 0, 16);
            let mut deliveries: Vec<Delivery> = lengths
                .iter()
                .map(|&n| Delivery::Event(hub.publish(EventKind::Drift, json!({"note": "é".repeat(n / 2)}))))
                .collect();
            deliveries.insert(deliveries.len() / 2, Delivery::Lagged { dropped });
            let mut batch = Batch::default();
            for delivery in &deliveries {
                batch.push(delivery);
            }
            let frames = parse(&batch.wire);
            let expected: Vec<_> = deliveries
                .iter()
                .map(|d| (OpCode::Data(Data::Text), true, false, d.to_json().into_owned()))
                .collect();
            prop_assert_eq!(frames, expected);
        }
    }
}
