//! The collected answer to a list action (`PJSIPShowEndpoint`, `PJSIPShowContacts`, ...).

use super::message::Message;

/// `Response:` of a plain action; an ordinary [`Message`].
pub type Response = Message;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResponse {
    /// The `Response:` message: `Success` with `EventList: start`, or the `Error` that
    /// ended the action at once.
    pub response: Message,
    /// Everything Asterisk sent inside the list, in order. Usually events, but Asterisk also
    /// puts `Response: Error` messages inside a list (an endpoint naming a missing transport);
    /// they are kept here, not taken for the end of the list.
    pub events: Vec<Message>,
    /// The closing `...Complete` event (`EventList: Complete`, `ListItems: n`).
    pub complete: Option<Message>,
}

impl ListResponse {
    pub fn is_success(&self) -> bool {
        self.response.is_success()
    }

    /// The events named `event`, e.g. `EndpointList`.
    pub fn events_named<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a Message> + 'a {
        self.events
            .iter()
            .filter(move |m| m.event().is_some_and(|e| e.eq_ignore_ascii_case(event)))
    }

    /// `Response: Error` messages that arrived inside the list.
    pub fn inner_errors(&self) -> impl Iterator<Item = &Message> {
        self.events.iter().filter(|m| m.is_response())
    }

    /// `ListItems:` of the closing event.
    pub fn list_items(&self) -> Option<usize> {
        self.complete.as_ref()?.get("ListItems")?.parse().ok()
    }
}
