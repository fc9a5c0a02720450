//! Typed helpers for the actions rayan needs, built on [`AmiClient::send`] and
//! [`AmiClient::send_list`]. Every helper keeps whole messages reachable.

use super::client::AmiClient;
use super::endpoint::EndpointDetails;
use super::error::AmiError;
use super::list::ListResponse;
use super::message::Message;
use super::originate::{OriginateRequest, Originated};

/// Result of `Action: Reload` with `Module:`. Asterisk answers `Module Reloaded` even when
/// it dropped objects it could not parse: verify with `pjsip_show_endpoint` afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    Reloaded,
    NoSuchModule,
    /// Any other refusal, with Asterisk's message.
    Failed {
        message: String,
    },
}

/// One dialplan priority for [`AmiClient::dialplan_extension_add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialplanLine<'a> {
    pub context: &'a str,
    pub extension: &'a str,
    /// `hint` or a number.
    pub priority: &'a str,
    pub application: &'a str,
    pub data: &'a str,
    pub replace: bool,
}

/// The answer to `CoreSettings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreSettings {
    /// `AsteriskVersion`, e.g. `22.10.1`.
    pub asterisk_version: Option<String>,
    /// `AMIversion`, e.g. `11.0.0`.
    pub ami_version: Option<String>,
    pub message: Message,
}

impl AmiClient {
    /// `Action: Ping`.
    pub async fn ping(&self) -> Result<(), AmiError> {
        let answer = self.send(Message::action("Ping")).await?;
        require_success("Ping", &answer)
    }

    /// `Action: Reload` + `Module:` — the real PJSIP reload is `reload_module("res_pjsip.so")`,
    /// the dialplan reload `reload_module("pbx_config.so")`. (`PJSIPReload` does not exist.)
    pub async fn reload_module(&self, module: &str) -> Result<ReloadOutcome, AmiError> {
        let answer = self
            .send(Message::action("Reload").with("Module", module))
            .await?;
        if answer.is_success() {
            return Ok(ReloadOutcome::Reloaded);
        }
        let message = answer.message().unwrap_or_default();
        if message.eq_ignore_ascii_case("No such module") {
            Ok(ReloadOutcome::NoSuchModule)
        } else {
            Ok(ReloadOutcome::Failed {
                message: message.to_owned(),
            })
        }
    }

    /// `PJSIPShowEndpoint`: the endpoint and the objects Asterisk loaded for it, or `None`
    /// when Asterisk has no such endpoint.
    pub async fn pjsip_show_endpoint(
        &self,
        name: &str,
    ) -> Result<Option<EndpointDetails>, AmiError> {
        let list = self
            .send_list(Message::action("PJSIPShowEndpoint").with("Endpoint", name))
            .await?;
        if !list.is_success() {
            let message = list.response.message().unwrap_or_default();
            if message.starts_with("Unable to retrieve endpoint") {
                return Ok(None);
            }
            return Err(failed("PJSIPShowEndpoint", &list.response));
        }
        EndpointDetails::from_list(list)
            .map(Some)
            .ok_or_else(|| AmiError::UnexpectedResponse {
                action: "PJSIPShowEndpoint".to_owned(),
                detail: "event list without EndpointDetail".to_owned(),
            })
    }

    /// `PJSIPShowEndpoints`: one `EndpointList` event per endpoint.
    pub async fn pjsip_show_endpoints(&self) -> Result<Vec<Message>, AmiError> {
        self.list_of("PJSIPShowEndpoints", "EndpointList").await
    }

    /// `PJSIPShowContacts`: one `ContactList` event per contact; Asterisk's
    /// "No Contacts found" error is an empty list.
    pub async fn pjsip_show_contacts(&self) -> Result<Vec<Message>, AmiError> {
        self.list_of("PJSIPShowContacts", "ContactList").await
    }

    /// `PJSIPShowRegistrationsOutbound`: one `OutboundRegistrationDetail` per registration
    /// (the `AuthDetail` events Asterisk interleaves are left out: they hold passwords).
    pub async fn pjsip_show_registrations_outbound(&self) -> Result<Vec<Message>, AmiError> {
        self.list_of(
            "PJSIPShowRegistrationsOutbound",
            "OutboundRegistrationDetail",
        )
        .await
    }

    /// `ExtensionStateList`: one `ExtensionStatus` per hint (j3, n3).
    pub async fn extension_state_list(&self) -> Result<Vec<Message>, AmiError> {
        self.list_of("ExtensionStateList", "ExtensionStatus").await
    }

    /// `DialplanExtensionAdd`: one priority (`hint` or a number) of an extension,
    /// created with its context if need be; `replace` overwrites an existing one
    /// (o1). Asterisk's refusal is an `ActionFailed` with its message.
    pub async fn dialplan_extension_add(&self, line: &DialplanLine<'_>) -> Result<(), AmiError> {
        let mut action = Message::action("DialplanExtensionAdd")
            .with("Context", line.context)
            .with("Extension", line.extension)
            .with("Priority", line.priority)
            .with("Application", line.application);
        if !line.data.is_empty() {
            action = action.with("ApplicationData", line.data);
        }
        if line.replace {
            action = action.with("Replace", "yes");
        }
        let answer = self.send(action).await?;
        require_success("DialplanExtensionAdd", &answer)
    }

    /// `DialplanExtensionRemove`: one priority, or the whole extension when
    /// `priority` is `None` (o1).
    pub async fn dialplan_extension_remove(
        &self,
        context: &str,
        extension: &str,
        priority: Option<&str>,
    ) -> Result<(), AmiError> {
        let mut action = Message::action("DialplanExtensionRemove")
            .with("Context", context)
            .with("Extension", extension);
        if let Some(priority) = priority {
            action = action.with("Priority", priority);
        }
        let answer = self.send(action).await?;
        require_success("DialplanExtensionRemove", &answer)
    }

    /// `ShowDialPlan` of one extension in one context: its priorities as
    /// (priority, application, data), e.g. `("hint", "PJSIP/2001", "")`; empty
    /// when Asterisk has no such extension. Lines of included contexts and
    /// patterns that merely match are left out.
    pub async fn show_dialplan_extension(
        &self,
        context: &str,
        extension: &str,
    ) -> Result<Vec<(String, String, String)>, AmiError> {
        let list = self
            .send_list(
                Message::action("ShowDialPlan")
                    .with("Context", context)
                    .with("Extension", extension),
            )
            .await?;
        if !list.is_success() {
            return Ok(Vec::new());
        }
        Ok(list
            .events_named("ListDialplan")
            .filter(|e| {
                e.get("Context") == Some(context)
                    && e.get("Extension") == Some(extension)
                    && e.get("IncludeContext").is_none()
            })
            .map(|e| {
                (
                    e.get("Priority").unwrap_or_default().to_owned(),
                    e.get("Application").unwrap_or_default().to_owned(),
                    e.get("AppData").unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    async fn list_of(&self, action: &str, event: &str) -> Result<Vec<Message>, AmiError> {
        let list = self.send_list(Message::action(action)).await?;
        if !list.is_success() {
            if is_empty_list_error(&list) {
                return Ok(Vec::new());
            }
            return Err(failed(action, &list.response));
        }
        Ok(list
            .events
            .into_iter()
            .filter(|m| m.event().is_some_and(|e| e.eq_ignore_ascii_case(event)))
            .collect())
    }

    /// `PJSIPRegister`: asks Asterisk to register `registration` again now. The
    /// outcome comes later, as a `Registry` event ("Reregistration sent", e2).
    pub async fn pjsip_register(&self, registration: &str) -> Result<(), AmiError> {
        let answer = self
            .send(Message::action("PJSIPRegister").with("Registration", registration))
            .await?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(failed("PJSIPRegister", &answer))
        }
    }

    /// `PJSIPQualify`: asks Asterisk to qualify the endpoint's contacts now; the
    /// outcome comes later, as `ContactStatus` (f1).
    pub async fn pjsip_qualify(&self, endpoint: &str) -> Result<(), AmiError> {
        let answer = self
            .send(Message::action("PJSIPQualify").with("Endpoint", endpoint))
            .await?;
        require_success("PJSIPQualify", &answer)
    }

    /// `Action: Command`: runs a CLI command and returns its output lines.
    pub async fn command(&self, command: &str) -> Result<Vec<String>, AmiError> {
        let answer = self
            .send(Message::action("Command").with("Command", command))
            .await?;
        let output: Vec<String> = answer.get_all("Output").map(str::to_owned).collect();
        if answer.is_success() {
            Ok(output)
        } else {
            Err(AmiError::CommandFailed {
                command: command.to_owned(),
                output: if output.is_empty() {
                    answer.message().map(str::to_owned).into_iter().collect()
                } else {
                    output
                },
            })
        }
    }

    /// `Action: Originate`.
    pub async fn originate(&self, request: &OriginateRequest) -> Result<Originated, AmiError> {
        let answer = self.send(request.to_message()).await?;
        require_success("Originate", &answer)?;
        Ok(Originated {
            action_id: answer.action_id().unwrap_or_default().to_owned(),
            message: answer.message().unwrap_or_default().to_owned(),
        })
    }

    /// `Action: Hangup` with cause 16 (normal clearing). `Ok(false)` when there was no such
    /// channel.
    pub async fn hangup(&self, channel: &str) -> Result<bool, AmiError> {
        let answer = self
            .send(
                Message::action("Hangup")
                    .with("Channel", channel)
                    .with("Cause", "16"),
            )
            .await?;
        if answer.is_success() {
            return Ok(true);
        }
        if answer
            .message()
            .is_some_and(|m| m.eq_ignore_ascii_case("No such channel"))
        {
            return Ok(false);
        }
        Err(failed("Hangup", &answer))
    }

    /// `Action: CoreSettings`, which carries the Asterisk version.
    pub async fn core_settings(&self) -> Result<CoreSettings, AmiError> {
        let answer = self.send(Message::action("CoreSettings")).await?;
        require_success("CoreSettings", &answer)?;
        Ok(CoreSettings {
            asterisk_version: answer.get("AsteriskVersion").map(str::to_owned),
            ami_version: answer.get("AMIversion").map(str::to_owned),
            message: answer,
        })
    }

    /// When the running Asterisk process started (`CoreStatus`: date and time,
    /// to the second): a new value means Asterisk restarted.
    pub async fn startup(&self) -> Result<String, AmiError> {
        let answer = self.send(Message::action("CoreStatus")).await?;
        require_success("CoreStatus", &answer)?;
        Ok(format!(
            "{} {}",
            answer.get("CoreStartupDate").unwrap_or_default(),
            answer.get("CoreStartupTime").unwrap_or_default()
        ))
    }
}

/// Asterisk answers some empty lists with an error such as "No Contacts found".
fn is_empty_list_error(list: &ListResponse) -> bool {
    let message = list.response.message().unwrap_or_default();
    message.starts_with("No ") && message.ends_with(" found")
}

fn require_success(action: &str, answer: &Message) -> Result<(), AmiError> {
    if answer.is_success() {
        Ok(())
    } else {
        Err(failed(action, answer))
    }
}

fn failed(action: &str, answer: &Message) -> AmiError {
    AmiError::ActionFailed {
        action: action.to_owned(),
        message: answer
            .message()
            .unwrap_or(answer.response().unwrap_or("no Response"))
            .to_owned(),
    }
}
