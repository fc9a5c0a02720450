//! One logged-in AMI connection: writes actions, correlates answers by ActionID, publishes
//! events, keeps the link alive with Ping.
//!
//! Reading and writing run concurrently, so thousands of pipelined actions can never
//! deadlock against a peer that stops reading while its own answers pile up.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::bus::{EventBus, MAX_BATCH};
use super::codec::{AmiCodec, encode_message};
use super::error::AmiError;
use super::list::ListResponse;
use super::message::Message;

/// Largest batch of encoded actions handed to one `write` call.
const WRITE_BATCH: usize = 64 * 1024;
/// Read buffer size; a 2 MB endpoint list arrives in large reads.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// An action waiting to be written, with where its answer goes.
pub(crate) struct Request {
    pub(crate) id: String,
    pub(crate) message: Message,
    pub(crate) reply: Reply,
}

pub(crate) enum Reply {
    Single(oneshot::Sender<Result<Message, AmiError>>),
    List(oneshot::Sender<Result<ListResponse, AmiError>>),
}

impl Request {
    pub(crate) fn fail(self, error: AmiError) {
        match self.reply {
            Reply::Single(tx) => {
                let _ = tx.send(Err(error));
            }
            Reply::List(tx) => {
                let _ = tx.send(Err(error));
            }
        }
    }
}

/// `Action:` of a message, for errors and logs.
pub(crate) fn action_name(message: &Message) -> String {
    message.action_name().unwrap_or("(no Action)").to_owned()
}

enum Pending {
    Single {
        action: String,
        reply: oneshot::Sender<Result<Message, AmiError>>,
    },
    List {
        action: String,
        reply: oneshot::Sender<Result<ListResponse, AmiError>>,
        response: Option<Message>,
        events: Vec<Message>,
    },
}

impl Pending {
    fn abandoned(&self) -> bool {
        match self {
            Self::Single { reply, .. } => reply.is_closed(),
            Self::List { reply, .. } => reply.is_closed(),
        }
    }

    fn fail(self, reason: &str) {
        match self {
            Self::Single { action, reply } => {
                let _ = reply.send(Err(disconnected(action, reason)));
            }
            Self::List { action, reply, .. } => {
                let _ = reply.send(Err(disconnected(action, reason)));
            }
        }
    }
}

fn disconnected(action: String, reason: &str) -> AmiError {
    AmiError::Disconnected {
        action,
        reason: reason.to_owned(),
    }
}

/// What a session needs from its connection supervisor.
pub(crate) struct SessionContext<'a> {
    pub(crate) link: &'static str,
    pub(crate) events: &'a EventBus,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) next_id: &'a (dyn Fn() -> String + Sync),
    pub(crate) cancel: &'a CancellationToken,
}

pub(crate) struct Session {
    pub(crate) reader: OwnedReadHalf,
    /// Bytes read but not decoded yet (the login may have read past its answer).
    pub(crate) buffer: BytesMut,
    pub(crate) codec: AmiCodec,
    pub(crate) writer: OwnedWriteHalf,
}

impl Session {
    /// Serves requests until the link fails or the client shuts down; returns why it ended.
    /// Every action still waiting for an answer fails at once with that reason.
    pub(crate) async fn serve(
        self,
        requests: &mut mpsc::Receiver<Request>,
        ctx: &SessionContext<'_>,
    ) -> String {
        let Session {
            reader,
            buffer,
            codec,
            writer,
        } = self;
        let pending = Mutex::new(PendingTable::default());
        let reason = tokio::select! {
            reason = read_loop(reader, buffer, codec, &pending, ctx) => reason,
            reason = write_loop(writer, requests, &pending, ctx) => reason,
        };
        let abandoned = std::mem::take(&mut lock(&pending).map);
        if !abandoned.is_empty() {
            tracing::warn!(
                link = ctx.link,
                actions = abandoned.len(),
                %reason,
                "failing actions in flight"
            );
        }
        for (_, entry) in abandoned {
            entry.fail(&reason);
        }
        reason
    }
}

#[derive(Default)]
struct PendingTable {
    map: HashMap<String, Pending>,
}

fn lock(pending: &Mutex<PendingTable>) -> MutexGuard<'_, PendingTable> {
    // A panic while holding this lock cannot leave the table half-updated in a way that
    // matters more than losing the link, so a poisoned lock is used as is.
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads, decodes everything each read brought, routes answers and publishes the events of
/// that read as one batch. Never waits for subscribers.
async fn read_loop(
    mut reader: OwnedReadHalf,
    mut buffer: BytesMut,
    mut codec: AmiCodec,
    pending: &Mutex<PendingTable>,
    ctx: &SessionContext<'_>,
) -> String {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut decoded = Vec::new();
    loop {
        let outcome = codec.decode_batch(&mut buffer, &mut decoded);
        for message in decoded.drain(..) {
            if let Some(event) = route(message, pending, ctx) {
                batch.push(event);
                if batch.len() == MAX_BATCH {
                    ctx.events.publish(next_batch(&mut batch));
                }
            }
        }
        if !batch.is_empty() {
            ctx.events.publish(next_batch(&mut batch));
        }
        if let Err(error) = outcome {
            return error.to_string();
        }
        if buffer.capacity() - buffer.len() < READ_BUFFER / 4 {
            buffer.reserve(READ_BUFFER);
        }
        match reader.read_buf(&mut buffer).await {
            Ok(0) => {
                return match codec.decode_eof(&mut buffer) {
                    Err(error) => format!("Asterisk closed the connection: {error}"),
                    Ok(_) => "Asterisk closed the connection".to_owned(),
                };
            }
            Ok(_) => {}
            Err(error) => return format!("read from Asterisk failed: {error}"),
        }
    }
}

/// Hands over the filled batch and starts an empty one with room for a full batch.
fn next_batch(batch: &mut Vec<Message>) -> Vec<Message> {
    std::mem::replace(batch, Vec::with_capacity(MAX_BATCH))
}

/// Sends an answer to the action waiting for it; anything unclaimed is an event, returned
/// for publishing.
fn route(
    message: Message,
    pending: &Mutex<PendingTable>,
    ctx: &SessionContext<'_>,
) -> Option<Message> {
    let (id, is_response) = message.routing();
    let Some(id) = id.map(str::to_owned) else {
        if is_response {
            tracing::debug!(link = ctx.link, response = %message.masked(), "response without ActionID ignored");
            return None;
        }
        return Some(message);
    };
    let mut table = lock(pending);
    match table.map.get_mut(&id) {
        None => {
            drop(table);
            if is_response {
                // The action timed out and nobody waits for it any more.
                tracing::debug!(link = ctx.link, response = %message.masked(), "late response dropped");
                return None;
            }
            // e.g. OriginateResponse, which carries the ActionID of an action already answered.
            return Some(message);
        }
        Some(Pending::Single { .. }) if !is_response => {
            drop(table);
            return Some(message);
        }
        Some(Pending::Single { .. }) => {
            if let Some(Pending::Single { reply, .. }) = table.map.remove(&id) {
                let _ = reply.send(Ok(message));
            }
        }
        Some(Pending::List {
            response, events, ..
        }) => {
            let finished = match response {
                None if is_response => {
                    if message.is_success() && message.is_list_start() {
                        *response = Some(message);
                        None
                    } else {
                        // An Error (or a list that never starts) ends the action at once.
                        Some((message, None))
                    }
                }
                Some(_) if message.is_list_complete() => {
                    Some((response.take().unwrap_or_default(), Some(message)))
                }
                _ => {
                    // Events, and the `Response: Error` items Asterisk puts inside some lists.
                    events.push(message);
                    None
                }
            };
            if let Some((response, complete)) = finished
                && let Some(Pending::List { reply, events, .. }) = table.map.remove(&id)
            {
                let _ = reply.send(Ok(ListResponse {
                    response,
                    events,
                    complete,
                }));
            }
        }
    }
    None
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    requests: &mut mpsc::Receiver<Request>,
    pending: &Mutex<PendingTable>,
    ctx: &SessionContext<'_>,
) -> String {
    let mut buffer = BytesMut::with_capacity(WRITE_BATCH);
    let mut ticks = tokio::time::interval_at(Instant::now() + ctx.ping_interval, ctx.ping_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut ping: Option<(Instant, oneshot::Receiver<Result<Message, AmiError>>)> = None;
    loop {
        let ping_deadline = ping.as_ref().map(|(deadline, _)| *deadline);
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else {
                    return "the AMI client was dropped".to_owned();
                };
                enqueue(request, &mut buffer, pending, ctx);
                while buffer.len() < WRITE_BATCH {
                    match requests.try_recv() {
                        Ok(request) => enqueue(request, &mut buffer, pending, ctx),
                        Err(_) => break,
                    }
                }
                if let Err(error) = writer.write_all(&buffer).await {
                    return format!("write to Asterisk failed: {error}");
                }
                buffer.clear();
            }
            _ = ticks.tick() => {
                lock(pending).map.retain(|_, entry| !entry.abandoned());
                if ping.is_none() {
                    let (tx, rx) = oneshot::channel();
                    let request = Request {
                        id: (ctx.next_id)(),
                        message: Message::action("Ping"),
                        reply: Reply::Single(tx),
                    };
                    enqueue(request, &mut buffer, pending, ctx);
                    if let Err(error) = writer.write_all(&buffer).await {
                        return format!("write to Asterisk failed: {error}");
                    }
                    buffer.clear();
                    ping = Some((Instant::now() + ctx.ping_timeout, rx));
                }
            }
            _ = sleep_until_some(ping_deadline) => {
                if let Some((_, mut answer)) = ping.take()
                    && matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty))
                {
                    return format!("no answer to keepalive Ping within {:?}", ctx.ping_timeout);
                }
            }
            _ = ctx.cancel.cancelled() => {
                let mut logoff = BytesMut::new();
                let message = Message::action("Logoff").with("ActionID", (ctx.next_id)());
                if encode_message(&message, &mut logoff).is_ok() {
                    let _ = writer.write_all(&logoff).await;
                }
                return "the AMI client was shut down".to_owned();
            }
        }
        if let Some((_, answer)) = &mut ping
            && !matches!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty))
        {
            ping = None;
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Registers the action under its ActionID, then encodes it; a message that cannot be
/// encoded fails alone without touching the link.
fn enqueue(
    request: Request,
    buffer: &mut BytesMut,
    pending: &Mutex<PendingTable>,
    ctx: &SessionContext<'_>,
) {
    let Request {
        id,
        mut message,
        reply,
    } = request;
    message.set("ActionID", &id);
    let action = action_name(&message);
    let mark = buffer.len();
    if let Err(error) = encode_message(&message, buffer) {
        buffer.truncate(mark);
        Request { id, message, reply }.fail(error);
        return;
    }
    tracing::debug!(link = ctx.link, action = %message.masked(), "sent");
    let entry = match reply {
        Reply::Single(reply) => Pending::Single { action, reply },
        Reply::List(reply) => Pending::List {
            action,
            reply,
            response: None,
            events: Vec::new(),
        },
    };
    lock(pending).map.insert(id, entry);
}
