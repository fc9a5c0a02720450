//! How to reach Asterisk and how patient to be with it.

use std::fmt;
use std::time::Duration;

use super::codec::CodecLimits;

/// How the client proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// `Secret:` in the Login action.
    Plain,
    /// `Action: Challenge` first, then `Key: md5hex(challenge + secret)`: the secret never
    /// crosses the wire.
    #[default]
    Md5,
}

#[derive(Clone)]
pub struct AmiSettings {
    /// `host:port` of the manager interface, e.g. `127.0.0.1:5038`.
    pub addr: String,
    pub username: String,
    pub secret: String,
    pub auth: AuthMethod,
    /// Longest wait for one action's answer (a 10,000-endpoint reload took up to 5.2 s).
    /// Also bounds the TCP connect, the login and an unanswered keepalive Ping.
    pub action_timeout: Duration,
    /// How often each connection sends a keepalive `Ping`.
    pub ping_interval: Duration,
    /// Events kept for slow subscribers: one that falls further behind misses events (and
    /// is told how many). Events travel in batches of up to 128, `event_buffer / 128`
    /// batches are kept, so memory holds at most this many events; a slow trickle of single
    /// events gets `event_buffer / 128` of slack.
    pub event_buffer: usize,
    /// `Events:` of the event connection's Login: `on`, or a class list such as
    /// `system,call,security`.
    pub event_classes: String,
    /// First reconnect delay; it doubles (with jitter) up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Delay before trying again after Asterisk refused the credentials.
    pub auth_retry: Duration,
    pub limits: CodecLimits,
}

impl AmiSettings {
    pub fn new(
        addr: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self {
            addr: addr.into(),
            username: username.into(),
            secret: secret.into(),
            auth: AuthMethod::Md5,
            action_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            event_buffer: 131_072,
            event_classes: "on".to_owned(),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            auth_retry: Duration::from_secs(60),
            limits: CodecLimits::default(),
        }
    }
}

impl fmt::Debug for AmiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmiSettings")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("secret", &"********")
            .field("auth", &self.auth)
            .field("action_timeout", &self.action_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("event_buffer", &self.event_buffer)
            .field("event_classes", &self.event_classes)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("auth_retry", &self.auth_retry)
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let settings = AmiSettings::new("127.0.0.1:5038", "rayan", "rayan-secret");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("rayan-secret"));
        assert!(shown.contains("rayan"));
    }
}
