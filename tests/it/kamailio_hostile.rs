//! Hostile or mistaken input never reaches a list file, and the lines it
//! would have produced are ones the real Kamailio misreads.

use std::fs;
use std::time::Duration;

use crate::kamailio_support::Kamailio;
use rayan::kamailio::{
    Attributes, Destination, DispatcherState, KamailioError, ReloadKind, TrustedAddress,
    check_addresses, check_dispatcher, render_address_list, render_dispatcher_list,
};

const MAX_WAIT: Duration = Duration::from_secs(10);

fn good_destination() -> Destination {
    Destination {
        set_id: 1,
        uri: "sip:127.1.0.1:5999".into(),
        state: DispatcherState::Active,
        priority: 1,
        attrs: Attributes {
            duid: Some("gw1".into()),
            ..Attributes::default()
        },
    }
}

fn good_address() -> TrustedAddress {
    TrustedAddress {
        tag: Some("trunk-a".into()),
        ..TrustedAddress::from_cidr(1, "203.0.113.5").unwrap()
    }
}

/// What an apply does with the lists: render, and write only what rendered.
fn render_then_write(
    lab: &Kamailio,
    destinations: &[Destination],
    addresses: &[TrustedAddress],
) -> Result<(), KamailioError> {
    let dispatcher = render_dispatcher_list(destinations)?;
    let address = render_address_list(addresses)?;
    lab.write_dispatcher_list(&dispatcher);
    lab.write_address_list(&address);
    Ok(())
}

fn hostile_destinations() -> Vec<(&'static str, Destination)> {
    let with = |f: &dyn Fn(&mut Destination)| {
        let mut d = Destination {
            uri: "sip:127.1.0.2:5999".into(),
            ..good_destination()
        };
        f(&mut d);
        d
    };
    vec![
        (
            "newline in uri",
            with(&|d| d.uri = "sip:127.1.0.2:5999\n2 sip:127.1.0.66".into()),
        ),
        (
            "columns in uri",
            with(&|d| d.uri = "sip:127.1.0.2:5999 4 0".into()),
        ),
        (
            "comment in uri",
            with(&|d| d.uri = "sip:127.1.0.2#x".into()),
        ),
        ("host name", with(&|d| d.uri = "sip:gw.example.com".into())),
        ("user part", with(&|d| d.uri = "sip:alice@127.1.0.2".into())),
        (
            "octet out of range",
            with(&|d| d.uri = "sip:999.1.0.2".into()),
        ),
        ("negative priority", with(&|d| d.priority = -5)),
        ("set 0", with(&|d| d.set_id = 0)),
        (
            "space in duid",
            with(&|d| d.attrs.duid = Some("gw 2".into())),
        ),
        (
            "attribute smuggled in duid",
            with(&|d| d.attrs.duid = Some("gw2;weight=100".into())),
        ),
        ("weight 0", with(&|d| d.attrs.weight = Some(0))),
        ("weight over 100", with(&|d| d.attrs.weight = Some(101))),
        (
            "newline in extra value",
            with(&|d| {
                d.attrs.extra.insert(
                    "socket".into(),
                    "udp:127.0.0.1:5060\n9 sip:127.1.0.9".into(),
                );
            }),
        ),
        (
            "weight as extra",
            with(&|d| {
                d.attrs.extra.insert("weight".into(), "5".into());
            }),
        ),
    ]
}

fn hostile_addresses() -> Vec<(&'static str, TrustedAddress)> {
    let with = |f: &dyn Fn(&mut TrustedAddress)| {
        let mut a = TrustedAddress {
            ip: "203.0.113.6".parse().unwrap(),
            ..good_address()
        };
        f(&mut a);
        a
    };
    vec![
        ("mask 0", with(&|a| a.mask = 0)),
        ("mask 33", with(&|a| a.mask = 33)),
        ("host bits set", with(&|a| a.mask = 24)),
        ("group 0", with(&|a| a.group = 0)),
        ("space in tag", with(&|a| a.tag = Some("acme trunk".into()))),
        (
            "newline in tag",
            with(&|a| a.tag = Some("x\n9 0.0.0.0 1".into())),
        ),
        ("comment in tag", with(&|a| a.tag = Some("a#b".into()))),
        ("tag NULL", with(&|a| a.tag = Some("NULL".into()))),
        ("empty tag", with(&|a| a.tag = Some(String::new()))),
        (
            "unspecified host",
            with(&|a| a.ip = "0.0.0.0".parse().unwrap()),
        ),
    ]
}

#[tokio::test]
async fn hostile_input_is_refused_before_it_reaches_a_file() {
    let destinations = [good_destination()];
    let addresses = [good_address()];
    let lab = Kamailio::start(
        1,
        &render_dispatcher_list(&destinations).unwrap(),
        &render_address_list(&addresses).unwrap(),
    )
    .await;
    let dispatcher_before = fs::read(lab.dispatcher_path()).unwrap();
    let address_before = fs::read(lab.address_path()).unwrap();

    assert!(matches!(
        render_then_write(&lab, &[], &addresses),
        Err(KamailioError::EmptyDispatcherList)
    ));
    for (case, hostile) in hostile_destinations() {
        let error =
            render_then_write(&lab, &[good_destination(), hostile], &addresses).unwrap_err();
        assert!(
            matches!(&error, KamailioError::Invalid { item, .. } if item == "destinations[1]"),
            "{case}: {error}"
        );
    }
    for (case, hostile) in hostile_addresses() {
        let error = render_then_write(&lab, &destinations, &[good_address(), hostile]).unwrap_err();
        assert!(
            matches!(&error, KamailioError::Invalid { item, .. } if item == "addresses[1]"),
            "{case}: {error}"
        );
    }
    for bad in ["999.1.1.1", "203.0.113.0/0", "garbage", "203.0.113.0/24 x"] {
        assert!(TrustedAddress::from_cidr(1, bad).is_err(), "{bad}");
    }

    assert_eq!(
        fs::read(lab.dispatcher_path()).unwrap(),
        dispatcher_before,
        "dispatcher.list was touched"
    );
    assert_eq!(
        fs::read(lab.address_path()).unwrap(),
        address_before,
        "address.list was touched"
    );

    // Kamailio, reloaded, still has exactly the good lists.
    let rpc = lab.rpc();
    rpc.reload_with_retry(ReloadKind::Dispatcher, MAX_WAIT)
        .await
        .unwrap();
    rpc.reload_with_retry(ReloadKind::Addresses, MAX_WAIT)
        .await
        .unwrap();
    let checks = check_dispatcher(&rpc, &destinations).await.unwrap();
    assert!(
        checks.len() == 1 && checks[0].outcome.is_verified(),
        "{checks:#?}"
    );
    let checks = check_addresses(&rpc, &addresses).await.unwrap();
    assert!(
        checks.len() == 1 && checks[0].outcome.is_verified(),
        "{checks:#?}"
    );
}

/// Writes, bypassing the renderer, the lines a naive renderer would produce,
/// and shows the real Kamailio misreading each one; the renderer refuses every
/// one of these intents.
#[tokio::test]
async fn lines_kamailio_would_misread_are_never_rendered() {
    let lab = Kamailio::start(
        1,
        &render_dispatcher_list(&[good_destination()]).unwrap(),
        "",
    )
    .await;
    let rpc = lab.rpc();

    // Priority -5: Kamailio reads priority 0 and "-5" as the attributes.
    lab.write_dispatcher_list("1 sip:127.1.0.2:5999 0 -5 duid=gw2\n");
    rpc.reload_with_retry(ReloadKind::Dispatcher, MAX_WAIT)
        .await
        .unwrap();
    let live = rpc.dispatcher_list().await.unwrap();
    assert_eq!(
        (live[0].priority, live[0].attrs.as_deref()),
        (0, Some("-5"))
    );
    let negative = Destination {
        uri: "sip:127.1.0.2:5999".into(),
        priority: -5,
        ..good_destination()
    };
    assert!(
        matches!(render_dispatcher_list(&[negative]), Err(KamailioError::Invalid { errors, .. }) if errors.0[0].field == "priority")
    );

    // An empty file: a successful reload that drops every destination.
    lab.write_dispatcher_list("");
    rpc.reload_with_retry(ReloadKind::Dispatcher, MAX_WAIT)
        .await
        .unwrap();
    assert!(rpc.dispatcher_list().await.unwrap().is_empty());
    assert!(matches!(
        render_dispatcher_list(&[]),
        Err(KamailioError::EmptyDispatcherList)
    ));

    // Mask 0 becomes a single host; a tag ends at the first space; an octet
    // over 255 wraps (999 -> 231).
    lab.write_address_list("5 0.0.0.0 0 0\n5 203.0.113.9 32 0 acme trunk\n5 999.1.1.1\n");
    rpc.reload_with_retry(ReloadKind::Addresses, MAX_WAIT)
        .await
        .unwrap();
    let hosts = rpc.permissions_address_dump().await.unwrap();
    let find = |ip: &str| {
        hosts
            .iter()
            .find(|h| h.ip == ip.parse::<std::net::IpAddr>().unwrap())
            .cloned()
    };
    assert_eq!(find("0.0.0.0").map(|h| h.mask), Some(32), "{hosts:?}");
    assert_eq!(find("203.0.113.9").and_then(|h| h.tag), Some("acme".into()));
    assert!(find("231.1.1.1").is_some(), "{hosts:?}");
    assert!(rpc.permissions_subnet_dump().await.unwrap().is_empty());

    let everything = TrustedAddress {
        mask: 0,
        ..TrustedAddress::host(5, "0.0.0.0".parse().unwrap())
    };
    assert!(render_address_list(&[everything]).is_err());
    let spaced = TrustedAddress {
        tag: Some("acme trunk".into()),
        ..TrustedAddress::host(5, "203.0.113.9".parse().unwrap())
    };
    assert!(render_address_list(&[spaced]).is_err());
    assert!(TrustedAddress::from_cidr(5, "999.1.1.1").is_err());
}
