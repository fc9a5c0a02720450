//! AMI messages into event payloads. Header names are the ones Asterisk 22 sends
//! (see `ContactStatus` and `Hangup` in the f1, f2 and f6 transcripts); values are
//! taken as they come and never trusted: anything missing or malformed becomes `None`.

use crate::ami::Message;

use super::event::{
    ContactState, ContactStatus, Hangup, HintState, PresenceState, RawAmi, RegistryChange,
    SecurityEvent, SecurityKind,
};

/// `ContactStatus` → `contact_status`. `None` for any other message, or one that
/// names neither an AOR nor a URI.
///
/// Asterisk reports `RoundtripUsec: 0` whenever nothing was measured (NonQualified,
/// Unreachable, Removed in the transcripts), so `rtt_ms` is given only for a
/// reachable contact with a numeric round trip.
pub fn contact_status(msg: &Message) -> Option<ContactStatus> {
    if !is_event(msg, "ContactStatus") {
        return None;
    }
    let aor = text(msg, "AOR");
    let uri = text(msg, "URI");
    if aor.is_none() && uri.is_none() {
        return None;
    }
    let status = msg
        .get("ContactStatus")
        .map_or(ContactState::Unknown, ContactState::from_asterisk);
    let rtt_ms = match status {
        ContactState::Reachable => msg
            .get("RoundtripUsec")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|usec| usec as f64 / 1000.0),
        _ => None,
    };
    Some(ContactStatus {
        endpoint: text(msg, "EndpointName"),
        aor,
        uri,
        status,
        rtt_ms,
        user_agent: text(msg, "UserAgent"),
    })
}

/// `Hangup` → `hangup`. `None` for any other message or one without `Channel`.
pub fn hangup(msg: &Message) -> Option<Hangup> {
    if !is_event(msg, "Hangup") {
        return None;
    }
    let channel = text(msg, "Channel")?;
    Some(Hangup {
        endpoint: channel_endpoint(&channel).map(str::to_owned),
        channel,
        uniqueid: text(msg, "Uniqueid"),
        linkedid: text(msg, "Linkedid"),
        caller: party(msg, "CallerIDNum"),
        connected: party(msg, "ConnectedLineNum"),
        exten: text(msg, "Exten"),
        context: text(msg, "Context"),
        cause: cause(msg),
        cause_text: text(msg, "Cause-txt"),
    })
}

/// `Registry` (PJSIP) → the registration's URIs and new status. `None` for any
/// other message or one without them.
pub fn registry(msg: &Message) -> Option<RegistryChange> {
    if !is_event(msg, "Registry") {
        return None;
    }
    Some(RegistryChange {
        client_uri: text(msg, "Username")?,
        server_uri: text(msg, "Domain")?,
        status: text(msg, "Status")?,
    })
}

/// `ExtensionStatus` (an event, or an `ExtensionStateList` item) → the hint's
/// state. `None` for any other message or one without `Exten`, `Context` or a
/// numeric `Status`.
pub fn hint_state(msg: &Message) -> Option<HintState> {
    if !is_event(msg, "ExtensionStatus") {
        return None;
    }
    Some(HintState {
        exten: text(msg, "Exten")?,
        context: text(msg, "Context")?,
        hint: text(msg, "Hint"),
        state: PresenceState::from_status(msg.get("Status")?)?,
    })
}

/// A security-class event (j2: `ChallengeResponseFailed`, `InvalidAccountID`,
/// `FailedACL`, …) → `security`. `None` for other messages. `AccountID:
/// <unknown>` is no account; `RemoteAddress: IPV4/UDP/203.0.113.9/5060` gives the
/// address, port and transport.
pub fn security(msg: &Message) -> Option<SecurityEvent> {
    let event = SecurityKind::from_event(msg.event()?)?;
    if !msg.get("Privilege").is_some_and(|p| {
        p.split(',')
            .any(|c| c.trim().eq_ignore_ascii_case("security"))
    }) {
        return None;
    }
    let (address, port, transport) = msg
        .get("RemoteAddress")
        .and_then(remote_address)
        .map_or((None, None, None), |(a, p, t)| (Some(a), p, Some(t)));
    let account = party(msg, "AccountID");
    let acl_name = text(msg, "ACLName");
    Some(SecurityEvent {
        event,
        service: text(msg, "Service"),
        failure: event.counts_as_failure(account.is_some(), acl_name.as_deref()),
        account,
        address,
        port,
        transport,
        acl_name,
        recent_failures: None,
    })
}

/// `IPV4/UDP/203.0.113.9/5060` or `IPV6/TCP/2001:db8::1/5061` → (address, port,
/// `udp`). `None` unless the address parses.
pub fn remote_address(value: &str) -> Option<(std::net::IpAddr, Option<u16>, String)> {
    let mut parts = value.trim().splitn(3, '/');
    let family = parts.next()?;
    if !family.eq_ignore_ascii_case("IPV4") && !family.eq_ignore_ascii_case("IPV6") {
        return None;
    }
    let transport = parts.next()?.to_ascii_lowercase();
    let rest = parts.next()?;
    let (address, port) = match rest.rsplit_once('/') {
        Some((address, port)) => (address, port.parse().ok()),
        None => (rest, None),
    };
    let address = address.trim_start_matches('[').trim_end_matches(']');
    Some((address.parse().ok()?, port, transport))
}

/// Any event → `raw`, headers verbatim and in order. `None` for responses.
pub fn raw(msg: &Message) -> Option<RawAmi> {
    let event = msg.event()?.to_owned();
    Some(RawAmi {
        event,
        headers: msg
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    })
}

/// True when `msg` is the AMI event `name` (compared as Asterisk does, ignoring case).
pub(crate) fn is_event(msg: &Message, name: &str) -> bool {
    msg.event()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case(name))
}

/// A header's trimmed value, `None` when absent or empty.
pub(crate) fn text(msg: &Message, name: &str) -> Option<String> {
    msg.get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A caller-ID style header: Asterisk writes `<unknown>` when there is none.
pub(crate) fn party(msg: &Message, name: &str) -> Option<String> {
    text(msg, name).filter(|v| v != "<unknown>")
}

/// The Q.850 cause number (`Cause: 16`).
pub(crate) fn cause(msg: &Message) -> Option<u32> {
    msg.get("Cause").and_then(|v| v.trim().parse().ok())
}

/// The PJSIP endpoint a channel belongs to: `PJSIP/1001-00000006` → `1001`.
/// Channels of other technologies (Local, …) belong to no endpoint.
pub(crate) fn channel_endpoint(channel: &str) -> Option<&str> {
    let (tech, rest) = channel.split_once('/')?;
    if !tech.eq_ignore_ascii_case("PJSIP") {
        return None;
    }
    let (endpoint, suffix) = rest.rsplit_once('-')?;
    let is_sequence = !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_hexdigit());
    (is_sequence && !endpoint.is_empty()).then_some(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(status: &str, rtt: &str) -> Message {
        Message::new()
            .with("Event", "ContactStatus")
            .with("Privilege", "system,all")
            .with("URI", "sip:1001@127.0.0.1:5081")
            .with("ContactStatus", status)
            .with("AOR", "1001")
            .with("EndpointName", "1001")
            .with("RoundtripUsec", rtt)
    }

    /// Headers as a block of an AMI session reads them (`Name: value` lines).
    fn block(text: &str) -> Message {
        Message::from_headers(
            text.lines()
                .filter_map(|l| {
                    l.split_once(": ")
                        .or_else(|| l.strip_suffix(':').map(|n| (n, "")))
                })
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    #[test]
    fn extension_status_as_j3_shows_it() {
        let ringing = block(
            "Event: ExtensionStatus\nPrivilege: call,all\nExten: 2001\nContext: from-internal\nHint: PJSIP/2001\nStatus: 8\nStatusText: Ringing",
        );
        let hint = hint_state(&ringing).expect("a hint state");
        assert_eq!(
            (
                hint.exten.as_str(),
                hint.context.as_str(),
                hint.hint.as_deref(),
                hint.state
            ),
            (
                "2001",
                "from-internal",
                Some("PJSIP/2001"),
                PresenceState::Ringing
            )
        );
        // After a dialplan reload the hint is empty (j3).
        let reloaded = block(
            "Event: ExtensionStatus\nPrivilege: call,all\nExten: 2002\nContext: from-internal\nHint: \nStatus: 4\nStatusText: Unavailable",
        );
        let hint = hint_state(&reloaded).expect("a hint state");
        assert_eq!((hint.hint, hint.state), (None, PresenceState::Unavailable));
        for (status, state) in [
            ("0", PresenceState::Idle),
            ("1", PresenceState::InUse),
            ("2", PresenceState::Busy),
            ("9", PresenceState::Ringing),
            ("16", PresenceState::OnHold),
            ("17", PresenceState::OnHold),
            ("-1", PresenceState::Removed),
        ] {
            assert_eq!(PresenceState::from_status(status), Some(state), "{status}");
        }
        assert_eq!(PresenceState::from_status("Idle"), None);
    }

    #[test]
    fn security_events_as_j2_shows_them() {
        let failed = block(
            "Event: ChallengeResponseFailed\nPrivilege: security,all\nEventTV: 2026-12-06T05:20:01.123+0000\nSeverity: Error\nService: PJSIP\nEventVersion: 1\nAccountID: <unknown>\nSessionID: 1-2@127.0.0.1\nLocalAddress: IPV4/UDP/127.0.0.1/5060\nRemoteAddress: IPV4/UDP/127.0.0.1/5081\nChallenge: 1\nResponse: 2\nExpectedResponse: ",
        );
        let event = security(&failed).expect("a security event");
        assert_eq!(event.event, SecurityKind::ChallengeResponseFailed);
        assert_eq!(event.account, None, "<unknown> is no account");
        assert_eq!(event.address, Some("127.0.0.1".parse().expect("ip")));
        assert_eq!(
            (event.port, event.transport.as_deref()),
            (Some(5081), Some("udp"))
        );
        assert!(!event.failure, "its InvalidAccountIDs counted already");
        let acl = block(
            "Event: FailedACL\nPrivilege: security,all\nService: PJSIP\nAccountID: 2003\nRemoteAddress: IPV4/UDP/203.0.113.9/5060\nACLName: not_match_endpoint_acl",
        );
        let event = security(&acl).expect("a security event");
        assert_eq!(event.account.as_deref(), Some("2003"));
        assert_eq!(event.acl_name.as_deref(), Some("not_match_endpoint_acl"));
        assert!(event.failure, "one refused request");
        let registrar = block(
            "Event: FailedACL\nPrivilege: security,all\nService: PJSIP\nAccountID: 2005\nRemoteAddress: IPV4/UDP/127.0.0.1/5081\nACLName: registrar_attempt_exceeds_maximum_configured_contacts",
        );
        assert!(
            !security(&registrar).expect("an event").failure,
            "an authenticated phone"
        );
        let wrong = block(
            "Event: ChallengeResponseFailed\nPrivilege: security,all\nService: PJSIP\nAccountID: 2001\nRemoteAddress: IPV4/UDP/127.0.0.1/5081",
        );
        assert!(
            security(&wrong).expect("an event").failure,
            "a wrong password"
        );
        // The same name in another class is not a security event.
        let other = block("Event: FailedACL\nPrivilege: system,all");
        assert!(security(&other).is_none());
        assert_eq!(
            remote_address("IPV6/TCP/2001:db8::1/5061"),
            Some((
                "2001:db8::1".parse().expect("ip"),
                Some(5061),
                "tcp".to_owned()
            ))
        );
        for bad in ["IPV4/UDP/999.1.1.1/5060", "UNIX/x", "", "IPV4/UDP"] {
            assert_eq!(remote_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn reachable_contact_converts_microseconds() {
        let c = contact_status(&contact("Reachable", "293")).expect("a contact_status");
        assert_eq!(c.status, ContactState::Reachable);
        assert_eq!(c.rtt_ms, Some(0.293));
        assert_eq!(c.endpoint.as_deref(), Some("1001"));
        assert_eq!(c.aor.as_deref(), Some("1001"));
        assert_eq!(c.uri.as_deref(), Some("sip:1001@127.0.0.1:5081"));
        assert_eq!(c.user_agent, None);
    }

    #[test]
    fn unmeasured_round_trips_are_null() {
        for (status, rtt) in [
            ("NonQualified", "0"),
            ("Removed", "0"),
            ("Reachable", "N/A"),
            ("Reachable", ""),
        ] {
            let c = contact_status(&contact(status, rtt)).expect("a contact_status");
            assert_eq!(c.rtt_ms, None, "{status} {rtt}");
        }
        let no_rtt = Message::new()
            .with("Event", "ContactStatus")
            .with("AOR", "1001")
            .with("ContactStatus", "Reachable");
        assert_eq!(contact_status(&no_rtt).map(|c| c.rtt_ms), Some(None));
    }

    #[test]
    fn user_agent_is_kept_when_given() {
        let msg = contact("Created", "0").with("UserAgent", "Linphone/5.2");
        let c = contact_status(&msg).expect("a contact_status");
        assert_eq!(c.status, ContactState::Created);
        assert_eq!(c.user_agent.as_deref(), Some("Linphone/5.2"));
    }

    #[test]
    fn other_events_are_not_contact_status() {
        let peer = Message::new()
            .with("Event", "PeerStatus")
            .with("Peer", "PJSIP/1001");
        assert_eq!(contact_status(&peer), None);
        assert_eq!(
            contact_status(&Message::new().with("Event", "ContactStatus")),
            None
        );
        assert_eq!(hangup(&peer), None);
    }

    #[test]
    fn hangup_takes_the_transcript_headers() {
        let msg = Message::new()
            .with("Event", "Hangup")
            .with("Channel", "PJSIP/1002-00000007")
            .with("CallerIDNum", "1002")
            .with("CallerIDName", "<unknown>")
            .with("ConnectedLineNum", "1001")
            .with("Context", "from-internal")
            .with("Exten", "")
            .with("Uniqueid", "1795279363.15")
            .with("Linkedid", "1795279363.14")
            .with("Cause", "16")
            .with("Cause-txt", "Normal Clearing");
        let h = hangup(&msg).expect("a hangup");
        assert_eq!(h.endpoint.as_deref(), Some("1002"));
        assert_eq!(h.caller.as_deref(), Some("1002"));
        assert_eq!(h.connected.as_deref(), Some("1001"));
        assert_eq!(h.exten, None);
        assert_eq!(h.cause, Some(16));
        assert_eq!(h.cause_text.as_deref(), Some("Normal Clearing"));
        assert_eq!(h.linkedid.as_deref(), Some("1795279363.14"));
    }

    #[test]
    fn channel_endpoints() {
        assert_eq!(channel_endpoint("PJSIP/1001-00000006"), Some("1001"));
        assert_eq!(
            channel_endpoint("PJSIP/my-trunk-0000000a"),
            Some("my-trunk")
        );
        assert_eq!(
            channel_endpoint("Local/9000@from-internal-00000004;1"),
            None
        );
        assert_eq!(channel_endpoint("PJSIP/1001"), None);
        assert_eq!(channel_endpoint("PJSIP/-00000001"), None);
        assert_eq!(channel_endpoint("PJSIP/1001-"), None);
    }

    #[test]
    fn raw_keeps_headers_in_order() {
        let msg = Message::new()
            .with("Event", "VarSet")
            .with("Variable", "A")
            .with("Variable", "B");
        let r = raw(&msg).expect("a raw event");
        assert_eq!(r.event, "VarSet");
        assert_eq!(r.headers[2], ("Variable".to_owned(), "B".to_owned()));
        assert_eq!(raw(&Message::new().with("Response", "Success")), None);
    }
}
