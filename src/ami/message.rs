//! One AMI message: an ordered list of headers. Repeated headers (`Output:`,
//! `ChanVariable:`) keep their order, so a message is never collapsed into a map.
//!
//! Names and values live in one string buffer with offsets beside it. A message
//! built here owns its buffer; the messages the connection decodes from one read
//! share a single block instead, so decoding a burst allocates per read, not per
//! message, and cloning a decoded message only bumps a reference count.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// Offsets of one header's name and value inside [`Message::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    name: (u32, u32),
    value: (u32, u32),
}

impl Field {
    pub(crate) fn new(name: Range<usize>, value: Range<usize>) -> Self {
        // Message size is bounded far below 4 GiB by the codec limits.
        Self {
            name: (name.start as u32, name.end as u32),
            value: (value.start as u32, value.end as u32),
        }
    }

    /// The same header with its offsets taken from `to` instead of `from`.
    pub(crate) fn rebased(self, from: u32, to: u32) -> Self {
        let move_to = |offset: u32| offset - from + to;
        Self {
            name: (move_to(self.name.0), move_to(self.name.1)),
            value: (move_to(self.value.0), move_to(self.value.1)),
        }
    }
}

/// An AMI message as it crossed the wire: headers in order, values trimmed.
#[derive(Clone)]
pub struct Message {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Owned {
        text: String,
        fields: Vec<Field>,
    },
    /// Headers `fields.0..fields.1` of a block shared with the other messages of one read.
    Shared {
        block: Arc<Block>,
        fields: (u32, u32),
    },
}

impl Default for Message {
    fn default() -> Self {
        Self {
            repr: Repr::Owned {
                text: String::new(),
                fields: Vec::new(),
            },
        }
    }
}

/// The text and headers of several messages decoded together; field offsets are
/// relative to the start of `text`.
pub(crate) struct Block {
    text: Box<str>,
    fields: Vec<Field>,
    /// When the read that brought these messages was decoded.
    received: Instant,
}

impl Block {
    /// The messages whose headers are `fields[spans[i]]`.
    pub(crate) fn split(
        text: Box<str>,
        fields: Vec<Field>,
        spans: impl IntoIterator<Item = (u32, u32)>,
        out: &mut Vec<Message>,
    ) {
        let block = Arc::new(Block {
            text,
            fields,
            received: Instant::now(),
        });
        out.extend(spans.into_iter().map(|fields| Message {
            repr: Repr::Shared {
                block: Arc::clone(&block),
                fields,
            },
        }));
    }
}

/// Headers whose values are credentials; they are masked whenever a message is logged.
const SECRET_HEADERS: &[&str] = &[
    "Secret",
    "Key",
    "Password",
    "Md5Cred",
    "PasswordDigest",
    "OauthSecret",
    "RefreshToken",
];

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new action: `Action: <name>` as the first header.
    pub fn action(name: &str) -> Self {
        Self::new().with("Action", name)
    }

    pub fn from_headers(headers: Vec<(String, String)>) -> Self {
        let mut message = Self::new();
        for (name, value) in headers {
            message.push(name, value);
        }
        message
    }

    /// Built by the codec from the text of a whole message and the header offsets into it.
    pub(crate) fn from_parts(text: String, fields: Vec<Field>) -> Self {
        Self {
            repr: Repr::Owned { text, fields },
        }
    }

    /// When the connection decoded this message, for messages that came from Asterisk
    /// through a connection's reader; `None` for messages built or decoded elsewhere.
    pub fn received_at(&self) -> Option<Instant> {
        match &self.repr {
            Repr::Owned { .. } => None,
            Repr::Shared { block, .. } => Some(block.received),
        }
    }

    /// The text the header offsets point into, and the headers.
    fn parts(&self) -> (&str, &[Field]) {
        match &self.repr {
            Repr::Owned { text, fields } => (text, fields),
            Repr::Shared { block, fields } => (
                &block.text,
                &block.fields[fields.0 as usize..fields.1 as usize],
            ),
        }
    }

    /// The buffers to change, copied out of a shared block first.
    fn owned_parts(&mut self) -> (&mut String, &mut Vec<Field>) {
        if let Repr::Shared { .. } = self.repr {
            let mut owned = Message::new();
            for (name, value) in self.headers() {
                owned.push(name, value);
            }
            *self = owned;
        }
        match &mut self.repr {
            Repr::Owned { text, fields } => (text, fields),
            Repr::Shared { .. } => unreachable!("converted to owned above"),
        }
    }

    /// Appends a header, keeping any earlier one with the same name.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let name = name.as_ref();
        let value = value.as_ref();
        let (text, fields) = self.owned_parts();
        let name_start = text.len();
        text.push_str(name);
        let value_start = text.len();
        text.push_str(value);
        fields.push(Field::new(name_start..value_start, value_start..text.len()));
    }

    /// Builder form of [`Message::push`].
    pub fn with(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.push(name, value);
        self
    }

    /// Replaces the value of the first `name` header and drops the others, or
    /// appends the header when there is none.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Some(index) => {
                let (text, fields) = self.owned_parts();
                let start = text.len();
                text.push_str(value);
                fields[index].value = (start as u32, text.len() as u32);
                let mut seen = 0usize;
                fields.retain(|field| {
                    if !slice(text, field.name).eq_ignore_ascii_case(name) {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => self.push(name, value),
        }
    }

    /// Removes every `name` header.
    pub fn remove(&mut self, name: &str) {
        if self.position(name).is_none() {
            return;
        }
        let (text, fields) = self.owned_parts();
        fields.retain(|field| !slice(text, field.name).eq_ignore_ascii_case(name));
    }

    fn position(&self, name: &str) -> Option<usize> {
        let (text, fields) = self.parts();
        fields
            .iter()
            .position(|field| slice(text, field.name).eq_ignore_ascii_case(name))
    }

    /// The first value of `name`; header names compare case-insensitively, as Asterisk does.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All headers in wire order.
    pub fn headers(&self) -> Headers<'_> {
        let (text, fields) = self.parts();
        Headers {
            text,
            fields: fields.iter(),
        }
    }

    pub fn into_headers(self) -> Vec<(String, String)> {
        self.headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.parts().1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `Event:` value, for events.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// `Response:` value, for responses.
    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }

    /// True for an answer to an action: a `Response:` header and no `Event:` header
    /// (`OriginateResponse` events carry a `Response:` header too).
    pub fn is_response(&self) -> bool {
        let mut response = false;
        for (name, _) in self.headers() {
            if name.eq_ignore_ascii_case("Event") {
                return false;
            }
            response |= name.eq_ignore_ascii_case("Response");
        }
        response
    }

    /// `ActionID` and [`Message::is_response`] in one pass over the header names, for the
    /// reader's hot path.
    pub(crate) fn routing(&self) -> (Option<&str>, bool) {
        let (text, fields) = self.parts();
        let (mut action_id, mut response, mut event) = (None, false, false);
        for field in fields {
            // Only names of 5 or 8 bytes can matter: skip the others without slicing.
            let len = field.name.1 - field.name.0;
            if len != 5 && len != 8 {
                continue;
            }
            let name = slice(text, field.name);
            if name.eq_ignore_ascii_case("Event") {
                event = true;
            } else if name.eq_ignore_ascii_case("Response") {
                response = true;
            } else if action_id.is_none() && name.eq_ignore_ascii_case("ActionID") {
                action_id = Some(slice(text, field.value));
            }
        }
        (action_id, response && !event)
    }

    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// `Action:` value, for actions.
    pub fn action_name(&self) -> Option<&str> {
        self.get("Action")
    }

    /// True for `Response: Success` (and `Goodbye`, the Logoff answer).
    pub fn is_success(&self) -> bool {
        self.response()
            .is_some_and(|r| r.eq_ignore_ascii_case("Success") || r.eq_ignore_ascii_case("Goodbye"))
    }

    /// `Message:` value.
    pub fn message(&self) -> Option<&str> {
        self.get("Message")
    }

    /// True when this message closes an event list (`EventList: Complete`).
    pub fn is_list_complete(&self) -> bool {
        self.get("EventList")
            .is_some_and(|v| v.eq_ignore_ascii_case("Complete"))
    }

    /// True when this response opens an event list (`EventList: start`).
    pub fn is_list_start(&self) -> bool {
        self.get("EventList")
            .is_some_and(|v| v.eq_ignore_ascii_case("start"))
    }

    /// A view for logs: every credential header (`Secret`, `Key`, `Password`, ...) is masked.
    pub fn masked(&self) -> Masked<'_> {
        Masked(self)
    }
}

fn slice(text: &str, (start, end): (u32, u32)) -> &str {
    &text[start as usize..end as usize]
}

/// Iterator over a message's headers as `(name, value)`.
#[derive(Clone)]
pub struct Headers<'a> {
    text: &'a str,
    fields: std::slice::Iter<'a, Field>,
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let field = self.fields.next()?;
        Some((slice(self.text, field.name), slice(self.text, field.value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl DoubleEndedIterator for Headers<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let field = self.fields.next_back()?;
        Some((slice(self.text, field.name), slice(self.text, field.value)))
    }
}

impl ExactSizeIterator for Headers<'_> {}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.headers().eq(other.headers())
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.headers()).finish()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Message {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut message = Self::new();
        for (name, value) in iter {
            message.push(name, value);
        }
        message
    }
}

/// Log view of a [`Message`] with credentials masked: `Action: Login | Username: x | Secret: ********`.
pub struct Masked<'a>(&'a Message);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (name, value)) in self.0.headers().enumerate() {
            if index > 0 {
                f.write_str(" | ")?;
            }
            let secret = SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name));
            if secret && !value.is_empty() {
                write!(f, "{name}: ********")?;
            } else {
                write!(f, "{name}: {value}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_keep_their_order() {
        let m = Message::new()
            .with("Response", "Success")
            .with("Output", "line 1")
            .with("Output", "")
            .with("Output", "line 3");
        assert_eq!(
            m.get_all("output").collect::<Vec<_>>(),
            ["line 1", "", "line 3"]
        );
        assert_eq!(m.get("OUTPUT"), Some("line 1"));
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn set_replaces_first_and_drops_duplicates() {
        let mut m = Message::action("Ping")
            .with("ActionID", "a")
            .with("actionid", "b");
        m.set("ActionID", "c");
        assert_eq!(m.get_all("ActionID").collect::<Vec<_>>(), ["c"]);
        assert_eq!(m.headers().next(), Some(("Action", "Ping")));
        m.set("Module", "res_pjsip.so");
        assert_eq!(m.headers().next_back(), Some(("Module", "res_pjsip.so")));
        m.remove("module");
        assert_eq!(m.get("Module"), None);
    }

    #[test]
    fn equality_ignores_how_the_message_was_built() {
        let a = Message::from_headers(vec![("A".into(), "1".into()), ("B".into(), "2".into())]);
        let mut b = Message::new().with("A", "1").with("X", "y").with("B", "2");
        b.remove("X");
        assert_eq!(a, b);
        assert_ne!(a, Message::new().with("A", "1"));
    }

    #[test]
    fn messages_sharing_a_block_change_alone() {
        let text = "Event: A\nX: 1\nEvent: B\nX: 2\n";
        let fields = vec![
            Field::new(0..5, 7..8),
            Field::new(9..10, 12..13),
            Field::new(14..19, 21..22),
            Field::new(23..24, 26..27),
        ];
        let mut out = Vec::new();
        Block::split(Box::from(text), fields, [(0, 2), (2, 4)], &mut out);
        let [mut a, b] = <[Message; 2]>::try_from(out).expect("two messages");
        assert_eq!(a, Message::new().with("Event", "A").with("X", "1"));
        assert_eq!(b, Message::new().with("Event", "B").with("X", "2"));
        let copy = b.clone();
        a.set("X", "changed");
        a.push("Y", "new");
        a.remove("Event");
        assert_eq!(a, Message::new().with("X", "changed").with("Y", "new"));
        assert_eq!(b, copy);
        assert_eq!(b.headers().next_back(), Some(("X", "2")));
    }

    #[test]
    fn an_event_with_a_response_header_is_not_a_response() {
        let originate = Message::new()
            .with("Event", "OriginateResponse")
            .with("ActionID", "x")
            .with("Response", "Failure");
        assert!(!originate.is_response());
        assert!(Message::new().with("Response", "Error").is_response());
    }

    #[test]
    fn masked_view_hides_credentials_only() {
        let m = Message::action("Login")
            .with("Username", "rayan")
            .with("Secret", "rayan-secret")
            .with("key", "4e64a3de")
            .with("Password", "pass1001");
        let shown = m.masked().to_string();
        assert!(!shown.contains("rayan-secret"), "{shown}");
        assert!(!shown.contains("4e64a3de"), "{shown}");
        assert!(!shown.contains("pass1001"), "{shown}");
        assert!(shown.contains("Username: rayan"), "{shown}");
        assert!(shown.contains("Secret: ********"), "{shown}");
    }
}
