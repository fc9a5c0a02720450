//! The managed-section editor on arbitrary files: a file it accepts renders back byte for
//! byte, and after setting blocks it reads back with exactly those blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rayan::render::{ManagedBlock, ManagedFile};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    // "<file>\0<id>\0<body>\0<id>\0<body>..." ; the leader alternates with the length.
    let mut fields = input.split('\0');
    let text = fields.next().unwrap_or_default();
    let leader = if input.len() % 2 == 0 { ";" } else { "#" };
    let Ok(file) = ManagedFile::parse(text, leader) else {
        return;
    };
    assert_eq!(file.render(), text);

    let rest: Vec<&str> = fields.collect();
    let desired: Vec<ManagedBlock> = rest
        .chunks(2)
        .map(|pair| ManagedBlock::new(pair[0], pair.get(1).copied().unwrap_or_default()))
        .collect();
    let mut edited = file.clone();
    if edited.set_blocks(&desired).is_err() {
        // Refused blocks leave the file as it was.
        assert_eq!(edited.render(), text);
        return;
    }
    let written = edited.render();
    let reread = match ManagedFile::parse(&written, leader) {
        Ok(reread) => reread,
        Err(e) => panic!("the editor wrote a file it cannot read: {e}"),
    };
    let ids: Vec<&str> = reread.blocks().map(|(id, _)| id).collect();
    let mut wanted: Vec<&str> = desired.iter().map(|b| b.id.as_str()).collect();
    wanted.sort_unstable();
    let mut got = ids.clone();
    got.sort_unstable();
    assert_eq!(got, wanted);
    assert!(reread.drift(&desired).is_empty());
});
