//! What a connection to Asterisk is doing right now, published through a `watch` channel.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the TCP connection or logging in.
    Connecting,
    /// Logged in; `version` is `AsteriskVersion` from CoreSettings when Asterisk gave it.
    Connected { version: Option<String> },
    /// The link is down and a reconnect is scheduled.
    Disconnected { reason: String },
    /// Asterisk refused the credentials; retried after `AmiSettings::auth_retry`.
    AuthFailed { reason: String },
    /// [`AmiClient::shutdown`](super::AmiClient::shutdown) was called or every handle dropped.
    Shutdown,
}

impl ConnectionState {
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Connected { version: Some(v) } => write!(f, "connected to Asterisk {v}"),
            Self::Connected { version: None } => f.write_str("connected"),
            Self::Disconnected { reason } => write!(f, "disconnected: {reason}"),
            Self::AuthFailed { reason } => write!(f, "authentication failed: {reason}"),
            Self::Shutdown => f.write_str("shut down"),
        }
    }
}
