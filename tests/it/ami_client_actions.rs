//! Actions against the double: typed helpers, list collection, "not found", reloads that
//! really re-read pjsip.conf (and silently drop bad objects), and 10,000 actions in flight.

use std::path::Path;
use std::time::Duration;

use crate::support::asterisk::{AsteriskDouble, Contact};
use crate::support::connected;
use futures_util::future::join_all;
use rayan::ami::{AmiClient, AmiError, Message, OriginateRequest, ReloadOutcome};

const LAB_CONF: &str = "\
[global]
type=global
user_agent=Asterisk-AMI-lab

[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:5060

[1001]
type=endpoint
context=from-internal
disallow=all
allow=ulaw
transport=transport-udp
auth=1001
aors=1001
direct_media=no

[1001]
type=auth
auth_type=userpass
username=1001
password=pass1001

[1001]
type=aor
max_contacts=1
qualify_frequency=15

[1002]
type=endpoint
context=from-internal
disallow=all
allow=ulaw
transport=transport-udp
auth=1002
aors=1002

[1002]
type=auth
auth_type=md5
username=1002
realm=asterisk
md5_cred=730dfeafc21b9ebefe98153eaf320b2e

[1002]
type=aor
max_contacts=1
qualify_frequency=15

[reg-lab-auth]
type=auth
auth_type=userpass
username=lab
password=labpass

[reg-lab]
type=registration
transport=transport-udp
outbound_auth=reg-lab-auth
server_uri=sip:127.0.0.1:5999
client_uri=sip:lab@127.0.0.1:5999
contact_user=lab
retry_interval=20
expiration=120
";

struct Lab {
    _dir: tempfile::TempDir,
    conf: std::path::PathBuf,
    double: AsteriskDouble,
    client: AmiClient,
}

async fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("pjsip.conf");
    std::fs::write(&conf, LAB_CONF).expect("write pjsip.conf");
    let double = AsteriskDouble::with_pjsip_conf(&conf).await;
    let client = AmiClient::start(double.client_settings());
    connected(&client).await;
    Lab {
        _dir: dir,
        conf,
        double,
        client,
    }
}

fn append(conf: &Path, block: &str) {
    let mut text = std::fs::read_to_string(conf).expect("read pjsip.conf");
    text.push('\n');
    text.push_str(block);
    std::fs::write(conf, text).expect("write pjsip.conf");
}

#[tokio::test]
async fn show_endpoint_returns_every_loaded_object() {
    let lab = lab().await;
    let details = lab
        .client
        .pjsip_show_endpoint("1001")
        .await
        .expect("answered")
        .expect("1001 exists");
    assert_eq!(details.name(), "1001");
    assert_eq!(details.context(), Some("from-internal"));
    assert_eq!(details.aor_names(), ["1001"]);
    assert_eq!(details.auth(), Some("1001"));
    assert_eq!(details.transport_name(), Some("transport-udp"));
    assert_eq!(details.get("DirectMedia"), Some("false"));
    assert_eq!(details.get("Allow"), Some("(ulaw)"));
    assert_eq!(details.auths[0].get("Username"), Some("1001"));
    assert_eq!(
        details.aor("1001").and_then(|a| a.get("MaxContacts")),
        Some("1")
    );
    assert_eq!(
        details.transport.as_ref().and_then(|t| t.get("Bind")),
        Some("127.0.0.1:5060")
    );
    // Every field stays reachable: the recorded EndpointDetail has 140 of them.
    assert!(details.endpoint.len() > 140, "{}", details.endpoint.len());
    assert!(details.is_complete());
}

#[tokio::test]
async fn unknown_endpoint_is_none_not_an_error() {
    let lab = lab().await;
    assert_eq!(
        lab.client
            .pjsip_show_endpoint("9999")
            .await
            .expect("answered"),
        None
    );
    // The list ended at the Error: the connection is free for the next action at once.
    lab.client.ping().await.expect("next action");
}

#[tokio::test]
async fn list_helpers_collect_to_the_complete_event() {
    let lab = lab().await;
    let endpoints = lab.client.pjsip_show_endpoints().await.expect("endpoints");
    let names: Vec<_> = endpoints
        .iter()
        .filter_map(|e| e.get("ObjectName"))
        .collect();
    assert_eq!(names, ["1001", "1002"]);

    // "No Contacts found" is an empty list, not an error.
    assert!(
        lab.client
            .pjsip_show_contacts()
            .await
            .expect("contacts")
            .is_empty()
    );
    lab.double.add_contact(Contact::registered("1002", 5082));
    let contacts = lab.client.pjsip_show_contacts().await.expect("contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].get("Uri"), Some("sip:1002@127.0.0.1:5082"));

    let registrations = lab
        .client
        .pjsip_show_registrations_outbound()
        .await
        .expect("registrations");
    assert_eq!(registrations.len(), 1);
    assert_eq!(
        registrations[0].get("ServerUri"),
        Some("sip:127.0.0.1:5999")
    );
    assert_eq!(
        registrations[0].get("Password"),
        None,
        "AuthDetail left out"
    );

    let auths = lab
        .client
        .send_list(Message::action("PJSIPShowAuths"))
        .await
        .expect("auths");
    assert_eq!(auths.list_items(), Some(3));
    assert_eq!(auths.events_named("AuthList").count(), 3);
}

#[tokio::test]
async fn reload_is_the_real_reload_action_and_rereads_pjsip_conf() {
    let lab = lab().await;
    let missing = lab
        .client
        .send(Message::action("PJSIPReload"))
        .await
        .expect("answered");
    assert_eq!(missing.response(), Some("Error"));
    assert!(
        missing
            .message()
            .unwrap_or_default()
            .starts_with("Invalid/unknown command: PJSIPReload")
    );

    append(
        &lab.conf,
        "[1003]\ntype=endpoint\ncontext=from-internal\naors=1003\n[1003]\ntype=aor\nmax_contacts=1\n",
    );
    assert_eq!(
        lab.client
            .pjsip_show_endpoint("1003")
            .await
            .expect("answered"),
        None
    );
    assert_eq!(
        lab.client
            .reload_module("res_pjsip.so")
            .await
            .expect("reload"),
        ReloadOutcome::Reloaded
    );
    let details = lab
        .client
        .pjsip_show_endpoint("1003")
        .await
        .expect("answered")
        .expect("loaded");
    assert!(details.is_complete());
    assert_eq!(lab.double.reload_count("res_pjsip.so"), 1);

    assert_eq!(
        lab.client
            .reload_module("pbx_config.so")
            .await
            .expect("reload"),
        ReloadOutcome::Reloaded
    );
    assert_eq!(lab.double.reload_count("pbx_config"), 1);
    assert_eq!(
        lab.client
            .reload_module("res_no_such_module.so")
            .await
            .expect("answered"),
        ReloadOutcome::NoSuchModule
    );
}

#[tokio::test]
async fn reload_success_with_a_bad_aor_is_caught_by_verification() {
    // h1: the reload says Success, the endpoint loads, its aor silently does not.
    let lab = lab().await;
    append(
        &lab.conf,
        "[1003]\ntype=endpoint\ncontext=from-internal\naors=1003\n[1003]\ntype=aor\nmax_contacts=abc\n",
    );
    assert_eq!(
        lab.client
            .reload_module("res_pjsip.so")
            .await
            .expect("reload"),
        ReloadOutcome::Reloaded
    );
    let details = lab
        .client
        .pjsip_show_endpoint("1003")
        .await
        .expect("answered")
        .expect("endpoint loaded");
    assert_eq!(details.missing_aors(), ["1003"]);
    assert!(!details.is_complete());
}

#[tokio::test]
async fn errors_inside_an_endpoint_list_do_not_end_it() {
    // h4: an endpoint naming a missing transport gets two Response: Error messages inside
    // its event list, followed by the Complete event.
    let lab = lab().await;
    append(
        &lab.conf,
        "[1004]\ntype=endpoint\ncontext=from-internal\ntransport=no-such-transport\n",
    );
    lab.client
        .reload_module("res_pjsip.so")
        .await
        .expect("reload");
    let details = lab
        .client
        .pjsip_show_endpoint("1004")
        .await
        .expect("answered")
        .expect("endpoint loaded");
    let errors: Vec<_> = details.errors.iter().filter_map(|e| e.message()).collect();
    assert_eq!(
        errors,
        [
            "Unable to retrieve transport no-such-transport",
            "Unable to format endpoint 1004"
        ]
    );
    assert!(details.transport_missing());
    assert!(!details.is_complete());
    // The next action still gets its own answer: nothing was left in the pipe.
    assert!(
        lab.client
            .pjsip_show_endpoint("1001")
            .await
            .expect("answered")
            .is_some()
    );
}

#[tokio::test]
async fn command_returns_output_lines_and_failures_carry_them() {
    let lab = lab().await;
    let lines = lab
        .client
        .command("dialplan show from-internal")
        .await
        .expect("command");
    assert_eq!(
        lines[0],
        "[ Context 'from-internal' created by 'pbx_config' ]"
    );
    assert!(
        lines[1].starts_with("  '9000' =>"),
        "leading spaces kept: {:?}",
        lines[1]
    );
    assert_eq!(lines[lines.len() - 2], "");
    assert_eq!(lines.len(), 8);
    match lab.client.command("no such cli command").await {
        Err(AmiError::CommandFailed { output, .. }) => {
            assert!(output[0].starts_with("No such command 'no such cli command'"))
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn originate_hangup_and_core_settings() {
    let lab = lab().await;
    let mut events = lab.client.subscribe();
    let settings = lab.client.core_settings().await.expect("core settings");
    assert_eq!(settings.asterisk_version.as_deref(), Some("22.10.1"));
    assert_eq!(settings.ami_version.as_deref(), Some("11.0.0"));

    // 1001 has no contact: the async originate is queued, then fails by event.
    let failed = lab
        .client
        .originate(&OriginateRequest::application("PJSIP/1001", "Wait", "1"))
        .await
        .expect("queued");
    let mut sync = OriginateRequest::application("PJSIP/1001", "Wait", "1");
    sync.asynchronous = false;
    assert!(matches!(
        lab.client.originate(&sync).await,
        Err(AmiError::ActionFailed { .. })
    ));

    lab.double.add_contact(Contact::registered("1002", 5082));
    let mut request = OriginateRequest::application("PJSIP/1002", "Wait", "30");
    request.caller_id = Some("Lab <5555>".to_owned());
    let placed = lab.client.originate(&request).await.expect("queued");
    assert_eq!(placed.message, "Originate successfully queued");

    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("no lag");
        if event.event() == Some("OriginateResponse") {
            outcomes.push(event);
        }
    }
    assert_eq!(outcomes[0].action_id(), Some(failed.action_id.as_str()));
    assert_eq!(outcomes[0].response(), Some("Failure"));
    assert_eq!(outcomes[1].action_id(), Some(placed.action_id.as_str()));
    assert_eq!(outcomes[1].response(), Some("Success"));
    let channel = outcomes[1].get("Channel").expect("channel").to_owned();

    assert!(lab.client.hangup(&channel).await.expect("hangup"));
    assert!(
        !lab.client
            .hangup(&channel)
            .await
            .expect("second hangup answered")
    );
}

#[tokio::test]
async fn ten_thousand_actions_in_flight_keep_their_correlation() {
    let lab = lab().await;
    let client = &lab.client;
    let answers = join_all((0..10_000).map(|i| async move {
        let context = format!("ctx-{i}");
        let action = Message::action("ShowDialPlan").with("Context", &context);
        let answer = if i % 2 == 0 {
            client
                .send(action)
                .await
                .map(|m| m.message().map(str::to_owned))
        } else {
            client
                .send_list(action)
                .await
                .map(|l| l.response.message().map(str::to_owned))
        };
        (context, answer)
    }))
    .await;
    for (context, answer) in answers {
        assert_eq!(
            answer.expect("answered").as_deref(),
            Some(format!("Did not find context {context}").as_str())
        );
    }
    let ids: std::collections::HashSet<String> = lab
        .double
        .received()
        .iter()
        .filter(|r| r.action() == "ShowDialPlan")
        .filter_map(|r| r.get("ActionID").map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 10_000, "every ActionID unique");
}
