//! Unsolicited events shaped like the recorded ones (f1, f2, f3, f4): tests inject them
//! through `AsteriskDouble::emit`.

use super::wire::Wire;

/// An event as an ordered header list; `Event` and `Privilege` come first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiEvent {
    pub headers: Vec<(String, String)>,
}

impl AmiEvent {
    pub fn new(event: &str, privilege: &str) -> Self {
        Self {
            headers: vec![
                ("Event".to_owned(), event.to_owned()),
                ("Privilege".to_owned(), privilege.to_owned()),
            ],
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn name(&self) -> &str {
        &self.headers[0].1
    }

    /// Event classes from `Privilege:` (`call,all` -> `call`).
    pub fn classes(&self) -> Vec<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == "Privilege")
            .map(|(_, v)| {
                v.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty() && *c != "all")
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn render(&self) -> Vec<u8> {
        Wire::default()
            .lines(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish()
    }

    /// `ContactStatus` as f1 shows it: `NonQualified` on registration, then `Reachable`,
    /// `Unreachable`, `Removed`.
    pub fn contact_status(aor: &str, uri: &str, status: &str, roundtrip_usec: u64) -> Self {
        Self::new("ContactStatus", "system,all")
            .with("URI", uri)
            .with("ContactStatus", status)
            .with("AOR", aor)
            .with("EndpointName", aor)
            .with("RoundtripUsec", roundtrip_usec.to_string())
    }

    /// `Event: Reload` after a module reload; `Status: 0` success, `2` no such module.
    pub fn reload(module: &str, status: u8) -> Self {
        Self::new("Reload", "system,all")
            .with("Module", module)
            .with("Status", status.to_string())
    }

    /// The common channel block of `Newchannel`, `Newstate`, `Hangup`, ...
    pub fn channel(event: &str, privilege: &str, channel: &ChannelSnapshot) -> Self {
        let mut e = Self::new(event, privilege);
        e.headers.extend(channel.headers(""));
        e
    }

    /// `Hangup` with its cause, `Cause-txt` included.
    pub fn hangup(channel: &ChannelSnapshot, cause: u32) -> Self {
        Self::channel("Hangup", "call,all", channel)
            .with("Cause", cause.to_string())
            .with("Cause-txt", cause_text(cause))
    }
}

/// The text Asterisk gives a hangup cause.
pub fn cause_text(cause: u32) -> &'static str {
    match cause {
        0 => "Unknown",
        1 => "Unallocated (unassigned) number",
        16 => "Normal Clearing",
        17 => "User busy",
        19 => "No user responding",
        21 => "Call Rejected",
        34 => "Circuit/channel congestion",
        _ => "Unknown",
    }
}

/// What a channel looks like in channel events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSnapshot {
    pub channel: String,
    pub state: u8,
    pub caller_num: String,
    pub caller_name: String,
    pub connected_num: String,
    pub connected_name: String,
    pub context: String,
    pub exten: String,
    pub priority: u32,
    pub uniqueid: String,
    pub linkedid: String,
}

pub fn state_desc(state: u8) -> &'static str {
    match state {
        0 => "Down",
        4 => "Ring",
        5 => "Ringing",
        6 => "Up",
        _ => "Unknown",
    }
}

impl ChannelSnapshot {
    /// The channel block with an optional prefix (`Dest` for dial events).
    pub fn headers(&self, prefix: &str) -> Vec<(String, String)> {
        let fields = [
            ("Channel", self.channel.clone()),
            ("ChannelState", self.state.to_string()),
            ("ChannelStateDesc", state_desc(self.state).to_owned()),
            ("CallerIDNum", self.caller_num.clone()),
            ("CallerIDName", self.caller_name.clone()),
            ("ConnectedLineNum", self.connected_num.clone()),
            ("ConnectedLineName", self.connected_name.clone()),
            ("Language", "en".to_owned()),
            ("AccountCode", String::new()),
            ("Context", self.context.clone()),
            ("Exten", self.exten.clone()),
            ("Priority", self.priority.to_string()),
            ("Uniqueid", self.uniqueid.clone()),
            ("Linkedid", self.linkedid.clone()),
        ];
        fields
            .into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect()
    }
}

/// A call from `caller` to `callee` (endpoint names) shaped like f2: both channels appear,
/// ring, answer, get variables set, and hang up with `cause`. `seq` makes names unique.
pub fn call_sequence(
    caller: &str,
    callee: &str,
    caller_name: &str,
    cause: u32,
    seq: u32,
) -> Vec<AmiEvent> {
    let linkedid = format!("1795279363.{}", seq * 2);
    let mut a = ChannelSnapshot {
        channel: format!("PJSIP/{caller}-{:08x}", seq * 2),
        state: 4,
        caller_num: caller.to_owned(),
        caller_name: caller_name.to_owned(),
        connected_num: "<unknown>".to_owned(),
        connected_name: "<unknown>".to_owned(),
        context: "from-internal".to_owned(),
        exten: callee.to_owned(),
        priority: 1,
        uniqueid: linkedid.clone(),
        linkedid: linkedid.clone(),
    };
    let mut b = ChannelSnapshot {
        channel: format!("PJSIP/{callee}-{:08x}", seq * 2 + 1),
        state: 0,
        caller_num: callee.to_owned(),
        caller_name: "<unknown>".to_owned(),
        connected_num: caller.to_owned(),
        connected_name: caller_name.to_owned(),
        context: "from-internal".to_owned(),
        exten: String::new(),
        priority: 1,
        uniqueid: format!("1795279363.{}", seq * 2 + 1),
        linkedid,
    };
    let mut events = vec![AmiEvent::channel("Newchannel", "call,all", &a)];
    events.push(
        AmiEvent::channel("VarSet", "dialplan,all", &a)
            .with("Variable", "__CALLER_NAME")
            .with("Value", caller_name),
    );
    events.push(AmiEvent::channel("Newchannel", "call,all", &b));
    b.state = 5;
    events.push(AmiEvent::channel("Newstate", "call,all", &b));
    b.state = 6;
    events.push(AmiEvent::channel("Newstate", "call,all", &b));
    a.state = 6;
    a.connected_num = callee.to_owned();
    events.push(AmiEvent::channel("Newstate", "call,all", &a));
    events.push(AmiEvent::hangup(&b, cause));
    events.push(AmiEvent::hangup(&a, cause));
    events
}
