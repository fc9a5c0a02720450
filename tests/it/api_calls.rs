//! Click-to-call, hang-up and the call history against the real daemon and the
//! Asterisk double, on PostgreSQL and on SQLite.

use crate::support::asterisk::{AsteriskDouble, Contact, Received};
use crate::support::daemon::TestDaemon;
use crate::support::db::Backend;
use crate::support::ws::Ws;
use chrono::{DateTime, Duration, Utc};
use rayan::events::{CallRecord, Disposition, RecordOrigin};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    click_to_call_rings_from_then_dials_to_and_hangs_up,
    refused_calls_never_reach_asterisk,
    an_unreachable_asterisk_is_503,
    history_filters_and_pages,
    openapi_documents_the_stream_and_calls,
);

fn asterisk(d: &TestDaemon) -> &AsteriskDouble {
    d.asterisk.as_ref().expect("an Asterisk double")
}

fn originates(d: &TestDaemon) -> Vec<Received> {
    asterisk(d)
        .received()
        .into_iter()
        .filter(|r| r.action().eq_ignore_ascii_case("Originate"))
        .collect()
}

async fn extension(d: &TestDaemon, body: Value) {
    let created = d
        .admin(Method::POST, "/api/v1/extensions", Some(body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

async fn click_to_call_rings_from_then_dials_to_and_hangs_up(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    extension(&d, json!({"extension": "1001", "name": "Alice"})).await;
    extension(&d, json!({"extension": "1002", "name": "Bob"})).await;
    asterisk(&d).add_contact(Contact::registered("1001", 5081));
    let operator = d.token("operator").await;
    let viewer = d.token("viewer").await;
    let (mut ws, _) = Ws::connect(&d.url, &viewer, "types=call,hangup").await;

    let started = d
        .call(
            Method::POST,
            "/api/v1/calls",
            Some(&operator),
            Some(json!({"from": "1001", "to": "1002"})),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let id = started.body["id"].as_str().expect("call id").to_owned();
    assert_eq!(started.body["from"], "1001");
    assert_eq!(started.body["to"], "1002");
    assert_eq!(started.body["channel"], "PJSIP/1001");

    let sent = originates(&d);
    assert_eq!(sent.len(), 1);
    let originate = &sent[0];
    assert_eq!(originate.get("Channel"), Some("PJSIP/1001"));
    assert_eq!(
        originate.get("Context"),
        Some("from-internal"),
        "the caller's own context"
    );
    assert_eq!(originate.get("Exten"), Some("1002"));
    assert_eq!(originate.get("Priority"), Some("1"));
    assert_eq!(originate.get("Async"), Some("true"));
    assert_eq!(originate.get("CallerID"), Some("\"Alice\" <1001>"));
    assert_eq!(
        originate.get("Timeout"),
        Some("30000"),
        "asterisk.dial_timeout_secs"
    );
    let channel_id = originate.get("ChannelId").expect("ChannelId").to_owned();
    assert!(channel_id.starts_with("rayan-"), "{channel_id}");
    assert_eq!(
        originate.get("Variable"),
        Some(format!("RAYAN_CALL_ID={channel_id}").as_str())
    );
    assert!(originate.get("ActionID").is_some());

    // The double answers at once and, unlike Asterisk, ignores ChannelId: the id
    // returned is then the uniqueid of its OriginateResponse, the one events carry.
    assert_eq!(started.body["state"], "answered");
    let answered = ws.json().await;
    assert_eq!(answered["type"], "call");
    assert_eq!(answered["data"]["state"], "answered");
    assert_eq!(
        answered["data"]["linkedid"],
        id.as_str(),
        "events refer to the returned id"
    );
    assert_eq!(
        (
            answered["data"]["from"].as_str(),
            answered["data"]["to"].as_str()
        ),
        (Some("1001"), Some("1002"))
    );
    let live = asterisk(&d).channels();
    assert_eq!(live.len(), 1);
    assert!(live[0].starts_with("PJSIP/1001-"), "{live:?}");

    let hung_up = d
        .call(
            Method::DELETE,
            &format!("/api/v1/calls/{id}"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(hung_up.status, StatusCode::OK, "{}", hung_up.body);
    assert_eq!(hung_up.body, json!({"id": id, "channels": [live[0]]}));
    assert!(asterisk(&d).channels().is_empty());
    let hangup = ws.json().await;
    assert_eq!(
        (hangup["type"].as_str(), hangup["data"]["linkedid"].as_str()),
        (Some("hangup"), Some(id.as_str()))
    );
    assert_eq!(hangup["data"]["cause"], 16);
    let ended = ws.json().await;
    assert_eq!(ended["data"]["state"], "ended");
    assert_eq!(ended["data"]["linkedid"], id.as_str());
    assert_eq!(ended["data"]["disposition"], "ANSWERED");

    let deadline = tokio::time::Instant::now() + crate::support::ws::PATIENCE;
    let listed = loop {
        let listed = d
            .call(
                Method::GET,
                "/api/v1/calls?extension=1001",
                Some(&viewer),
                None,
            )
            .await;
        if listed.body["total"] == 1 || tokio::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    let call = &listed.body["items"][0];
    assert_eq!(
        (call["linkedid"].as_str(), call["disposition"].as_str()),
        (Some(id.as_str()), Some("ANSWERED"))
    );
    assert_eq!(
        (call["from"].as_str(), call["to"].as_str()),
        (Some("1001"), Some("1002"))
    );

    d.call(
        Method::DELETE,
        &format!("/api/v1/calls/{id}"),
        Some(&operator),
        None,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, None);
    let audit = d.admin(Method::GET, "/api/v1/audit", None).await;
    let actions: Vec<(&str, &str)> = audit.body["items"]
        .as_array()
        .expect("audit items")
        .iter()
        .filter(|e| e["object_kind"] == "call")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["object_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("hangup", id.as_str()), ("originate", id.as_str())]
    );
    d.stop().await;
}

async fn refused_calls_never_reach_asterisk(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    extension(&d, json!({"extension": "1001"})).await;
    extension(&d, json!({"extension": "1002"})).await;
    extension(&d, json!({"extension": "1003", "enabled": false})).await;
    asterisk(&d).add_contact(Contact::registered("1001", 5081));
    let operator = d.token("operator").await;
    let viewer = d.token("viewer").await;
    let post = |token: Option<String>, body: Value| {
        let d = &d;
        async move {
            d.call(Method::POST, "/api/v1/calls", token.as_deref(), Some(body))
                .await
        }
    };
    let op = || Some(operator.clone());
    for (body, field) in [
        (json!({"from": "9999", "to": "1002"}), "from"),
        (json!({"from": "1001", "to": "1003"}), "to"),
        (json!({"from": "1003", "to": "1001"}), "from"),
        (json!({"from": "1001", "to": "1001"}), "to"),
        (json!({"from": "1001", "to": ""}), "to"),
        (json!({"from": "1001"}), "to"),
        (json!({"from": "1001", "to": "1002", "via": "x"}), "via"),
    ] {
        post(op(), body.clone())
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let disabled = post(op(), json!({"from": "1001", "to": "1003"})).await;
    assert!(
        disabled.body.to_string().contains("disabled"),
        "{}",
        disabled.body
    );
    post(Some(viewer), json!({"from": "1001", "to": "1002"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, None);
    post(None, json!({"from": "1001", "to": "1002"}))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, None);
    assert!(
        originates(&d).is_empty(),
        "nothing refused reaches Asterisk"
    );

    // 1002 has no contact: Asterisk accepts the originate, then reports it failed (f5).
    let unregistered = post(op(), json!({"from": "1002", "to": "1001"})).await;
    unregistered.assert_problem(StatusCode::CONFLICT, None);
    assert!(
        unregistered.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("1002")),
        "{}",
        unregistered.body
    );
    assert_eq!(originates(&d).len(), 1);

    d.call(
        Method::DELETE,
        "/api/v1/calls/1795279389.99",
        Some(&operator),
        None,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, None);
    d.stop().await;
}

async fn an_unreachable_asterisk_is_503(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    extension(&d, json!({"extension": "1001"})).await;
    extension(&d, json!({"extension": "1002"})).await;
    asterisk(&d).stop();
    let status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    let deadline = tokio::time::Instant::now() + crate::support::ws::PATIENCE;
    let mut status = status;
    while status.body["connected"] != false {
        assert!(
            tokio::time::Instant::now() < deadline,
            "AMI never noticed: {}",
            status.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        status = d.admin(Method::GET, "/api/v1/asterisk/status", None).await;
    }
    let posted = d
        .admin(
            Method::POST,
            "/api/v1/calls",
            Some(json!({"from": "1001", "to": "1002"})),
        )
        .await;
    posted.assert_problem(StatusCode::SERVICE_UNAVAILABLE, None);
    d.admin(Method::DELETE, "/api/v1/calls/1795279389.1", None)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, None);
    d.stop().await;
}

fn record(
    n: u32,
    from: &str,
    to: &str,
    disposition: Disposition,
    start: DateTime<Utc>,
) -> CallRecord {
    let answered = disposition == Disposition::Answered;
    CallRecord {
        uniqueid: format!("1795279363.{n}"),
        linkedid: format!("1795279363.{n}"),
        from: Some(from.into()),
        to: Some(to.into()),
        start,
        answer: answered.then(|| start + Duration::seconds(2)),
        end: start + Duration::seconds(10),
        duration_s: 10,
        billsec: if answered { 8 } else { 0 },
        disposition,
        cause: Some(16),
        cause_text: Some("Normal Clearing".into()),
        source: RecordOrigin::Channels,
    }
}

fn ids(body: &Value) -> Vec<&str> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["uniqueid"].as_str().unwrap_or(""))
        .collect()
}

async fn history_filters_and_pages(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let db = sea_orm::Database::connect(&d.db.url)
        .await
        .expect("database");
    let t0: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().expect("time");
    let records = [
        record(1, "1001", "1002", Disposition::Answered, t0),
        record(
            2,
            "1002",
            "1001",
            Disposition::NoAnswer,
            t0 + Duration::hours(1),
        ),
        record(
            3,
            "1003",
            "1002",
            Disposition::Busy,
            t0 + Duration::hours(2),
        ),
        record(
            4,
            "1001",
            "5551234",
            Disposition::Failed,
            t0 + Duration::hours(3),
        ),
        record(
            5,
            "1004",
            "1003",
            Disposition::Answered,
            t0 + Duration::hours(4),
        ),
    ];
    assert_eq!(
        rayan::store::calls::insert(&db, "pbx1", &records)
            .await
            .expect("insert"),
        5
    );
    assert_eq!(
        rayan::store::calls::insert(&db, "pbx1", &records[..2])
            .await
            .expect("again"),
        0,
        "idempotent"
    );

    let viewer = d.token("viewer").await;
    let get = |query: &str| {
        let path = format!("/api/v1/calls{query}");
        let (d, viewer) = (&d, viewer.clone());
        async move { d.call(Method::GET, &path, Some(&viewer), None).await }
    };
    let all = get("").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["total"], 5);
    assert_eq!(
        ids(&all.body),
        [
            "1795279363.5",
            "1795279363.4",
            "1795279363.3",
            "1795279363.2",
            "1795279363.1"
        ]
    );
    let first = &all.body["items"][4];
    assert_eq!(
        *first,
        json!({"uniqueid": "1795279363.1", "linkedid": "1795279363.1", "node": "pbx1", "from": "1001", "to": "1002",
            "start": "2026-11-21T10:00:00Z", "answer": "2026-11-21T10:00:02Z", "end": "2026-11-21T10:00:10Z",
            "duration_s": 10, "billsec": 8, "disposition": "ANSWERED", "cause": 16, "cause_text": "Normal Clearing"})
    );

    let page = get("?limit=2&offset=1").await;
    assert_eq!(
        (
            page.body["total"].as_u64(),
            page.body["limit"].as_u64(),
            page.body["offset"].as_u64()
        ),
        (Some(5), Some(2), Some(1))
    );
    assert_eq!(ids(&page.body), ["1795279363.4", "1795279363.3"]);
    assert_eq!(
        ids(&get("?extension=1001").await.body),
        ["1795279363.4", "1795279363.2", "1795279363.1"]
    );
    assert_eq!(
        ids(&get("?disposition=no%20answer").await.body),
        ["1795279363.2"]
    );
    assert_eq!(
        ids(
            &get("?since=2026-11-21T11:00:00Z&until=2026-11-21T13:00:00Z")
                .await
                .body
        ),
        ["1795279363.3", "1795279363.2"],
        "since inclusive, until exclusive"
    );
    assert_eq!(
        ids(&get("?extension=1002&disposition=BUSY").await.body),
        ["1795279363.3"]
    );

    get("?disposition=MAYBE")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("disposition"));
    get("?since=yesterday")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("since"));
    get("?since=2026-11-21T12:00:00Z&until=2026-11-21T11:00:00Z")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("until"));
    get("?bogus=1")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, Some("bogus"));
    d.call(Method::GET, "/api/v1/calls", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, None);
    d.stop().await;
}

async fn openapi_documents_the_stream_and_calls(backend: Backend) {
    let d = TestDaemon::start(backend).await;
    let doc = d.admin(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    for (path, method) in [
        ("/api/v1/events", "get"),
        ("/api/v1/calls", "get"),
        ("/api/v1/calls", "post"),
        ("/api/v1/calls/{id}", "delete"),
    ] {
        assert!(
            doc.body["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let stream = &doc.body["paths"]["/api/v1/events"]["get"];
    assert!(stream["responses"]["101"].is_object(), "{stream}");
    let params: Vec<&str> = stream["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(params, ["types", "endpoints", "since", "token"]);
    for schema in ["CallView", "NewCall", "CallStarted", "CallHungUp"] {
        assert!(
            doc.body["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    d.stop().await;
}
