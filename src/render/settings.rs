//! The node-level choices the renderer needs that are not stored per object.

use serde::{Deserialize, Serialize};

/// Settings for rendering. Transport names are those of the `type=transport` sections the
/// administrator keeps in `pjsip.conf` (transports are not reloadable, so rayan never
/// writes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RenderSettings {
    /// Named in `transport=` of UDP extensions, trunks and registrations; `None` lets
    /// Asterisk pick the first transport of the right protocol.
    pub udp_transport: Option<String>,
    /// Named in `transport=` of WebRTC extensions; `None` lets Asterisk pick.
    pub wss_transport: Option<String>,
    /// Ring time of an internal call, the `30` in `Dial(PJSIP/1001,30)`.
    pub dial_timeout_secs: u32,
    /// Blocked addresses go into pjsip.conf as an ACL; with Kamailio in front
    /// they go into Kamailio's address list instead.
    pub blocklist_in_asterisk: bool,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            udp_transport: Some("transport-udp".to_owned()),
            wss_transport: None,
            dial_timeout_secs: 30,
            blocklist_in_asterisk: true,
        }
    }
}

impl From<&crate::config::Settings> for RenderSettings {
    /// The renderer's node-level choices from the daemon's settings.
    fn from(settings: &crate::config::Settings) -> Self {
        let a = &settings.asterisk;
        RenderSettings {
            udp_transport: a.udp_transport.clone().filter(|t| !t.is_empty()),
            wss_transport: a.wss_transport.clone().filter(|t| !t.is_empty()),
            dial_timeout_secs: a.dial_timeout_secs,
            blocklist_in_asterisk: settings.kamailio.is_none(),
        }
    }
}
