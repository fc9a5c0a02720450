//! Dispatcher destinations against a real Kamailio: render, write, reload,
//! and verify with `dispatcher.list`.

use std::time::Duration;

use crate::kamailio_support::Kamailio;
use rayan::kamailio::{
    Attributes, Destination, DispatcherState, LiveFlags, LiveState, Outcome, ReloadKind,
    StateTarget, check_dispatcher, render_address_list, render_dispatcher_list,
};

const MAX_WAIT: Duration = Duration::from_secs(10);

/// Destinations on loopback addresses where nothing listens (probes fail quietly).
fn destination(set_id: u32, host: u8, state: DispatcherState) -> Destination {
    Destination {
        set_id,
        uri: format!("sip:127.1.0.{host}:5999"),
        state,
        priority: i32::from(host),
        attrs: Attributes {
            duid: Some(format!("gw{host}")),
            weight: Some(50),
            ..Attributes::default()
        },
    }
}

async fn apply(
    lab: &Kamailio,
    destinations: &[Destination],
) -> Vec<rayan::kamailio::DestinationCheck> {
    lab.write_dispatcher_list(&render_dispatcher_list(destinations).expect("render"));
    let rpc = lab.rpc();
    rpc.reload_with_retry(ReloadKind::Dispatcher, MAX_WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.log_tail()));
    check_dispatcher(&rpc, destinations)
        .await
        .expect("dispatcher.list")
}

fn labels(checks: &[rayan::kamailio::DestinationCheck]) -> Vec<(String, &'static str)> {
    checks
        .iter()
        .map(|c| (c.uri.clone(), c.outcome.label()))
        .collect()
}

fn all_verified(checks: &[rayan::kamailio::DestinationCheck]) -> bool {
    checks.iter().all(|c| c.outcome.is_verified())
}

#[tokio::test]
async fn adding_disabling_and_removing_destinations_is_verified() {
    let a = destination(1, 1, DispatcherState::Active);
    let initial = [a.clone()];
    let lab = Kamailio::start(
        1,
        &render_dispatcher_list(&initial).unwrap(),
        &render_address_list(&[]).unwrap(),
    )
    .await;
    let rpc = lab.rpc();
    assert!(rpc.version().await.unwrap().starts_with("kamailio 5."));
    let checks = check_dispatcher(&rpc, &initial).await.unwrap();
    assert_eq!(labels(&checks), [(a.uri.clone(), "verified")]);

    // Add one destination that waits for a probe, and a second set.
    let b = destination(1, 2, DispatcherState::InactiveUntilProbed);
    let c = destination(2, 3, DispatcherState::Active);
    let added = [a.clone(), b.clone(), c.clone()];
    let checks = apply(&lab, &added).await;
    assert!(all_verified(&checks), "{checks:#?}");
    assert_eq!(checks.len(), 3, "no unexpected destination: {checks:#?}");
    let b_flags = checks[1].live_flags.expect("b is listed");
    assert_eq!(
        b_flags.state,
        LiveState::Inactive,
        "flags 9 start inactive: {b_flags}"
    );
    let live = rpc.dispatcher_list().await.unwrap();
    let c_live = live.iter().find(|d| d.uri == c.uri).expect("c is listed");
    assert_eq!(
        (c_live.set_id, c_live.priority, c_live.attrs.as_deref()),
        (2, 3, Some("duid=gw3;weight=50"))
    );

    // Disable a: the intent lives in the file's flags column (4 -> DX).
    let mut a_disabled = a.clone();
    a_disabled.state = DispatcherState::Disabled;
    let disabled = [a_disabled.clone(), b.clone(), c.clone()];
    let checks = apply(&lab, &disabled).await;
    assert!(all_verified(&checks), "{checks:#?}");
    assert_eq!(
        checks[0].live_flags.map(|f| f.to_string()).as_deref(),
        Some("DX")
    );

    // Re-enabling it at runtime only is drift, and verification says so.
    let active = LiveFlags {
        state: LiveState::Active,
        probing: false,
    };
    rpc.dispatcher_set_state(active, 1, &StateTarget::Uri(a.uri.clone()))
        .await
        .unwrap();
    let checks = check_dispatcher(&rpc, &disabled).await.unwrap();
    match &checks[0].outcome {
        Outcome::StateMismatch { differences } => {
            assert_eq!(differences[0].field, "state");
            assert_eq!(differences[0].expected, "disabled");
        }
        other => panic!("expected a state mismatch, got {other:?}"),
    }

    // A reload of the same file puts the file's intent back.
    rpc.reload_with_retry(ReloadKind::Dispatcher, MAX_WAIT)
        .await
        .unwrap();
    assert!(all_verified(
        &check_dispatcher(&rpc, &disabled).await.unwrap()
    ));

    // Remove b and the whole of set 2.
    let removed = [a_disabled.clone()];
    let checks = apply(&lab, &removed).await;
    assert_eq!(labels(&checks), [(a.uri.clone(), "verified")]);
    let live = rpc.dispatcher_list_short().await.unwrap();
    assert_eq!(
        live.iter().map(|d| d.uri.as_str()).collect::<Vec<_>>(),
        [a.uri.as_str()]
    );

    // What was removed from the file but is still loaded shows as unexpected.
    let stale = check_dispatcher(&rpc, &[]).await.unwrap();
    assert_eq!(labels(&stale), [(a.uri.clone(), "unexpected")]);
}

/// Kamailio skips an IPv6 destination when it has no IPv6 socket (this config
/// listens on 127.0.0.1 only) and still answers the reload with success:
/// only verification notices.
#[tokio::test]
async fn a_destination_kamailio_skips_is_reported_missing() {
    let v4 = destination(1, 1, DispatcherState::Active);
    let lab = Kamailio::start(
        1,
        &render_dispatcher_list(std::slice::from_ref(&v4)).unwrap(),
        "",
    )
    .await;
    let mut v6 = destination(1, 2, DispatcherState::Active);
    v6.uri = "sip:[::1]:5999".into();
    let checks = apply(&lab, &[v4.clone(), v6.clone()]).await;
    assert_eq!(labels(&checks), [(v4.uri, "verified"), (v6.uri, "missing")]);
}

/// "No Destination Sets" is an empty list, not an error.
#[tokio::test]
async fn no_destination_sets_is_an_empty_list() {
    let lab = Kamailio::start(1, "# nothing yet\n", "").await;
    let rpc = lab.rpc();
    assert!(rpc.dispatcher_list().await.unwrap().is_empty());
    let written = [destination(1, 1, DispatcherState::Active)];
    let checks = check_dispatcher(&rpc, &written).await.unwrap();
    assert_eq!(labels(&checks), [(written[0].uri.clone(), "missing")]);
}
