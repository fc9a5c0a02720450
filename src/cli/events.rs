//! `rayan-ctl events tail`: follow the event stream, one line per event.
//!
//! It reconnects after a lost connection (or a daemon restart) with `since` set to
//! the last sequence number it printed, so nothing the replay ring still holds is
//! missed, and says so on stderr when the server reports a gap or lag. Ctrl-C
//! closes the stream cleanly and exits with success.

use super::{CliError, CliResult};
use std::time::Duration;

use clap::Subcommand;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::Output;
use crate::client::{Client, encode};
use crate::events::{Control, EventFrame, EventKind, Frame};
use crate::service::stream::Notice;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(10);
const CLOSE_GRACE: Duration = Duration::from_secs(1);

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Print events as they happen until Ctrl-C; reconnects and resumes by itself.
    Tail {
        /// Only this event type (repeat or comma-separate): contact_status, hangup,
        /// call, apply, asterisk, drift, raw (admin).
        #[arg(long = "type", value_delimiter = ',')]
        types: Vec<String>,
        /// Only events about this endpoint (repeat or comma-separate).
        #[arg(long = "endpoint", value_delimiter = ',')]
        endpoints: Vec<String>,
        /// Start after this sequence number (replayed from the daemon's ring).
        #[arg(long)]
        since: Option<u64>,
    },
}

pub async fn run(client: &Client, out: &Output, cmd: EventsCommand) -> CliResult<()> {
    match cmd {
        EventsCommand::Tail {
            types,
            endpoints,
            since,
        } => {
            let tail = Tail {
                client,
                json: out.json,
                types,
                endpoints,
                last_seq: since,
            };
            tail.run().await
        }
    }
}

struct Tail<'a> {
    client: &'a Client,
    json: bool,
    types: Vec<String>,
    endpoints: Vec<String>,
    last_seq: Option<u64>,
}

/// Why a connected stream ended.
enum Ended {
    Interrupted,
    Lost(String),
}

impl Tail<'_> {
    async fn run(mut self) -> CliResult<()> {
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(interrupted);
        let mut retry = FIRST_RETRY;
        loop {
            let request = self.request()?;
            let connected = tokio::select! {
                connected = tokio_tungstenite::connect_async(request) => connected,
                _ = &mut interrupted => return Ok(()),
            };
            match connected {
                Ok((socket, _)) => {
                    retry = FIRST_RETRY;
                    match self.follow(socket, &mut interrupted).await {
                        Ended::Interrupted => return Ok(()),
                        Ended::Lost(reason) => {
                            eprintln!("event stream lost ({reason}); reconnecting")
                        }
                    }
                }
                Err(WsError::Http(response)) => return Err(refused(&response)),
                Err(error) => {
                    eprintln!("cannot reach the event stream: {error}; retrying in {retry:?}")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = &mut interrupted => return Ok(()),
            }
            retry = (retry * 2).min(LAST_RETRY);
        }
    }

    /// The WebSocket request: `ws://…/api/v1/events?…` with the bearer token.
    fn request(&self) -> CliResult<tokio_tungstenite::tungstenite::handshake::client::Request> {
        let base = self.client.base_url();
        let ws_base = if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if base.starts_with("https://") {
            return Err(CliError::usage(
                "events tail speaks plain ws:// only; reach rayand over http:// (e.g. on its host)",
            ));
        } else {
            return Err(CliError::usage(format!(
                "the rayand URL must start with http://, not {base}"
            )));
        };
        let mut query = Vec::new();
        if !self.types.is_empty() {
            query.push(format!("types={}", encode(&self.types.join(","))));
        }
        if !self.endpoints.is_empty() {
            query.push(format!("endpoints={}", encode(&self.endpoints.join(","))));
        }
        if let Some(seq) = self.last_seq {
            query.push(format!("since={seq}"));
        }
        let mut url = format!("{ws_base}/api/v1/events");
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| CliError::usage(format!("bad event stream URL {url}: {e}")))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.client.token()))
            .map_err(|_| CliError::usage("the token contains characters a header cannot carry"))?;
        request.headers_mut().insert("authorization", bearer);
        Ok(request)
    }

    async fn follow<S, F>(&mut self, socket: S, interrupted: &mut std::pin::Pin<&mut F>) -> Ended
    where
        S: futures_util::Stream<Item = Result<Message, WsError>>
            + futures_util::Sink<Message, Error = WsError>
            + Unpin,
        F: std::future::Future,
    {
        let (mut sink, mut stream) = socket.split();
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                _ = interrupted.as_mut() => {
                    let close = CloseFrame { code: CloseCode::Normal, reason: "interrupted".into() };
                    if sink.send(Message::Close(Some(close))).await.is_ok() {
                        let _ = tokio::time::timeout(CLOSE_GRACE, async {
                            while let Some(Ok(_)) = stream.next().await {}
                        })
                        .await;
                    }
                    return Ended::Interrupted;
                }
            };
            match message {
                Some(Ok(Message::Text(text))) => self.show(text.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame.map_or("closed".to_owned(), |f| {
                        format!("closed {}: {}", u16::from(f.code), f.reason)
                    });
                    return Ended::Lost(reason);
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Ended::Lost(error.to_string()),
                None => return Ended::Lost("connection closed".into()),
            }
        }
    }

    /// Prints one frame and remembers how far the stream got.
    fn show(&mut self, text: &str) {
        match Frame::parse(text) {
            Ok(Frame::Event(event)) => {
                self.last_seq = Some(event.seq);
                if self.json {
                    println!("{text}");
                } else {
                    println!("{}", describe(&event));
                }
            }
            Ok(Frame::Control(control)) => {
                if self.json {
                    println!("{text}");
                }
                match control {
                    Control::Lagged { dropped } => {
                        eprintln!("! {dropped} events dropped: this terminal read too slowly")
                    }
                    Control::Gap { from, to } => {
                        eprintln!("! events {from}..{to} are no longer available")
                    }
                }
            }
            Err(_) => match serde_json::from_str::<Notice>(text) {
                Ok(Notice::Subscribed { .. }) => {}
                Ok(Notice::Error { message }) => {
                    eprintln!("! the server refused a request: {message}")
                }
                Err(_) => eprintln!(
                    "! unexpected frame: {}",
                    text.chars().take(200).collect::<String>()
                ),
            },
        }
    }
}

/// The server's problem document for a refused upgrade.
fn refused(response: &tokio_tungstenite::tungstenite::handshake::client::Response) -> CliError {
    let status = response.status();
    let detail = response
        .body()
        .as_deref()
        .and_then(|body| serde_json::from_slice::<Value>(body).ok())
        .and_then(|problem| {
            problem
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    CliError::Stream(format!(
        "the event stream refused the connection ({}): {detail}",
        status.as_u16()
    ))
}

fn field<'a>(data: &'a Value, name: &str) -> Option<&'a str> {
    data.get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

/// One readable line: time, sequence number, type, then what the event says.
pub fn describe(event: &EventFrame) -> String {
    let data = &event.data;
    let text = |name: &str| field(data, name).unwrap_or("-");
    let what = match event.kind {
        EventKind::ContactStatus => {
            let rtt = data
                .get("rtt_ms")
                .and_then(Value::as_f64)
                .map(|ms| format!(" rtt {ms} ms"))
                .unwrap_or_default();
            format!(
                "{} {} {}{rtt}",
                text("endpoint"),
                text("status"),
                text("uri")
            )
        }
        EventKind::Hangup => {
            let cause = data.get("cause").map_or("-".to_owned(), Value::to_string);
            format!(
                "{} {} -> {} cause {cause} ({})",
                text("channel"),
                text("caller"),
                text("exten"),
                text("cause_text")
            )
        }
        EventKind::Call => {
            let mut line = format!(
                "{} {} {} -> {}",
                text("linkedid"),
                text("state"),
                text("from"),
                text("to")
            );
            if let Some(disposition) = field(data, "disposition") {
                let seconds = data
                    .get("duration_s")
                    .map_or("-".to_owned(), Value::to_string);
                line.push_str(&format!(" {disposition} {seconds} s"));
            }
            line
        }
        EventKind::Asterisk => match field(data, "reason") {
            Some(reason) => format!("{} ({reason})", text("state")),
            None => text("state").to_owned(),
        },
        EventKind::TrunkStatus => format!("{} {}", text("trunk"), text("state")),
        EventKind::Presence => format!(
            "{} {} ({}@{})",
            text("endpoint"),
            text("state"),
            text("extension"),
            text("context")
        ),
        EventKind::Security => {
            let failures = data
                .get("recent_failures")
                .map(|n| format!(" ({n} recent failures)"))
                .unwrap_or_default();
            format!(
                "{} from {} account {}{failures}",
                text("event"),
                text("address"),
                text("account")
            )
        }
        EventKind::Apply | EventKind::Drift | EventKind::Raw => data.to_string(),
    };
    format!(
        "{} #{} {} {what}",
        crate::events::event::format_time(&event.time),
        event.seq,
        event.kind
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(kind: EventKind, data: Value) -> EventFrame {
        EventFrame {
            seq: 812,
            time: "2026-11-21T16:34:19.740Z".parse().expect("time"),
            node: "pbx1".into(),
            kind,
            data,
        }
    }

    #[test]
    fn lines_say_what_happened() {
        let contact = frame(
            EventKind::ContactStatus,
            json!({"endpoint": "1001", "aor": "1001", "uri": "sip:1001@10.0.0.7:5060", "status": "reachable", "rtt_ms": 0.379}),
        );
        assert_eq!(
            describe(&contact),
            "2026-11-21T16:34:19.740Z #812 contact_status 1001 reachable sip:1001@10.0.0.7:5060 rtt 0.379 ms"
        );
        let hangup = frame(
            EventKind::Hangup,
            json!({"channel": "PJSIP/1002-00000007", "caller": "1002", "exten": null, "cause": 16, "cause_text": "Normal Clearing"}),
        );
        assert_eq!(
            describe(&hangup),
            "2026-11-21T16:34:19.740Z #812 hangup PJSIP/1002-00000007 1002 -> - cause 16 (Normal Clearing)"
        );
        let ended = frame(
            EventKind::Call,
            json!({"state": "ended", "linkedid": "17.14", "from": "1001", "to": "1002", "disposition": "ANSWERED", "duration_s": 4}),
        );
        assert_eq!(
            describe(&ended),
            "2026-11-21T16:34:19.740Z #812 call 17.14 ended 1001 -> 1002 ANSWERED 4 s"
        );
        let down = frame(
            EventKind::Asterisk,
            json!({"state": "disconnected", "reason": "connection refused"}),
        );
        assert_eq!(
            describe(&down),
            "2026-11-21T16:34:19.740Z #812 asterisk disconnected (connection refused)"
        );
    }
}
