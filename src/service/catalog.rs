//! Keeps the template tables in step with the templates shipped with rayan.

use super::{ServiceError, Services};
use crate::store;

/// The built-in extension templates: id, display name, description.
const BUILTIN_EXTENSION_TEMPLATES: &[(&str, &str, &str)] = &[
    ("basic", "Basic desk phone", "One contact, ulaw/alaw, NAT-safe media"),
    ("advanced", "Advanced desk phone", "Three contacts, G.722, T.38 fax, qualify"),
    ("mobile", "Mobile softphone", "Five contacts, long registrations, Opus, ICE"),
    ("webrtc", "WebRTC browser phone", "DTLS-SRTP over WSS, Opus, VP8/H.264"),
];

impl Services {
    /// Inserts or updates the built-in templates. Runs at every start.
    pub async fn sync_builtin_templates(&self) -> Result<(), ServiceError> {
        for (id, name, description) in BUILTIN_EXTENSION_TEMPLATES {
            store::templates::upsert_builtin_extension_template(
                &self.db,
                id,
                name,
                description,
                serde_json::json!({}),
            )
            .await?;
        }
        Ok(())
    }
}
