//! What `PJSIPShowEndpoint` says about one endpoint: the endpoint itself and the auth, aor,
//! transport and contact objects Asterisk actually loaded for it.
//!
//! Reload answers `Success` even when Asterisk dropped an object it could not parse, so
//! this is the verification: an aor named by the endpoint but missing here was rejected.

use super::list::ListResponse;
use super::message::Message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointDetails {
    /// `EndpointDetail`, every field as Asterisk sent it.
    pub endpoint: Message,
    /// `AuthDetail` events (they carry passwords: never log them unmasked).
    pub auths: Vec<Message>,
    /// `AorDetail` events.
    pub aors: Vec<Message>,
    /// `ContactStatusDetail` events: registered contacts of the endpoint's aors.
    pub contacts: Vec<Message>,
    /// `TransportDetail`, when the endpoint's transport exists.
    pub transport: Option<Message>,
    /// `Response: Error` messages inside the list, e.g. `Unable to retrieve transport ...`.
    pub errors: Vec<Message>,
    /// Any other event in the list, kept whole.
    pub other: Vec<Message>,
}

impl EndpointDetails {
    /// Sorts a successful `PJSIPShowEndpoint` list by event; `None` when it has no
    /// `EndpointDetail`.
    pub fn from_list(list: ListResponse) -> Option<Self> {
        let mut endpoint = None;
        let mut details = Self {
            endpoint: Message::new(),
            auths: Vec::new(),
            aors: Vec::new(),
            contacts: Vec::new(),
            transport: None,
            errors: Vec::new(),
            other: Vec::new(),
        };
        for message in list.events {
            if message.is_response() {
                details.errors.push(message);
                continue;
            }
            match message.event().unwrap_or_default() {
                "EndpointDetail" if endpoint.is_none() => endpoint = Some(message),
                "AuthDetail" => details.auths.push(message),
                "AorDetail" => details.aors.push(message),
                "ContactStatusDetail" => details.contacts.push(message),
                "TransportDetail" if details.transport.is_none() => {
                    details.transport = Some(message)
                }
                _ => details.other.push(message),
            }
        }
        details.endpoint = endpoint?;
        Some(details)
    }

    pub fn name(&self) -> &str {
        self.endpoint.get("ObjectName").unwrap_or_default()
    }

    pub fn context(&self) -> Option<&str> {
        non_empty(self.endpoint.get("Context"))
    }

    /// Aor names the endpoint is configured with (`Aors:`).
    pub fn aor_names(&self) -> Vec<&str> {
        split_list(self.endpoint.get("Aors"))
    }

    /// Auth names the endpoint is configured with (`Auth:`).
    pub fn auth_names(&self) -> Vec<&str> {
        split_list(self.endpoint.get("Auth"))
    }

    /// The first configured auth name.
    pub fn auth(&self) -> Option<&str> {
        self.auth_names().first().copied()
    }

    pub fn transport_name(&self) -> Option<&str> {
        non_empty(self.endpoint.get("Transport"))
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.endpoint.get(field)
    }

    /// The loaded aor object named `name`.
    pub fn aor(&self, name: &str) -> Option<&Message> {
        self.aors.iter().find(|m| m.get("ObjectName") == Some(name))
    }

    /// Aors the endpoint names that Asterisk did not load (a bad aor is skipped silently).
    pub fn missing_aors(&self) -> Vec<&str> {
        let mut missing = self.aor_names();
        missing.retain(|name| self.aor(name).is_none());
        missing
    }

    /// Auths the endpoint names that Asterisk did not load.
    pub fn missing_auths(&self) -> Vec<&str> {
        let mut missing = self.auth_names();
        missing.retain(|name| {
            !self
                .auths
                .iter()
                .any(|m| m.get("ObjectName") == Some(*name))
        });
        missing
    }

    /// True when the endpoint's transport was configured but not found.
    pub fn transport_missing(&self) -> bool {
        self.transport_name().is_some() && self.transport.is_none()
    }

    /// True when everything the endpoint refers to was loaded and Asterisk reported no error.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
            && self.missing_aors().is_empty()
            && self.missing_auths().is_empty()
            && !self.transport_missing()
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

fn split_list(value: Option<&str>) -> Vec<&str> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, object: &str) -> Message {
        Message::new()
            .with("Event", name)
            .with("ObjectName", object)
    }

    #[test]
    fn missing_aor_and_transport_errors_are_visible() {
        let list = ListResponse {
            response: Message::new().with("Response", "Success"),
            events: vec![
                event("EndpointDetail", "1004")
                    .with("Aors", "1004,1004b")
                    .with("Auth", "")
                    .with("Transport", "no-such-transport")
                    .with("Context", "from-internal"),
                event("AorDetail", "1004b"),
                Message::new()
                    .with("Response", "Error")
                    .with("Message", "Unable to retrieve transport no-such-transport"),
            ],
            complete: None,
        };
        let details = EndpointDetails::from_list(list).expect("has an EndpointDetail");
        assert_eq!(details.name(), "1004");
        assert_eq!(details.context(), Some("from-internal"));
        assert_eq!(details.aor_names(), ["1004", "1004b"]);
        assert_eq!(details.missing_aors(), ["1004"]);
        assert_eq!(details.auth(), None);
        assert!(details.transport_missing());
        assert_eq!(details.errors.len(), 1);
        assert!(!details.is_complete());
    }

    #[test]
    fn list_without_endpoint_detail_is_none() {
        let list = ListResponse {
            response: Message::new().with("Response", "Success"),
            events: vec![event("AorDetail", "1")],
            complete: None,
        };
        assert!(EndpointDetails::from_list(list).is_none());
    }
}
