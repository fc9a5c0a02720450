//! Trunks: a connection to a SIP provider, built from a provider template.

use chrono::{DateTime, Utc};

/// A trunk as the renderer sees it: the secret is already decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    pub id: i64,
    /// Section base name in pjsip.conf, e.g. `telnyx_main`.
    pub name: String,
    /// Provider template id, e.g. `telnyx`.
    pub provider: String,
    pub username: Option<String>,
    /// Plain text, only ever in memory and in the rendered file.
    pub password: Option<String>,
    /// Overrides the template's default server.
    pub server: Option<String>,
    pub port: Option<u16>,
    /// The number the provider delivers calls to, e.g. `+15551234567`.
    pub did: Option<String>,
    /// Context inbound calls from this trunk land in.
    pub context: String,
    /// `None`: the template's default codecs.
    pub codecs: Option<Vec<String>>,
    /// Provider addresses (IP or CIDR) for IP-authenticated trunks.
    pub match_addresses: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
