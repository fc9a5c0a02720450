//! Trusted addresses against a real Kamailio: render, write, reload, and
//! verify with `permissions.addressDump` and `permissions.subnetDump`.

use std::time::Duration;

use crate::kamailio_support::Kamailio;
use rayan::kamailio::{
    AddressCheck, Attributes, Destination, DispatcherState, ReloadKind, TrustedAddress,
    check_addresses, render_address_list, render_dispatcher_list,
};

const MAX_WAIT: Duration = Duration::from_secs(10);

fn dispatcher_list() -> String {
    render_dispatcher_list(&[Destination {
        set_id: 1,
        uri: "sip:127.1.0.1:5999".into(),
        state: DispatcherState::Active,
        priority: 0,
        attrs: Attributes::default(),
    }])
    .unwrap()
}

async fn apply(lab: &Kamailio, addresses: &[TrustedAddress]) -> Vec<AddressCheck> {
    lab.write_address_list(&render_address_list(addresses).expect("render"));
    let rpc = lab.rpc();
    rpc.reload_with_retry(ReloadKind::Addresses, MAX_WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.log_tail()));
    check_addresses(&rpc, addresses).await.expect("dumps")
}

fn labels(checks: &[AddressCheck]) -> Vec<(String, &'static str)> {
    checks
        .iter()
        .map(|c| {
            (
                format!("{} {}/{}", c.group, c.ip, c.mask),
                c.outcome.label(),
            )
        })
        .collect()
}

#[tokio::test]
async fn trunk_addresses_appear_in_address_and_subnet_dumps() {
    let lab = Kamailio::start(1, &dispatcher_list(), &render_address_list(&[]).unwrap()).await;
    let rpc = lab.rpc();
    assert!(rpc.permissions_address_dump().await.unwrap().is_empty());
    assert!(rpc.permissions_subnet_dump().await.unwrap().is_empty());

    // One trunk with IP auth: a host on the SIP port, and its provider's subnet.
    let mut trunk_host = TrustedAddress::from_cidr(2, "203.0.113.7").unwrap();
    trunk_host.port = 5060;
    trunk_host.tag = Some("trunk-telnyx".into());
    let trunk_net = TrustedAddress::from_cidr(2, "198.51.100.0/24").unwrap();
    let checks = apply(&lab, &[trunk_host.clone(), trunk_net.clone()]).await;
    assert_eq!(
        labels(&checks),
        [
            ("2 203.0.113.7/32".into(), "verified"),
            ("2 198.51.100.0/24".into(), "verified")
        ]
    );

    let hosts = rpc.permissions_address_dump().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].group, hosts[0].ip, hosts[0].port),
        (2, trunk_host.ip, 5060)
    );
    assert_eq!(hosts[0].tag.as_deref(), Some("trunk-telnyx"));
    let subnets = rpc.permissions_subnet_dump().await.unwrap();
    assert_eq!(subnets.len(), 1);
    assert_eq!(
        (subnets[0].ip, subnets[0].mask, subnets[0].tag.as_deref()),
        (trunk_net.ip, 24, None)
    );

    // More groups, IPv6 hosts and subnets.
    let v6_host = TrustedAddress {
        tag: Some("v6-host".into()),
        ..TrustedAddress::from_cidr(3, "2001:db8::7").unwrap()
    };
    let v6_net = TrustedAddress::from_cidr(3, "2001:db8:1::/48").unwrap();
    let loopback = TrustedAddress::host(1, "127.0.0.1".parse().unwrap());
    let all = [
        trunk_host.clone(),
        trunk_net.clone(),
        v6_host,
        v6_net,
        loopback,
    ];
    let checks = apply(&lab, &all).await;
    assert!(
        checks.iter().all(|c| c.outcome.is_verified()),
        "{checks:#?}"
    );
    assert_eq!(checks.len(), all.len());

    // The trunk loses IP auth: its entries leave both tables.
    let remaining = &all[2..];
    let checks = apply(&lab, remaining).await;
    assert!(
        checks.iter().all(|c| c.outcome.is_verified()),
        "{checks:#?}"
    );
    assert_eq!(
        checks.len(),
        remaining.len(),
        "nothing unexpected left: {checks:#?}"
    );
    assert!(
        !rpc.permissions_address_dump()
            .await
            .unwrap()
            .iter()
            .any(|a| a.ip == trunk_host.ip)
    );

    // A tag changed by hand in the file, without rayan: reported as a mismatch.
    let mut by_hand = render_address_list(remaining).unwrap();
    by_hand = by_hand.replace("v6-host", "edited");
    lab.write_address_list(&by_hand);
    rpc.reload_with_retry(ReloadKind::Addresses, MAX_WAIT)
        .await
        .unwrap();
    let checks = check_addresses(&rpc, remaining).await.unwrap();
    assert_eq!(checks[0].outcome.label(), "state mismatch", "{checks:#?}");
}

/// The shipped kamailio.cfg refuses sources in rayan's blocked group (99) with
/// a 403 before anything else, and answers everyone else as before.
#[tokio::test]
async fn the_shipped_cfg_refuses_blocked_sources() {
    let lab = Kamailio::start(1, &dispatcher_list(), &render_address_list(&[]).unwrap()).await;
    let port = lab.sip_port;
    assert!(crate::kamailio_support::options_from("127.0.0.5", port).starts_with("SIP/2.0 200"));
    let blocked = TrustedAddress::host(
        rayan::store::kamailio::BLOCKED_GROUP,
        "127.0.0.5".parse().unwrap(),
    );
    let checks = apply(&lab, &[blocked]).await;
    assert_eq!(
        labels(&checks),
        [("99 127.0.0.5/32".to_owned(), "verified")]
    );
    assert!(
        crate::kamailio_support::options_from("127.0.0.5", port).starts_with("SIP/2.0 403"),
        "{}",
        lab.log_tail()
    );
    assert!(crate::kamailio_support::options_from("127.0.0.6", port).starts_with("SIP/2.0 200"));
    // Lifted: answered again.
    apply(&lab, &[]).await;
    assert!(crate::kamailio_support::options_from("127.0.0.5", port).starts_with("SIP/2.0 200"));
}
