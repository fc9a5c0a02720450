//! Reading the Asterisk transcripts (`tests/fixtures/asterisk/transcripts/*.txt`)
//! back into AMI messages, with the time each one arrived.
//!
//! The format: `==== [N] C>S|S>C +SECONDS LEN bytes ====`, then LEN raw bytes,
//! then one LF that is not data; `#` lines in between are notes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rayan::ami::Message;
use rayan::events::Clock;

pub fn transcript_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/asterisk/transcripts")
        .join(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

pub struct Block {
    pub direction: Direction,
    /// Microseconds since the recording started.
    pub offset_us: i64,
    pub data: Vec<u8>,
}

pub fn blocks(bytes: &[u8]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let line_end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| at + p);
        let line = String::from_utf8_lossy(&bytes[at..line_end]).into_owned();
        at = line_end + 1;
        if !line.starts_with("==== [") {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 7, "block header: {line}");
        let direction = match fields[2] {
            "C>S" => Direction::ToServer,
            "S>C" => Direction::ToClient,
            other => panic!("direction {other}"),
        };
        let seconds: f64 = fields[3]
            .trim_start_matches('+')
            .parse()
            .expect("block offset");
        let len: usize = fields[4].parse().expect("block length");
        let data = bytes[at..at + len].to_vec();
        at += len;
        assert_eq!(bytes.get(at), Some(&b'\n'), "LF after block data");
        at += 1;
        blocks.push(Block {
            direction,
            offset_us: (seconds * 1e6).round() as i64,
            data,
        });
    }
    blocks
}

/// Splits one message's text into headers; lines without a colon (the banner) are skipped.
fn parse_message(text: &str) -> Message {
    let mut msg = Message::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if let Some((name, value)) = line.split_once(':') {
            msg.push(name.trim(), value.trim());
        }
    }
    msg
}

/// Every message Asterisk sent, with the offset of the block that completed it.
pub fn server_messages(bytes: &[u8]) -> Vec<(i64, Message)> {
    let mut messages = Vec::new();
    let mut pending = String::new();
    for block in blocks(bytes)
        .into_iter()
        .filter(|b| b.direction == Direction::ToClient)
    {
        pending.push_str(&String::from_utf8_lossy(&block.data));
        while let Some(end) = pending.find("\r\n\r\n") {
            let msg = parse_message(&pending[..end]);
            pending.drain(..end + 4);
            if !msg.is_empty() {
                messages.push((block.offset_us, msg));
            }
        }
    }
    assert!(
        pending.trim().is_empty() || !pending.contains(':'),
        "unterminated message: {pending:?}"
    );
    messages
}

/// A transcript's AMI events with the wall-clock time each arrived: the recording's
/// start is found from the first `EventTV` header and the offset of its block.
pub fn timed_events(name: &str) -> Vec<(DateTime<Utc>, Message)> {
    let path = transcript_path(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("transcript {} not readable: {e}", path.display()));
    let messages = server_messages(&bytes);
    let (offset, tv) = messages
        .iter()
        .find_map(|(offset, m)| m.get("EventTV").map(|tv| (*offset, tv.to_owned())))
        .expect("an EventTV header");
    let tv = DateTime::parse_from_str(&tv, "%Y-%m-%dT%H:%M:%S%.3f%z").expect("EventTV format");
    let start = tv.with_timezone(&Utc) - Duration::microseconds(offset);
    messages
        .into_iter()
        .filter(|(_, m)| m.event().is_some())
        .map(|(offset, m)| (start + Duration::microseconds(offset), m))
        .collect()
}

/// A clock the test sets by hand.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(DateTime::<Utc>::UNIX_EPOCH)))
    }

    pub fn set(&self, time: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = time;
    }

    pub fn clock(&self) -> Clock {
        let cell = Arc::clone(&self.0);
        Arc::new(move || *cell.lock().expect("clock lock"))
    }
}
