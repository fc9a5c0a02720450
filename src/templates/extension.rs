//! The catalogue of extension templates (`GET /api/v1/extension-templates`).
//!
//! The section text of each template is an askama template in `templates/`
//! (`pjsip_extension_<id>.conf`); the renderer takes the defaults below from here, so a
//! default is written down once.

use std::sync::LazyLock;

use serde::Serialize;
use utoipa::ToSchema;

/// Which transport setting an extension template names in `transport=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateTransport {
    /// The UDP transport (`RenderSettings::udp_transport`).
    Udp,
    /// The secure WebSocket transport (`RenderSettings::wss_transport`).
    Wss,
}

/// One extension template: what it is for and the defaults an extension gets from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExtensionTemplate {
    /// The id an extension names in its `template` field.
    #[schema(example = "basic")]
    pub id: String,
    #[schema(example = "Basic desk phone")]
    pub name: String,
    pub description: String,
    /// `allow=` when the extension sets no codecs, in order of preference.
    #[schema(example = json!(["ulaw", "alaw"]))]
    pub default_codecs: Vec<String>,
    /// `max_contacts` when the extension sets none.
    pub default_max_contacts: u32,
    pub transport: TemplateTransport,
    /// Short tags for what the template turns on, e.g. `nat`, `t38`, `ice`, `dtls_srtp`.
    pub features: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The four built-in templates: `basic`, `advanced`, `mobile` and `webrtc`.
pub fn builtin_extension_templates() -> Vec<ExtensionTemplate> {
    vec![
        ExtensionTemplate {
            id: "basic".into(),
            name: "Basic phone".into(),
            description: "One registered device, G.711 (ulaw, alaw), safe behind NAT: symmetric \
                          RTP, rport, contact rewriting, media through Asterisk."
                .into(),
            default_codecs: strings(&["ulaw", "alaw"]),
            default_max_contacts: 1,
            transport: TemplateTransport::Udp,
            features: strings(&["nat"]),
        },
        ExtensionTemplate {
            id: "advanced".into(),
            name: "Advanced desk phone".into(),
            description: "Up to three devices, HD voice (G.722, then ulaw and alaw), T.38 fax, \
                          and reachability checks every 60 seconds; NAT-safe like basic."
                .into(),
            default_codecs: strings(&["g722", "ulaw", "alaw"]),
            default_max_contacts: 3,
            transport: TemplateTransport::Udp,
            features: strings(&["nat", "t38", "qualify"]),
        },
        ExtensionTemplate {
            id: "mobile".into(),
            name: "Mobile softphone".into(),
            description: "Up to five devices with long registrations (up to 24 hours) for \
                          apps that sleep, Opus first, ICE for changing networks, RTP \
                          keep-alives; unreachable contacts are replaced first."
                .into(),
            default_codecs: strings(&["opus", "ulaw", "alaw"]),
            default_max_contacts: 5,
            transport: TemplateTransport::Udp,
            features: strings(&["nat", "ice", "long_registration", "qualify"]),
        },
        ExtensionTemplate {
            id: "webrtc".into(),
            name: "WebRTC browser client".into(),
            description: "Browser phone over secure WebSocket: webrtc=yes (AVPF, DTLS-SRTP, \
                          ICE, rtcp-mux) with an auto-generated DTLS certificate, Opus and \
                          G.711 audio, VP8 and H.264 video."
                .into(),
            default_codecs: strings(&["opus", "ulaw", "vp8", "h264"]),
            default_max_contacts: 5,
            transport: TemplateTransport::Wss,
            features: strings(&["webrtc", "dtls_srtp", "ice", "video"]),
        },
    ]
}

static CATALOGUE: LazyLock<Vec<ExtensionTemplate>> = LazyLock::new(builtin_extension_templates);

/// The built-in template with this id.
pub fn extension_template(id: &str) -> Option<&'static ExtensionTemplate> {
    CATALOGUE.iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FieldErrors;
    use crate::model::validate::check_codecs;

    #[test]
    fn catalogue_has_the_four_templates_with_valid_defaults() {
        let templates = builtin_extension_templates();
        let ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["basic", "advanced", "mobile", "webrtc"]);
        for t in &templates {
            let mut errors = FieldErrors::new();
            check_codecs(&mut errors, "default_codecs", &t.default_codecs);
            assert!(errors.is_empty(), "{}: {errors}", t.id);
            assert!(
                (1..=crate::model::extension::MAX_CONTACTS_LIMIT).contains(&t.default_max_contacts)
            );
        }
        assert_eq!(
            extension_template("basic").map(|t| t.default_max_contacts),
            Some(1)
        );
        assert_eq!(
            extension_template("advanced").map(|t| t.default_max_contacts),
            Some(3)
        );
        assert_eq!(
            extension_template("mobile").map(|t| t.default_max_contacts),
            Some(5)
        );
        assert_eq!(
            extension_template("webrtc").map(|t| t.transport),
            Some(TemplateTransport::Wss)
        );
        assert!(extension_template("nope").is_none());
    }
}
