//! One logged-in AMI connection: writes actions, correlates answers by ActionID, publishes
//! events, keeps the link alive with Ping.
//!
//! Reading and writing run concurrently, so thousands of pipelined actions can never
//! deadlock against a peer that stops reading while its own answers pile up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::codec::{AmiCodec, Frame, encode_message};
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
    pub(crate) events: &'a broadcast::Sender<Arc<Message>>,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) next_id: &'a (dyn Fn() -> String + Sync),
    pub(crate) cancel: &'a CancellationToken,
}

/// Hands an unsolicited event to subscribers. Never waits: a lagging subscriber loses its
/// oldest events and is told how many; nobody else is affected.
pub(crate) fn publish(events: &broadcast::Sender<Arc<Message>>, event: Message) {
    // An error only means nobody is subscribed right now.
    let _ = events.send(Arc::new(event));
}

pub(crate) struct Session {
    pub(crate) reader: FramedRead<OwnedReadHalf, AmiCodec>,
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
        let Session { reader, writer } = self;
        let pending = Mutex::new(PendingTable::default());
        let reason = tokio::select! {
            reason = read_loop(reader, &pending, ctx) => reason,
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

async fn read_loop(
    mut reader: FramedRead<OwnedReadHalf, AmiCodec>,
    pending: &Mutex<PendingTable>,
    ctx: &SessionContext<'_>,
) -> String {
    loop {
        match reader.next().await {
            Some(Ok(Frame::Message(message))) => route(message, pending, ctx),
            Some(Ok(Frame::Banner(banner))) => {
                tracing::warn!(link = ctx.link, %banner, "unexpected banner line ignored")
            }
            Some(Err(error)) => return error.to_string(),
            None => return "Asterisk closed the connection".to_owned(),
        }
    }
}

/// Sends an answer to the action waiting for it; anything unclaimed is an event.
fn route(message: Message, pending: &Mutex<PendingTable>, ctx: &SessionContext<'_>) {
    let Some(id) = message.action_id().map(str::to_owned) else {
        if message.is_response() {
            tracing::debug!(link = ctx.link, response = %message.masked(), "response without ActionID ignored");
        } else {
            publish(ctx.events, message);
        }
        return;
    };
    let is_response = message.is_response();
    let mut table = lock(pending);
    match table.map.get_mut(&id) {
        None => {
            drop(table);
            if is_response {
                // The action timed out and nobody waits for it any more.
                tracing::debug!(link = ctx.link, response = %message.masked(), "late response dropped");
            } else {
                // e.g. OriginateResponse, which carries the ActionID of an action already answered.
                publish(ctx.events, message);
            }
        }
        Some(Pending::Single { .. }) if !is_response => {
            drop(table);
            publish(ctx.events, message);
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
