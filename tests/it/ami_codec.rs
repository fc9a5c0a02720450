//! Property tests of the AMI codec: whatever the line endings, stray blank lines, UTF-8
//! (valid or not) and however the bytes are cut into reads, the decoder yields exactly the
//! messages that were written, and the encoder's output decodes back to its input.

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use rayan::ami::{AmiCodec, CodecLimits, Frame, Message};
use tokio_util::codec::{Decoder, Encoder};

/// One header as raw bytes: a name and a value that may hold any byte but CR and LF.
#[derive(Debug, Clone)]
struct RawHeader {
    name: String,
    value: Vec<u8>,
    bare_lf: bool,
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Output".to_owned()),
        Just("ChanVariable".to_owned()),
        Just("Cause-txt".to_owned()),
        "[A-Za-z][A-Za-z0-9-]{0,15}",
    ]
}

fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[ -~]{0,12}".prop_map(String::into_bytes),
        Just("Jürgen Dvořák".as_bytes().to_vec()),
        Just("€😀".as_bytes().to_vec()),
        Just(vec![0xff]),
        Just(vec![0xc3]),
        Just(vec![0xe2, 0x82]),
        Just(b": ".to_vec()),
        Just(b"\t".to_vec()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

fn raw_header() -> impl Strategy<Value = RawHeader> {
    (header_name(), value_bytes(), any::<bool>()).prop_map(|(name, value, bare_lf)| RawHeader {
        name,
        value,
        bare_lf,
    })
}

#[derive(Debug, Clone)]
struct RawMessage {
    headers: Vec<RawHeader>,
    /// 0: `\r\n`, 1: `\n`, 2: `\n\r\n` (a value ending in a bare LF, as Asterisk's error
    /// messages do), 3: `\r\n` followed by a stray `\n`.
    terminator: u8,
    blank_lines_before: u8,
}

fn raw_message() -> impl Strategy<Value = RawMessage> {
    (prop::collection::vec(raw_header(), 1..8), 0u8..4, 0u8..3).prop_map(
        |(headers, terminator, blank_lines_before)| RawMessage {
            headers,
            terminator,
            blank_lines_before,
        },
    )
}

impl RawMessage {
    fn write(&self, out: &mut Vec<u8>) {
        for _ in 0..self.blank_lines_before {
            out.extend_from_slice(b"\r\n");
        }
        for (index, header) in self.headers.iter().enumerate() {
            out.extend_from_slice(header.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&header.value);
            let last = index + 1 == self.headers.len();
            if (last && self.terminator == 2) || header.bare_lf {
                out.extend_from_slice(b"\n");
            } else {
                out.extend_from_slice(b"\r\n");
            }
        }
        match self.terminator {
            0 | 2 => out.extend_from_slice(b"\r\n"),
            1 => out.extend_from_slice(b"\n"),
            _ => out.extend_from_slice(b"\r\n\n"),
        }
    }

    /// What the decoder must produce: lossy UTF-8, one separator space dropped, trailing
    /// blanks trimmed.
    fn expected(&self) -> Message {
        let mut message = Message::new();
        for header in &self.headers {
            let value = String::from_utf8_lossy(&header.value);
            message.push(&header.name, value.trim_end_matches([' ', '\t']));
        }
        message
    }
}

/// What Asterisk would send: the banner line when asked, then the messages.
fn wire(messages: &[RawMessage], banner: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    if banner {
        bytes.extend_from_slice(b"Asterisk Call Manager/11.0.0\r\n");
    }
    for message in messages {
        message.write(&mut bytes);
    }
    bytes
}

fn decode_in_chunks(bytes: &[u8], cuts: &[usize], banner: bool) -> Vec<Frame> {
    let limits = CodecLimits::default();
    let mut codec = if banner {
        AmiCodec::client(limits)
    } else {
        AmiCodec::server(limits)
    };
    let cuts = read_ends(bytes, cuts);
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for cut in cuts {
        buffer.put_slice(&bytes[from..cut]);
        from = cut;
        while let Some(frame) = codec.decode(&mut buffer).expect("valid AMI decodes") {
            frames.push(frame);
        }
    }
    assert!(
        codec
            .decode_eof(&mut buffer)
            .expect("nothing left")
            .is_none()
    );
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_yields_exactly_the_written_messages(
        messages in prop::collection::vec(raw_message(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        banner in any::<bool>(),
    ) {
        let bytes = wire(&messages, banner);
        let frames = decode_in_chunks(&bytes, &cuts, banner);
        let mut expected: Vec<Frame> = Vec::new();
        if banner {
            expected.push(Frame::Banner("Asterisk Call Manager/11.0.0".to_owned()));
        }
        expected.extend(messages.iter().map(|m| Frame::Message(m.expected())));
        prop_assert_eq!(frames, expected);
    }

    #[test]
    fn byte_at_a_time_equals_one_read(
        messages in prop::collection::vec(raw_message(), 1..6),
    ) {
        let bytes = wire(&messages, false);
        let every_byte: Vec<usize> = (0..bytes.len()).collect();
        prop_assert_eq!(
            decode_in_chunks(&bytes, &every_byte, false),
            decode_in_chunks(&bytes, &[], false)
        );
    }

    #[test]
    fn encoded_messages_decode_to_themselves(
        headers in prop::collection::vec(
            ("[A-Za-z][A-Za-z0-9-]{0,12}", "[ -~üřá€]{0,20}"),
            1..10,
        ),
    ) {
        let message: Message = headers
            .iter()
            .map(|(name, value)| {
                // The wire form trims trailing blanks and one leading separator space.
                (name.as_str(), value.trim_end_matches([' ', '\t']).to_owned())
            })
            .collect();
        let mut codec = AmiCodec::server(CodecLimits::default());
        let mut buffer = BytesMut::new();
        codec.encode(&message, &mut buffer).expect("encodes");
        let decoded = codec.decode(&mut buffer).expect("decodes");
        prop_assert_eq!(decoded, Some(Frame::Message(message)));
        prop_assert!(buffer.is_empty());
    }

    #[test]
    fn hostile_input_is_bounded(
        garbage in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let limits = CodecLimits { max_message_bytes: 512, max_headers: 16 };
        let mut codec = AmiCodec::client(limits);
        let mut buffer = BytesMut::new();
        let cuts = read_ends(&garbage, &cuts);
        let mut from = 0;
        'feed: for cut in cuts {
            buffer.put_slice(&garbage[from..cut]);
            from = cut;
            loop {
                match codec.decode(&mut buffer) {
                    Ok(Some(Frame::Message(m))) => prop_assert!(m.len() <= 16),
                    Ok(Some(Frame::Banner(_))) => {}
                    // Waiting for more: what is buffered is one partial message within bounds.
                    Ok(None) => {
                        prop_assert!(buffer.len() <= 512);
                        break;
                    }
                    Err(_) => break 'feed,
                }
            }
        }
    }
}

/// Where each read ends: the cuts folded into the input, in order, then its end.
fn read_ends(bytes: &[u8], cuts: &[usize]) -> Vec<usize> {
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    ends.sort_unstable();
    ends.push(bytes.len());
    ends
}

/// Bytes that are mostly AMI-like framing pieces, mixed with anything at all.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"Event: X".to_vec()),
            Just(b": ".to_vec()),
            Just(vec![0xc3, 0xbc]),
            Just(vec![0xff]),
            prop::collection::vec(any::<u8>(), 0..24),
        ],
        0..60,
    )
    .prop_map(|pieces| pieces.concat())
}

/// Frames decoded before the first error, and whether an error (or a truncated end) came.
fn decode_until_error(bytes: &[u8], cuts: &[usize], limits: CodecLimits) -> (Vec<Frame>, bool) {
    let mut codec = AmiCodec::client(limits);
    let cuts = read_ends(bytes, cuts);
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for cut in cuts {
        buffer.put_slice(&bytes[from..cut]);
        from = cut;
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buffer) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, false),
            Err(_) => return (frames, true),
        }
    }
}

/// As [`decode_until_error`], through `decode_batch` (the connection's path): the
/// messages decoded before the first error, and whether one came. The banner is skipped.
fn decode_batches_until_error(
    bytes: &[u8],
    cuts: &[usize],
    limits: CodecLimits,
) -> (Vec<Message>, bool) {
    let mut codec = AmiCodec::client(limits);
    let cuts = read_ends(bytes, cuts);
    let mut buffer = BytesMut::new();
    let mut messages = Vec::new();
    let mut from = 0;
    for cut in cuts {
        buffer.put_slice(&bytes[from..cut]);
        from = cut;
        if codec.decode_batch(&mut buffer, &mut messages).is_err() {
            return (messages, true);
        }
    }
    loop {
        match codec.decode_eof(&mut buffer) {
            Ok(Some(Frame::Message(message))) => messages.push(message),
            Ok(Some(Frame::Banner(_))) => {}
            Ok(None) => return (messages, false),
            Err(_) => return (messages, true),
        }
    }
}

fn messages_only((frames, failed): (Vec<Frame>, bool)) -> (Vec<Message>, bool) {
    let messages = frames
        .into_iter()
        .filter_map(|frame| match frame {
            Frame::Message(message) => Some(message),
            Frame::Banner(_) => None,
        })
        .collect();
    (messages, failed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn batch_decoding_yields_exactly_the_written_messages(
        messages in prop::collection::vec(raw_message(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        banner in any::<bool>(),
    ) {
        let bytes = wire(&messages, banner);
        let expected: Vec<Message> = messages.iter().map(RawMessage::expected).collect();
        let (decoded, failed) = decode_batches_until_error(&bytes, &cuts, CodecLimits::default());
        prop_assert!(!failed);
        prop_assert_eq!(decoded, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn batch_and_single_decoding_agree_even_for_garbage(
        bytes in garbage(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        max_message_bytes in 8usize..200,
        max_headers in 1usize..10,
    ) {
        let limits = CodecLimits { max_message_bytes, max_headers };
        prop_assert_eq!(
            decode_batches_until_error(&bytes, &cuts, limits),
            messages_only(decode_until_error(&bytes, &[], limits))
        );
    }

    #[test]
    fn chunking_never_changes_the_outcome_even_for_garbage(
        bytes in garbage(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        max_message_bytes in 8usize..200,
        max_headers in 1usize..10,
    ) {
        let limits = CodecLimits { max_message_bytes, max_headers };
        prop_assert_eq!(
            decode_until_error(&bytes, &cuts, limits),
            decode_until_error(&bytes, &[], limits)
        );
    }
}

#[test]
fn recorded_transcript_stream_decodes_in_any_split() {
    // d2: bare `\n` before CRLF and an extra CRLF after the message.
    let bytes: &[u8] = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: d2-001\r\nMessage: Authentication accepted\r\n\r\nResponse: Error\r\nActionID: d2-002\r\nMessage: Unable to retrieve endpoint 9999\n\r\n\r\nResponse: Goodbye\r\nActionID: d2-004\r\nMessage: Thanks for all the fish.\r\n\r\n";
    let whole = decode_in_chunks(bytes, &[], true);
    assert_eq!(whole.len(), 4);
    for cut in 0..bytes.len() {
        assert_eq!(decode_in_chunks(bytes, &[cut], true), whole, "cut at {cut}");
    }
}
