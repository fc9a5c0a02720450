//! Runtime objects of the double: registered contacts and live channels.

use std::time::{SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};

use super::events::ChannelSnapshot;

/// A registered contact of an aor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub aor: String,
    pub uri: String,
    pub endpoint: String,
    pub user_agent: String,
    pub via_addr: String,
    pub via_port: u16,
    pub call_id: String,
    /// Unix time the registration expires.
    pub expiration: u64,
    /// `NonQualified`, `Reachable`, `Unreachable`, ...
    pub status: String,
    pub roundtrip_usec: Option<u64>,
}

impl Contact {
    /// A contact registered from `127.0.0.1:<port>` like sipp's in the recordings.
    pub fn registered(aor: &str, port: u16) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            aor: aor.to_owned(),
            uri: format!("sip:{aor}@127.0.0.1:{port}"),
            endpoint: aor.to_owned(),
            user_agent: "SIPp-lab".to_owned(),
            via_addr: "127.0.0.1".to_owned(),
            via_port: port,
            call_id: format!("1-{port}@127.0.0.1"),
            expiration: now + 120,
            status: "NonQualified".to_owned(),
            roundtrip_usec: None,
        }
    }

    /// `1002;@96197bdb...`: the aor and a hash, as Asterisk names contact objects.
    pub fn id(&self) -> String {
        let mut hasher = Md5::new();
        hasher.update(self.uri.as_bytes());
        format!("{};@{}", self.aor, hex::encode(hasher.finalize()))
    }

    pub fn roundtrip(&self) -> String {
        self.roundtrip_usec
            .map_or("N/A".to_owned(), |usec| usec.to_string())
    }
}

/// A live channel, created by Originate and removed by Hangup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub snapshot: ChannelSnapshot,
    pub application: String,
    pub application_data: String,
    pub started: std::time::Instant,
}
