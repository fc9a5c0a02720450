//! The managed-section editor over generated files: byte-for-byte round trips, edits that
//! leave the administrator's text alone, and malformed files refused.

use proptest::prelude::*;
use rayan::render::{ManagedBlock, ManagedFile, RenderError, WriteOptions, sync_file};

/// One line of administrator text: never a managed marker.
fn admin_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "; [ -~]{0,30}".prop_map(|s| s),
        Just(";--".to_owned()),
        Just("multi-line comment --;".to_owned()),
        "#(include|tryinclude) \"?[a-z_]{1,8}\\.conf\"?",
        "\\[[a-z0-9_-]{1,10}\\](\\(!\\)|\\([a-z_]{1,8}\\))?",
        "[a-z_]{1,12} ?=>? ?[ -~]{0,20}",
        Just(String::new()),
        "[ \t]{1,4}",
        "\\PC{0,30}",
    ]
    .prop_filter("admin text never contains a marker", |l| {
        !l.contains("MANAGED")
    })
}

/// A marker line as people or rayan write it.
fn marker(kind: &str, id: &str, style: u8) -> String {
    match style % 3 {
        0 => format!("; {kind} MANAGED - {id}"),
        1 => format!(";{kind} MANAGED -  {id}"),
        _ => format!("  ;  {kind} MANAGED - {id}  "),
    }
}

#[derive(Debug, Clone)]
enum Chunk {
    Admin(Vec<String>),
    Block {
        id: String,
        body: Vec<String>,
        style: u8,
    },
}

#[derive(Debug, Clone)]
struct GeneratedFile {
    text: String,
    /// (id, body as in the file)
    blocks: Vec<(String, String)>,
}

fn chunks() -> impl Strategy<Value = Vec<Chunk>> {
    let chunk = prop_oneof![
        prop::collection::vec(admin_line(), 0..6).prop_map(Chunk::Admin),
        (
            "[A-Za-z0-9][A-Za-z0-9 _.+-]{0,14}[A-Za-z0-9]",
            prop::collection::vec(admin_line(), 0..5),
            any::<u8>()
        )
            .prop_map(|(id, body, style)| Chunk::Block { id, body, style }),
    ];
    prop::collection::vec(chunk, 0..12)
}

/// Lays the chunks out with per-line endings (LF or CRLF) and maybe no final newline.
fn layout(chunks: &[Chunk], endings: &[bool], final_newline: bool) -> GeneratedFile {
    let mut lines: Vec<String> = Vec::new();
    let mut blocks = Vec::new();
    let mut block_lines = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for chunk in chunks {
        match chunk {
            Chunk::Admin(admin) => lines.extend(admin.iter().cloned()),
            Chunk::Block { id, body, style } => {
                if seen.contains(&id.as_str()) {
                    continue;
                }
                seen.push(id);
                lines.push(marker("BEGIN", id, *style));
                let first_body = lines.len();
                lines.extend(body.iter().cloned());
                block_lines.push((id.clone(), first_body, lines.len()));
                lines.push(marker("END", id, style.wrapping_add(1)));
            }
        }
    }
    let ending = |i: usize| {
        if endings
            .get(i % endings.len().max(1))
            .copied()
            .unwrap_or(false)
        {
            "\r\n"
        } else {
            "\n"
        }
    };
    let mut text = String::new();
    let mut offsets = Vec::with_capacity(lines.len() + 1);
    for (i, line) in lines.iter().enumerate() {
        offsets.push(text.len());
        text.push_str(line);
        if i + 1 < lines.len() || final_newline {
            text.push_str(ending(i));
        }
    }
    offsets.push(text.len());
    for (id, start, end) in block_lines {
        blocks.push((id, text[offsets[start]..offsets[end]].to_owned()));
    }
    GeneratedFile { text, blocks }
}

fn generated_file() -> impl Strategy<Value = GeneratedFile> {
    (
        chunks(),
        prop::collection::vec(any::<bool>(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(chunks, endings, final_newline)| layout(&chunks, &endings, final_newline))
}

/// The administrator's text, by an independent line scan.
fn admin_text(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if line.contains("BEGIN MANAGED") {
            inside = true;
        } else if line.contains("END MANAGED") {
            inside = false;
        } else if !inside {
            out.push_str(line);
        }
    }
    out
}

fn lf(body: &str) -> String {
    let body = body.replace("\r\n", "\n");
    if body.is_empty() || body.ends_with('\n') {
        body
    } else {
        format!("{body}\n")
    }
}

fn desired_blocks() -> impl Strategy<Value = Vec<ManagedBlock>> {
    prop::collection::vec(
        (
            "[A-Za-z0-9][A-Za-z0-9 _.+-]{0,14}[A-Za-z0-9]",
            prop::collection::vec(admin_line(), 0..4),
        ),
        0..8,
    )
    .prop_map(|blocks| {
        let mut seen = Vec::new();
        blocks
            .into_iter()
            .filter(|(id, _)| {
                let fresh = !seen.contains(id);
                seen.push(id.clone());
                fresh
            })
            .map(|(id, lines)| ManagedBlock::new(id, lines.join("\n")))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn unchanged_files_round_trip_byte_for_byte(file in generated_file()) {
        let parsed = ManagedFile::parse(&file.text, ";").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.render(), file.text.clone());
        let blocks: Vec<(String, String)> = parsed.blocks().map(|(i, b)| (i.to_owned(), b.to_owned())).collect();
        prop_assert_eq!(&blocks, &file.blocks);
        // Setting the blocks the file already has changes nothing, line endings included.
        let same: Vec<ManagedBlock> = file.blocks.iter().map(|(id, body)| ManagedBlock::new(id.clone(), lf(body))).collect();
        let mut edited = parsed.clone();
        edited.set_blocks(&same).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(edited.render(), file.text.clone());
        prop_assert!(parsed.drift(&same).is_empty());
        // The sync skips rendering a file that no edit modified: that must be exact.
        prop_assert!(!parsed.is_modified() && !edited.is_modified());
    }

    #[test]
    fn set_blocks_changes_only_blocks(file in generated_file(), desired in desired_blocks()) {
        let mut parsed = ManagedFile::parse(&file.text, ";").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let drift = parsed.set_blocks(&desired).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let written = parsed.render();
        prop_assert_eq!(parsed.is_modified(), !drift.is_empty());
        if !parsed.is_modified() {
            prop_assert_eq!(&written, &file.text);
        }

        // Every byte outside blocks stays; at most a newline is added after a last line
        // that had none, so that an appended marker starts its own line.
        let before = admin_text(&file.text);
        let after = admin_text(&written);
        let same = after == before
            || (!before.ends_with('\n')
                && (after.strip_suffix('\n') == Some(before.as_str()) || after.strip_suffix("\r\n") == Some(before.as_str())));
        prop_assert!(same, "admin text changed:\nbefore {:?}\nafter  {:?}", before, after);

        // The file now has exactly the desired blocks: kept ones in place, new ones last.
        let reparsed = ManagedFile::parse(&written, ";").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let desired_ids: Vec<&str> = desired.iter().map(|b| b.id.as_str()).collect();
        let mut expected: Vec<&str> = file.blocks.iter().map(|(id, _)| id.as_str()).filter(|id| desired_ids.contains(id)).collect();
        for id in &desired_ids {
            if !expected.contains(id) {
                expected.push(id);
            }
        }
        let got: Vec<&str> = reparsed.blocks().map(|(id, _)| id).collect();
        prop_assert_eq!(got, expected);
        for block in &desired {
            prop_assert_eq!(reparsed.get(&block.id).map(lf), Some(lf(&block.body)));
        }
        prop_assert!(reparsed.drift(&desired).is_empty());

        // Idempotent: a second edit writes the same bytes.
        let mut again = reparsed.clone();
        again.set_blocks(&desired).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.render(), written);
    }

    #[test]
    fn corrupted_markers_are_refused_and_the_file_kept(file in generated_file(), pick in any::<prop::sample::Index>(), how in 0u8..4) {
        prop_assume!(!file.blocks.is_empty());
        let (id, body) = &file.blocks[pick.index(file.blocks.len())];
        let whole = format!("; BEGIN MANAGED - {id}\n{}; END MANAGED - {id}\n", lf(body));
        let corrupted = match how {
            // The block twice.
            0 => format!("{}\n{whole}{whole}", file.text),
            // A block left open at the end.
            1 => format!("{}\n; BEGIN MANAGED - {id} open\n", file.text),
            // A block inside a block.
            2 => format!("{}\n; BEGIN MANAGED - outer {id}\n{whole}; END MANAGED - outer {id}\n", file.text),
            // An END without a BEGIN.
            _ => format!("{}\n; END MANAGED - stray {id}\n", file.text),
        };
        prop_assert!(ManagedFile::parse(&corrupted, ";").is_err());

        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("pjsip.conf");
        std::fs::write(&path, &corrupted).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = sync_file(&path, ";", &[ManagedBlock::new("Extension 1", "[1]\ntype=aor\n")], &WriteOptions::default());
        prop_assert!(matches!(result, Err(RenderError::Malformed(_))));
        prop_assert_eq!(std::fs::read_to_string(&path).map_err(|e| TestCaseError::fail(e.to_string()))?, corrupted);
        prop_assert_eq!(std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 1);
    }
}

#[test]
fn malformed_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pjsip.conf");
    std::fs::write(
        &path,
        "[global]\n; BEGIN MANAGED - Extension 1001\n[1001]\n",
    )
    .unwrap();
    let err = sync_file(&path, ";", &[], &WriteOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("pjsip.conf line 2"), "{message}");
    assert!(
        message.contains("'Extension 1001' has no END marker"),
        "{message}"
    );
}

#[test]
fn kamailio_leader_manages_hash_blocks_and_ignores_semicolons() {
    let text = "# dispatcher.list\n1 sip:10.0.0.1:5060\n; BEGIN MANAGED - not ours\n";
    let mut file = ManagedFile::parse(text, "#").unwrap();
    file.upsert(&ManagedBlock::new(
        "Nodes",
        "1 sip:10.0.0.2:5060\n1 sip:10.0.0.3:5060",
    ))
    .unwrap();
    assert_eq!(
        file.render(),
        format!(
            "{text}# BEGIN MANAGED - Nodes\n1 sip:10.0.0.2:5060\n1 sip:10.0.0.3:5060\n# END MANAGED - Nodes\n"
        )
    );
}

#[test]
fn ten_thousand_blocks_parse_edit_and_render() {
    let mut text = String::from("[global]\ntype=global\n");
    for n in 0..10_000 {
        text.push_str(&format!("; BEGIN MANAGED - Extension {n}\n[{n}]\ntype=aor\nmax_contacts=1\n; END MANAGED - Extension {n}\n"));
    }
    let mut file = ManagedFile::parse(&text, ";").unwrap();
    assert_eq!(file.blocks().count(), 10_000);
    file.upsert(&ManagedBlock::new(
        "Extension 5000",
        "[5000]\ntype=aor\nmax_contacts=2\n",
    ))
    .unwrap();
    let out = file.render();
    assert_eq!(out.len(), text.len());
    assert!(out.contains("[5000]\ntype=aor\nmax_contacts=2\n"));
    assert!(file.remove("Extension 5000"));
    assert!(!file.remove("Extension 5000"));
    assert_eq!(file.blocks().count(), 9_999);
}
