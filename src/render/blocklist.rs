//! The blocked source addresses as a `type=acl` section of pjsip.conf, which
//! res_pjsip_acl applies to every incoming SIP request before anything else:
//! a refused source gets a 403 and no challenge (res_pjsip_acl.c).
//!
//! ```text
//! [rayan-blocklist]
//! type=acl
//! deny=203.0.113.9/32
//! ```
//!
//! Only `deny` lines: Asterisk allows what no rule matches. A value Asterisk
//! cannot parse would make it refuse all SIP traffic, so only `IpAddr`s, which
//! print as plain addresses, are written.

use std::net::IpAddr;

use super::ManagedBlock;
use crate::model::ObjectRef;

/// The ACL section's name.
pub const BLOCKLIST_SECTION: &str = "rayan-blocklist";

/// `None` when nothing is blocked (the section is then taken out).
pub fn render_blocklist(addresses: &[IpAddr]) -> Option<ManagedBlock> {
    let mut sorted: Vec<IpAddr> = addresses.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.is_empty() {
        return None;
    }
    let mut body = format!("[{BLOCKLIST_SECTION}]\ntype=acl\n");
    for address in sorted {
        let bits = if address.is_ipv4() { 32 } else { 128 };
        body.push_str(&format!("deny={address}/{bits}\n"));
    }
    Some(ManagedBlock::new(ObjectRef::blocklist().block_id(), body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_deny_per_address_sorted() {
        let a: IpAddr = "203.0.113.9".parse().expect("ip");
        let b: IpAddr = "2001:db8::1".parse().expect("ip");
        let c: IpAddr = "127.0.0.5".parse().expect("ip");
        let block = render_blocklist(&[a, b, c, a]).expect("a block");
        assert_eq!(block.id, "Blocklist sip");
        assert_eq!(
            block.body,
            "[rayan-blocklist]\ntype=acl\ndeny=127.0.0.5/32\ndeny=203.0.113.9/32\ndeny=2001:db8::1/128\n"
        );
        assert!(render_blocklist(&[]).is_none());
    }

    proptest! {
        /// Any set of addresses gives one section, `type=acl`, and one parsable
        /// deny line per address.
        #[test]
        fn every_line_is_a_deny_of_one_address(v4 in proptest::collection::vec(any::<u32>(), 1..20), v6 in proptest::collection::vec(any::<u128>(), 0..5)) {
            let addresses: Vec<IpAddr> = v4.into_iter().map(|n| IpAddr::from(std::net::Ipv4Addr::from(n)))
                .chain(v6.into_iter().map(|n| IpAddr::from(std::net::Ipv6Addr::from(n)))).collect();
            let block = render_blocklist(&addresses).expect("a block");
            let mut lines = block.body.lines();
            prop_assert_eq!(lines.next(), Some("[rayan-blocklist]"));
            prop_assert_eq!(lines.next(), Some("type=acl"));
            for line in lines {
                let value = line.strip_prefix("deny=").expect("a deny line");
                let net: ipnet::IpNet = value.parse().expect("an address/bits");
                prop_assert!(addresses.contains(&net.addr()));
                prop_assert_eq!(net.prefix_len(), net.max_prefix_len());
            }
        }
    }
}
