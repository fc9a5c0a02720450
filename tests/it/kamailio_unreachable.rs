//! Kamailio down or silent: the client says so distinctly, and a change
//! written meanwhile is applied once Kamailio is up.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::kamailio_support::Kamailio;
use rayan::kamailio::{
    Attributes, Destination, DispatcherState, KamailioError, KamailioRpc, ReloadKind,
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
async fn kamailio_down_is_unreachable_then_the_pending_change_converges() {
    let before = [destination(1)];
    let mut lab = Kamailio::prepare(
        1,
        &render_dispatcher_list(&before).unwrap(),
        &render_address_list(&[]).unwrap(),
    );
    let rpc = lab.rpc();

    // The change is written while Kamailio is down.
    let after = [destination(1), destination(2)];
    let trusted = [TrustedAddress::from_cidr(4, "192.0.2.10").unwrap()];
    lab.write_dispatcher_list(&render_dispatcher_list(&after).unwrap());
    lab.write_address_list(&render_address_list(&trusted).unwrap());

    let started = Instant::now();
    let error = rpc
        .reload_with_retry(ReloadKind::Dispatcher, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(error, KamailioError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.is_transport() && !error.is_rate_limited());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no waiting on a transport error"
    );
    assert!(
        check_dispatcher(&rpc, &after)
            .await
            .unwrap_err()
            .is_transport()
    );
    assert!(rpc.version().await.unwrap_err().is_transport());

    // Kamailio comes up; the pending apply runs again and converges.
    lab.run().await;
    rpc.reload_with_retry(ReloadKind::Dispatcher, Duration::from_secs(10))
        .await
        .unwrap();
    rpc.reload_with_retry(ReloadKind::Addresses, Duration::from_secs(10))
        .await
        .unwrap();
    let checks = check_dispatcher(&rpc, &after).await.unwrap();
    assert_eq!(checks.len(), 2);
    assert!(
        checks.iter().all(|c| c.outcome.is_verified()),
        "{checks:#?}"
    );
    let checks = check_addresses(&rpc, &trusted).await.unwrap();
    assert!(
        checks.len() == 1 && checks[0].outcome.is_verified(),
        "{checks:#?}"
    );

    // Down again: reported as such, not as an RPC error.
    lab.stop();
    assert!(matches!(
        rpc.dispatcher_reload().await,
        Err(KamailioError::Unreachable { .. })
    ));
}

/// A server that accepts and never answers (jsonrpcs does this with malformed
/// JSON and the stock config): the call ends at its timeout.
#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/RPC", listener.local_addr().unwrap());
    let silent = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = [0u8; 1024];
        // Read the request and hold the connection open without replying.
        let _ = stream.read(&mut buffer);
        std::thread::sleep(Duration::from_secs(2));
    });
    let rpc = KamailioRpc::new(&url, Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let error = rpc.dispatcher_reload().await.unwrap_err();
    assert!(matches!(error, KamailioError::Timeout { .. }), "{error:?}");
    assert!(error.is_transport());
    assert!(started.elapsed() < Duration::from_secs(2));
    silent.join().unwrap();
}
