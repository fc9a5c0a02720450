//! Keeps the Asterisk double honest: replays the client side of the recorded transcripts
//! against it and compares everything it sends back with what the real Asterisk 22.10.1
//! sent, byte for byte.
//!
//! Only values that really differ from run to run are normalised, and only these:
//! - `Timestamp` (Ping), `EventTV`, `SessionTV`: wall-clock times;
//! - `SessionID`: a pointer inside Asterisk;
//! - `Uptime`, `LastReload`: seconds since start and since the last reload;
//! - `CoreStartupDate`, `CoreStartupTime`, `CoreReloadDate`, `CoreReloadTime`,
//!   `CoreProcessedCalls`: history of the recorded Asterisk;
//! - the port of `LocalAddress` and `RemoteAddress` (the double listens on a free port).
//!
//! The transcripts are in `tests/fixtures/asterisk/transcripts` (see the README there).

use std::path::PathBuf;
use std::time::Duration;

use crate::support::asterisk::{AsteriskDouble, Contact, DoubleConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VARYING: &[&str] = &[
    "Timestamp",
    "EventTV",
    "SessionTV",
    "SessionID",
    "Uptime",
    "LastReload",
    "CoreStartupDate",
    "CoreStartupTime",
    "CoreReloadDate",
    "CoreReloadTime",
    "CoreProcessedCalls",
];
const VARYING_PORT: &[&str] = &["LocalAddress", "RemoteAddress"];

const BASE_CONF: &str = "\
[global]
type=global
user_agent=Asterisk-AMI-lab

[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:5060
";

fn transcripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk/transcripts")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    ClientToServer(Vec<u8>),
    ServerToClient(Vec<u8>),
    /// A `#### ` recorder note between blocks.
    Note(String),
}

struct Transcript {
    header: Vec<String>,
    items: Vec<Item>,
}

impl Transcript {
    fn load(name: &str) -> Self {
        let path = transcripts().join(format!("{name}.txt"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "transcript {} not readable ({e}); see tests/fixtures/README.md",
                path.display()
            )
        });
        Self::parse(&bytes)
    }

    /// `==== [N] C>S|S>C +SECONDS LEN bytes ====`, LEN raw bytes, one LF; `#` lines around.
    fn parse(bytes: &[u8]) -> Self {
        let mut header = Vec::new();
        let mut items = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let end = bytes[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| pos + i);
            let line = String::from_utf8_lossy(&bytes[pos..end]).into_owned();
            pos = end + 1;
            if let Some(marker) = line.strip_prefix("==== [") {
                let fields: Vec<&str> = marker.split_whitespace().collect();
                let direction = fields[1];
                let len: usize = fields[3].parse().expect("block length");
                let data = bytes[pos..pos + len].to_vec();
                pos += len + 1;
                items.push(match direction {
                    "C>S" => Item::ClientToServer(data),
                    "S>C" => Item::ServerToClient(data),
                    other => panic!("unknown direction {other}"),
                });
            } else if let Some(note) = line.strip_prefix("#### ") {
                items.push(Item::Note(note.to_owned()));
            } else if let Some(text) = line.strip_prefix("# ") {
                header.push(text.to_owned());
            }
        }
        Self { header, items }
    }

    /// The config block quoted in the header after `... appended:`.
    fn appended_block(&self) -> String {
        let mut block = String::new();
        let mut inside = false;
        for line in &self.header {
            let Some(note) = line.strip_prefix("Note: ") else {
                continue;
            };
            if note.ends_with("appended:") || note.contains("appended to otherwise-good") {
                inside = true;
                continue;
            }
            if inside {
                let config_line = note.starts_with('[')
                    || note
                        .split_once('=')
                        .is_some_and(|(k, _)| !k.is_empty() && !k.contains(' '));
                if !config_line {
                    break;
                }
                block.push_str(note);
                block.push('\n');
            }
        }
        assert!(
            !block.is_empty(),
            "no config block in the transcript header"
        );
        block
    }

    fn server_bytes(&self) -> Vec<u8> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::ServerToClient(b) => Some(b.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    fn server_closes(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i, Item::Note(n) if n.contains("server closed the TCP connection")))
    }
}

/// Replaces the values that differ between runs, leaving every byte around them alone.
fn normalise(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (content, ending) = match line.strip_suffix("\r\n") {
            Some(c) => (c, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(c) => (c, "\n"),
                None => (line, ""),
            },
        };
        let replaced = match content.split_once(": ") {
            Some((name, _)) if VARYING.contains(&name) => format!("{name}: <varies>"),
            Some((name, value)) if VARYING_PORT.contains(&name) => match value.rsplit_once('/') {
                Some((address, _port)) => format!("{name}: {address}/<port>"),
                None => content.to_owned(),
            },
            _ => content.to_owned(),
        };
        out.push_str(&replaced);
        out.push_str(ending);
    }
    out
}

/// Complete frames in a server byte stream: the banner line plus blank-line-ended messages.
fn count_frames(bytes: &[u8]) -> usize {
    let mut frames = 0;
    let mut lines_in_message = 0;
    let mut banner_pending = bytes.starts_with(b"Asterisk Call Manager");
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if !line.ends_with(b"\n") {
            break;
        }
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if banner_pending {
            banner_pending = false;
            frames += 1;
        } else if content.is_empty() {
            if lines_in_message > 0 {
                frames += 1;
                lines_in_message = 0;
            }
        } else {
            lines_in_message += 1;
        }
    }
    frames
}

struct Scenario {
    name: &'static str,
    /// pjsip.conf when the double starts.
    conf: String,
    /// pjsip.conf after a `#### pjsip.conf rewritten` note.
    rewritten: Option<String>,
    challenge: Option<&'static str>,
    /// Contacts registered before the client connects.
    contacts: Vec<Contact>,
}

impl Scenario {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            conf: BASE_CONF.to_owned(),
            rewritten: None,
            challenge: None,
            contacts: Vec::new(),
        }
    }
}

fn lab_conf_with_1001_and_1002() -> String {
    let c1 = Transcript::load("c1-reload-add-1001-userpass");
    let c2 = Transcript::load("c2-reload-add-1002-md5");
    format!(
        "{BASE_CONF}\n{}\n{}",
        c1.appended_block(),
        c2.appended_block()
    )
}

async fn replay(scenario: Scenario) {
    let transcript = Transcript::load(scenario.name);
    let dir = tempfile::tempdir().expect("temp dir");
    let conf_path = dir.path().join("pjsip.conf");
    std::fs::write(&conf_path, &scenario.conf).expect("write pjsip.conf");
    let double = AsteriskDouble::start(DoubleConfig {
        pjsip_conf: Some(conf_path.clone()),
        login_failure_delay: Duration::from_millis(100),
        challenge: scenario.challenge.map(str::to_owned),
        ..DoubleConfig::default()
    })
    .await;
    for contact in scenario.contacts {
        double.add_contact(contact);
    }

    let mut stream = TcpStream::connect(double.addr()).await.expect("connect");
    let mut received = Vec::new();
    let mut expected_so_far = Vec::new();
    let mut read_buf = [0u8; 65536];

    for (index, item) in transcript.items.iter().enumerate() {
        match item {
            Item::Note(note) if note.contains("pjsip.conf rewritten") => {
                if let Some(conf) = &scenario.rewritten {
                    std::fs::write(&conf_path, conf).expect("rewrite pjsip.conf");
                }
            }
            Item::Note(_) => {}
            Item::ServerToClient(bytes) => {
                expected_so_far.extend_from_slice(bytes);
                let next_is_server = matches!(
                    transcript.items[index + 1..]
                        .iter()
                        .find(|i| !matches!(i, Item::Note(_))),
                    Some(Item::ServerToClient(_))
                );
                if next_is_server {
                    continue;
                }
                let wanted = count_frames(&expected_so_far);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                while count_frames(&received) < wanted {
                    let read = tokio::time::timeout_at(deadline, stream.read(&mut read_buf))
                        .await
                        .unwrap_or_else(|_| {
                            panic!(
                                "{}: timed out waiting for block {index}; got so far:\n{}",
                                scenario.name,
                                normalise(&received)
                            )
                        })
                        .expect("read");
                    if read == 0 {
                        break;
                    }
                    received.extend_from_slice(&read_buf[..read]);
                }
            }
            Item::ClientToServer(bytes) => {
                stream.write_all(bytes).await.expect("write");
            }
        }
    }

    if transcript.server_closes() {
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match stream.read(&mut read_buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received.extend_from_slice(&read_buf[..n]),
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "{}: the double did not close the connection",
            scenario.name
        );
    } else {
        // Nothing more may arrive.
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(300), stream.read(&mut read_buf)).await
        {
            received.extend_from_slice(&read_buf[..n]);
        }
    }

    let expected = normalise(&transcript.server_bytes());
    let actual = normalise(&received);
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, &actual);
        panic!(
            "{}: the double differs from the recording (- recorded, + double):\n{}",
            scenario.name,
            diff.unified_diff().context_radius(3)
        );
    }
}

#[tokio::test]
async fn a1_login_success() {
    replay(Scenario::new("a1-login-success")).await;
}

#[tokio::test]
async fn a2_login_success_events_off() {
    replay(Scenario::new("a2-login-success-events-off")).await;
}

#[tokio::test]
async fn a3_login_failure() {
    replay(Scenario::new("a3-login-failure")).await;
}

#[tokio::test]
async fn a4_login_md5_challenge() {
    replay(Scenario {
        challenge: Some("135889231"),
        ..Scenario::new("a4-login-md5-challenge")
    })
    .await;
}

#[tokio::test]
async fn a5_login_md5_wrong_key() {
    replay(Scenario {
        challenge: Some("740570501"),
        ..Scenario::new("a5-login-md5-wrong-key")
    })
    .await;
}

#[tokio::test]
async fn a6_action_before_login() {
    replay(Scenario::new("a6-action-before-login")).await;
}

#[tokio::test]
async fn b1_ping_coresettings_corestatus() {
    replay(Scenario::new("b1-ping-coresettings-corestatus")).await;
}

#[tokio::test]
async fn b2_framing_and_actionid() {
    replay(Scenario::new("b2-framing-and-actionid")).await;
}

#[tokio::test]
async fn c1_reload_add_1001_userpass() {
    let block = Transcript::load("c1-reload-add-1001-userpass").appended_block();
    let conf = format!("{BASE_CONF}\n{block}");
    replay(Scenario {
        conf: conf.clone(),
        rewritten: Some(conf),
        ..Scenario::new("c1-reload-add-1001-userpass")
    })
    .await;
}

#[tokio::test]
async fn d1_pjsipshowendpoint_1001() {
    replay(Scenario {
        conf: lab_conf_with_1001_and_1002(),
        ..Scenario::new("d1-pjsipshowendpoint-1001")
    })
    .await;
}

#[tokio::test]
async fn d2_pjsipshowendpoint_missing() {
    replay(Scenario {
        conf: lab_conf_with_1001_and_1002(),
        ..Scenario::new("d2-pjsipshowendpoint-missing")
    })
    .await;
}

#[tokio::test]
async fn e3_empty_list_responses() {
    replay(Scenario {
        conf: lab_conf_with_1001_and_1002(),
        ..Scenario::new("e3-empty-list-responses")
    })
    .await;
}

/// 1002 as sipp registered it in the recordings (127.0.0.1:5082, Call-ID 1-18707).
fn contact_1002(status: &str, expiration: u64) -> Contact {
    Contact {
        call_id: "1-18707@127.0.0.1".to_owned(),
        expiration,
        status: status.to_owned(),
        ..Contact::registered("1002", 5082)
    }
}

#[tokio::test]
async fn d3_pjsipshowendpoint_1002_md5_with_contact() {
    replay(Scenario {
        conf: lab_conf_with_1001_and_1002(),
        contacts: vec![contact_1002("NonQualified", 1795279645)],
        ..Scenario::new("d3-pjsipshowendpoint-1002-md5")
    })
    .await;
}

#[tokio::test]
async fn e1_pjsip_lists() {
    let registration = Transcript::load("e0-add-outbound-registration").appended_block();
    replay(Scenario {
        conf: format!("{}\n{registration}", lab_conf_with_1001_and_1002()),
        contacts: vec![contact_1002("Unreachable", 1795279412)],
        ..Scenario::new("e1-pjsip-lists")
    })
    .await;
}

#[tokio::test]
async fn f5_originate_failure() {
    replay(Scenario {
        conf: lab_conf_with_1001_and_1002(),
        ..Scenario::new("f5-originate-failure")
    })
    .await;
}

#[tokio::test]
async fn g1_dialplanreload_and_show() {
    replay(Scenario::new("g1-dialplanreload-and-show")).await;
}

/// h1-h4: the good lab config, then a bad block appended just before the reloads.
async fn replay_bad_block(name: &'static str) {
    let good = lab_conf_with_1001_and_1002();
    let bad = format!("{good}\n{}", Transcript::load(name).appended_block());
    replay(Scenario {
        conf: good,
        rewritten: Some(bad),
        ..Scenario::new(name)
    })
    .await;
}

#[tokio::test]
async fn h1_bad_max_contacts_drops_only_the_aor() {
    replay_bad_block("h1-bad-max-contacts").await;
}

#[tokio::test]
async fn h2_unknown_option_drops_the_endpoint() {
    replay_bad_block("h2-unknown-option").await;
}

#[tokio::test]
async fn h3_syntax_error_keeps_the_old_config() {
    replay_bad_block("h3-syntax-error").await;
}

#[tokio::test]
async fn h4_missing_type_and_missing_transport() {
    replay_bad_block("h4-missing-type").await;
}

#[test]
fn normalisation_touches_only_the_listed_values() {
    let raw = b"Event: SuccessfulAuth\r\nEventTV: 2026-11-21T16:41:06.595+0000\r\nAccountID: rayan\r\nRemoteAddress: IPV4/TCP/127.0.0.1/47310\r\nMessage: Unable to retrieve endpoint 9999\n\r\n\r\n";
    assert_eq!(
        normalise(raw),
        "Event: SuccessfulAuth\r\nEventTV: <varies>\r\nAccountID: rayan\r\nRemoteAddress: IPV4/TCP/127.0.0.1/<port>\r\nMessage: Unable to retrieve endpoint 9999\n\r\n\r\n"
    );
    assert_eq!(
        count_frames(b"Asterisk Call Manager/11.0.0\r\nA: 1\r\n\r\nB: 2\n\r\n\r\nC: 3\r\n"),
        3
    );
}
