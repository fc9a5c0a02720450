//! Everything that can go wrong talking to Asterisk over AMI.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    #[error("AMI message exceeds the {limit}-byte limit; the peer is not speaking AMI sanely")]
    MessageTooLarge { limit: usize },

    #[error("AMI message has more than {limit} header lines")]
    TooManyHeaders { limit: usize },

    #[error("AMI stream ended inside a message ({bytes} bytes without the closing blank line)")]
    Truncated { bytes: usize },

    #[error("header {name:?} cannot be sent: {reason}")]
    InvalidHeader { name: String, reason: &'static str },

    #[error("AMI I/O error: {0}")]
    Io(#[from] std::io::Error),

    #[error("not connected to Asterisk: {reason}")]
    NotConnected { reason: String },

    #[error("connection to Asterisk lost while {action} was in flight: {reason}")]
    Disconnected { action: String, reason: String },

    #[error("no answer to {action} within {after:?}")]
    Timeout { action: String, after: Duration },

    #[error("Asterisk refused the AMI login: {reason}")]
    AuthFailed { reason: String },

    #[error("{action} failed: {message}")]
    ActionFailed { action: String, message: String },

    #[error("CLI command {command:?} failed: {}", output.join(" / "))]
    CommandFailed {
        command: String,
        output: Vec<String>,
    },

    #[error("unexpected answer to {action}: {detail}")]
    UnexpectedResponse { action: String, detail: String },

    #[error("the AMI client has been shut down")]
    Shutdown,
}

impl AmiError {
    /// True for failures of the link rather than of the action itself: worth retrying
    /// once the connection is back.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Self::NotConnected { .. }
                | Self::Disconnected { .. }
                | Self::Timeout { .. }
                | Self::Io(_)
                | Self::AuthFailed { .. }
        )
    }
}
