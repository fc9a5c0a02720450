//! The live side of the double: device states of `PJSIP/<endpoint>`, hints and their
//! `ExtensionStatus` events (j3, o1), a call between two endpoints (j3), REGISTER attempts
//! with their security events (j2) and the ACLs that refuse them.
//!
//! Device state of `PJSIP/<endpoint>`: `RINGING` while one of its channels rings,
//! `INUSE` while one is up (or ringing out, the caller), `NOT_INUSE` with a registered
//! contact, `UNAVAILABLE` otherwise. `DeviceStateChange` and `ExtensionStatus` go out only
//! when a state really changes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};

use super::events::{AmiEvent, ChannelSnapshot};
use super::pjsip_objects::PjsipObject;
use super::runtime::{Channel, Contact};
use super::{AsteriskDouble, Shared, State, lock};

/// `ExtensionStatus` state of a hint and its text (`ast_extension_state2str` in
/// main/extension_state.c: a state outside its table, such as -1 for no hint, is `Unknown`).
pub fn extension_state_text(state: i32) -> &'static str {
    match state {
        0 => "Idle",
        1 => "InUse",
        2 => "Busy",
        4 => "Unavailable",
        8 => "Ringing",
        9 => "InUse&Ringing",
        16 => "Hold",
        17 => "InUse&Hold",
        _ => "Unknown",
    }
}

/// A device's state as `DeviceStateChange` names it.
fn device_state(state: &State, device: &str) -> &'static str {
    let Some(endpoint) = device
        .strip_prefix("PJSIP/")
        .or_else(|| device.strip_prefix("pjsip/"))
    else {
        return "INVALID";
    };
    let Some(object) = state.pjsip.get("endpoint", endpoint) else {
        return "INVALID";
    };
    let prefix = format!("PJSIP/{endpoint}-");
    let mut ringing = false;
    let mut in_use = false;
    for channel in state
        .channels
        .iter()
        .filter(|c| c.snapshot.channel.starts_with(&prefix))
    {
        match channel.snapshot.state {
            5 => ringing = true,
            // A channel being set up (Down) counts for nothing yet (j3: no event at
            // the callee's Newchannel).
            0 => {}
            _ => in_use = true,
        }
    }
    if ringing && in_use {
        "RINGINUSE"
    } else if ringing {
        "RINGING"
    } else if in_use {
        "INUSE"
    } else if object
        .list("aors")
        .iter()
        .any(|aor| !state.contacts_of(aor).is_empty())
    {
        "NOT_INUSE"
    } else {
        "UNAVAILABLE"
    }
}

/// The extension state of a hint's device list (`PJSIP/2001&PJSIP/2002`).
fn hint_state(state: &State, devices: &str) -> i32 {
    let states: Vec<&str> = devices
        .split('&')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| device_state(state, d))
        .collect();
    let any = |s: &[&str]| states.iter().any(|d| s.contains(d));
    let ringing = any(&["RINGING", "RINGINUSE"]);
    let in_use = any(&["INUSE", "RINGINUSE"]);
    match (ringing, in_use) {
        (true, true) => 9,
        (true, false) => 8,
        (false, true) => 1,
        _ if any(&["NOT_INUSE"]) => 0,
        _ => 4,
    }
}

pub(super) fn extension_status(context: &str, exten: &str, hint: &str, status: i32) -> AmiEvent {
    AmiEvent::new("ExtensionStatus", "call,all")
        .with("Exten", exten)
        .with("Context", context)
        .with("Hint", hint)
        .with("Status", status.to_string())
        .with("StatusText", extension_state_text(status))
}

impl State {
    /// The state the double last published for `device` (`UNAVAILABLE` before any).
    fn published_device(&self, device: &str) -> String {
        self.device_states
            .get(device)
            .cloned()
            .unwrap_or_else(|| "UNAVAILABLE".to_owned())
    }

    /// `DeviceStateChange` for `PJSIP/<endpoint>` when its state moved since the last one.
    pub(super) fn device_change(&mut self, endpoint: &str) -> Option<AmiEvent> {
        let device = format!("PJSIP/{endpoint}");
        let now = device_state(self, &device);
        if self.published_device(&device) == now {
            return None;
        }
        self.device_states.insert(device.clone(), now.to_owned());
        Some(
            AmiEvent::new("DeviceStateChange", "call,all")
                .with("Device", device)
                .with("State", now),
        )
    }

    /// `ExtensionStatus` for every hint naming `PJSIP/<endpoint>` whose state moved.
    pub(super) fn hint_changes(&mut self, endpoint: &str) -> Vec<AmiEvent> {
        let device = format!("PJSIP/{endpoint}");
        let mut out = Vec::new();
        for (context, exten, devices) in self.dialplan.hints() {
            if !devices
                .split('&')
                .any(|d| d.trim().eq_ignore_ascii_case(&device))
            {
                continue;
            }
            let now = hint_state(self, &devices);
            let key = (context.clone(), exten.clone());
            if self.hint_states.get(&key) == Some(&now) {
                continue;
            }
            self.hint_states.insert(key, now);
            out.push(extension_status(&context, &exten, &devices, now));
        }
        out
    }

    /// The current state of a hint, remembered as published.
    pub(super) fn publish_hint(&mut self, context: &str, exten: &str, devices: &str) -> i32 {
        let now = hint_state(self, devices);
        self.hint_states
            .insert((context.to_owned(), exten.to_owned()), now);
        now
    }

    pub(super) fn current_hint_state(&self, devices: &str) -> i32 {
        hint_state(self, devices)
    }

    /// Whether `endpoint` has any registered contact.
    fn has_contact(&self, endpoint: &str) -> bool {
        self.pjsip.get("endpoint", endpoint).is_some_and(|e| {
            e.list("aors")
                .iter()
                .any(|aor| !self.contacts_of(aor).is_empty())
        }) || self.contacts.iter().any(|c| c.endpoint == endpoint)
    }
}

fn peer_status(endpoint: &str, status: &str) -> AmiEvent {
    AmiEvent::new("PeerStatus", "system,all")
        .with("ChannelType", "PJSIP")
        .with("Peer", format!("PJSIP/{endpoint}"))
        .with("PeerStatus", status)
}

/// Adds a contact and returns the events in the order j2/j3 show: `PeerStatus`
/// (first contact of the endpoint), `DeviceStateChange`, `ExtensionStatus`,
/// `ContactStatus`. (f1, an older capture, had `ContactStatus` first.)
pub(super) fn add_contact_events(state: &mut State, contact: Contact) -> Vec<AmiEvent> {
    let endpoint = contact.endpoint.clone();
    let had = state.has_contact(&endpoint);
    let status = AmiEvent::contact_status(
        &contact.aor,
        &contact.uri,
        &contact.status,
        contact.roundtrip_usec.unwrap_or(0),
    );
    state.contacts.retain(|c| c.uri != contact.uri);
    state.contacts.push(contact);
    let mut events = Vec::new();
    if !had {
        events.push(peer_status(&endpoint, "Reachable"));
    }
    events.extend(state.device_change(&endpoint));
    events.extend(state.hint_changes(&endpoint));
    events.push(status);
    events
}

/// Removes a contact: `PeerStatus` (last contact gone), `ExtensionStatus`,
/// `DeviceStateChange`, `ContactStatus Removed`, as j3 shows.
pub(super) fn remove_contact_events(state: &mut State, uri: &str) -> Vec<AmiEvent> {
    let Some(contact) = state.contacts.iter().find(|c| c.uri == uri).cloned() else {
        return Vec::new();
    };
    state.contacts.retain(|c| c.uri != uri);
    let endpoint = contact.endpoint.clone();
    let mut events = Vec::new();
    if !state.has_contact(&endpoint) {
        events.push(peer_status(&endpoint, "Unreachable"));
    }
    events.extend(state.hint_changes(&endpoint));
    events.extend(state.device_change(&endpoint));
    events.push(AmiEvent::contact_status(&contact.aor, uri, "Removed", 0));
    events
}

/// One live call made by [`AsteriskDouble::call`]. Drive it with [`Call::answer`] and
/// [`Call::hang_up`]; dropping it leaves the channels up.
pub struct Call {
    shared: Arc<Shared>,
    caller: String,
    callee: String,
    caller_channel: String,
    callee_channel: String,
    bridge: String,
    answered: bool,
}

impl State {
    fn snapshot(&self, channel: &str) -> Option<ChannelSnapshot> {
        self.channels
            .iter()
            .find(|c| c.snapshot.channel == channel)
            .map(|c| c.snapshot.clone())
    }

    fn update(
        &mut self,
        channel: &str,
        change: impl FnOnce(&mut ChannelSnapshot),
    ) -> ChannelSnapshot {
        let entry = self
            .channels
            .iter_mut()
            .find(|c| c.snapshot.channel == channel)
            .expect("live channel");
        change(&mut entry.snapshot);
        entry.snapshot.clone()
    }
}

fn with_dest(event: AmiEvent, dest: &ChannelSnapshot) -> AmiEvent {
    let mut event = event;
    event.headers.extend(dest.headers("Dest"));
    event
}

fn bridge_event(name: &str, bridge: &str, technology: &str, count: usize) -> AmiEvent {
    AmiEvent::new(name, "call,all")
        .with("BridgeUniqueid", bridge)
        .with("BridgeType", "basic")
        .with("BridgeTechnology", technology)
        .with("BridgeCreator", "<unknown>")
        .with("BridgeName", "<unknown>")
        .with("BridgeNumChannels", count.to_string())
        .with("BridgeVideoSourceMode", "none")
}

fn bridge_channel_event(
    name: &str,
    bridge: &str,
    technology: &str,
    count: usize,
    channel: &ChannelSnapshot,
) -> AmiEvent {
    let mut event = bridge_event(name, bridge, technology, count);
    event.headers.extend(channel.headers(""));
    event
}

impl AsteriskDouble {
    /// `from` dials `to` (`Dial(PJSIP/<to>,20)` in from-internal) and `to` rings:
    /// the events of j3 up to `DialState RINGING`, with `ExtensionStatus` and
    /// `DeviceStateChange` for both devices. `None` when either endpoint is unknown
    /// or `to` has no contact (Dial would fail). VarSet/Newexten noise is left out.
    pub fn call(&self, from: &str, to: &str) -> Option<Call> {
        let events;
        let call;
        {
            let mut state = lock(&self.shared.state);
            if state.pjsip.get("endpoint", from).is_none() || !state.has_contact(to) {
                return None;
            }
            let mut seq = || {
                state.channel_seq += 1;
                state.channel_seq
            };
            let (a, b) = (seq(), seq());
            let linkedid = format!("1796534815.{a}");
            let caller = ChannelSnapshot {
                channel: format!("PJSIP/{from}-{a:08x}"),
                state: 4,
                caller_num: from.to_owned(),
                caller_name: "<unknown>".to_owned(),
                connected_num: "<unknown>".to_owned(),
                connected_name: "<unknown>".to_owned(),
                context: "from-internal".to_owned(),
                exten: to.to_owned(),
                priority: 1,
                uniqueid: linkedid.clone(),
                linkedid: linkedid.clone(),
            };
            let callee = ChannelSnapshot {
                channel: format!("PJSIP/{to}-{b:08x}"),
                state: 0,
                caller_num: "<unknown>".to_owned(),
                caller_name: "<unknown>".to_owned(),
                connected_num: "<unknown>".to_owned(),
                connected_name: "<unknown>".to_owned(),
                context: "from-internal".to_owned(),
                exten: "s".to_owned(),
                priority: 1,
                uniqueid: format!("1796534815.{b}"),
                linkedid,
            };
            state.processed_calls += 1;
            let mut out = vec![AmiEvent::channel("Newchannel", "call,all", &caller)];
            for snapshot in [&caller, &callee] {
                state.channels.push(Channel {
                    snapshot: snapshot.clone(),
                    application: "Dial".to_owned(),
                    application_data: format!("PJSIP/{to},20"),
                    started: Instant::now(),
                });
            }
            out.push(AmiEvent::channel("Newchannel", "call,all", &callee));
            let callee = state.update(&callee.channel, |c| {
                c.caller_num = to.to_owned();
                c.connected_num = from.to_owned();
                c.exten = to.to_owned();
            });
            out.push(
                with_dest(AmiEvent::channel("DialBegin", "call,all", &caller), &callee)
                    .with("DialString", to),
            );
            let caller = state.update(&caller.channel, |c| c.connected_num = to.to_owned());
            out.push(AmiEvent::channel("NewConnectedLine", "call,all", &caller));
            let ringing = state.update(&callee.channel, |c| c.state = 5);
            out.push(AmiEvent::channel("Newstate", "call,all", &ringing));
            out.extend(state.hint_changes(to));
            out.extend(state.hint_changes(from));
            out.extend(state.device_change(to));
            out.push(
                with_dest(
                    AmiEvent::channel("DialState", "call,all", &caller),
                    &ringing,
                )
                .with("DialStatus", "RINGING"),
            );
            out.extend(state.device_change(from));
            events = out;
            call = Call {
                shared: self.shared.clone(),
                caller: from.to_owned(),
                callee: to.to_owned(),
                caller_channel: caller.channel.clone(),
                callee_channel: callee.channel.clone(),
                bridge: format!("d28bcc67-832a-424a-bcf3-{:012x}", a),
                answered: false,
            };
        }
        for event in &events {
            self.emit(event);
        }
        Some(call)
    }
}

impl Call {
    pub fn caller_channel(&self) -> &str {
        &self.caller_channel
    }

    pub fn callee_channel(&self) -> &str {
        &self.callee_channel
    }

    /// The callee answers: its channel and the caller's go Up and are bridged (j3 [12]).
    pub fn answer(&mut self) {
        if self.answered {
            return;
        }
        self.answered = true;
        let events = {
            let mut state = lock(&self.shared.state);
            let Some(caller) = state.snapshot(&self.caller_channel) else {
                return;
            };
            let up = state.update(&self.callee_channel, |c| c.state = 6);
            let mut out = vec![AmiEvent::channel("Newstate", "call,all", &up)];
            let dest = ChannelSnapshot {
                exten: String::new(),
                ..up.clone()
            };
            out.push(
                with_dest(AmiEvent::channel("DialEnd", "call,all", &caller), &dest)
                    .with("DialStatus", "ANSWER"),
            );
            let caller = state.update(&self.caller_channel, |c| c.state = 6);
            out.push(AmiEvent::channel("Newstate", "call,all", &caller));
            out.extend(state.hint_changes(&self.callee));
            out.extend(state.device_change(&self.callee));
            out.push(bridge_event(
                "BridgeCreate",
                &self.bridge,
                "simple_bridge",
                0,
            ));
            let callee = state.update(&self.callee_channel, |c| c.exten = String::new());
            out.push(bridge_channel_event(
                "BridgeEnter",
                &self.bridge,
                "simple_bridge",
                1,
                &callee,
            ));
            out.push(bridge_channel_event(
                "BridgeEnter",
                &self.bridge,
                "simple_bridge",
                2,
                &caller,
            ));
            out
        };
        for event in &events {
            self.shared.emit(event);
        }
    }

    /// The caller hangs up (cause 16), as in j3 [13]; an unanswered call ends the same
    /// way without the bridge events.
    pub fn hang_up(self) {
        let events = {
            let mut state = lock(&self.shared.state);
            let (Some(caller), Some(callee)) = (
                state.snapshot(&self.caller_channel),
                state.snapshot(&self.callee_channel),
            ) else {
                return;
            };
            let mut out = Vec::new();
            state
                .channels
                .retain(|c| c.snapshot.channel != self.caller_channel);
            out.extend(state.hint_changes(&self.caller));
            out.push(AmiEvent::channel("HangupRequest", "call,all", &caller).with("Cause", "16"));
            if self.answered {
                out.push(bridge_channel_event(
                    "BridgeLeave",
                    &self.bridge,
                    "native_rtp",
                    1,
                    &caller,
                ));
            }
            out.push(
                AmiEvent::channel("SoftHangupRequest", "call,all", &caller).with("Cause", "16"),
            );
            out.push(AmiEvent::hangup(&caller, 16));
            if self.answered {
                out.push(bridge_channel_event(
                    "BridgeLeave",
                    &self.bridge,
                    "native_rtp",
                    0,
                    &callee,
                ));
                out.push(bridge_event("BridgeDestroy", &self.bridge, "native_rtp", 0));
            }
            state
                .channels
                .retain(|c| c.snapshot.channel != self.callee_channel);
            out.extend(state.hint_changes(&self.callee));
            out.push(AmiEvent::hangup(&callee, 16));
            out.extend(state.device_change(&self.caller));
            out.extend(state.device_change(&self.callee));
            out
        };
        for event in &events {
            self.shared.emit(event);
        }
    }
}

/// What a REGISTER attempt ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterAttempt {
    Registered,
    Refused { reason: String },
}

/// One permit/deny rule: `sense` true = permit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    permit: bool,
    network: u32,
    mask: u32,
}

/// An ACL as `ast_append_ha` builds it from `permit`/`deny` lines (main/acl.c):
/// comma-separated `addr[/mask]` items, mask in CIDR or dotted form, `!` inverts.
/// `Err` carries the warning acl.c logs for a bad item.
fn parse_rules(permit: bool, value: &str, rules: &mut Vec<Rule>) -> Result<(), String> {
    for item in value.split(',') {
        let item = item.trim();
        let (address, mask) = match item.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (item, None),
        };
        let (sense, address) = match address.strip_prefix('!') {
            Some(rest) => (!permit, rest),
            None => (permit, address),
        };
        let address: Ipv4Addr = address
            .trim()
            .parse()
            .map_err(|_| format!("Invalid IP address: {address}"))?;
        let mask = match mask {
            None => u32::MAX,
            Some(m) if m.contains('.') => u32::from(
                m.parse::<Ipv4Addr>()
                    .map_err(|_| format!("Invalid netmask: {m}"))?,
            ),
            Some(m) => match m.parse::<u32>() {
                Ok(0) => 0,
                Ok(bits @ 1..=32) => u32::MAX << (32 - bits),
                _ => return Err(format!("Invalid CIDR netmask: {m}")),
            },
        };
        rules.push(Rule {
            permit: sense,
            network: u32::from(address) & mask,
            mask,
        });
    }
    Ok(())
}

/// `ast_apply_ha`: allowed unless the last matching rule denies.
fn allowed(rules: &[Rule], ip: IpAddr) -> bool {
    let IpAddr::V4(ip) = ip else {
        return true;
    };
    let ip = u32::from(ip);
    rules
        .iter()
        .rfind(|r| ip & r.mask == r.network)
        .is_none_or(|r| r.permit)
}

/// The source (or Contact) ACL of an object: `None` = no rules. Named ACLs (`acl=`,
/// `contact_acl=`) would come from acl.conf, which the double has not: such an ACL is
/// invalid and refuses everything, as acl.c does for an undefined named ACL.
fn acl_of(object: &PjsipObject, prefix: &str) -> Result<Option<Vec<Rule>>, String> {
    let mut rules = Vec::new();
    let mut any = false;
    for (option, value) in &object.options {
        let Some(name) = option.strip_prefix(prefix) else {
            continue;
        };
        if prefix.is_empty() && option.starts_with("contact_") {
            continue;
        }
        match name {
            "permit" => parse_rules(true, value, &mut rules)?,
            "deny" => parse_rules(false, value, &mut rules)?,
            "acl" => rules.push(Rule {
                permit: false,
                network: 0,
                mask: 0,
            }),
            _ => continue,
        }
        any = true;
    }
    Ok(any.then_some(rules))
}

/// A `type=acl` value res_pjsip_acl.c's acl_handler refuses: the log lines of acl.c
/// (ast_append_ha), acl_handler and config_options.c; the object is then not created.
pub fn acl_value_log(option: &str, value: &str, line: usize) -> Option<Vec<String>> {
    let (permit, contact) = match option {
        "permit" => (true, false),
        "deny" => (false, false),
        "contact_permit" => (true, true),
        "contact_deny" => (false, true),
        _ => return None,
    };
    let warning = parse_rules(permit, value, &mut Vec::new()).err()?;
    Some(vec![
        warning,
        format!(
            "Bad {}ACL '{value}' at line '{line}' of pjsip.conf",
            if contact { "contact " } else { "" }
        ),
        "There is an error in ACL configuration. Blocking ALL SIP traffic.".to_owned(),
        format!("Error parsing {option}={value} at line {line} of "),
    ])
}

fn md5_hex(text: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

fn security_event(
    name: &str,
    severity: &str,
    account: &str,
    session: &str,
    source: SocketAddr,
) -> AmiEvent {
    AmiEvent::new(name, "security,all")
        .with("EventTV", super::event_tv())
        .with("Severity", severity)
        .with("Service", "PJSIP")
        .with("EventVersion", "1")
        .with("AccountID", account)
        .with("SessionID", session)
        .with("LocalAddress", "IPV4/UDP/127.0.0.1/5060")
        .with(
            "RemoteAddress",
            format!("IPV4/UDP/{}/{}", source.ip(), source.port()),
        )
}

fn challenge_sent(account: &str, session: &str, source: SocketAddr) -> AmiEvent {
    security_event("ChallengeSent", "Informational", account, session, source).with("Challenge", "")
}

fn challenge_failed(account: &str, session: &str, source: SocketAddr, password: &str) -> AmiEvent {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    security_event("ChallengeResponseFailed", "Error", account, session, source)
        .with(
            "Challenge",
            format!("{now}/{}", md5_hex(&format!("{session}{now}"))),
        )
        .with("Response", md5_hex(&format!("{account}:{password}:{now}")))
        .with("ExpectedResponse", "")
}

fn failed_acl(account: &str, session: &str, source: SocketAddr, acl: &str) -> AmiEvent {
    security_event("FailedACL", "Error", account, session, source).with("ACLName", acl)
}

/// Whether `password` opens `auth` (userpass password, or md5_cred =
/// md5(`username:realm:password`) with the auth's realm or `asterisk`).
fn password_matches(auth: &PjsipObject, password: &str) -> bool {
    match auth.get("auth_type").unwrap_or("userpass") {
        "md5" => {
            let realm = auth
                .get("realm")
                .filter(|r| !r.is_empty())
                .unwrap_or("asterisk");
            let user = auth.get("username").unwrap_or(&auth.name);
            auth.get("md5_cred").is_some_and(|cred| {
                cred.eq_ignore_ascii_case(&md5_hex(&format!("{user}:{realm}:{password}")))
            })
        }
        _ => auth.get("password") == Some(password),
    }
}

impl AsteriskDouble {
    /// The names of the `type=acl` sections in effect (res_pjsip_acl).
    pub fn acl_sections(&self) -> Vec<String> {
        lock(&self.shared.state)
            .pjsip
            .of_kind("acl")
            .map(|a| a.name.clone())
            .collect()
    }

    /// A phone sends REGISTER for `account` from `source` with `password` (digest), as
    /// sipp did in j2. Emits the security events j2 shows and, when accepted, adds the
    /// contact `sip:<account>@<ip>:<port>` with the events `add_contact` emits.
    ///
    /// A global `type=acl` section that refuses the source (or the Contact address,
    /// which is the source here) answers 403 before any endpoint is looked at:
    /// res_pjsip_acl.c (acl_on_rx_msg) reports no security event at all, it only logs.
    /// That path follows the source; no recording has it.
    pub fn register_attempt(
        &self,
        source: SocketAddr,
        account: &str,
        password: &str,
    ) -> RegisterAttempt {
        let (events, outcome) = {
            let mut state = lock(&self.shared.state);
            state.register_seq += 1;
            let session = format!("1-{}@{}", 26000 + state.register_seq, source.ip());
            register(&mut state, source, account, password, &session)
        };
        for event in &events {
            self.emit(event);
        }
        outcome
    }
}

fn register(
    state: &mut State,
    source: SocketAddr,
    account: &str,
    password: &str,
    session: &str,
) -> (Vec<AmiEvent>, RegisterAttempt) {
    let ip = source.ip();
    let refused = |reason: &str| RegisterAttempt::Refused {
        reason: reason.to_owned(),
    };
    // res_pjsip_acl.c: every type=acl object, source then Contact ACL; a match is a 403.
    let acls: Vec<PjsipObject> = state.pjsip.of_kind("acl").cloned().collect();
    for acl in &acls {
        let source_ok = acl_of(acl, "")
            .map(|r| r.is_none_or(|rules| allowed(&rules, ip)))
            .unwrap_or(false);
        let contact_ok = acl_of(acl, "contact_")
            .map(|r| r.is_none_or(|rules| allowed(&rules, ip)))
            .unwrap_or(false);
        if !(source_ok && contact_ok) {
            let what = if source_ok {
                "SIP Contact ACL"
            } else {
                "SIP ACL"
            };
            state.log.push(format!(
                "{what}: Rejecting '{ip}' due to a failure to pass ACL '(BASELINE)'"
            ));
            state.log.push(format!(
                "Incoming SIP message from {ip}{} did not pass ACL test",
                if source_ok {
                    String::new()
                } else {
                    format!(":{}", source.port())
                }
            ));
            return (
                Vec::new(),
                refused(&format!("403 Forbidden by acl '{}'", acl.name)),
            );
        }
    }
    let Some(endpoint) = state.pjsip.get("endpoint", account).cloned() else {
        // j2 (2): InvalidAccountID on the first REGISTER and on the one with the digest
        // of the fake challenge.
        let invalid = security_event("InvalidAccountID", "Error", account, session, source);
        return (
            vec![
                invalid.clone(),
                challenge_sent("<unknown>", session, source),
                invalid,
                challenge_failed("<unknown>", session, source, password),
            ],
            refused("No matching endpoint found"),
        );
    };
    for (prefix, acl_name, reason) in [
        ("", "not_match_endpoint_acl", "Not match Endpoint ACL"),
        (
            "contact_",
            "not_match_endpoint_contact_acl",
            "Not match Endpoint Contact ACL",
        ),
    ] {
        let ok = acl_of(&endpoint, prefix)
            .map(|r| r.is_none_or(|rules| allowed(&rules, ip)))
            .unwrap_or(false);
        if !ok {
            // j2 (3), (4): refused on both REGISTERs, the fake challenge in between.
            let failed = failed_acl(account, session, source, acl_name);
            return (
                vec![
                    failed.clone(),
                    challenge_sent("<unknown>", session, source),
                    failed,
                    challenge_failed("<unknown>", session, source, password),
                ],
                refused(reason),
            );
        }
    }
    let mut events = Vec::new();
    let auths: Vec<PjsipObject> = endpoint
        .list("auth")
        .iter()
        .filter_map(|a| state.pjsip.get("auth", a).cloned())
        .collect();
    if !auths.is_empty() {
        events.push(challenge_sent(account, session, source));
        if !auths.iter().any(|a| password_matches(a, password)) {
            events.push(challenge_failed(account, session, source, password));
            return (events, refused("Failed to authenticate"));
        }
        events.push(
            security_event("SuccessfulAuth", "Informational", account, session, source)
                .with("UsingPassword", "1"),
        );
    }
    let Some(aor_name) = endpoint.list("aors").into_iter().next() else {
        return (events, refused("No AOR"));
    };
    let aor = state.pjsip.get("aor", &aor_name).cloned();
    let max: usize = aor
        .as_ref()
        .and_then(|a| a.get("max_contacts"))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let remove_existing = aor
        .as_ref()
        .and_then(|a| a.get("remove_existing"))
        .is_some_and(|v| ["yes", "true", "on", "1"].contains(&v.to_ascii_lowercase().as_str()));
    let uri = format!("sip:{account}@{ip}:{}", source.port());
    let existing: Vec<String> = state
        .contacts_of(&aor_name)
        .iter()
        .filter(|c| c.uri != uri)
        .map(|c| c.uri.clone())
        .collect();
    if max == 0 {
        return (events, refused("AOR accepts no contacts"));
    }
    if existing.len() >= max {
        if !remove_existing {
            // j2 (5): SuccessfulAuth, then this FailedACL.
            events.push(failed_acl(
                account,
                session,
                source,
                "registrar_attempt_exceeds_maximum_configured_contacts",
            ));
            return (events, refused("Exceeds max contacts"));
        }
        for old in existing.iter().take(existing.len() + 1 - max) {
            if let Some(c) = state.contacts.iter().find(|c| &c.uri == old).cloned() {
                state.contacts.retain(|x| x.uri != c.uri);
                events.push(AmiEvent::contact_status(&c.aor, &c.uri, "Removed", 0));
            }
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let contact = Contact {
        aor: aor_name,
        uri,
        endpoint: account.to_owned(),
        user_agent: "SIPp-lab".to_owned(),
        via_addr: ip.to_string(),
        via_port: source.port(),
        call_id: session.to_owned(),
        expiration: now + 120,
        status: "NonQualified".to_owned(),
        roundtrip_usec: None,
    };
    events.extend(add_contact_events(state, contact));
    (events, RegisterAttempt::Registered)
}
