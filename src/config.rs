//! The daemon's settings: a TOML file, overridden by `RAYAN_*` environment
//! variables, validated once at start so a bad value fails early and names its key.
//!
//! Environment names are the key path in upper case joined by `_`:
//! `RAYAN_LISTEN`, `RAYAN_DATABASE_URL`, `RAYAN_ASTERISK_AMI_ADDR`,
//! `RAYAN_KAMAILIO_RPC_URL`, `RAYAN_APPLY_DEBOUNCE_MS`, ...

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `rayand` writes its URL in the state dir, for `rayan-ctl` on the same host.
pub const URL_FILE: &str = "rayand.url";
/// Where `rayand` writes the first admin token in the state dir (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::extension::NumberPolicy;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Every setting of `rayand`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// HTTP listen address; loopback only unless changed.
    pub listen: String,
    /// `postgres://…` or `sqlite://…`. Empty: SQLite in `state_dir`.
    pub database_url: String,
    /// Where rayand keeps its SQLite file, admin token, keys, backups and lock.
    pub state_dir: PathBuf,
    /// This node's name, as it appears in events and in the nodes table.
    pub node: String,
    /// `info`, `debug`, or any `tracing` filter.
    pub log_level: String,
    /// `text` (journald-friendly) or `json`.
    pub log_format: String,
    /// Origins allowed to call the API from a browser (the web UI).
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Extra provider templates (`*.toml`) beside the ones built into rayan; a file may
    /// replace a built-in template by using its id. `None`: only the built-in ones.
    pub provider_templates_dir: Option<PathBuf>,
    pub http: HttpSettings,
    pub extensions: ExtensionSettings,
    pub apply: ApplySettings,
    pub events: EventSettings,
    pub asterisk: AsteriskSettings,
    pub kamailio: Option<KamailioSettings>,
    pub cluster: ClusterSettings,
    pub security: SecuritySettings,
}

/// What rayan does with Asterisk's security events: it always counts failed
/// attempts per source address; with `blocking` it also blocks a source that
/// fails `max_failures` times within `window_secs`, for `block_secs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Off by default: a wrongly typed password on a phone behind the office's
    /// NAT would otherwise lock the whole office out.
    pub blocking: bool,
    pub max_failures: u32,
    pub window_secs: u64,
    /// How long a block lasts; 0 keeps it until an admin lifts it.
    pub block_secs: u64,
    /// Addresses and networks never blocked, besides 127.0.0.1, ::1 and the
    /// host's own addresses.
    pub never_block: Vec<ipnet::IpNet>,
    /// Source addresses counted at once; the least recently seen is forgotten
    /// first, so memory stays bounded under a distributed attack.
    pub max_tracked_sources: usize,
    /// Automatic blocks in force at most: every one is a line Asterisk (or
    /// Kamailio) checks for each request, and a reload. Beyond it sources are
    /// still counted and reported, not blocked. Admins' own blocks are not capped.
    pub max_blocked: usize,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            blocking: false,
            max_failures: 10,
            window_secs: 300,
            block_secs: 3_600,
            never_block: Vec::new(),
            max_tracked_sources: 10_000,
            max_blocked: 1_000,
        }
    }
}

impl SecuritySettings {
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }
}

/// Several nodes on one PostgreSQL: how they keep track of each other.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// How often a node says it is alive, with its Asterisk's state.
    pub heartbeat_ms: u64,
    /// A node not heard from this long counts as down: Kamailio stops sending it
    /// calls and writes stop waiting for it.
    pub node_timeout_ms: u64,
    /// How often a node compares what it applied with the database, besides the
    /// change announcements (which can be lost).
    pub check_interval_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            heartbeat_ms: 2_000,
            node_timeout_ms: 6_000,
            check_interval_ms: 30_000,
        }
    }
}

impl ClusterSettings {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms)
    }

    pub fn check_interval(&self) -> Duration {
        Duration::from_millis(self.check_interval_ms)
    }
}

/// How the HTTP listener treats its connections: slow or silent clients must not
/// hold the daemon's memory and file descriptors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Connections open at once (event streams included). At the limit a new
    /// connection takes the place of the longest-open one that has no request
    /// running; with none such it is answered 503. The open-file limit may lower it.
    pub max_connections: usize,
    /// Once the first byte of a request arrived, its head (request line and
    /// headers) must be complete within this many milliseconds; its body may not
    /// pause for longer either.
    pub header_read_timeout_ms: u64,
    /// A connection that sends no request this long, whether new or kept alive
    /// after a response, is closed. Event streams have their own timer.
    pub idle_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtensionSettings {
    pub number_min_len: usize,
    pub number_max_len: usize,
    /// Digest realm for extension credentials (must match what phones are challenged with).
    pub realm: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplySettings {
    /// During a burst of writes, the worker applies once no write has come for
    /// this long, so that the burst becomes one apply. A write on an idle
    /// system is applied at once.
    pub debounce_ms: u64,
    /// The longest a write waits for its burst to pause.
    pub max_delay_ms: u64,
    /// How long a REST write waits for its apply before answering `pending`.
    pub wait_ms: u64,
}

/// How the apply worker turns a burst of writes into one apply.
#[derive(Debug, Clone, Copy)]
pub struct Debounce {
    pub quiet: Duration,
    pub max_delay: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSettings {
    /// Events kept for `?since=` resumption.
    pub ring_size: usize,
    /// Events queued per subscriber before it is told it lagged.
    pub subscriber_queue: usize,
    /// How often each WebSocket subscriber is pinged, in milliseconds.
    pub ping_interval_ms: u64,
    /// A subscriber that sent nothing, not even a pong, for this long is closed.
    pub idle_timeout_ms: u64,
    /// While events keep coming, each subscriber's socket is written at most once
    /// per this many milliseconds, with everything that arrived meanwhile; an
    /// event after a quiet spell goes out at once. 0 writes each event on its own.
    pub write_delay_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsteriskSettings {
    /// Directory holding `pjsip.conf` and `extensions.conf`.
    pub config_dir: PathBuf,
    pub ami_addr: String,
    pub ami_user: String,
    pub ami_secret: Option<String>,
    pub ami_secret_file: Option<PathBuf>,
    /// Per-action timeout, in milliseconds.
    pub action_timeout_ms: u64,
    /// The `type=transport` section UDP endpoints use; empty: Asterisk picks.
    pub udp_transport: Option<String>,
    /// The `type=transport` section WebRTC endpoints use; empty: Asterisk picks.
    pub wss_transport: Option<String>,
    /// Ring time of internal calls, in seconds.
    pub dial_timeout_secs: u32,
    /// Previous versions of each managed file kept as backups.
    pub keep_backups: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KamailioSettings {
    pub rpc_url: String,
    pub dispatcher_list: PathBuf,
    pub address_list: PathBuf,
    /// This node's SIP address for dispatcher set 1 (`sip:<IP>[:port]`); unset:
    /// the node is registered without one and is not put in set 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_sip_uri: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let state_dir = PathBuf::from("state");
        Self {
            listen: "127.0.0.1:8088".into(),
            database_url: String::new(),
            asterisk: AsteriskSettings {
                config_dir: state_dir.join("asterisk"),
                ..Default::default()
            },
            state_dir,
            node: default_node_name(),
            log_level: "info".into(),
            log_format: "text".into(),
            cors_origins: Vec::new(),
            max_body_bytes: 1024 * 1024,
            provider_templates_dir: None,
            http: HttpSettings::default(),
            extensions: ExtensionSettings::default(),
            apply: ApplySettings::default(),
            cluster: ClusterSettings::default(),
            events: EventSettings::default(),
            kamailio: None,
            security: SecuritySettings::default(),
        }
    }
}

/// Far above what a web UI, `rayan-ctl` and a thousand event subscribers use,
/// and what the shipped unit's `LimitNOFILE` has room for.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;
const MAX_CONNECTIONS_CEILING: usize = 1_000_000;
const HTTP_TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=3_600_000;

impl Default for HttpSettings {
    fn default() -> Self {
        // A real client sends a request head in one packet; a browser whose kept-alive
        // connection was closed opens a new one for its next request.
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
        }
    }
}

impl Default for ExtensionSettings {
    fn default() -> Self {
        let policy = NumberPolicy::default();
        Self {
            number_min_len: policy.min_len,
            number_max_len: policy.max_len,
            realm: crate::model::extension::DEFAULT_REALM.into(),
        }
    }
}

impl Default for ApplySettings {
    fn default() -> Self {
        Self {
            debounce_ms: 50,
            max_delay_ms: 1_000,
            wait_ms: 10_000,
        }
    }
}

/// See [`EventSettings::write_delay_ms`]. With 1,000 subscribers of 2,000 events
/// a second on two cores, 12 ms keeps the 99th percentile of delivery within
/// 15 ms; 10 ms spends so much more CPU on writes that the tail grows past what
/// the shorter wait saves, and 15 ms saves CPU for a tail about 17.5 ms.
pub const DEFAULT_WRITE_DELAY_MS: u64 = 12;
const MAX_WRITE_DELAY_MS: u64 = 1_000;

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            ring_size: 10_000,
            subscriber_queue: 1_024,
            ping_interval_ms: 20_000,
            idle_timeout_ms: 60_000,
            write_delay_ms: DEFAULT_WRITE_DELAY_MS,
        }
    }
}

impl Default for AsteriskSettings {
    fn default() -> Self {
        Self {
            config_dir: PathBuf::from("state/asterisk"),
            ami_addr: "127.0.0.1:5038".into(),
            ami_user: "rayan".into(),
            ami_secret: None,
            ami_secret_file: None,
            action_timeout_ms: 30_000,
            udp_transport: Some("transport-udp".into()),
            wss_transport: None,
            dial_timeout_secs: 30,
            keep_backups: 5,
        }
    }
}

fn default_node_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && crate::model::safe::is_plain_identifier(s, 63))
        .unwrap_or_else(|| "pbx1".into())
}

/// Sections whose keys can be set as `RAYAN_<SECTION>_<KEY>`.
const SECTIONS: &[&str] = &[
    "http",
    "extensions",
    "apply",
    "events",
    "asterisk",
    "kamailio",
    "cluster",
];

impl Settings {
    /// Reads `path` (if any), applies `RAYAN_*` overrides from `env`, and validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax {
                        path: path.to_owned(),
                        message: e.message().to_owned(),
                    })?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env);
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                ConfigError::invalid(
                    if key == "." { "(root)" } else { &key },
                    e.into_inner().to_string(),
                )
            })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: addresses, URLs, ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen.parse::<SocketAddr>().map_err(|e| {
            ConfigError::invalid(
                "listen",
                format!("'{}' is not an address:port ({e})", self.listen),
            )
        })?;
        let url = self.database_url.as_str();
        if !(url.is_empty()
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(ConfigError::invalid(
                "database_url",
                "must start with postgres:// or sqlite://",
            ));
        }
        if !crate::model::safe::is_plain_identifier(&self.node, 63) {
            return Err(ConfigError::invalid(
                "node",
                "must be 1 to 63 letters, digits, '_', '-', '.'",
            ));
        }
        let security = &self.security;
        if security.max_failures == 0 || security.max_failures > 10_000 {
            return Err(ConfigError::invalid(
                "security.max_failures",
                "must be 1 to 10000",
            ));
        }
        if !(1..=86_400).contains(&security.window_secs) {
            return Err(ConfigError::invalid(
                "security.window_secs",
                "must be 1 to 86400",
            ));
        }
        if !(100..=10_000_000).contains(&security.max_tracked_sources) {
            return Err(ConfigError::invalid(
                "security.max_tracked_sources",
                "must be 100 to 10000000",
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::invalid(
                "log_format",
                "must be \"text\" or \"json\"",
            ));
        }
        if self
            .log_level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(ConfigError::invalid(
                "log_level",
                format!("'{}' is not a log filter", self.log_level),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "max_body_bytes",
                "must be at least 1024",
            ));
        }
        let cluster = &self.cluster;
        for (key, value) in [
            ("cluster.heartbeat_ms", cluster.heartbeat_ms),
            ("cluster.check_interval_ms", cluster.check_interval_ms),
        ] {
            if !(100..=3_600_000).contains(&value) {
                return Err(ConfigError::invalid(key, "must be 100 to 3600000"));
            }
        }
        if cluster.node_timeout_ms < 2 * cluster.heartbeat_ms {
            return Err(ConfigError::invalid(
                "cluster.node_timeout_ms",
                "must be at least twice cluster.heartbeat_ms",
            ));
        }
        let http = &self.http;
        if !(1..=MAX_CONNECTIONS_CEILING).contains(&http.max_connections) {
            return Err(ConfigError::invalid(
                "http.max_connections",
                "must be 1 to 1000000",
            ));
        }
        for (key, value) in [
            ("http.header_read_timeout_ms", http.header_read_timeout_ms),
            ("http.idle_timeout_ms", http.idle_timeout_ms),
        ] {
            if !HTTP_TIMEOUT_RANGE_MS.contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    "must be 100 to 3600000 (one hour)",
                ));
            }
        }
        let ext = &self.extensions;
        if ext.number_min_len == 0
            || ext.number_min_len > ext.number_max_len
            || ext.number_max_len > 20
        {
            return Err(ConfigError::invalid(
                "extensions.number_min_len",
                "need 1 <= number_min_len <= number_max_len <= 20",
            ));
        }
        if crate::model::safe::check_config_value(&ext.realm).is_err() || ext.realm.is_empty() {
            return Err(ConfigError::invalid(
                "extensions.realm",
                "must be a non-empty single-line value",
            ));
        }
        if self.events.ring_size == 0 || self.events.subscriber_queue == 0 {
            return Err(ConfigError::invalid(
                "events.ring_size",
                "ring_size and subscriber_queue must be positive",
            ));
        }
        if self.events.ping_interval_ms == 0
            || self.events.idle_timeout_ms <= self.events.ping_interval_ms
        {
            return Err(ConfigError::invalid(
                "events.idle_timeout_ms",
                "need 0 < ping_interval_ms < idle_timeout_ms",
            ));
        }
        if self.events.write_delay_ms > MAX_WRITE_DELAY_MS {
            return Err(ConfigError::invalid(
                "events.write_delay_ms",
                "at most 1000 (one second)",
            ));
        }
        let ast = &self.asterisk;
        if !ast.ami_addr.contains(':') {
            return Err(ConfigError::invalid(
                "asterisk.ami_addr",
                "must be host:port",
            ));
        }
        if ast.ami_secret.is_some() && ast.ami_secret_file.is_some() {
            return Err(ConfigError::invalid(
                "asterisk.ami_secret",
                "set ami_secret or ami_secret_file, not both",
            ));
        }
        if let Some(k) = &self.kamailio {
            if !(k.rpc_url.starts_with("http://") || k.rpc_url.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    "kamailio.rpc_url",
                    "must be an http:// or https:// URL",
                ));
            }
            if let Some(uri) = &k.node_sip_uri {
                crate::model::kamailio::canonical_sip_uri(uri)
                    .map_err(|reason| ConfigError::invalid("kamailio.node_sip_uri", reason))?;
            }
        }
        Ok(())
    }

    /// The database URL to use: the configured one, or SQLite in the state dir.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.state_dir.join("rayan.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }

    pub fn number_policy(&self) -> NumberPolicy {
        NumberPolicy {
            min_len: self.extensions.number_min_len,
            max_len: self.extensions.number_max_len,
        }
    }

    pub fn apply_debounce(&self) -> Debounce {
        Debounce {
            quiet: Duration::from_millis(self.apply.debounce_ms),
            max_delay: Duration::from_millis(self.apply.max_delay_ms.max(self.apply.debounce_ms)),
        }
    }

    pub fn apply_wait(&self) -> Duration {
        Duration::from_millis(self.apply.wait_ms)
    }

    /// Reads the AMI secret from the setting or the secret file.
    pub fn ami_secret(&self) -> Result<String, ConfigError> {
        match (&self.asterisk.ami_secret, &self.asterisk.ami_secret_file) {
            (Some(secret), _) => Ok(secret.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|e| {
                    ConfigError::invalid(
                        "asterisk.ami_secret_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                }),
            (None, None) => Ok(String::new()),
        }
    }

    /// Creates the state dir, and the Asterisk config dir when it is the default one
    /// inside the state dir; a configured Asterisk dir that is missing is an error.
    pub fn prepare_dirs(&self) -> Result<(), ConfigError> {
        std::fs::create_dir_all(&self.state_dir).map_err(|e| {
            ConfigError::invalid(
                "state_dir",
                format!("cannot create {}: {e}", self.state_dir.display()),
            )
        })?;
        let config_dir = &self.asterisk.config_dir;
        if config_dir.starts_with(&self.state_dir) {
            std::fs::create_dir_all(config_dir).map_err(|e| {
                ConfigError::invalid(
                    "asterisk.config_dir",
                    format!("cannot create {}: {e}", config_dir.display()),
                )
            })?;
        } else if !config_dir.is_dir() {
            return Err(ConfigError::invalid(
                "asterisk.config_dir",
                format!(
                    "{} does not exist or is not a directory",
                    config_dir.display()
                ),
            ));
        }
        self.ami_secret()?;
        Ok(())
    }
}

/// Settings a SIGHUP applies without a restart; every other key is read once at start.
pub const RUNTIME_KEYS: &[&str] = &["log_level", "cors_origins"];

/// The keys whose values differ between two loads of the settings (names only,
/// never values: some are secrets), split by whether they can change at run time.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SettingsChanges {
    pub runtime: Vec<String>,
    pub need_restart: Vec<String>,
}

impl Settings {
    /// What differs in `new`, key by key (`asterisk.ami_addr`, `cors_origins`, ...).
    pub fn changes_to(&self, new: &Settings) -> SettingsChanges {
        let (old, new) = (flatten_settings(self), flatten_settings(new));
        let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        let (runtime, need_restart) = keys
            .into_iter()
            .filter(|key| old.get(*key) != new.get(*key))
            .cloned()
            .partition(|key| RUNTIME_KEYS.contains(&key.as_str()));
        SettingsChanges {
            runtime,
            need_restart,
        }
    }
}

/// The settings as dotted keys and leaf values (`asterisk.config_dir` → "/etc/asterisk").
fn flatten_settings(settings: &Settings) -> std::collections::BTreeMap<String, serde_json::Value> {
    fn walk(
        prefix: &str,
        value: serde_json::Value,
        out: &mut std::collections::BTreeMap<String, serde_json::Value>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, value, out);
                }
            }
            // `kamailio = None` and a missing section are the same setting.
            serde_json::Value::Null => {}
            leaf => {
                out.insert(prefix.to_owned(), leaf);
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(
        "",
        serde_json::to_value(settings).unwrap_or_default(),
        &mut out,
    );
    out
}

/// Folds `RAYAN_*` variables into the TOML table. A value is read as TOML when it
/// parses as a number, boolean or array, and as a string otherwise.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("RAYAN_") else {
            continue;
        };
        let rest = rest.to_ascii_lowercase();
        // rayan-ctl's own variables, not settings.
        if matches!(rest.as_str(), "url" | "token" | "config") {
            continue;
        }
        let value = parse_env_value(&raw);
        let section = SECTIONS.iter().find(|s| rest.starts_with(&format!("{s}_")));
        match section {
            Some(section) => {
                let key = rest[section.len() + 1..].to_owned();
                let entry = table
                    .entry(section.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(inner) = entry {
                    inner.insert(key, value);
                }
            }
            None => {
                table.insert(rest, value);
            }
        }
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !matches!(v, toml::Value::Table(_) | toml::Value::Datetime(_)))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_loopback_only() {
        let s = Settings::load(None, vec![]).expect("defaults");
        assert!(s.listen.starts_with("127.0.0.1:"));
        assert!(s.effective_database_url().starts_with("sqlite://"));
        assert_eq!(s.asterisk.ami_addr, "127.0.0.1:5038");
        assert!(s.kamailio.is_none());
        assert_eq!(s.events.write_delay_ms, DEFAULT_WRITE_DELAY_MS);
        assert_eq!(s.http.max_connections, DEFAULT_MAX_CONNECTIONS);
    }

    #[test]
    fn http_limits_come_from_the_environment() {
        let s = Settings::load(
            None,
            env(&[
                ("RAYAN_HTTP_MAX_CONNECTIONS", "64"),
                ("RAYAN_HTTP_HEADER_READ_TIMEOUT_MS", "500"),
            ]),
        )
        .unwrap();
        assert_eq!(s.http.max_connections, 64);
        assert_eq!(s.http.header_read_timeout_ms, 500);
        assert_eq!(s.http.idle_timeout_ms, 30_000);
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rayand.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\n[asterisk]\nami_addr = \"10.0.0.1:5038\"\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&path),
            env(&[
                ("RAYAN_ASTERISK_AMI_ADDR", "10.0.0.2:5038"),
                ("RAYAN_APPLY_DEBOUNCE_MS", "75"),
                ("RAYAN_NODE", "pbx7"),
                ("RAYAN_CLUSTER_HEARTBEAT_MS", "500"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000");
        assert_eq!(s.asterisk.ami_addr, "10.0.0.2:5038");
        assert_eq!(s.apply.debounce_ms, 75);
        assert_eq!(s.node, "pbx7");
        assert_eq!(s.cluster.heartbeat_ms, 500);
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("RAYAN_LISTEN", "nowhere")], "listen"),
            (&[("RAYAN_APPLY_DEBOUNCE_MS", "soon")], "apply.debounce_ms"),
            (&[("RAYAN_DATABASE_URL", "mysql://x")], "database_url"),
            (&[("RAYAN_ASTERISK_AMI_PORT", "5038")], "asterisk"),
            (&[("RAYAN_KAMAILIO_RPC_URL", "ftp://x")], "kamailio"),
            (
                &[("RAYAN_EVENTS_WRITE_DELAY_MS", "5000")],
                "events.write_delay_ms",
            ),
            (
                &[("RAYAN_HTTP_MAX_CONNECTIONS", "0")],
                "http.max_connections",
            ),
            (
                &[("RAYAN_HTTP_HEADER_READ_TIMEOUT_MS", "0")],
                "http.header_read_timeout_ms",
            ),
            (
                &[("RAYAN_HTTP_IDLE_TIMEOUT_MS", "many")],
                "http.idle_timeout_ms",
            ),
        ];
        for (vars, key) in cases {
            let err = Settings::load(None, env(vars))
                .expect_err("must fail")
                .to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn changes_name_keys_and_split_runtime_from_restart() {
        let old = Settings::load(None, vec![]).unwrap();
        let new = Settings::load(
            None,
            env(&[
                ("RAYAN_LOG_LEVEL", "debug"),
                ("RAYAN_CORS_ORIGINS", "[\"https://ui.example\"]"),
                ("RAYAN_LISTEN", "127.0.0.1:9999"),
                ("RAYAN_ASTERISK_AMI_SECRET", "s3cret"),
                ("RAYAN_KAMAILIO_RPC_URL", "http://127.0.0.1:5071/RPC"),
                (
                    "RAYAN_KAMAILIO_DISPATCHER_LIST",
                    "/etc/kamailio/dispatcher.list",
                ),
                ("RAYAN_KAMAILIO_ADDRESS_LIST", "/etc/kamailio/address.list"),
            ]),
        )
        .unwrap();
        let changes = old.changes_to(&new);
        assert_eq!(changes.runtime, ["cors_origins", "log_level"]);
        assert_eq!(
            changes.need_restart,
            [
                "asterisk.ami_secret",
                "kamailio.address_list",
                "kamailio.dispatcher_list",
                "kamailio.rpc_url",
                "listen"
            ]
        );
        assert_eq!(new.changes_to(&new), SettingsChanges::default());
    }

    #[test]
    fn kamailio_section_enables_kamailio() {
        let s = Settings::load(
            None,
            env(&[
                ("RAYAN_KAMAILIO_RPC_URL", "http://127.0.0.1:5071/RPC"),
                (
                    "RAYAN_KAMAILIO_DISPATCHER_LIST",
                    "/etc/kamailio/dispatcher.list",
                ),
                ("RAYAN_KAMAILIO_ADDRESS_LIST", "/etc/kamailio/address.list"),
            ]),
        )
        .unwrap();
        assert_eq!(s.kamailio.unwrap().rpc_url, "http://127.0.0.1:5071/RPC");
    }
}
