//! Syntax of the network values a trunk carries into SIP URIs and `identify` matches.
//!
//! These values end up inside `sip:user@host:port` URIs, so besides being safe config
//! values they must not be able to change the URI's meaning (no `@`, `:`, `;` or `>` in a
//! host, no `@` in a user part).

use std::net::{IpAddr, Ipv6Addr};

/// A DNS name (letters, digits, `-`, dots between labels) or an IPv4 address, or an
/// IPv6 address in brackets, as it may appear as the host of a SIP URI.
pub fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// What `identify` accepts in `match=`: an IP address, a CIDR network (`a.b.c.d/nn`), or a
/// host name that Asterisk resolves when it loads the section.
pub fn is_match_address(value: &str) -> bool {
    match value.split_once('/') {
        Some((addr, bits)) => match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 32),
            Ok(IpAddr::V6(_)) => bits.parse::<u8>().is_ok_and(|b| b <= 128),
            Err(_) => false,
        },
        None => value.parse::<IpAddr>().is_ok() || is_host(value),
    }
}

/// The user part of a SIP URI as providers hand them out: letters, digits and
/// `- _ . + * ~ ! ' ( ) & =`, 1 to 64 characters.
pub fn is_sip_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 64
        && user.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_'
                        | b'.'
                        | b'+'
                        | b'*'
                        | b'~'
                        | b'!'
                        | b'\''
                        | b'('
                        | b')'
                        | b'&'
                        | b'='
                )
        })
}

/// A dialled number as a provider delivers it: an optional `+` then 2 to 20 digits.
pub fn is_did(did: &str) -> bool {
    let digits = did.strip_prefix('+').unwrap_or(did);
    (2..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "sip.telnyx.com",
            "atlanta1.voip.ms",
            "54.172.60.0",
            "[2001:db8::1]",
            "x",
        ] {
            assert!(is_host(ok), "{ok}");
        }
        for bad in [
            "",
            "sip:sip.telnyx.com",
            "a..b",
            "-a.com",
            "a.com;transport=tcp",
            "a b",
            "a@b",
            "[::1",
        ] {
            assert!(!is_host(bad), "{bad}");
        }
    }

    #[test]
    fn match_addresses() {
        for ok in [
            "54.172.60.0/30",
            "192.76.120.10",
            "2001:db8::/32",
            "sip.telnyx.com",
        ] {
            assert!(is_match_address(ok), "{ok}");
        }
        for bad in ["54.172.60.0/33", "1.2.3.4/x", "a b", "1.2.3.4,5.6.7.8", ""] {
            assert!(!is_match_address(bad), "{bad}");
        }
    }

    #[test]
    fn users_and_dids() {
        assert!(is_sip_user("100000_office"));
        assert!(!is_sip_user("a@b"));
        assert!(!is_sip_user("a;b"));
        assert!(!is_sip_user(""));
        assert!(is_did("+15551234567"));
        assert!(is_did("15551234567"));
        assert!(!is_did("+1555-123"));
        assert!(!is_did("+"));
    }
}
