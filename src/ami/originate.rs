//! `Action: Originate`: place a call from a channel to an application or a dialplan extension.

use std::time::Duration;

use super::message::Message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginateTarget {
    /// Run `application(data)` once the channel answers.
    Application { application: String, data: String },
    /// Continue in the dialplan at `context,exten,priority`.
    Extension {
        context: String,
        exten: String,
        priority: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginateRequest {
    /// e.g. `PJSIP/1002` or `Local/9000@from-internal`.
    pub channel: String,
    pub target: OriginateTarget,
    /// e.g. `Lab <5555>`.
    pub caller_id: Option<String>,
    /// How long to ring the channel.
    pub timeout: Option<Duration>,
    /// Channel variables, one `Variable: name=value` header each.
    pub variables: Vec<(String, String)>,
    pub account: Option<String>,
    /// Answer at once with "Originate successfully queued"; the outcome then arrives as an
    /// `OriginateResponse` event carrying the same ActionID. A synchronous originate holds
    /// the actions connection until the call is answered or fails.
    pub asynchronous: bool,
}

impl OriginateRequest {
    pub fn application(
        channel: impl Into<String>,
        application: impl Into<String>,
        data: impl Into<String>,
    ) -> Self {
        Self::new(
            channel,
            OriginateTarget::Application {
                application: application.into(),
                data: data.into(),
            },
        )
    }

    pub fn extension(
        channel: impl Into<String>,
        context: impl Into<String>,
        exten: impl Into<String>,
        priority: u32,
    ) -> Self {
        Self::new(
            channel,
            OriginateTarget::Extension {
                context: context.into(),
                exten: exten.into(),
                priority,
            },
        )
    }

    fn new(channel: impl Into<String>, target: OriginateTarget) -> Self {
        Self {
            channel: channel.into(),
            target,
            caller_id: None,
            timeout: None,
            variables: Vec::new(),
            account: None,
            asynchronous: true,
        }
    }

    pub fn to_message(&self) -> Message {
        let mut m = Message::action("Originate").with("Channel", &self.channel);
        match &self.target {
            OriginateTarget::Application { application, data } => {
                m.push("Application", application);
                m.push("Data", data);
            }
            OriginateTarget::Extension {
                context,
                exten,
                priority,
            } => {
                m.push("Context", context);
                m.push("Exten", exten);
                m.push("Priority", priority.to_string());
            }
        }
        if let Some(timeout) = self.timeout {
            m.push("Timeout", timeout.as_millis().to_string());
        }
        if let Some(caller_id) = &self.caller_id {
            m.push("CallerID", caller_id);
        }
        if let Some(account) = &self.account {
            m.push("Account", account);
        }
        for (name, value) in &self.variables {
            m.push("Variable", format!("{name}={value}"));
        }
        if self.asynchronous {
            m.push("Async", "true");
        }
        m
    }
}

/// Asterisk accepted the originate. With `asynchronous`, watch the events for an
/// `OriginateResponse` whose `ActionID` is `action_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Originated {
    pub action_id: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_recorded_originate() {
        // f3-originate-local-wait
        let mut request = OriginateRequest::application("Local/9000@from-internal", "Wait", "2");
        request.caller_id = Some("Lab <5555>".into());
        let m = request.to_message();
        let headers: Vec<_> = m.headers().collect();
        assert_eq!(
            headers,
            [
                ("Action", "Originate"),
                ("Channel", "Local/9000@from-internal"),
                ("Application", "Wait"),
                ("Data", "2"),
                ("CallerID", "Lab <5555>"),
                ("Async", "true"),
            ]
        );
    }

    #[test]
    fn extension_target_with_variables_and_timeout() {
        let mut request = OriginateRequest::extension("PJSIP/1001", "from-internal", "1002", 1);
        request.timeout = Some(Duration::from_secs(20));
        request.variables = vec![("A".into(), "1".into()), ("B".into(), "2".into())];
        request.asynchronous = false;
        let m = request.to_message();
        assert_eq!(m.get("Context"), Some("from-internal"));
        assert_eq!(m.get("Priority"), Some("1"));
        assert_eq!(m.get("Timeout"), Some("20000"));
        assert_eq!(m.get_all("Variable").collect::<Vec<_>>(), ["A=1", "B=2"]);
        assert_eq!(m.get("Async"), None);
    }
}
