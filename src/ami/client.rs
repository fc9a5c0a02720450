//! The AMI client: two supervised connections (one for actions with `Events: off`, one for
//! events), reconnect with backoff, actions correlated by ActionID, events broadcast.
//!
//! Asterisk runs one action at a time per connection (a 10,000-endpoint reload held a Ping
//! for 3.7 s), so events get their own connection and a long reload never delays them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::backoff::Backoff;
use super::bus::{EventBus, MAX_BATCH};
use super::error::AmiError;
use super::events::EventStream;
use super::list::{ListResponse, Response};
use super::login::{self, LinkRole, OpenError};
use super::message::Message;
use super::session::{Reply, Request, SessionContext, action_name};
use super::settings::AmiSettings;
use super::state::ConnectionState;

/// Actions queued for the actions connection before callers wait for room.
const REQUEST_QUEUE: usize = 4096;

/// A cheap, cloneable handle to the AMI client. The connections live as long as any handle
/// (or until [`AmiClient::shutdown`]).
#[derive(Clone)]
pub struct AmiClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Arc<AmiSettings>,
    requests: mpsc::Sender<Request>,
    events: Arc<EventBus>,
    actions_state: watch::Receiver<ConnectionState>,
    events_state: watch::Receiver<ConnectionState>,
    ids: Arc<ActionIds>,
    cancel: CancellationToken,
    _stop_when_dropped: DropGuard,
}

/// ActionIDs unique per client instance and across reconnects: a late answer on a new
/// connection can never be taken for another action's.
pub(crate) struct ActionIds {
    prefix: String,
    counter: AtomicU64,
}

impl ActionIds {
    fn new() -> Self {
        Self {
            prefix: format!("rayan-{:08x}-", rand::random::<u32>()),
            counter: AtomicU64::new(1),
        }
    }

    pub(crate) fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}", self.prefix)
    }
}

impl AmiClient {
    /// Spawns the connection tasks and returns at once; it never fails because Asterisk is
    /// down. Watch [`AmiClient::state`] to learn when the link is up. Needs a Tokio runtime.
    pub fn start(settings: AmiSettings) -> AmiClient {
        let settings = Arc::new(settings);
        let cancel = CancellationToken::new();
        let ids = Arc::new(ActionIds::new());
        let events = Arc::new(EventBus::new(settings.event_buffer / MAX_BATCH));
        let (requests, request_rx) = mpsc::channel(REQUEST_QUEUE);
        let (actions_tx, actions_state) = watch::channel(ConnectionState::Connecting);
        let (events_tx, events_state) = watch::channel(ConnectionState::Connecting);
        // The event connection takes no actions; its queue only stays open.
        let (idle_requests, idle_rx) = mpsc::channel(1);

        tokio::spawn(
            Supervisor {
                role: LinkRole::Actions,
                settings: settings.clone(),
                requests: request_rx,
                events: events.clone(),
                state: actions_tx,
                cancel: cancel.clone(),
                ids: ids.clone(),
                _keep_open: None,
            }
            .run(),
        );
        tokio::spawn(
            Supervisor {
                role: LinkRole::Events,
                settings: settings.clone(),
                requests: idle_rx,
                events: events.clone(),
                state: events_tx,
                cancel: cancel.clone(),
                ids: ids.clone(),
                _keep_open: Some(idle_requests),
            }
            .run(),
        );

        AmiClient {
            inner: Arc::new(Inner {
                settings,
                requests,
                events,
                actions_state,
                events_state,
                ids,
                _stop_when_dropped: cancel.clone().drop_guard(),
                cancel,
            }),
        }
    }

    /// State of the actions connection, the one [`AmiClient::send`] depends on.
    pub fn state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.actions_state.clone()
    }

    /// Why actions cannot be sent now (a refused login, an unreachable Asterisk, …), in
    /// words for an administrator; `None` while the actions connection is logged in.
    pub fn unavailable(&self) -> Option<String> {
        self.inner
            .actions_state
            .borrow()
            .unavailable_reason(&self.inner.settings.username)
    }

    /// State of the events connection. After it reconnects, events may have been missed:
    /// take a fresh snapshot (e.g. `pjsip_show_contacts`).
    pub fn event_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.events_state.clone()
    }

    /// Every unsolicited event from now on.
    pub fn subscribe(&self) -> EventStream {
        let (receiver, next_seq) = self.inner.events.subscribe();
        EventStream::new(receiver, next_seq, self.inner.cancel.clone())
    }

    pub fn settings(&self) -> &AmiSettings {
        &self.inner.settings
    }

    /// Sends one action and returns its `Response:` message, `Success` or `Error` alike.
    /// Any `ActionID` in `action` is replaced by a unique one.
    pub async fn send(&self, action: Message) -> Result<Response, AmiError> {
        let (tx, rx) = oneshot::channel();
        let name = action_name(&action);
        self.dispatch(action, Reply::Single(tx), rx, name).await
    }

    /// Sends a list action and collects its events up to `EventList: Complete`. An `Error`
    /// response ends it at once (the result then has no events).
    pub async fn send_list(&self, action: Message) -> Result<ListResponse, AmiError> {
        let (tx, rx) = oneshot::channel();
        let name = action_name(&action);
        self.dispatch(action, Reply::List(tx), rx, name).await
    }

    async fn dispatch<T>(
        &self,
        message: Message,
        reply: Reply,
        answer: oneshot::Receiver<Result<T, AmiError>>,
        action: String,
    ) -> Result<T, AmiError> {
        if self.inner.cancel.is_cancelled() {
            return Err(AmiError::Shutdown);
        }
        let request = Request {
            id: self.inner.ids.next(),
            message,
            reply,
        };
        let after = self.inner.settings.action_timeout;
        let exchange = async {
            self.inner
                .requests
                .send(request)
                .await
                .map_err(|_| AmiError::Shutdown)?;
            answer.await.map_err(|_| AmiError::Shutdown)?
        };
        match tokio::time::timeout(after, exchange).await {
            Ok(result) => result,
            Err(_) => Err(AmiError::Timeout { action, after }),
        }
    }

    /// Logs off and stops both connections; every later call fails with `Shutdown`.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let mut actions = self.state();
        let mut events = self.event_state();
        let _ = actions
            .wait_for(|s| matches!(s, ConnectionState::Shutdown))
            .await;
        let _ = events
            .wait_for(|s| matches!(s, ConnectionState::Shutdown))
            .await;
    }
}

/// Keeps one connection up: connect, log in, serve, and on failure wait and try again.
struct Supervisor {
    role: LinkRole,
    settings: Arc<AmiSettings>,
    requests: mpsc::Receiver<Request>,
    events: Arc<EventBus>,
    state: watch::Sender<ConnectionState>,
    cancel: CancellationToken,
    ids: Arc<ActionIds>,
    _keep_open: Option<mpsc::Sender<Request>>,
}

impl Supervisor {
    async fn run(mut self) {
        let link = self.role.name();
        let settings = self.settings.clone();
        let ids = self.ids.clone();
        let next_id = move || ids.next();
        let mut backoff = Backoff::new(settings.reconnect_min, settings.reconnect_max);
        while !self.cancel.is_cancelled() {
            // A retry keeps the failure it follows until it succeeds or fails anew.
            self.state.send_if_modified(|state| {
                let first = !state.is_failure();
                if first {
                    *state = ConnectionState::Connecting;
                }
                first
            });
            let attempt = tokio::select! {
                attempt = login::open(&settings, self.role, &self.events, &next_id) => attempt,
                _ = self.cancel.cancelled() => break,
            };
            let (pause, reason) = match attempt {
                Ok(opened) => {
                    backoff.reset();
                    tracing::info!(link, addr = %settings.addr, version = ?opened.version, "AMI connected");
                    self.state.send_replace(ConnectionState::Connected {
                        version: opened.version,
                    });
                    let ctx = SessionContext {
                        link,
                        events: &self.events,
                        ping_interval: settings.ping_interval,
                        ping_timeout: settings.action_timeout,
                        next_id: &next_id,
                        cancel: &self.cancel,
                    };
                    let reason = opened.session.serve(&mut self.requests, &ctx).await;
                    if self.cancel.is_cancelled() {
                        break;
                    }
                    tracing::warn!(link, %reason, "AMI connection lost");
                    self.state.send_replace(ConnectionState::Disconnected {
                        reason: reason.clone(),
                    });
                    (backoff.next_delay(), reason)
                }
                Err(OpenError::Auth(reason)) => {
                    tracing::error!(link, addr = %settings.addr, user = %settings.username, %reason, "AMI login refused");
                    self.state.send_replace(ConnectionState::AuthFailed {
                        reason: reason.clone(),
                    });
                    (
                        settings.auth_retry,
                        format!("authentication failed: {reason}"),
                    )
                }
                Err(OpenError::Link(reason)) => {
                    tracing::warn!(link, addr = %settings.addr, %reason, "AMI connect failed");
                    self.state.send_replace(ConnectionState::Disconnected {
                        reason: reason.clone(),
                    });
                    (backoff.next_delay(), reason)
                }
            };
            if !self.pause(pause, &reason).await {
                break;
            }
        }
        self.state.send_replace(ConnectionState::Shutdown);
        self.requests.close();
        while let Some(request) = self.requests.recv().await {
            request.fail(AmiError::Shutdown);
        }
    }

    /// Waits before the next attempt, failing at once every action sent meanwhile.
    /// Returns false when the client shut down.
    async fn pause(&mut self, pause: std::time::Duration, reason: &str) -> bool {
        let wake = tokio::time::sleep(pause);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                _ = &mut wake => return true,
                _ = self.cancel.cancelled() => return false,
                request = self.requests.recv() => match request {
                    Some(request) => request.fail(AmiError::NotConnected { reason: reason.to_owned() }),
                    None => return false,
                },
            }
        }
    }
}
