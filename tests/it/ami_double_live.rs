//! The double's live behaviour against the recordings: hints and live dialplan edits (o1,
//! j3, n3), extension and device states through a call (j3), REGISTER security events
//! (j2), res_pjsip_acl sections and the AMI user's read/write classes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::asterisk::{
    AsteriskDouble, Contact, DoubleConfig, RegisterAttempt, dialplan::Dialplan,
};

/// extensions.conf of o1 at its start.
const O1_EXTENSIONS: &str = "\
[general]
static=yes
writeprotect=no

; hand-written context that must survive
[handwritten]
exten => 9000,1,Answer()
 same => n,Wait(5)
 same => n,Hangup()
";

/// The j3 block appended to the lab's extensions.conf.
const J3_EXTENSIONS: &str = "\
[from-internal]
exten => 2001,hint,PJSIP/2001
exten => 2001,1,Dial(PJSIP/2001,20)
 same => n,Hangup()
exten => 2002,hint,PJSIP/2002
exten => 2002,1,Dial(PJSIP/2002,20)
 same => n,Hangup()
";

/// The endpoints of j2/j3 (template expanded), as the lab's pjsip.conf had them.
fn j2_pjsip() -> String {
    let mut text = String::from(
        "[transport-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n\n\
         [phone](!)\ntype=endpoint\ncontext=from-internal\ndisallow=all\nallow=ulaw\n\n\
         [aor-1](!)\ntype=aor\nmax_contacts=1\nremove_existing=yes\n\n",
    );
    for (n, extra) in [
        ("2001", ""),
        ("2002", ""),
        ("2003", "deny=127.0.0.1/255.255.255.255\n"),
        ("2004", "contact_deny=127.0.0.0/255.0.0.0\n"),
        ("2005", ""),
    ] {
        text.push_str(&format!(
            "[{n}](phone)\nauth={n}\naors={n}\n{extra}\n[{n}]\ntype=auth\nauth_type=userpass\nusername={n}\npassword=pass{n}\n\n"
        ));
        if n == "2005" {
            text.push_str("[2005]\ntype=aor\nmax_contacts=1\nremove_existing=no\n\n");
        } else {
            text.push_str(&format!("[{n}](aor-1)\n\n"));
        }
    }
    text.push_str(
        "[3001](phone)\nauth=3001\naors=3001\n\n[3001]\ntype=auth\nauth_type=md5\nusername=3001\n\
         md5_cred=",
    );
    text.push_str(&md5_hex("3001:asterisk:pass3001"));
    text.push_str("\n\n[3001](aor-1)\n");
    text
}

fn md5_hex(text: &str) -> String {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

struct Lab {
    double: AsteriskDouble,
    dir: tempfile::TempDir,
}

impl Lab {
    async fn start(pjsip: &str, extensions: &str, tweak: impl FnOnce(&mut DoubleConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pjsip.conf"), pjsip).expect("pjsip.conf");
        std::fs::write(dir.path().join("extensions.conf"), extensions).expect("extensions.conf");
        let mut config = DoubleConfig {
            pjsip_conf: Some(dir.path().join("pjsip.conf")),
            extensions_conf: Some(dir.path().join("extensions.conf")),
            ..DoubleConfig::default()
        };
        tweak(&mut config);
        let double = AsteriskDouble::start(config).await;
        Self { double, dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

/// A raw AMI session that keeps what it reads as frames.
struct Ami {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Ami {
    async fn login(addr: SocketAddr) -> Self {
        let mut ami = Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        };
        ami.send("Action: Login\r\nActionID: l\r\nUsername: rayan\r\nSecret: rayan-secret\r\nEvents: on\r\n\r\n")
            .await;
        let first = ami.frames(1).await;
        assert!(first[0].contains("Authentication accepted"), "{first:?}");
        ami.drain().await;
        ami
    }

    async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.expect("write");
    }

    async fn fill(&mut self, wait: Duration) -> bool {
        let mut chunk = [0u8; 65536];
        match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    fn take_frame(&mut self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        // The banner line is a frame of its own.
        if text.starts_with("Asterisk Call Manager/") {
            let end = text.find("\r\n")? + 2;
            self.buf.drain(..end);
            return Some(text[..end].to_owned());
        }
        let end = text.find("\r\n\r\n")? + 4;
        self.buf.drain(..end);
        Some(text[..end].to_owned())
    }

    /// The next `n` frames (answers and events), waiting up to 5 s.
    async fn frames(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while out.len() < n {
            if let Some(frame) = self.take_frame() {
                if !frame.starts_with("Asterisk Call Manager/") {
                    out.push(frame);
                }
                continue;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(self.fill(left).await, "timed out; got {out:?}");
        }
        out
    }

    /// Everything that arrives until 150 ms pass quietly.
    async fn drain(&mut self) -> Vec<String> {
        while self.fill(Duration::from_millis(150)).await {}
        let mut out = Vec::new();
        while let Some(frame) = self.take_frame() {
            if !frame.starts_with("Asterisk Call Manager/") {
                out.push(frame);
            }
        }
        out
    }

    /// Sends `action` and returns everything it brings (answer, list, events).
    async fn exchange(&mut self, action: &str) -> String {
        self.send(action).await;
        let mut frames = self.frames(1).await;
        frames.extend(self.drain().await);
        frames.concat()
    }
}

fn header<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    frame.split("\r\n").find_map(|line| {
        line.split_once(": ")
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn events<'a>(frames: &'a [String], name: &str) -> Vec<&'a String> {
    frames
        .iter()
        .filter(|f| header(f, "Event") == Some(name))
        .collect()
}

fn names(frames: &[String]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| header(f, "Event"))
        .map(str::to_owned)
        .collect()
}

/// The value-free shape of an event: its header names in order.
fn shape(frame: &str) -> Vec<&str> {
    frame
        .split("\r\n")
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect()
}

// ---- 1, 2: hints and live dialplan edits (o1) ----

#[tokio::test]
async fn o1_live_add_show_list_replace_and_remove_byte_for_byte() {
    let lab = Lab::start(&j2_pjsip(), O1_EXTENSIONS, |_| {}).await;
    let mut ami = Ami::login(lab.double.addr()).await;
    let cases: &[(&str, &str)] = &[
        (
            "Action: DialplanExtensionAdd\r\nActionID: o1-002\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: hint\r\nApplication: PJSIP/2009\r\n\r\n",
            "Response: Success\r\nActionID: o1-002\r\nMessage: Added requested extension\r\n\r\nEvent: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 2009\r\nContext: o1-live\r\nHint: PJSIP/2009\r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionAdd\r\nActionID: o1-003\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/2009,20\r\n\r\n",
            "Response: Success\r\nActionID: o1-003\r\nMessage: Added requested extension\r\n\r\n",
        ),
        (
            "Action: ShowDialPlan\r\nActionID: o1-004\r\nContext: o1-live\r\nExtension: 2009\r\n\r\n",
            "Response: Success\r\nActionID: o1-004\r\nEventList: start\r\nMessage: DialPlan list will follow\r\n\r\nEvent: ListDialplan\r\nActionID: o1-004\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: hint\r\nApplication: PJSIP/2009\r\nRegistrar: pbx_config\r\n\r\nEvent: ListDialplan\r\nActionID: o1-004\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: 1\r\nApplication: Dial\r\nAppData: PJSIP/2009,20\r\nRegistrar: pbx_config\r\n\r\nEvent: ShowDialPlanComplete\r\nActionID: o1-004\r\nEventList: Complete\r\nListItems: 2\r\nListExtensions: 1\r\nListPriorities: 2\r\nListContexts: 1\r\n\r\n",
        ),
        (
            "Action: ExtensionStateList\r\nActionID: o1-005\r\n\r\n",
            "Response: Success\r\nActionID: o1-005\r\nEventList: start\r\nMessage: Extension Statuses will follow\r\n\r\nEvent: ExtensionStatus\r\nActionID: o1-005\r\nExten: 2009\r\nContext: o1-live\r\nHint: PJSIP/2009\r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\nEvent: ExtensionStateListComplete\r\nActionID: o1-005\r\nEventList: Complete\r\nListItems: 1\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionAdd\r\nActionID: o1-006\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/2009,20\r\n\r\n",
            "Response: Error\r\nActionID: o1-006\r\nMessage: That extension and priority already exist at that context\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionAdd\r\nActionID: o1-007\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: hint\r\nApplication: PJSIP/2009\r\n\r\n",
            "Response: Error\r\nActionID: o1-007\r\nMessage: That extension and priority already exist at that context\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionAdd\r\nActionID: o1-008\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/2009,30\r\nReplace: yes\r\n\r\n",
            "Response: Success\r\nActionID: o1-008\r\nMessage: Added requested extension\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionRemove\r\nActionID: o1-010\r\nContext: o1-live\r\nExtension: 2009\r\nPriority: hint\r\n\r\n",
            "Response: Success\r\nActionID: o1-010\r\nMessage: Removed the requested priority from the extension\r\n\r\n",
        ),
        (
            "Action: ExtensionStateList\r\nActionID: o1-012\r\n\r\n",
            "Response: Success\r\nActionID: o1-012\r\nEventList: start\r\nMessage: Extension Statuses will follow\r\n\r\nEvent: ExtensionStateListComplete\r\nActionID: o1-012\r\nEventList: Complete\r\nListItems: 0\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionRemove\r\nActionID: o1-013\r\nContext: o1-live\r\nExtension: 2009\r\n\r\n",
            "Response: Success\r\nActionID: o1-013\r\nMessage: Removed the requested extension\r\n\r\n",
        ),
        (
            "Action: ShowDialPlan\r\nActionID: o1-014\r\nContext: o1-live\r\nExtension: 2009\r\n\r\n",
            "Response: Error\r\nActionID: o1-014\r\nMessage: Did not find extension 2009@o1-live\r\n\r\n",
        ),
        (
            "Action: ShowDialPlan\r\nActionID: o1-015\r\nContext: o1-live\r\n\r\n",
            "Response: Success\r\nActionID: o1-015\r\nEventList: start\r\nMessage: DialPlan list will follow\r\n\r\nEvent: ShowDialPlanComplete\r\nActionID: o1-015\r\nEventList: Complete\r\nListItems: 0\r\nListExtensions: 0\r\nListPriorities: 0\r\nListContexts: 1\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionRemove\r\nActionID: o1-016\r\nContext: o1-live\r\nExtension: 2009\r\n\r\n",
            "Response: Error\r\nActionID: o1-016\r\nMessage: Failed to remove requested extension\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionRemove\r\nActionID: o1-017\r\nContext: o1-nowhere\r\nExtension: 2001\r\n\r\n",
            "Response: Error\r\nActionID: o1-017\r\nMessage: Failed to remove requested extension\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionRemove\r\nActionID: o1-018\r\nContext: handwritten\r\nExtension: 9000\r\nPriority: 7\r\n\r\n",
            "Response: Error\r\nActionID: o1-018\r\nMessage: Failed to remove requested extension\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionRemove\r\nActionID: o1-019\r\nContext: handwritten\r\nExtension: 9000\r\nPriority: abc\r\n\r\n",
            "Response: Error\r\nActionID: o1-019\r\nMessage: The priority specified was invalid.\r\n\r\n",
        ),
        // Not recorded: the texts of pbx_config.c.
        (
            "Action: DialplanExtensionAdd\r\nActionID: x-1\r\nContext: o1-live\r\nExtension: 1\r\n\r\n",
            "Response: Error\r\nActionID: x-1\r\nMessage: Context, Extension, Priority, and Application must be defined for DialplanExtensionAdd.\r\n\r\n",
        ),
        (
            "Action: DialplanExtensionRemove\r\nActionID: x-2\r\nContext: o1-live\r\n\r\n",
            "Response: Error\r\nActionID: x-2\r\nMessage: Context and Extension must be provided for DialplanExtensionRemove\r\n\r\n",
        ),
    ];
    for (action, expected) in cases {
        assert_eq!(ami.exchange(action).await, *expected, "after {action:?}");
    }
    assert_eq!(lab.double.dialplan_action_count(), 13);
}

#[tokio::test]
async fn o1_replace_shows_the_new_data_and_the_hint_first() {
    let lab = Lab::start(&j2_pjsip(), O1_EXTENSIONS, |_| {}).await;
    let mut ami = Ami::login(lab.double.addr()).await;
    for action in [
        "Action: DialplanExtensionAdd\r\nContext: o1-live\r\nExtension: 2001\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/2001,20\r\n\r\n",
        "Action: DialplanExtensionAdd\r\nContext: o1-live\r\nExtension: 2001\r\nPriority: hint\r\nApplication: PJSIP/2001\r\n\r\n",
        "Action: DialplanExtensionAdd\r\nContext: o1-live\r\nExtension: 2001\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/2001,30\r\nReplace: yes\r\n\r\n",
    ] {
        ami.exchange(action).await;
    }
    assert_eq!(
        lab.double.dialplan_priorities("o1-live", "2001"),
        Some(vec![
            ("hint".into(), "PJSIP/2001".into(), String::new()),
            ("1".into(), "Dial".into(), "PJSIP/2001,30".into()),
        ])
    );
    assert_eq!(lab.double.dialplan_priorities("o1-live", "2002"), None);
}

#[tokio::test]
async fn o1_a_pbx_config_reload_drops_live_lines_and_keeps_a_touched_context_once() {
    let lab = Lab::start(&j2_pjsip(), O1_EXTENSIONS, |_| {}).await;
    let mut ami = Ami::login(lab.double.addr()).await;
    for action in [
        "Action: DialplanExtensionAdd\r\nContext: handwritten\r\nExtension: 9001\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/9999,20\r\n\r\n",
        "Action: DialplanExtensionAdd\r\nContext: o1-live\r\nExtension: 2001\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/2001,20\r\n\r\n",
        "Action: DialplanExtensionAdd\r\nContext: o1-live\r\nExtension: 2002\r\nPriority: 1\r\nApplication: Dial\r\nApplicationData: PJSIP/2002,20\r\n\r\n",
    ] {
        assert!(
            ami.exchange(action)
                .await
                .contains("Added requested extension")
        );
    }
    let reload = "Action: Reload\r\nActionID: o1-024\r\nModule: pbx_config.so\r\n\r\n";
    assert_eq!(
        ami.exchange(reload).await,
        "Response: Success\r\nActionID: o1-024\r\nMessage: Module Reloaded\r\n\r\nEvent: Reload\r\nPrivilege: system,all\r\nModule: pbx_config.so\r\nStatus: 0\r\n\r\n"
    );
    assert_eq!(lab.double.dialplan_priorities("handwritten", "9001"), None);
    assert_eq!(
        lab.double
            .dialplan_priorities("handwritten", "9000")
            .map(|p| p.len()),
        Some(3)
    );
    // o1-live was found existing by a live add: it stays, empty (o1 [53]).
    assert_eq!(
        ami.exchange("Action: ShowDialPlan\r\nActionID: o1-026\r\nContext: o1-live\r\n\r\n")
            .await,
        "Response: Success\r\nActionID: o1-026\r\nEventList: start\r\nMessage: DialPlan list will follow\r\n\r\nEvent: ShowDialPlanComplete\r\nActionID: o1-026\r\nEventList: Complete\r\nListItems: 0\r\nListExtensions: 0\r\nListPriorities: 0\r\nListContexts: 1\r\n\r\n"
    );
    assert_eq!(
        ami.exchange("Action: Command\r\nActionID: c\r\nCommand: dialplan show o1-live\r\n\r\n")
            .await,
        "Response: Success\r\nActionID: c\r\nMessage: Command output follows\r\nOutput: [ Context 'o1-live' created by 'pbx_config' ]\r\nOutput: \r\nOutput: -= 0 extensions (0 priorities) in 1 context. =-\r\n\r\n"
    );
    // A second reload with no live add in between: gone.
    ami.exchange(reload).await;
    assert!(
        ami.exchange("Action: ShowDialPlan\r\nActionID: g\r\nContext: o1-live\r\n\r\n")
            .await
            .contains("Did not find context o1-live")
    );
}

#[tokio::test]
async fn j3_n3_hints_from_the_file_reload_events_list_and_state() {
    let lab = Lab::start(&j2_pjsip(), "[from-internal]\n", |_| {}).await;
    let mut ami = Ami::login(lab.double.addr()).await;
    std::fs::write(lab.path("extensions.conf"), J3_EXTENSIONS).expect("rewrite");
    assert_eq!(
        ami.exchange("Action: Reload\r\nActionID: j3-002\r\nModule: pbx_config.so\r\n\r\n")
            .await,
        "Response: Success\r\nActionID: j3-002\r\nMessage: Module Reloaded\r\n\r\nEvent: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 2001\r\nContext: from-internal\r\nHint: \r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\nEvent: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 2002\r\nContext: from-internal\r\nHint: \r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\nEvent: Reload\r\nPrivilege: system,all\r\nModule: pbx_config.so\r\nStatus: 0\r\n\r\n"
    );
    assert_eq!(
        ami.exchange("Action: ExtensionStateList\r\nActionID: j3-003\r\n\r\n")
            .await,
        "Response: Success\r\nActionID: j3-003\r\nEventList: start\r\nMessage: Extension Statuses will follow\r\n\r\nEvent: ExtensionStatus\r\nActionID: j3-003\r\nExten: 2002\r\nContext: from-internal\r\nHint: PJSIP/2002\r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\nEvent: ExtensionStatus\r\nActionID: j3-003\r\nExten: 2001\r\nContext: from-internal\r\nHint: PJSIP/2001\r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\nEvent: ExtensionStateListComplete\r\nActionID: j3-003\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
    );
    assert_eq!(
        ami.exchange("Action: ExtensionState\r\nActionID: j3-004\r\nExten: 2001\r\nContext: from-internal\r\n\r\n").await,
        "Response: Success\r\nActionID: j3-004\r\nMessage: Extension Status\r\nExten: 2001\r\nContext: from-internal\r\nHint: PJSIP/2001\r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\n"
    );
    let shown = ami
        .exchange("Action: ShowDialPlan\r\nActionID: n3\r\nContext: from-internal\r\nExtension: 2001\r\n\r\n")
        .await;
    assert!(shown.contains("Event: ListDialplan\r\nActionID: n3\r\nContext: from-internal\r\nExtension: 2001\r\nPriority: hint\r\nApplication: PJSIP/2001\r\nRegistrar: pbx_config\r\n\r\n"), "{shown}");
    assert!(
        shown.contains("ListItems: 3\r\nListExtensions: 1\r\nListPriorities: 3\r\n"),
        "{shown}"
    );
    let cli = ami
        .exchange("Action: Command\r\nActionID: c\r\nCommand: dialplan show from-internal\r\n\r\n")
        .await;
    assert!(
        cli.contains("Output:   '2001' =>         hint: PJSIP/2001"),
        "{cli}"
    );
    // Removing the hints by reload says nothing (j3 [18]).
    std::fs::write(lab.path("extensions.conf"), "[from-internal]\n").expect("rewrite");
    assert_eq!(
        names(&[ami
            .exchange("Action: Reload\r\nModule: pbx_config.so\r\n\r\n")
            .await]),
        vec!["Reload".to_owned()]
    );
}

// ---- 4: device and extension states through registration and a call (j3) ----

#[tokio::test]
async fn j3_register_call_answer_hang_up_and_unregister() {
    let lab = Lab::start(&j2_pjsip(), J3_EXTENSIONS, |_| {}).await;
    let mut ami = Ami::login(lab.double.addr()).await;

    lab.double.add_contact(Contact::registered("2001", 5081));
    let registered = ami.drain().await;
    assert_eq!(
        names(&registered),
        [
            "PeerStatus",
            "DeviceStateChange",
            "ExtensionStatus",
            "ContactStatus"
        ]
    );
    assert_eq!(
        registered[1..3].concat(),
        "Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/2001\r\nState: NOT_INUSE\r\n\r\nEvent: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 2001\r\nContext: from-internal\r\nHint: PJSIP/2001\r\nStatus: 0\r\nStatusText: Idle\r\n\r\n"
    );

    let mut call = lab.double.call("2002", "2001").expect("2001 is registered");
    let ringing = ami.drain().await;
    let states: Vec<String> = ringing
        .iter()
        .filter(|f| {
            matches!(
                header(f, "Event"),
                Some("ExtensionStatus" | "DeviceStateChange" | "DialState")
            )
        })
        .map(|f| {
            format!(
                "{} {}",
                header(f, "Event").unwrap(),
                header(f, "Status")
                    .or(header(f, "State"))
                    .or(header(f, "DialStatus"))
                    .unwrap()
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            "ExtensionStatus 8",
            "ExtensionStatus 1",
            "DeviceStateChange RINGING",
            "DialState RINGING",
            "DeviceStateChange INUSE"
        ]
    );
    assert_eq!(
        header(events(&ringing, "ExtensionStatus")[1], "Exten"),
        Some("2002")
    );
    assert_eq!(
        header(events(&ringing, "DeviceStateChange")[1], "Device"),
        Some("PJSIP/2002")
    );
    assert_eq!(lab.double.channels().len(), 2);

    call.answer();
    let answered = ami.drain().await;
    assert_eq!(
        names(&answered),
        [
            "Newstate",
            "DialEnd",
            "Newstate",
            "ExtensionStatus",
            "DeviceStateChange",
            "BridgeCreate",
            "BridgeEnter",
            "BridgeEnter"
        ]
    );
    assert_eq!(header(&answered[3], "StatusText"), Some("InUse"));

    call.hang_up();
    let hung_up = ami.drain().await;
    assert_eq!(
        names(&hung_up),
        [
            "ExtensionStatus",
            "HangupRequest",
            "BridgeLeave",
            "SoftHangupRequest",
            "Hangup",
            "BridgeLeave",
            "BridgeDestroy",
            "ExtensionStatus",
            "Hangup",
            "DeviceStateChange",
            "DeviceStateChange"
        ]
    );
    assert_eq!(
        hung_up[0],
        "Event: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 2002\r\nContext: from-internal\r\nHint: PJSIP/2002\r\nStatus: 4\r\nStatusText: Unavailable\r\n\r\n"
    );
    assert_eq!(header(&hung_up[7], "StatusText"), Some("Idle"));
    assert_eq!(header(&hung_up[9], "State"), Some("UNAVAILABLE"));
    assert_eq!(header(&hung_up[10], "State"), Some("NOT_INUSE"));
    assert!(lab.double.channels().is_empty());

    lab.double
        .set_contact_status("sip:2001@127.0.0.1:5081", "Removed", None);
    let gone = ami.drain().await;
    assert_eq!(
        names(&gone),
        [
            "PeerStatus",
            "ExtensionStatus",
            "DeviceStateChange",
            "ContactStatus"
        ]
    );
    assert_eq!(header(&gone[2], "State"), Some("UNAVAILABLE"));
    // No state moved: nothing more.
    lab.double
        .set_contact_status("sip:2001@127.0.0.1:5081", "Removed", None);
    assert!(ami.drain().await.is_empty());
    assert!(lab.double.call("2002", "2001").is_none());
}

// ---- 5: REGISTER attempts and their security events (j2) ----

fn source(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The header names j2 shows for its security events, up to `RemoteAddress`.
const SECURITY_HEAD: &[&str] = &[
    "Event",
    "Privilege",
    "EventTV",
    "Severity",
    "Service",
    "EventVersion",
    "AccountID",
    "SessionID",
    "LocalAddress",
    "RemoteAddress",
];

#[tokio::test]
async fn j2_register_attempts_emit_the_recorded_security_events() {
    let lab = Lab::start(&j2_pjsip(), J3_EXTENSIONS, |_| {}).await;
    let mut ami = Ami::login(lab.double.addr()).await;
    let d = &lab.double;

    // (1) wrong password
    assert!(matches!(
        d.register_attempt(source(5081), "2001", "WRONG"),
        RegisterAttempt::Refused { .. }
    ));
    let wrong = ami.drain().await;
    assert_eq!(names(&wrong), ["ChallengeSent", "ChallengeResponseFailed"]);
    assert_eq!(shape(&wrong[0])[..10], *SECURITY_HEAD);
    assert_eq!(shape(&wrong[0])[10..], ["Challenge"]);
    assert_eq!(
        shape(&wrong[1])[10..],
        ["Challenge", "Response", "ExpectedResponse"]
    );
    assert_eq!(header(&wrong[1], "Severity"), Some("Error"));
    assert_eq!(
        header(&wrong[1], "RemoteAddress"),
        Some("IPV4/UDP/127.0.0.1/5081")
    );
    assert_eq!(
        header(&wrong[1], "LocalAddress"),
        Some("IPV4/UDP/127.0.0.1/5060")
    );
    assert_eq!(header(&wrong[0], "Privilege"), Some("security,all"));

    // (2) unknown account
    d.register_attempt(source(5081), "2999", "whatever");
    let unknown = ami.drain().await;
    assert_eq!(
        names(&unknown),
        [
            "InvalidAccountID",
            "ChallengeSent",
            "InvalidAccountID",
            "ChallengeResponseFailed"
        ]
    );
    assert_eq!(shape(&unknown[0]), SECURITY_HEAD);
    assert_eq!(header(&unknown[0], "AccountID"), Some("2999"));
    assert_eq!(header(&unknown[1], "AccountID"), Some("<unknown>"));
    assert_eq!(header(&unknown[3], "AccountID"), Some("<unknown>"));

    // (3) endpoint deny, (4) contact_deny
    for (account, acl) in [
        ("2003", "not_match_endpoint_acl"),
        ("2004", "not_match_endpoint_contact_acl"),
    ] {
        assert!(matches!(
            d.register_attempt(source(5081), account, &format!("pass{account}")),
            RegisterAttempt::Refused { .. }
        ));
        let refused = ami.drain().await;
        assert_eq!(
            names(&refused),
            [
                "FailedACL",
                "ChallengeSent",
                "FailedACL",
                "ChallengeResponseFailed"
            ]
        );
        assert_eq!(shape(&refused[0])[10..], ["ACLName"]);
        assert_eq!(header(&refused[0], "ACLName"), Some(acl));
        assert_eq!(header(&refused[0], "AccountID"), Some(account));
        assert_eq!(header(&refused[1], "AccountID"), Some("<unknown>"));
    }
    assert!(d.contacts().is_empty());

    // (5) right password, then a second contact over max_contacts=1
    assert_eq!(
        d.register_attempt(source(5081), "2005", "pass2005"),
        RegisterAttempt::Registered
    );
    let ok = ami.drain().await;
    assert_eq!(
        names(&ok),
        [
            "ChallengeSent",
            "SuccessfulAuth",
            "PeerStatus",
            "DeviceStateChange",
            "ContactStatus"
        ]
    );
    assert_eq!(shape(&ok[1])[10..], ["UsingPassword"]);
    assert_eq!(header(&ok[1], "UsingPassword"), Some("1"));
    assert_eq!(header(&ok[4], "URI"), Some("sip:2005@127.0.0.1:5081"));
    assert_eq!(header(&ok[0], "SessionID"), header(&ok[1], "SessionID"));
    assert!(matches!(
        d.register_attempt(source(5082), "2005", "pass2005"),
        RegisterAttempt::Refused { .. }
    ));
    let over = ami.drain().await;
    assert_eq!(
        names(&over),
        ["ChallengeSent", "SuccessfulAuth", "FailedACL"]
    );
    assert_eq!(
        header(&over[2], "ACLName"),
        Some("registrar_attempt_exceeds_maximum_configured_contacts")
    );

    // A hinted endpoint: its hint goes Idle (j3 [10]); md5_cred works too.
    assert_eq!(
        d.register_attempt(source(5083), "2001", "pass2001"),
        RegisterAttempt::Registered
    );
    assert_eq!(
        names(&ami.drain().await),
        [
            "ChallengeSent",
            "SuccessfulAuth",
            "PeerStatus",
            "DeviceStateChange",
            "ExtensionStatus",
            "ContactStatus"
        ]
    );
    assert_eq!(
        d.register_attempt(source(5084), "3001", "pass3001"),
        RegisterAttempt::Registered
    );
    assert!(matches!(
        d.register_attempt(source(5084), "3001", "nope"),
        RegisterAttempt::Refused { .. }
    ));
}

// ---- 6: res_pjsip_acl sections ----

#[tokio::test]
async fn global_acl_sections_refuse_silently_and_follow_reloads() {
    let base = j2_pjsip();
    let lab = Lab::start(
        &format!("{base}\n[block-one]\ntype=acl\ndeny=203.0.113.9/32\n"),
        "",
        |_| {},
    )
    .await;
    let d = &lab.double;
    assert_eq!(d.acl_sections(), ["block-one"]);
    let mut ami = Ami::login(d.addr()).await;
    let blocked = SocketAddr::from(([203, 0, 113, 9], 5060));
    let neighbour = SocketAddr::from(([203, 0, 113, 10], 5060));
    assert!(matches!(
        d.register_attempt(blocked, "2001", "pass2001"),
        RegisterAttempt::Refused { .. }
    ));
    // res_pjsip_acl.c answers 403 with no security event at all.
    assert!(ami.drain().await.is_empty());
    assert!(
        d.log()
            .iter()
            .any(|l| l
                == "SIP ACL: Rejecting '203.0.113.9' due to a failure to pass ACL '(BASELINE)'")
    );
    assert_eq!(
        d.register_attempt(neighbour, "2001", "pass2001"),
        RegisterAttempt::Registered
    );

    // deny all + permit one network, taking effect on a res_pjsip reload.
    std::fs::write(
        lab.path("pjsip.conf"),
        format!("{base}\n[office]\ntype=acl\ndeny=0.0.0.0/0.0.0.0\npermit=10.1.0.0/255.255.0.0\n"),
    )
    .expect("rewrite");
    assert!(matches!(
        d.register_attempt(
            SocketAddr::from(([198, 51, 100, 1], 5060)),
            "2002",
            "pass2002"
        ),
        RegisterAttempt::Registered
    ));
    ami.exchange("Action: Reload\r\nModule: res_pjsip.so\r\n\r\n")
        .await;
    assert_eq!(d.acl_sections(), ["office"]);
    assert!(matches!(
        d.register_attempt(
            SocketAddr::from(([198, 51, 100, 2], 5060)),
            "2002",
            "pass2002"
        ),
        RegisterAttempt::Refused { .. }
    ));
    assert_eq!(
        d.register_attempt(SocketAddr::from(([10, 1, 2, 3], 5060)), "2002", "pass2002"),
        RegisterAttempt::Registered
    );

    // A bad address: the section is not created (acl.c and acl_handler log it).
    std::fs::write(
        lab.path("pjsip.conf"),
        format!("{base}\n[broken]\ntype=acl\ndeny=300.1.1.1\n"),
    )
    .expect("rewrite");
    ami.exchange("Action: Reload\r\nModule: res_pjsip.so\r\n\r\n")
        .await;
    assert!(d.acl_sections().is_empty());
    let log = d.log();
    assert!(
        log.iter().any(|l| l == "Invalid IP address: 300.1.1.1"),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("Bad ACL '300.1.1.1' at line '")),
        "{log:?}"
    );
    assert!(log.iter().any(|l| l == "Could not create an object of type 'acl' with id 'broken' from configuration file 'pjsip.conf'"), "{log:?}");
}

// ---- read and write classes ----

#[tokio::test]
async fn a_user_without_security_or_call_gets_no_such_events_nor_actions() {
    let lab = Lab::start(&j2_pjsip(), J3_EXTENSIONS, |c| {
        c.read_classes = Some(vec!["system".into()]);
        c.write_classes = Some(vec!["system".into(), "config".into()]);
    })
    .await;
    let d = &lab.double;
    let mut ami = Ami::login(d.addr()).await;
    d.register_attempt(source(5081), "2001", "pass2001");
    assert_eq!(names(&ami.drain().await), ["PeerStatus", "ContactStatus"]);
    assert_eq!(
        ami.exchange("Action: ExtensionStateList\r\nActionID: p\r\n\r\n")
            .await,
        "Response: Error\r\nActionID: p\r\nMessage: Permission denied\r\n\r\n"
    );
    assert_eq!(
        ami.exchange(
            "Action: ExtensionState\r\nActionID: q\r\nExten: 2001\r\nContext: from-internal\r\n\r\n"
        )
        .await,
        "Response: Error\r\nActionID: q\r\nMessage: Permission denied\r\n\r\n"
    );
    assert!(
        ami.exchange("Action: ShowDialPlan\r\nActionID: r\r\nContext: from-internal\r\n\r\n")
            .await
            .starts_with("Response: Success\r\nActionID: r\r\nEventList: start\r\n")
    );
    assert!(ami
        .exchange("Action: DialplanExtensionAdd\r\nActionID: s\r\nContext: x\r\nExtension: 1\r\nPriority: 1\r\nApplication: Noop\r\n\r\n")
        .await
        .starts_with("Response: Success\r\nActionID: s\r\nMessage: Added requested extension\r\n"));

    let lab = Lab::start(&j2_pjsip(), J3_EXTENSIONS, |c| {
        c.write_classes = Some(vec!["call".into()]);
    })
    .await;
    let mut ami = Ami::login(lab.double.addr()).await;
    let denied = ami
        .exchange("Action: DialplanExtensionAdd\r\nActionID: t\r\nContext: x\r\nExtension: 1\r\nPriority: 1\r\nApplication: Noop\r\n\r\n")
        .await;
    assert!(denied.starts_with("Response: Error\r\nActionID: t\r\nMessage: Permission denied\r\n\r\nEvent: RequestNotAllowed\r\n"), "{denied}");
    assert_eq!(lab.double.dialplan_action_count(), 0);
}

#[test]
fn hints_parse_from_extensions_conf() {
    let dialplan = Dialplan::from_extensions_conf(J3_EXTENSIONS).expect("parses");
    assert_eq!(
        dialplan.hints(),
        vec![
            ("from-internal".into(), "2001".into(), "PJSIP/2001".into()),
            ("from-internal".into(), "2002".into(), "PJSIP/2002".into()),
        ]
    );
    let lines = dialplan.show("from-internal");
    assert_eq!(
        lines[1],
        format!(
            "  {:<17} {:<45} [extensions.conf:2]",
            "'2001' =>", "hint: PJSIP/2001"
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "  {:<17} {:<45} [extensions.conf:3]",
            "", "1. Dial(PJSIP/2001,20)"
        )
    );
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).exists());
}
