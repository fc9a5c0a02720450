//! What a connection to Asterisk is doing right now, published through a `watch` channel.

use std::fmt;

use crate::model::LinkState;

/// A failed connection keeps its state while it is retried, until an attempt succeeds or
/// fails differently: why the link is down stays visible the whole time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the first TCP connection or logging in for the first time.
    Connecting,
    /// Logged in; `version` is `AsteriskVersion` from CoreSettings when Asterisk gave it.
    Connected { version: Option<String> },
    /// Asterisk could not be reached, or the link was lost; a reconnect is scheduled.
    Disconnected { reason: String },
    /// Asterisk answered and refused the credentials; retried after `AmiSettings::auth_retry`.
    AuthFailed { reason: String },
    /// [`AmiClient::shutdown`](super::AmiClient::shutdown) was called or every handle dropped.
    Shutdown,
}

impl ConnectionState {
    /// The summary everything outside the AMI client reports.
    pub fn link(&self) -> LinkState {
        match self {
            Self::Connected { .. } => LinkState::Connected,
            Self::Connecting => LinkState::Connecting,
            _ => LinkState::Disconnected,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }

    /// True after an attempt failed, while the next one is awaited or under way.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Disconnected { .. } | Self::AuthFailed { .. })
    }

    /// Why no action can be sent now, in words for an administrator, naming what to
    /// check; `None` when connected. `user` is the AMI user logging in (never a secret).
    pub fn unavailable_reason(&self, user: &str) -> Option<String> {
        match self {
            Self::Connected { .. } => None,
            Self::Connecting => Some("not connected to Asterisk over AMI yet".to_owned()),
            Self::Disconnected { reason } => {
                Some(format!("Asterisk is not reachable over AMI: {reason}"))
            }
            Self::AuthFailed { reason } => Some(format!(
                "AMI login refused for user {user} ({reason}): check asterisk.ami_user \
                 and asterisk.ami_secret (or ami_secret_file) against manager.conf"
            )),
            Self::Shutdown => Some("the AMI client has been shut down".to_owned()),
        }
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

#[cfg(test)]
mod tests {
    use super::ConnectionState;

    #[test]
    fn a_refused_login_is_not_called_unreachable() {
        let refused = ConnectionState::AuthFailed {
            reason: "Authentication failed".to_owned(),
        };
        let why = refused.unavailable_reason("rayan").unwrap_or_default();
        assert_eq!(
            why,
            "AMI login refused for user rayan (Authentication failed): check asterisk.ami_user \
             and asterisk.ami_secret (or ami_secret_file) against manager.conf"
        );
        let down = ConnectionState::Disconnected {
            reason: "cannot connect to 127.0.0.1:5038: Connection refused".to_owned(),
        };
        assert_eq!(
            down.unavailable_reason("rayan").as_deref(),
            Some(
                "Asterisk is not reachable over AMI: cannot connect to 127.0.0.1:5038: Connection refused"
            )
        );
        let connected = ConnectionState::Connected { version: None };
        assert_eq!(connected.unavailable_reason("rayan"), None);
    }
}
