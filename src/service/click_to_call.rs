//! Click-to-call: ring one extension and, when it answers, connect it through the
//! dialplan to another; and hanging a live call up.
//!
//! ## The call id
//!
//! rayan makes up a call id and sends it as the Originate's `ChannelId`, which
//! Asterisk (13 and later) uses as the uniqueid of the channel it creates. That
//! channel is the call's first, so its uniqueid is also the call's linkedid: the
//! `linkedid` of every `call` and `hangup` event of the call, and of its row in the
//! call history. The same id is set as the channel variable `RAYAN_CALL_ID` (seen in
//! `raw` `VarSet` events). If Asterisk reports another uniqueid for the channel in
//! its `OriginateResponse` (an Asterisk that ignored `ChannelId`), that uniqueid is
//! the call id returned, because it is the one events carry.
//!
//! The request waits briefly for the first sign of the call: the new channel, or the
//! `OriginateResponse` (which Asterisk sends at once when the extension cannot be
//! rung at all, e.g. it has no contact, and otherwise when it answers).

use super::write::Action;
use crate::model::{ObjectKind, ObjectRef};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use utoipa::ToSchema;

use super::ServiceError;
use super::calls::CallService;
use crate::ami::{AmiError, EventStream, Message, OriginateRequest};
use crate::model::{Extension, FieldErrors};
use crate::store;
use crate::store::audit::Actor;

/// The channel variable that carries the call id.
pub const CALL_ID_VARIABLE: &str = "RAYAN_CALL_ID";
/// How long a click-to-call waits for the first sign of its call.
const START_WAIT: Duration = Duration::from_secs(1);
/// Asterisk's longest uniqueid is 149 characters.
const MAX_CALL_ID: usize = 149;

/// `POST /api/v1/calls`.
#[derive(Debug, PartialEq, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCall {
    /// The extension rung first; the call starts once it answers.
    #[schema(example = "1001")]
    pub from: String,
    /// The extension it is then connected to, through the dialplan of `from`'s context.
    #[schema(example = "1002")]
    pub to: String,
}

/// Where a new call stands when the request answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StartState {
    /// Asterisk accepted the originate; nothing of the call was seen yet.
    Queued,
    /// Asterisk created the channel and is ringing `from`.
    Ringing,
    /// `from` already answered; Asterisk is dialling `to`.
    Answered,
}

/// The answer to a click-to-call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallStarted {
    /// The call id: the `linkedid` that this call's `call` and `hangup` events and
    /// its call history row carry. `DELETE /api/v1/calls/{id}` hangs it up.
    #[schema(example = "rayan-5f0c9a1e2b3d4c6f")]
    pub id: String,
    pub from: String,
    pub to: String,
    /// The channel Asterisk was asked to ring first.
    #[schema(example = "PJSIP/1001")]
    pub channel: String,
    pub state: StartState,
}

/// The answer to a hang-up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallHungUp {
    pub id: String,
    /// The channels that were hung up.
    pub channels: Vec<String>,
}

/// What one AMI event says about a click-to-call that is starting.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StartSign {
    Failed { reason: String },
    Channel { linkedid: String },
    Answered { uniqueid: String },
}

/// Recognises the events of the originate sent as `action_id` for `call_id`.
fn start_sign(msg: &Message, action_id: &str, call_id: &str) -> Option<StartSign> {
    let event = msg.event()?.trim();
    if event.eq_ignore_ascii_case("OriginateResponse") {
        if msg.action_id() != Some(action_id) {
            return None;
        }
        let uniqueid = msg
            .get("Uniqueid")
            .map(str::trim)
            .filter(|u| !u.is_empty() && *u != "<unknown>");
        return Some(match (msg.get("Response").map(str::trim), uniqueid) {
            (Some(r), Some(uniqueid)) if r.eq_ignore_ascii_case("Success") => StartSign::Answered {
                uniqueid: uniqueid.to_owned(),
            },
            _ => StartSign::Failed {
                reason: failure_reason(msg.get("Reason")),
            },
        });
    }
    if msg.get("Uniqueid").map(str::trim) == Some(call_id) {
        let linkedid = msg
            .get("Linkedid")
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(call_id);
        return Some(StartSign::Channel {
            linkedid: linkedid.to_owned(),
        });
    }
    None
}

/// `OriginateResponse`'s `Reason`: the last control frame Asterisk saw on the channel.
fn failure_reason(reason: Option<&str>) -> String {
    match reason.map(str::trim) {
        Some("0") => "the channel could not be created (is the extension registered?)".into(),
        Some("1") => "it hung up".into(),
        Some("3") => "it rang but nobody answered".into(),
        Some("5") => "it is busy".into(),
        Some("8") => "the network is congested".into(),
        Some(other) => format!("OriginateResponse reason {other}"),
        None => "Asterisk gave no reason".into(),
    }
}

fn new_call_id() -> String {
    format!("rayan-{:016x}", rand::random::<u64>())
}

/// `"Alice" <1001>`: the extension's caller id, else its name and number.
fn caller_id(extension: &Extension) -> String {
    if let Some(caller_id) = extension
        .caller_id
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        return caller_id.to_owned();
    }
    match extension
        .name
        .as_deref()
        .map(|n| n.replace(['"', '<', '>'], ""))
        .filter(|n| !n.trim().is_empty())
    {
        Some(name) => format!("\"{name}\" <{}>", extension.number),
        None => extension.number.clone(),
    }
}

fn ami_error(e: AmiError) -> ServiceError {
    if e.is_connection_error() || matches!(e, AmiError::Shutdown) {
        ServiceError::Unavailable(format!("Asterisk is not reachable: {e}"))
    } else {
        ServiceError::Rejected(format!("Asterisk refused: {e}"))
    }
}

impl CallService {
    /// Looks up an extension that can take part in a call, naming `field` if not.
    async fn callable(
        &self,
        errors: &mut FieldErrors,
        field: &str,
        number: &str,
    ) -> Result<Option<Extension>, ServiceError> {
        let found = if number.is_empty() || number.len() > 80 {
            None
        } else {
            store::extensions::find(self.writer.db(), number).await?
        };
        match found {
            Some(extension) if extension.enabled => Ok(Some(extension)),
            Some(_) => {
                errors.push(field, format!("extension {number} is disabled"));
                Ok(None)
            }
            None => {
                errors.push(
                    field,
                    format!("there is no extension {}", number.escape_debug()),
                );
                Ok(None)
            }
        }
    }

    /// Rings `from` and, once it answers, sends it to `to` in its own dialplan context.
    pub async fn click_to_call(
        &self,
        actor: &Actor,
        input: NewCall,
    ) -> Result<CallStarted, ServiceError> {
        let mut errors = FieldErrors::new();
        let from = self.callable(&mut errors, "from", &input.from).await?;
        let to = self.callable(&mut errors, "to", &input.to).await?;
        if input.from == input.to && from.is_some() {
            errors.push("to", "must be another extension than from");
        }
        errors.finish()?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(ServiceError::Validation(FieldErrors::new()));
        };

        let call_id = new_call_id();
        let channel = format!("PJSIP/{}", from.number);
        let mut request = OriginateRequest::extension(&channel, &from.context, &to.number, 1);
        request.caller_id = Some(caller_id(&from));
        request.timeout = Some(Duration::from_secs(u64::from(self.max_dial_timeout.max(1))));
        request.variables = vec![(CALL_ID_VARIABLE.to_owned(), call_id.clone())];
        request.asynchronous = true;
        let mut action = request.to_message();
        action.push("ChannelId", &call_id);

        // Subscribe first: the OriginateResponse may arrive before the answer does.
        let mut events = self.ami.subscribe();
        let answer = self.ami.send(action).await.map_err(ami_error)?;
        if !answer.is_success() {
            let message = answer.message().unwrap_or("no message").to_owned();
            return Err(ServiceError::Rejected(format!(
                "Asterisk refused to ring {channel}: {message}"
            )));
        }
        let action_id = answer.action_id().unwrap_or_default().to_owned();
        let (id, state) = match wait_for_start(&mut events, &action_id, &call_id).await {
            Some(StartSign::Failed { reason }) => {
                return Err(ServiceError::Rejected(format!(
                    "Asterisk could not ring extension {}: {reason}",
                    from.number
                )));
            }
            Some(StartSign::Channel { linkedid }) => (linkedid, StartState::Ringing),
            Some(StartSign::Answered { uniqueid }) => (uniqueid, StartState::Answered),
            None => (call_id.clone(), StartState::Queued),
        };
        let started = CallStarted {
            id,
            from: from.number,
            to: to.number,
            channel,
            state,
        };
        tracing::info!(actor = %actor.name, call = %started.id, from = %started.from, to = %started.to, "click-to-call");
        let object = ObjectRef::new(ObjectKind::Call, started.id.clone());
        self.writer
            .record_action(
                actor,
                Action::Originate,
                &object,
                serde_json::to_value(&started).ok(),
            )
            .await?;
        Ok(started)
    }

    /// Hangs up every channel of the live call `id` (its linkedid, or the uniqueid
    /// of one of its channels).
    pub async fn hang_up(&self, actor: &Actor, id: &str) -> Result<CallHungUp, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("live call {}", id.escape_debug()));
        if id.is_empty() || id.len() > MAX_CALL_ID {
            return Err(not_found());
        }
        let list = self
            .ami
            .send_list(Message::action("CoreShowChannels"))
            .await
            .map_err(ami_error)?;
        if !list.is_success() {
            let message = list.response.message().unwrap_or("no message").to_owned();
            return Err(ServiceError::Rejected(format!(
                "Asterisk refused CoreShowChannels: {message}"
            )));
        }
        let field = |m: &Message, name: &str| m.get(name).map(str::trim).map(str::to_owned);
        let channels: Vec<String> = list
            .events
            .iter()
            .filter(|m| {
                m.event()
                    .is_some_and(|e| e.eq_ignore_ascii_case("CoreShowChannel"))
            })
            .filter(|m| {
                field(m, "Linkedid").as_deref() == Some(id)
                    || field(m, "Uniqueid").as_deref() == Some(id)
            })
            .filter_map(|m| field(m, "Channel"))
            .collect();
        if channels.is_empty() {
            return Err(not_found());
        }
        let mut hung_up = Vec::with_capacity(channels.len());
        for channel in channels {
            // `false`: the channel went away meanwhile (e.g. hung up with its peer).
            if self.ami.hangup(&channel).await.map_err(ami_error)? {
                hung_up.push(channel);
            }
        }
        tracing::info!(actor = %actor.name, call = %id, channels = ?hung_up, "call hung up");
        let result = CallHungUp {
            id: id.to_owned(),
            channels: hung_up,
        };
        let object = ObjectRef::new(ObjectKind::Call, id);
        self.writer
            .record_action(
                actor,
                Action::Hangup,
                &object,
                serde_json::to_value(&result).ok(),
            )
            .await?;
        Ok(result)
    }
}

/// The first sign of the call within [`START_WAIT`], if any.
async fn wait_for_start(
    events: &mut EventStream,
    action_id: &str,
    call_id: &str,
) -> Option<StartSign> {
    let deadline = Instant::now() + START_WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, events.next())
            .await
            .ok()??;
        match next {
            Ok(msg) => {
                if let Some(sign) = start_sign(&msg, action_id, call_id) {
                    return Some(sign);
                }
            }
            Err(lagged) => tracing::debug!(
                missed = lagged.0,
                "click-to-call watch fell behind the AMI events"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn originate_response(response: &str, reason: &str, uniqueid: &str) -> Message {
        // f4 (answered) and f5 (no contact), as recorded.
        Message::new()
            .with("Event", "OriginateResponse")
            .with("Privilege", "call,all")
            .with("ActionID", "rayan-1-7")
            .with("Response", response)
            .with("Channel", "PJSIP/1001")
            .with("Context", "from-internal")
            .with("Exten", "1002")
            .with("Reason", reason)
            .with("Uniqueid", uniqueid)
            .with("CallerIDNum", "<unknown>")
            .with("CallerIDName", "<unknown>")
    }

    #[test]
    fn a_failed_originate_names_the_reason() {
        let sign = start_sign(
            &originate_response("Failure", "0", "<unknown>"),
            "rayan-1-7",
            "rayan-x",
        );
        assert!(
            matches!(sign, Some(StartSign::Failed { reason }) if reason.contains("registered"))
        );
        assert_eq!(
            start_sign(
                &originate_response("Failure", "0", "<unknown>"),
                "rayan-1-8",
                "rayan-x"
            ),
            None
        );
    }

    #[test]
    fn an_answered_originate_gives_the_channel_uniqueid() {
        let sign = start_sign(
            &originate_response("Success", "4", "1795279389.18"),
            "rayan-1-7",
            "rayan-x",
        );
        assert_eq!(
            sign,
            Some(StartSign::Answered {
                uniqueid: "1795279389.18".into()
            })
        );
    }

    #[test]
    fn the_new_channel_is_recognised_by_its_uniqueid() {
        let newchannel = Message::new()
            .with("Event", "Newchannel")
            .with("Channel", "PJSIP/1001-00000008")
            .with("Uniqueid", "rayan-x")
            .with("Linkedid", "rayan-x");
        assert_eq!(
            start_sign(&newchannel, "rayan-1-7", "rayan-x"),
            Some(StartSign::Channel {
                linkedid: "rayan-x".into()
            })
        );
        assert_eq!(start_sign(&newchannel, "rayan-1-7", "rayan-y"), None);
        assert_eq!(
            start_sign(
                &Message::new().with("Response", "Success"),
                "rayan-1-7",
                "rayan-x"
            ),
            None
        );
    }

    #[test]
    fn caller_id_prefers_the_configured_one() {
        let mut ext = Extension {
            id: 1,
            number: "1001".into(),
            name: Some("Al \"the\" ice".into()),
            template: "basic".into(),
            context: "from-internal".into(),
            codecs: None,
            max_contacts: None,
            caller_id: None,
            enabled: true,
            auth: crate::model::ExtensionAuth {
                realm: "asterisk".into(),
                md5_cred: String::new(),
            },
            options: Default::default(),
            transport: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        assert_eq!(caller_id(&ext), "\"Al the ice\" <1001>");
        ext.caller_id = Some("\"Desk\" <200>".into());
        assert_eq!(caller_id(&ext), "\"Desk\" <200>");
        ext.caller_id = None;
        ext.name = None;
        assert_eq!(caller_id(&ext), "1001");
    }

    #[test]
    fn call_ids_fit_asterisk_uniqueids() {
        let id = new_call_id();
        assert!(id.len() < MAX_CALL_ID && id.starts_with("rayan-"));
        assert_ne!(id, new_call_id());
    }
}
