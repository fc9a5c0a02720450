//! Kamailio's reload rate limit with its real default (`reload_delta` 5 s):
//! two changes within the window both end up applied.

use std::time::Duration;

use crate::kamailio_support::Kamailio;
use rayan::kamailio::{
    Attributes, DEFAULT_RELOAD_WINDOW, Destination, DispatcherState, KamailioError, ReloadKind,
    TrustedAddress, check_addresses, check_dispatcher, render_address_list, render_dispatcher_list,
};

fn destination(host: u8) -> Destination {
    Destination {
        set_id: 1,
        uri: format!("sip:127.1.0.{host}:5999"),
        state: DispatcherState::Active,
        priority: 0,
        attrs: Attributes::default(),
    }
}

#[tokio::test]
async fn two_changes_within_the_reload_window_are_both_applied() {
    let window = Duration::from_secs(5);
    assert_eq!(window, DEFAULT_RELOAD_WINDOW);
    let first = [destination(1)];
    let lab = Kamailio::start(
        5,
        &render_dispatcher_list(&first).unwrap(),
        &render_address_list(&[]).unwrap(),
    )
    .await;
    let rpc = lab.rpc();

    let dispatcher = async {
        // Change 1 reloads at once.
        let one = [destination(1), destination(2)];
        lab.write_dispatcher_list(&render_dispatcher_list(&one).unwrap());
        rpc.dispatcher_reload().await.unwrap();
        // Change 2, straight after: a plain reload is refused as rate-limited...
        let two = [destination(1), destination(2), destination(3)];
        lab.write_dispatcher_list(&render_dispatcher_list(&two).unwrap());
        match rpc.dispatcher_reload().await {
            Err(error @ KamailioError::RateLimited { .. }) => {
                assert_eq!(error.retry_after(), Some(window));
                assert!(!error.is_transport());
            }
            other => panic!("expected the rate limit, got {other:?}"),
        }
        // ...and the retrying reload waits it out.
        let report = rpc
            .reload_with_retry(ReloadKind::Dispatcher, Duration::from_secs(15))
            .await
            .unwrap();
        assert!(report.attempts >= 2, "{report:?}");
        check_dispatcher(&rpc, &two).await.unwrap()
    };

    // The permissions module has its own window ("ongoing reload", lower case).
    let permissions = async {
        let one = [TrustedAddress::from_cidr(1, "203.0.113.1").unwrap()];
        lab.write_address_list(&render_address_list(&one).unwrap());
        rpc.permissions_address_reload().await.unwrap();
        let two = [
            one[0].clone(),
            TrustedAddress::from_cidr(1, "203.0.113.2").unwrap(),
        ];
        lab.write_address_list(&render_address_list(&two).unwrap());
        assert!(
            rpc.permissions_address_reload()
                .await
                .unwrap_err()
                .is_rate_limited()
        );
        let report = rpc
            .reload_with_retry(ReloadKind::Addresses, Duration::from_secs(15))
            .await
            .unwrap();
        assert!(report.attempts >= 2, "{report:?}");
        check_addresses(&rpc, &two).await.unwrap()
    };

    let (dispatcher_checks, address_checks) = tokio::join!(dispatcher, permissions);
    assert_eq!(dispatcher_checks.len(), 3);
    assert!(
        dispatcher_checks.iter().all(|c| c.outcome.is_verified()),
        "{dispatcher_checks:#?}"
    );
    assert_eq!(address_checks.len(), 2);
    assert!(
        address_checks.iter().all(|c| c.outcome.is_verified()),
        "{address_checks:#?}"
    );
}

#[tokio::test]
async fn retrying_gives_up_after_its_budget() {
    let lab = Kamailio::start(5, &render_dispatcher_list(&[destination(1)]).unwrap(), "").await;
    let rpc = lab.rpc();
    rpc.dispatcher_reload().await.unwrap();
    let started = std::time::Instant::now();
    let error = rpc
        .reload_with_retry(ReloadKind::Dispatcher, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(error.is_rate_limited(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "it must not sleep past its budget"
    );
}
