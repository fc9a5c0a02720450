//! One AMI message: an ordered list of headers. Repeated headers (`Output:`,
//! `ChanVariable:`) keep their order, so a message is never collapsed into a map.

/// An AMI message as it crossed the wire: headers in order, values trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    headers: Vec<(String, String)>,
}

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_headers(headers: Vec<(String, String)>) -> Self {
        Self { headers }
    }

    /// Appends a header, keeping any earlier one with the same name.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// Builder form of [`Message::push`].
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(name, value);
        self
    }

    /// The first value of `name`; header names compare case-insensitively, as Asterisk does.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn into_headers(self) -> Vec<(String, String)> {
        self.headers
    }

    /// `Event:` value, for events.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// `Response:` value, for responses.
    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }

    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }
}
