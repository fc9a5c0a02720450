//! Bytes as Asterisk's manager.c writes them, and requests as it reads them. Independent of
//! the client's codec on purpose, so the two cannot share a mistake.

/// One outgoing message under construction: `Name: value\r\n` lines, then a blank line.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    text: String,
}

impl Wire {
    /// `Response: <status>` and, when the request had one, its `ActionID`.
    pub fn response(status: &str, action_id: Option<&str>) -> Self {
        let mut wire = Self::default();
        wire.line("Response", status);
        if let Some(id) = action_id {
            wire.line("ActionID", id);
        }
        wire
    }

    /// `astman_send_ack`.
    pub fn ack(action_id: Option<&str>, message: &str) -> Vec<u8> {
        Self::response("Success", action_id)
            .with("Message", message)
            .finish()
    }

    /// `astman_send_error`: some of Asterisk's messages end in `\n`, which then stands
    /// before the CRLF.
    pub fn error(action_id: Option<&str>, message: &str) -> Vec<u8> {
        Self::response("Error", action_id)
            .with("Message", message)
            .finish()
    }

    /// `astman_send_listack`.
    pub fn list_start(action_id: Option<&str>, message: &str) -> Vec<u8> {
        Self::response("Success", action_id)
            .with("EventList", "start")
            .with("Message", message)
            .finish()
    }

    /// An event inside a list: `Event:` then the `ActionID` of the list.
    pub fn list_event(event: &str, action_id: Option<&str>) -> Self {
        let mut wire = Self::default();
        wire.line("Event", event);
        if let Some(id) = action_id {
            wire.line("ActionID", id);
        }
        wire
    }

    /// `astman_send_list_complete_start`; add extra lines, then `finish`.
    pub fn list_complete(event: &str, action_id: Option<&str>, items: usize) -> Self {
        Self::list_event(event, action_id)
            .with("EventList", "Complete")
            .with("ListItems", &items.to_string())
    }

    pub fn line(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        self.text.push_str(": ");
        self.text.push_str(value);
        self.text.push_str("\r\n");
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.line(name, value);
        self
    }

    pub fn lines<'a>(mut self, lines: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        for (name, value) in lines {
            self.line(name, value);
        }
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.text.push_str("\r\n");
        self.text.into_bytes()
    }
}

/// A request as manager.c sees it: header names compared case-insensitively, values with
/// surrounding blanks removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Like `astman_get_header`: empty when missing.
    pub fn header(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// `ActionID` when present and not empty.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID").filter(|id| !id.is_empty())
    }
}

/// Takes the first complete request (ended by a blank line, CRLF or bare LF) out of `buf`.
pub fn take_request(buf: &mut Vec<u8>) -> Option<Request> {
    let mut start = 0;
    let mut headers = Vec::new();
    let mut pos = 0;
    while let Some(offset) = buf[pos..].iter().position(|&b| b == b'\n') {
        let line_end = pos + offset;
        let line = &buf[pos..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = line_end + 1;
        if line.is_empty() {
            if headers.is_empty() {
                start = pos;
                continue;
            }
            buf.drain(..pos);
            return Some(Request { headers });
        }
        let text = String::from_utf8_lossy(line);
        if let Some((name, value)) = text.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    buf.drain(..start);
    None
}
