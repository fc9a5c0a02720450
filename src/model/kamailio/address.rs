//! Trusted addresses: one line of the permissions module's `address.list`
//! (`group address netmask port tag`), and the rules that make Kamailio read
//! it exactly as meant.
//!
//! Kamailio 5.6's address-file parser is lenient: a token that is not an IP
//! becomes a domain entry, an octet above 255 wraps, a netmask of 0 (or none)
//! means a single host, numbers are read digit by digit, and a tag ends at
//! whitespace or `#`. Every field is therefore checked here, and all five
//! columns are always written.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::dispatcher::check_unicast;
use super::token::{check_token, quoted};
use crate::model::FieldErrors;

/// Longest tag written.
pub const MAX_TAG_LEN: usize = 64;

/// One trusted host or subnet in a permissions group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrustedAddress {
    /// Permissions group, 1 to 2^31-1 (`allow_source_address(group)`).
    pub group: u32,
    /// The host, or the network address of a subnet (host bits zero).
    pub ip: IpAddr,
    /// Prefix length: 32 (IPv4) or 128 (IPv6) for a host, less for a subnet.
    pub mask: u8,
    /// Source port to match; 0 matches any port.
    pub port: u16,
    /// Returned by `allow_source_address` in the tag AVP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl TrustedAddress {
    /// A single host (mask 32 or 128) matching any port.
    pub fn host(group: u32, ip: IpAddr) -> Self {
        Self {
            group,
            ip,
            mask: host_mask(ip),
            port: 0,
            tag: None,
        }
    }

    /// Parses `203.0.113.7`, `203.0.113.0/24` or `2001:db8::/32` (as a trunk's
    /// match address is written) into an entry matching any port.
    pub fn from_cidr(group: u32, cidr: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let (ip_text, mask_text) = match cidr.split_once('/') {
            Some((ip, mask)) => (ip, Some(mask)),
            None => (cidr, None),
        };
        let Ok(ip) = ip_text.parse::<IpAddr>() else {
            errors.push("ip", format!("{} is not an IP address", quoted(ip_text)));
            return Err(errors);
        };
        let mask = match mask_text {
            None => host_mask(ip),
            Some(text) => match text.parse::<u8>() {
                Ok(mask) if text.bytes().all(|b| b.is_ascii_digit()) => mask,
                _ => {
                    errors.push("mask", format!("{} is not a prefix length", quoted(text)));
                    return Err(errors);
                }
            },
        };
        let address = Self {
            group,
            ip,
            mask,
            port: 0,
            tag: None,
        };
        address.validate().map(|()| address)
    }

    /// True for a single host: Kamailio lists it in `addressDump`, a subnet in
    /// `subnetDump`.
    pub fn is_host(&self) -> bool {
        self.mask == host_mask(self.ip)
    }

    /// Every problem with this entry, by field.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.group == 0 || i32::try_from(self.group).is_err() {
            errors.push("group", "must be 1 to 2147483647");
        }
        let full = host_mask(self.ip);
        if self.mask == 0 || self.mask > full {
            errors.push(
                "mask",
                format!("must be 1 to {full} (Kamailio reads 0 as a single host)"),
            );
        } else if network(self.ip, self.mask) != self.ip {
            errors.push(
                "ip",
                format!(
                    "{} has host bits set for /{}: the network is {}",
                    self.ip,
                    self.mask,
                    network(self.ip, self.mask)
                ),
            );
        }
        if self.is_host()
            && let Err(reason) = check_unicast(self.ip)
        {
            errors.push("ip", reason);
        } else if let IpAddr::V6(v6) = self.ip
            && v6.to_ipv4_mapped().is_some()
        {
            errors.push("ip", format!("{v6} is IPv4-mapped: write the IPv4 address"));
        }
        if let Some(tag) = &self.tag {
            check_token(&mut errors, "tag", tag, MAX_TAG_LEN);
            if tag.eq_ignore_ascii_case("NULL") {
                errors.push(
                    "tag",
                    "must not be 'NULL' (Kamailio reports a missing tag as NULL)",
                );
            }
        }
        errors.finish()
    }

    /// The `address.list` line, without the newline. Call only after
    /// [`Self::validate`] succeeded.
    pub(crate) fn line(&self) -> String {
        let mut line = format!("{} {} {} {}", self.group, self.ip, self.mask, self.port);
        if let Some(tag) = &self.tag {
            line.push(' ');
            line.push_str(tag);
        }
        line
    }
}

/// 32 for IPv4, 128 for IPv6.
pub(crate) fn host_mask(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit after the first `mask` bits cleared.
pub(crate) fn network(ip: IpAddr, mask: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX
                .checked_shl(32 - u32::from(mask.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX
                .checked_shl(128 - u32::from(mask.min(128)))
                .unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<(), FieldErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.0.into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn network_clears_host_bits() {
        assert_eq!(network(ip("192.0.2.77"), 24), ip("192.0.2.0"));
        assert_eq!(network(ip("10.1.2.3"), 8), ip("10.0.0.0"));
        assert_eq!(network(ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(network(ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(network(ip("2001:db8::1"), 32), ip("2001:db8::"));
        assert_eq!(network(ip("2001:db8::1"), 128), ip("2001:db8::1"));
    }

    #[test]
    fn from_cidr_reads_hosts_and_subnets() {
        let host = TrustedAddress::from_cidr(3, "203.0.113.7").unwrap();
        assert_eq!((host.mask, host.is_host(), host.port), (32, true, 0));
        let net = TrustedAddress::from_cidr(3, "203.0.113.0/24").unwrap();
        assert_eq!((net.mask, net.is_host()), (24, false));
        let v6 = TrustedAddress::from_cidr(3, "2001:db8::/32").unwrap();
        assert_eq!((v6.mask, v6.is_host()), (32, false));
        for bad in [
            "203.0.113.7/24",
            "203.0.113.0/33",
            "203.0.113.0/0",
            "203.0.113.0/+8",
            "host",
            "999.1.1.1",
            "",
        ] {
            assert!(
                TrustedAddress::from_cidr(3, bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn each_field_is_checked() {
        let ok = TrustedAddress {
            group: 1,
            ip: ip("127.0.0.1"),
            mask: 32,
            port: 5060,
            tag: Some("lo".into()),
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.line(), "1 127.0.0.1 32 5060 lo");
        assert_eq!(TrustedAddress::host(2, ip("::1")).line(), "2 ::1 128 0");

        let cases: [(TrustedAddress, &[&str]); 7] = [
            (
                TrustedAddress {
                    group: 0,
                    ..ok.clone()
                },
                &["group"],
            ),
            (
                TrustedAddress {
                    mask: 0,
                    ..ok.clone()
                },
                &["mask"],
            ),
            (
                TrustedAddress {
                    mask: 33,
                    ..ok.clone()
                },
                &["mask"],
            ),
            (
                TrustedAddress {
                    mask: 8,
                    ..ok.clone()
                },
                &["ip"],
            ),
            (
                TrustedAddress {
                    tag: Some("NULL".into()),
                    ..ok.clone()
                },
                &["tag"],
            ),
            (
                TrustedAddress {
                    tag: Some("a b".into()),
                    ..ok.clone()
                },
                &["tag"],
            ),
            (
                TrustedAddress {
                    ip: ip("0.0.0.0"),
                    ..ok.clone()
                },
                &["ip"],
            ),
        ];
        for (address, expected) in cases {
            assert_eq!(fields(address.validate()), expected, "{address:?}");
        }
        let mapped = TrustedAddress {
            ip: ip("::ffff:127.0.0.0"),
            mask: 120,
            ..ok.clone()
        };
        assert_eq!(fields(mapped.validate()), ["ip"]);
    }
}
