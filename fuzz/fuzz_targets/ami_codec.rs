//! Fuzzes the AMI decoder: arbitrary bytes, cut into reads at fuzzer-chosen points, must
//! never panic, must stay within the limits, and must decode exactly as in one read.
//! Every decoded message must survive an encode/decode round trip when it is encodable,
//! and decoding a read at a time (`decode_batch`, the connection's path) must yield the
//! same messages as decoding one message at a time.
//!
//! Run from `fuzz/` with `cargo +nightly fuzz run ami_codec`.

#![no_main]

use bytes::{BufMut, BytesMut};
use libfuzzer_sys::fuzz_target;
use rayan::ami::{AmiCodec, CodecLimits, Frame, Message, codec::encode_message};
use tokio_util::codec::Decoder;

const LIMITS: CodecLimits = CodecLimits {
    max_message_bytes: 4096,
    max_headers: 64,
};

fn decode(bytes: &[u8], cuts: &[usize]) -> (Vec<Frame>, bool) {
    let mut codec = AmiCodec::client(LIMITS);
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        buffer.put_slice(&bytes[from..cut]);
        from = cut;
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {
                    assert!(buffer.len() <= LIMITS.max_message_bytes + 1);
                    break;
                }
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

/// The messages (banner skipped) through `decode_batch`, and whether an error came.
fn decode_batches(bytes: &[u8], cuts: &[usize]) -> (Vec<Message>, bool) {
    let mut codec = AmiCodec::client(LIMITS);
    let mut buffer = BytesMut::new();
    let mut messages = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        buffer.put_slice(&bytes[from..cut]);
        from = cut;
        if codec.decode_batch(&mut buffer, &mut messages).is_err() {
            return (messages, true);
        }
        assert!(buffer.len() <= LIMITS.max_message_bytes + 1);
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

fuzz_target!(|data: &[u8]| {
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let step = usize::from(seed).max(1);
    let mut cuts: Vec<usize> = (step..bytes.len()).step_by(step).collect();
    cuts.dedup();

    let whole = decode(bytes, &[]);
    let chunked = decode(bytes, &cuts);
    assert_eq!(whole, chunked, "cutting the input into reads changed the result");
    let singles: Vec<Message> = whole
        .0
        .iter()
        .filter_map(|frame| match frame {
            Frame::Message(message) => Some(message.clone()),
            Frame::Banner(_) => None,
        })
        .collect();
    assert_eq!(
        decode_batches(bytes, &cuts),
        (singles, whole.1),
        "batch decoding differs from decoding one message at a time"
    );

    for frame in &whole.0 {
        let Frame::Message(message) = frame else {
            continue;
        };
        assert!(message.len() <= LIMITS.max_headers);
        let mut wire = BytesMut::new();
        if encode_message(message, &mut wire).is_err() {
            continue;
        }
        let mut codec = AmiCodec::server(CodecLimits::default());
        match codec.decode(&mut wire) {
            Ok(Some(Frame::Message(again))) => assert_eq!(&again, message),
            other => panic!("re-encoded message did not decode: {other:?}"),
        }
    }
});
