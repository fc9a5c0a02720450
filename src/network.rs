//! What `rayan-ctl network detect` suggests from this host's own addresses: the
//! networks reached without NAT (`local_net`) and an address that may be the
//! public one. It reads the interfaces only; nothing is looked up outside.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterfaceAddress {
    pub interface: String,
    pub address: IpAddr,
    pub prefix: u8,
}

/// What the addresses suggest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// Private and link-local networks of this host, host bits cleared.
    pub local_net: Vec<String>,
    /// Public addresses of this host (candidates for `external_*`); behind a
    /// NAT router there are none, and the router's public address is needed.
    pub public_addresses: Vec<IpAddr>,
}

/// Whether `ip` belongs to a network behind NAT or on this segment only.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_link_local()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        // fc00::/7 unique local, fe80::/10 link local
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xFE00) == 0xFC00 || (v6.segments()[0] & 0xFFC0) == 0xFE80
        }
    }
}

pub fn suggest(addresses: &[InterfaceAddress]) -> Suggestion {
    let mut suggestion = Suggestion::default();
    for a in addresses {
        if a.address.is_loopback() || a.address.is_unspecified() {
            continue;
        }
        if is_private(a.address) {
            if let Ok(net) = IpNet::new(a.address, a.prefix) {
                let net = net.trunc().to_string();
                if !suggestion.local_net.contains(&net) {
                    suggestion.local_net.push(net);
                }
            }
        } else if !suggestion.public_addresses.contains(&a.address) {
            suggestion.public_addresses.push(a.address);
        }
    }
    suggestion
}

/// This host's interface addresses (IPv4 and IPv6), from `getifaddrs`.
pub fn interface_addresses() -> std::io::Result<Vec<InterfaceAddress>> {
    let mut out = Vec::new();
    for ifaddr in nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)? {
        let (Some(address), Some(netmask)) = (ifaddr.address, ifaddr.netmask) else {
            continue;
        };
        let pair = match (address.as_sockaddr_in(), netmask.as_sockaddr_in()) {
            (Some(a), Some(m)) => Some((IpAddr::V4(a.ip()), u32::from(m.ip()).count_ones())),
            _ => match (address.as_sockaddr_in6(), netmask.as_sockaddr_in6()) {
                (Some(a), Some(m)) => Some((IpAddr::V6(a.ip()), u128::from(m.ip()).count_ones())),
                _ => None,
            },
        };
        if let Some((address, prefix)) = pair {
            out.push(InterfaceAddress {
                interface: ifaddr.interface_name,
                address,
                prefix: u8::try_from(prefix).unwrap_or(0),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(interface: &str, address: &str, prefix: u8) -> InterfaceAddress {
        InterfaceAddress {
            interface: interface.into(),
            address: address.parse().unwrap(),
            prefix,
        }
    }

    #[test]
    fn private_networks_become_local_net_and_public_addresses_candidates() {
        let s = suggest(&[
            a("lo", "127.0.0.1", 8),
            a("eth0", "192.168.1.10", 24),
            a("eth0", "192.168.1.11", 24),
            a("eth1", "203.0.113.7", 24),
            a("wg0", "10.8.0.1", 16),
            a("eth0", "fe80::1", 64),
            a("tun0", "100.72.3.4", 10),
        ]);
        assert_eq!(
            s.local_net,
            vec![
                "192.168.1.0/24",
                "10.8.0.0/16",
                "fe80::/64",
                "100.64.0.0/10"
            ]
        );
        assert_eq!(
            s.public_addresses,
            vec!["203.0.113.7".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn reads_this_hosts_interfaces() {
        let found = interface_addresses().unwrap();
        assert!(found.iter().any(|a| a.address.is_loopback()), "{found:?}");
    }
}
