//! AMI framing: `Name: value` lines, a blank line ends a message, a one-line banner first.
//!
//! Lines may end in CRLF or a bare LF, and a stray `\r\n\n` or an extra blank line between
//! messages (Asterisk writes `Message: ...\n\r\n\r\n` on some errors) is skipped. A message
//! is converted to text only once it is complete, so a UTF-8 character split across two
//! reads survives, and invalid UTF-8 stays visible as U+FFFD instead of dropping a field.
//! The decoder remembers how far it has scanned, so a message arriving in many reads is
//! scanned once, and it bounds message size and header count against a hostile peer.

use bytes::{Buf, BufMut, BytesMut};

use tokio_util::codec::{Decoder, Encoder};

use super::error::AmiError;
use super::message::{Block, Field, Message};

/// Bounds on what the decoder accepts before it gives up on the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecLimits {
    /// Largest message, in bytes. A `Command` answer with every line of a big CLI table
    /// is the largest thing Asterisk sends in one message.
    pub max_message_bytes: usize,
    /// Most header lines in one message.
    pub max_headers: usize,
}

impl Default for CodecLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 8 * 1024 * 1024,
            max_headers: 100_000,
        }
    }
}

/// What the decoder yields: the banner line once, then messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `Asterisk Call Manager/11.0.0`
    Banner(String),
    Message(Message),
}

/// Decoder and encoder for AMI messages.
#[derive(Debug, Clone)]
pub struct AmiCodec {
    limits: CodecLimits,
    expect_banner: bool,
    /// Offset of the current message in the buffer (blank lines before it are skipped).
    start: usize,
    /// Offset of the current line: everything before it is split into complete lines.
    scanned: usize,
    /// Bytes up to here were searched and hold no further line feed.
    searched: usize,
    /// Headers of the current message so far, as offsets from its start: split while
    /// scanning, so a message is parsed in the same single pass that finds its end.
    fields: Vec<Field>,
}

/// What a scan of the buffer found.
enum Found {
    Banner {
        start: usize,
        end: usize,
        next: usize,
    },
    Message {
        body_end: usize,
        next: usize,
    },
}

impl AmiCodec {
    /// The client side: the peer sends the banner line first.
    pub fn client(limits: CodecLimits) -> Self {
        Self::new(limits, true)
    }

    /// The server side: the peer sends messages only.
    pub fn server(limits: CodecLimits) -> Self {
        Self::new(limits, false)
    }

    fn new(limits: CodecLimits, expect_banner: bool) -> Self {
        Self {
            limits,
            expect_banner,
            start: 0,
            scanned: 0,
            searched: 0,
            fields: Vec::new(),
        }
    }

    /// The finished message: its text and the headers split while scanning. The header
    /// table is copied at its exact size; the scratch table keeps its room for the next one.
    fn take_message(&mut self, body: &[u8]) -> Message {
        match std::str::from_utf8(body) {
            Ok(text) => Message::from_parts(text.to_owned(), self.fields.to_vec()),
            Err(_) => parse_lossy(body, self.fields.len()),
        }
    }

    /// Decodes every complete message in `buf` into `out`, in order. The messages of one
    /// call share one block of text, so a read full of events costs one allocation for
    /// their text and one for their headers. Messages complete before a framing error
    /// are still delivered, then the error is returned. A banner line still expected
    /// (only before the first message) is logged and skipped.
    pub fn decode_batch(
        &mut self,
        buf: &mut BytesMut,
        out: &mut Vec<Message>,
    ) -> Result<(), AmiError> {
        while self.expect_banner {
            match self.decode(buf)? {
                Some(Frame::Banner(banner)) => tracing::warn!(%banner, "banner line skipped"),
                Some(Frame::Message(message)) => out.push(message),
                None => return Ok(()),
            }
        }
        if self.searched.max(self.scanned) > buf.len() {
            self.reset();
        }
        let mut batch = Batch::for_bytes(buf.len() - self.start.min(buf.len()));
        let mut consumed = 0;
        let outcome = loop {
            match self.scan(buf) {
                Ok(Some(Found::Message { body_end, next })) => {
                    batch.add(self.start, body_end, &self.fields);
                    consumed = next;
                    self.start = next;
                    self.scanned = next;
                    self.searched = next;
                    self.fields.clear();
                }
                // The banner is only looked for before the first message, handled above.
                Ok(Some(Found::Banner { next, .. })) => {
                    self.start = next;
                    self.scanned = next;
                    self.searched = next;
                }
                Ok(None) => break Ok(()),
                Err(error) => break Err(error),
            }
        };
        batch.finish(buf, out);
        if consumed > 0 {
            buf.advance(consumed);
            self.start -= consumed;
            self.scanned -= consumed;
            self.searched = self.searched.saturating_sub(consumed);
        }
        outcome?;
        if self.fields.is_empty() && self.start > 0 {
            let skipped = self.start;
            self.discard(buf, skipped);
        }
        Ok(())
    }

    fn too_large(&self) -> AmiError {
        AmiError::MessageTooLarge {
            limit: self.limits.max_message_bytes,
        }
    }

    fn reset(&mut self) {
        self.start = 0;
        self.scanned = 0;
        self.searched = 0;
        self.fields.clear();
    }

    /// Drops the first `n` bytes of the buffer, which hold no header line.
    fn discard(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(n);
        self.start -= n;
        self.scanned -= n;
        self.searched = self.searched.saturating_sub(n);
    }

    /// Splits new bytes into lines, one pass over each byte, until a message or the banner
    /// is complete.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<Found>, AmiError> {
        let mut from = self.scanned.max(self.searched);
        while let Some(offset) = find_line_feed(&buf[from..]) {
            let pos = from + offset;
            from = pos + 1;
            let line_start = self.scanned;
            let mut end = pos;
            if end > line_start && buf[end - 1] == b'\r' {
                end -= 1;
            }
            let colon = find_colon(&buf[line_start..end]).map(|i| line_start + i);
            self.scanned = pos + 1;
            if end == line_start {
                if self.fields.is_empty() {
                    // A blank line between messages: a stray `\r\n\n` or an error's extra CRLF.
                    self.start = pos + 1;
                    continue;
                }
                return Ok(Some(Found::Message {
                    body_end: line_start,
                    next: pos + 1,
                }));
            }
            if pos + 1 - self.start > self.limits.max_message_bytes {
                return Err(self.too_large());
            }
            if self.expect_banner {
                self.expect_banner = false;
                if colon.is_none() {
                    return Ok(Some(Found::Banner {
                        start: line_start,
                        end,
                        next: pos + 1,
                    }));
                }
            }
            self.fields
                .push(split_line(buf, line_start, colon, end, self.start));
            if self.fields.len() > self.limits.max_headers {
                return Err(AmiError::TooManyHeaders {
                    limit: self.limits.max_headers,
                });
            }
        }
        self.searched = buf.len();
        // The partial line ends at least one byte further on; unless it is a blank line in
        // the making, the message is already over the limit.
        let partial = &buf[self.scanned..];
        if buf.len() - self.start >= self.limits.max_message_bytes
            && !matches!(partial, b"" | b"\r")
        {
            return Err(self.too_large());
        }
        Ok(None)
    }
}

impl Decoder for AmiCodec {
    type Item = Frame;
    type Error = AmiError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, AmiError> {
        if self.searched.max(self.scanned) > buf.len() {
            // Not the buffer this state was built on: start over rather than trust it.
            self.reset();
        }
        match self.scan(buf)? {
            None => {
                if self.fields.is_empty() && self.start > 0 {
                    let skipped = self.start;
                    self.discard(buf, skipped);
                }
                Ok(None)
            }
            Some(Found::Banner { start, end, next }) => {
                let banner = String::from_utf8_lossy(&buf[start..end]).trim().to_owned();
                buf.advance(next);
                self.reset();
                Ok(Some(Frame::Banner(banner)))
            }
            Some(Found::Message { body_end, next }) => {
                // The text is copied out, so the buffer is advanced rather than split.
                let message = self.take_message(&buf[self.start..body_end]);
                buf.advance(next);
                self.reset();
                Ok(Some(Frame::Message(message)))
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, AmiError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            buf.clear();
            self.reset();
            return Ok(None);
        }
        let bytes = buf.len();
        buf.clear();
        self.reset();
        Err(AmiError::Truncated { bytes })
    }
}

/// Messages found by one [`AmiCodec::decode_batch`] call, as offsets into the buffer.
struct Batch {
    /// Where the first message starts: the block's text begins here.
    first: Option<usize>,
    /// Every message's headers, offsets relative to `first`.
    fields: Vec<Field>,
    /// Per message: its range in `fields`, and its start and end in the buffer.
    messages: Vec<((u32, u32), usize, usize)>,
}

impl Batch {
    /// Room for the headers and messages of `bytes` of events (17 bytes a line and 276 a
    /// message on average in the recordings), so a read does not regrow the tables.
    fn for_bytes(bytes: usize) -> Self {
        Self {
            first: None,
            fields: Vec::with_capacity(bytes / 16),
            messages: Vec::with_capacity(bytes / 128),
        }
    }

    /// A message at `start..end` of the buffer whose headers, relative to `start`, are `fields`.
    fn add(&mut self, start: usize, end: usize, fields: &[Field]) {
        let first = *self.first.get_or_insert(start);
        let from = self.fields.len() as u32;
        let base = (start - first) as u32;
        self.fields
            .extend(fields.iter().map(|field| field.rebased(0, base)));
        self.messages
            .push(((from, self.fields.len() as u32), start, end));
    }

    fn finish(self, buf: &[u8], out: &mut Vec<Message>) {
        let Batch {
            first,
            fields,
            messages,
        } = self;
        let (Some(first), Some(&(_, _, end))) = (first, messages.last()) else {
            return;
        };
        if let Ok(text) = std::str::from_utf8(&buf[first..end]) {
            let mut fields = fields;
            // Held as long as any of the messages is: give back what the estimate overshot.
            fields.shrink_to_fit();
            let spans = messages.iter().map(|&(span, ..)| span);
            Block::split(Box::from(text), fields, spans, out);
            return;
        }
        // Some message holds invalid UTF-8: each message on its own, that one lossy.
        for &((from, to), start, end) in &messages {
            let base = (start - first) as u32;
            let fields = &fields[from as usize..to as usize];
            let body = &buf[start..end];
            out.push(match std::str::from_utf8(body) {
                Ok(text) => Message::from_parts(
                    text.to_owned(),
                    fields.iter().map(|field| field.rebased(base, 0)).collect(),
                ),
                Err(_) => parse_lossy(body, fields.len()),
            });
        }
    }
}

/// Position of the first `\n`. AMI lines are short (17 bytes on average in the
/// recordings), where a plain word-at-a-time loop beats a vectorised search whose
/// per-call setup dominates.
fn find_line_feed(haystack: &[u8]) -> Option<usize> {
    find_byte(haystack, b'\n')
}

/// Position of the first `:`; the search stops at the first one, inside the header name.
fn find_colon(line: &[u8]) -> Option<usize> {
    find_byte(line, b':')
}

/// Position of the first `byte`, eight bytes at a time.
#[inline(always)]
fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(byte);
    let mut offset = 0;
    while let Some(word) = haystack[offset..].first_chunk::<8>() {
        let x = u64::from_le_bytes(*word) ^ pattern;
        // The lowest flagged byte is the first zero byte of `x`, i.e. the first match
        // (a borrow can only flag bytes after it).
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    haystack[offset..]
        .iter()
        .position(|&b| b == byte)
        .map(|i| offset + i)
}

/// Invalid UTF-8 becomes U+FFFD, which changes offsets: split the converted text again.
fn parse_lossy(body: &[u8], lines: usize) -> Message {
    let text = String::from_utf8_lossy(body).into_owned();
    let bytes = text.as_bytes();
    let mut fields = Vec::with_capacity(lines);
    let mut start = 0;
    while start < bytes.len() {
        let line_feed = find_line_feed(&bytes[start..]).map_or(bytes.len(), |i| start + i);
        let colon = find_colon(&bytes[start..line_feed]).map(|i| start + i);
        fields.push(split_line(bytes, start, colon, line_feed, 0));
        start = line_feed + 1;
    }
    Message::from_parts(text, fields)
}

/// `Name: value` -> name and value ranges: one separator space dropped, trailing blanks
/// trimmed. Asterisk writes exactly one space after the colon; any further leading space
/// belongs to the value (CLI output columns, RTP QoS strings). A line without a colon stays
/// visible as a header with an empty name.
/// Offsets are taken relative to `base`, the start of the message.
fn split_line(bytes: &[u8], start: usize, colon: Option<usize>, end: usize, base: usize) -> Field {
    let mut end = end;
    while end > start && matches!(bytes[end - 1], b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    match colon {
        Some(colon) => {
            let mut name_end = colon;
            while name_end > start && bytes[name_end - 1] == b' ' {
                name_end -= 1;
            }
            let mut value_start = colon + 1;
            if value_start < end && bytes[value_start] == b' ' {
                value_start += 1;
            }
            Field::new(
                start - base..name_end - base,
                value_start - base..end.max(value_start) - base,
            )
        }
        None => Field::new(start - base..start - base, start - base..end - base),
    }
}

impl Encoder<&Message> for AmiCodec {
    type Error = AmiError;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), AmiError> {
        encode_message(message, dst)
    }
}

impl Encoder<Message> for AmiCodec {
    type Error = AmiError;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), AmiError> {
        encode_message(&message, dst)
    }
}

/// Writes `message` in wire form. Nothing is written when a header could break the framing
/// (a line break in a value would let a value inject headers or actions).
pub fn encode_message(message: &Message, dst: &mut BytesMut) -> Result<(), AmiError> {
    if message.is_empty() {
        return Err(AmiError::InvalidHeader {
            name: String::new(),
            reason: "a message needs at least one header",
        });
    }
    let mut size = 2;
    for (name, value) in message.headers() {
        check_header(name, value)?;
        size += name.len() + value.len() + 4;
    }
    dst.reserve(size);
    for (name, value) in message.headers() {
        dst.put_slice(name.as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(b"\r\n");
    Ok(())
}

fn check_header(name: &str, value: &str) -> Result<(), AmiError> {
    let reason = if name.is_empty() {
        Some("empty header name")
    } else if name.bytes().any(|b| matches!(b, b':' | b'\r' | b'\n')) {
        Some("header name contains ':' or a line break")
    } else if name.starts_with(' ') || name.ends_with(' ') {
        Some("header name starts or ends with a space")
    } else if value.bytes().any(|b| matches!(b, b'\r' | b'\n')) {
        Some("value contains a line break")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(AmiError::InvalidHeader {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut AmiCodec, bytes: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).expect("decodes") {
            out.push(frame);
        }
        out
    }

    fn message(frame: &Frame) -> &Message {
        match frame {
            Frame::Message(m) => m,
            Frame::Banner(b) => panic!("unexpected banner {b}"),
        }
    }

    #[test]
    fn banner_then_login_response_and_events_in_one_read() {
        let bytes = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: a1-001\r\nMessage: Authentication accepted\r\n\r\nEvent: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n";
        let frames = decode_all(&mut AmiCodec::client(CodecLimits::default()), bytes);
        assert_eq!(
            frames[0],
            Frame::Banner("Asterisk Call Manager/11.0.0".into())
        );
        assert_eq!(message(&frames[1]).action_id(), Some("a1-001"));
        assert_eq!(message(&frames[2]).event(), Some("FullyBooted"));
        assert_eq!(message(&frames[2]).get("Status"), Some("Fully Booted"));
        assert_eq!(frames.len(), 3);
    }

    #[test]
    fn error_message_with_bare_lf_before_crlf_is_one_message() {
        // d2-pjsipshowendpoint-missing, byte for byte.
        let bytes = b"Response: Error\r\nActionID: d2-002\r\nMessage: Unable to retrieve endpoint 9999\n\r\n\r\nResponse: Goodbye\r\nActionID: d2-004\r\n\r\n";
        let frames = decode_all(&mut AmiCodec::server(CodecLimits::default()), bytes);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            message(&frames[0]).message(),
            Some("Unable to retrieve endpoint 9999")
        );
        assert_eq!(message(&frames[1]).response(), Some("Goodbye"));
    }

    #[test]
    fn bare_lf_and_stray_crlf_lf() {
        let bytes = b"Action: Ping\nActionID: bare-lf-1\n\nEvent: X\r\nA: 1\r\n\nEvent: Y\r\n\r\n";
        let frames = decode_all(&mut AmiCodec::server(CodecLimits::default()), bytes);
        let names: Vec<_> = frames
            .iter()
            .map(|f| message(f).headers().next().map(|(_, v)| v.to_owned()))
            .collect();
        assert_eq!(
            names,
            [Some("Ping".into()), Some("X".into()), Some("Y".into())]
        );
    }

    #[test]
    fn value_keeps_inner_leading_space_but_loses_trailing_space() {
        let bytes = b"Response: Success\r\nOutput:   '9000' =>  1. Answer()  \r\nOutput: \r\nOdd line without colon\r\n\r\n";
        let frames = decode_all(&mut AmiCodec::server(CodecLimits::default()), bytes);
        let m = message(&frames[0]);
        assert_eq!(
            m.get_all("Output").collect::<Vec<_>>(),
            ["  '9000' =>  1. Answer()", ""]
        );
        assert_eq!(
            m.headers().next_back(),
            Some(("", "Odd line without colon"))
        );
    }

    #[test]
    fn split_utf8_survives_and_invalid_utf8_stays_visible() {
        let text = "Event: Newchannel\r\nCallerIDName: Jürgen Dvořák\r\n\r\n".as_bytes();
        let mut codec = AmiCodec::server(CodecLimits::default());
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for byte in text {
            buf.put_u8(*byte);
            if let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(
            message(&frames[0]).get("CallerIDName"),
            Some("Jürgen Dvořák")
        );

        let bad = b"Event: X\r\nName: a\xffb\r\nNext: kept\r\n\r\n";
        let frames = decode_all(&mut codec, bad);
        assert_eq!(message(&frames[0]).get("Name"), Some("a\u{FFFD}b"));
        assert_eq!(message(&frames[0]).get("Next"), Some("kept"));
    }

    #[test]
    fn oversized_message_is_an_error_not_growth() {
        let limits = CodecLimits {
            max_message_bytes: 64,
            max_headers: 4,
        };
        let mut codec = AmiCodec::server(limits);
        let mut buf = BytesMut::from(&[b'x'; 65][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(AmiError::MessageTooLarge { limit: 64 })
        ));

        let mut codec = AmiCodec::server(limits);
        let mut buf = BytesMut::from(&b"A: 1\nB: 2\nC: 3\nD: 4\nE: 5\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(AmiError::TooManyHeaders { limit: 4 })
        ));
    }

    #[test]
    fn eof_inside_a_message_is_reported() {
        let mut codec = AmiCodec::server(CodecLimits::default());
        let mut buf = BytesMut::from(&b"Event: X\r\nA: 1\r\n"[..]);
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(AmiError::Truncated { bytes: 16 })
        ));
        let mut buf = BytesMut::from(&b"\r\n"[..]);
        assert!(matches!(codec.decode_eof(&mut buf), Ok(None)));
    }

    #[test]
    fn word_at_a_time_searches_match_a_plain_search() {
        let alphabet = [
            b'\n', b'\x0b', b'\x09', b'\x8a', b'\xff', b'\x00', b'a', b':',
        ];
        for len in 0..40 {
            for seed in 0..64usize {
                let haystack: Vec<u8> = (0..len)
                    .map(|i| alphabet[(i * 7 + seed * 13 + i * i * seed) % alphabet.len()])
                    .collect();
                assert_eq!(
                    find_line_feed(&haystack),
                    haystack.iter().position(|&b| b == b'\n'),
                    "{haystack:?}"
                );
                assert_eq!(
                    find_colon(&haystack),
                    haystack.iter().position(|&b| b == b':'),
                    "{haystack:?}"
                );
            }
        }
    }

    #[test]
    fn encoder_writes_crlf_and_refuses_line_breaks() {
        let mut dst = BytesMut::new();
        let m = Message::action("Reload")
            .with("ActionID", "x-1")
            .with("Module", "res_pjsip.so");
        encode_message(&m, &mut dst).unwrap();
        assert_eq!(
            &dst[..],
            b"Action: Reload\r\nActionID: x-1\r\nModule: res_pjsip.so\r\n\r\n"
        );

        let mut dst = BytesMut::new();
        let injected =
            Message::action("Command").with("Command", "core show version\r\nAction: Logoff");
        assert!(matches!(
            encode_message(&injected, &mut dst),
            Err(AmiError::InvalidHeader { .. })
        ));
        assert!(dst.is_empty());
        assert!(encode_message(&Message::new(), &mut dst).is_err());
    }
}
