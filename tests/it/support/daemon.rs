//! Starts the real daemon on port 0 against a real database, and talks to it.

use std::path::PathBuf;

use rayan::config::Settings;
use rayan::daemon::Daemon;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::asterisk::{AsteriskDouble, DoubleConfig};
use super::db::{Backend, TestDb};

/// The transport an administrator keeps by hand in pjsip.conf; the extension
/// templates name it.
pub const HAND_WRITTEN_PJSIP: &str = "; written by the administrator\n[transport-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n";

/// The settings of an Asterisk double reading the daemon's files and checking
/// options against rayan's own table of PJSIP options.
pub fn double_config(config_dir: &std::path::Path) -> DoubleConfig {
    DoubleConfig {
        pjsip_conf: Some(config_dir.join("pjsip.conf")),
        extensions_conf: Some(config_dir.join("extensions.conf")),
        login_failure_delay: std::time::Duration::from_millis(50),
        // rayan's option catalog, plus res_pjsip_acl's `type=acl` options
        // (res_pjsip_acl.c registers exactly these).
        option_validator: std::sync::Arc::new(|kind: &str, option: &str| {
            (kind == "acl"
                && [
                    "permit",
                    "deny",
                    "acl",
                    "contact_permit",
                    "contact_deny",
                    "contact_acl",
                ]
                .contains(&option))
                || rayan::templates::is_valid_option(kind, option)
        }),
        ..DoubleConfig::default()
    }
}

pub async fn asterisk_for(config_dir: &std::path::Path) -> AsteriskDouble {
    AsteriskDouble::start(double_config(config_dir)).await
}

/// Which Asterisk a test daemon runs beside.
pub enum Asterisk {
    /// None: AMI is unreachable.
    Down,
    /// A double reading the daemon's files.
    Double,
    /// A double with adjusted settings.
    Custom(Box<dyn FnOnce(&mut DoubleConfig)>),
    /// A double whose AMI user `rayan` has another secret: every login is refused.
    RefusesLogin,
}

pub struct TestDaemon {
    pub daemon: Option<Daemon>,
    pub asterisk: Option<AsteriskDouble>,
    pub url: String,
    pub admin_token: String,
    pub state_dir: PathBuf,
    pub db: TestDb,
    pub http: reqwest::Client,
    /// What the daemon was started with, for [`TestDaemon::restart`].
    settings: Settings,
    _dir: tempfile::TempDir,
}

/// Settings for a test daemon: loopback port 0, a temp state dir, the given database.
/// Copies the import corpus `name` (`tests/fixtures/import/<name>`) into `dir`.
pub fn install_corpus(name: &str, dir: &std::path::Path) {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name);
    for entry in std::fs::read_dir(corpus).expect("corpus") {
        let entry = entry.expect("corpus entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
}

pub fn test_settings(dir: &std::path::Path, db_url: &str) -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: db_url.to_owned(),
        state_dir: dir.join("state"),
        ..Settings::default()
    };
    settings.asterisk.config_dir = settings.state_dir.join("asterisk");
    settings.node = "test1".into();
    settings.max_body_bytes = 64 * 1024;
    settings.apply.wait_ms = 10_000;
    settings.asterisk.ami_secret = Some("rayan-secret".into());
    // Nothing listens on port 9 unless a test starts an Asterisk double.
    settings.asterisk.ami_addr = "127.0.0.1:9".into();
    settings
}

impl TestDaemon {
    /// A daemon beside an Asterisk double, ready: AMI connected and the first apply done.
    pub async fn start(backend: Backend) -> TestDaemon {
        Self::start_with(backend, Asterisk::Double, |_| {}).await
    }

    /// A daemon whose Asterisk is down.
    pub async fn start_without_asterisk(backend: Backend) -> TestDaemon {
        Self::start_with(backend, Asterisk::Down, |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        asterisk: Asterisk,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestDaemon {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = test_settings(dir.path(), &db.url);
        std::fs::create_dir_all(&settings.asterisk.config_dir).expect("config dir");
        std::fs::write(
            settings.asterisk.config_dir.join("pjsip.conf"),
            HAND_WRITTEN_PJSIP,
        )
        .expect("pjsip.conf");
        let mut config = double_config(&settings.asterisk.config_dir);
        let settle = matches!(asterisk, Asterisk::Double | Asterisk::Custom(_));
        let asterisk = match asterisk {
            Asterisk::Down => None,
            Asterisk::RefusesLogin => {
                config.secret = "not-the-daemons-secret".into();
                Some(AsteriskDouble::start(config).await)
            }
            Asterisk::Double => Some(AsteriskDouble::start(config).await),
            Asterisk::Custom(adjust) => {
                adjust(&mut config);
                Some(AsteriskDouble::start(config).await)
            }
        };
        if let Some(double) = &asterisk {
            settings.asterisk.ami_addr = double.addr().to_string();
        }
        adjust(&mut settings);
        let state_dir = settings.state_dir.clone();
        let daemon = Daemon::start(settings.clone())
            .await
            .expect("daemon starts");
        let admin_token = std::fs::read_to_string(state_dir.join("admin.token"))
            .expect("admin token")
            .trim()
            .to_owned();
        let d = TestDaemon {
            url: daemon.url(),
            daemon: Some(daemon),
            asterisk,
            admin_token,
            state_dir,
            db,
            http: reqwest::Client::new(),
            settings,
            _dir: dir,
        };
        if settle {
            d.wait_until_settled().await;
        }
        d
    }

    /// A daemon beside a double whose config directory `fill` writes first
    /// (the double reads it at start, as Asterisk would), with `adjust`ed settings.
    pub async fn start_over(
        backend: Backend,
        fill: impl FnOnce(&std::path::Path) + Send + 'static,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestDaemon {
        Self::start_with(
            backend,
            Asterisk::Custom(Box::new(move |config| {
                let dir = config
                    .pjsip_conf
                    .as_ref()
                    .and_then(|p| p.parent())
                    .expect("the double reads a pjsip.conf")
                    .to_owned();
                std::fs::create_dir_all(&dir).expect("config dir");
                fill(&dir);
            })),
            adjust,
        )
        .await
    }

    /// Waits until AMI is connected and no apply is pending.
    pub async fn wait_until_settled(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let status = self
                .admin(Method::GET, "/api/v1/asterisk/status", None)
                .await;
            let settled = status.body["connected"] == true
                && status.body["events_connected"] == true
                && status.body["pending"] == false
                && status.body["last_apply"].is_object();
            if settled {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "daemon never settled: {}",
                status.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.state_dir.join("asterisk")
    }

    /// The managed block `id` of pjsip.conf (e.g. `Extension 1001`), as written now.
    pub fn pjsip_block(&self, id: &str) -> String {
        let pjsip =
            std::fs::read_to_string(self.config_dir().join("pjsip.conf")).expect("pjsip.conf");
        pjsip
            .split(&format!("; BEGIN MANAGED - {id}\n"))
            .nth(1)
            .and_then(|rest| rest.split("; END MANAGED").next())
            .unwrap_or_else(|| panic!("no block {id} in {pjsip}"))
            .to_owned()
    }

    /// Sends a JSON request with `token`; returns status, content type and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        Response::read(resp).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call(method, path, Some(&self.admin_token.clone()), body)
            .await
    }

    /// Creates extension `number` (password `S3cret-pass`) and answers the
    /// created view, failing the test unless it was created.
    pub async fn create_extension(&self, number: &str) -> Value {
        let created = self
            .admin(
                Method::POST,
                "/api/v1/extensions",
                Some(serde_json::json!({"extension": number, "name": format!("Phone {number}"), "password": "S3cret-pass"})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        created.body
    }

    /// Enables or disables extension `number`; answers the view.
    pub async fn set_enabled(&self, number: &str, enabled: bool) -> Value {
        let changed = self
            .admin(
                Method::PATCH,
                &format!("/api/v1/extensions/{number}"),
                Some(serde_json::json!({"enabled": enabled})),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        changed.body
    }

    /// Creates a token with `role` and returns it.
    pub async fn token(&self, role: &str) -> String {
        let resp = self
            .admin(
                Method::POST,
                "/api/v1/tokens",
                Some(serde_json::json!({"role": role})),
            )
            .await;
        assert_eq!(resp.status, StatusCode::CREATED, "{:?}", resp.body);
        resp.body["token"].as_str().expect("token").to_owned()
    }

    /// Stops the daemon and starts it again with the same settings, database and
    /// Asterisk double (a new port: `url` changes).
    pub async fn restart(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await.expect("clean stop");
        }
        let daemon = Daemon::start(self.settings.clone())
            .await
            .expect("daemon restarts");
        self.url = daemon.url();
        self.daemon = Some(daemon);
    }

    pub async fn stop(mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop().await.expect("clean stop");
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Response {
    pub async fn read(resp: reqwest::Response) -> Response {
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Response {
            status,
            content_type,
            body,
        }
    }

    /// Asserts a problem+json answer with `status`, naming `field` if given.
    pub fn assert_problem(&self, status: StatusCode, field: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16());
        assert!(self.body["detail"].is_string());
        if let Some(field) = field {
            let errors = self.body["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("no errors in {}", self.body));
            assert!(
                errors.iter().any(|e| e["field"] == field),
                "expected an error on {field}: {}",
                self.body
            );
        }
    }
}
