//! Opening a connection: TCP connect, banner, optional MD5 challenge, Login, CoreSettings.
//! Nothing else is written before the Login answer arrives.

use bytes::BytesMut;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

use super::bus::EventBus;
use super::codec::{AmiCodec, Frame, encode_message};
use super::message::Message;
use super::session::{READ_BUFFER, Session};
use super::settings::{AmiSettings, AuthMethod};

/// Why a connection attempt failed.
pub(crate) enum OpenError {
    /// Asterisk refused the credentials.
    Auth(String),
    /// Anything else: unreachable, timed out, not an AMI peer, closed mid-login.
    Link(String),
}

pub(crate) struct Opened {
    pub(crate) session: Session,
    pub(crate) version: Option<String>,
}

/// What this connection is for, which decides the `Events:` of its Login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkRole {
    Actions,
    Events,
}

impl LinkRole {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Actions => "actions",
            Self::Events => "events",
        }
    }
}

pub(crate) async fn open(
    settings: &AmiSettings,
    role: LinkRole,
    events: &EventBus,
    next_id: &(dyn Fn() -> String + Sync),
) -> Result<Opened, OpenError> {
    let timeout = settings.action_timeout;
    let stream = tokio::time::timeout(timeout, TcpStream::connect(&settings.addr))
        .await
        .map_err(|_| OpenError::Link(format!("connect to {} timed out", settings.addr)))?
        .map_err(|e| OpenError::Link(format!("cannot connect to {}: {e}", settings.addr)))?;
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut link = Handshake {
        reader: FramedRead::with_capacity(read, AmiCodec::client(settings.limits), READ_BUFFER),
        writer: write,
        events,
        role,
    };
    tokio::time::timeout(timeout, link.login(settings, next_id))
        .await
        .map_err(|_| OpenError::Link(format!("no answer to Login within {timeout:?}")))??;
    let version = tokio::time::timeout(timeout, link.core_version(next_id))
        .await
        .map_err(|_| OpenError::Link(format!("no answer to CoreSettings within {timeout:?}")))??;
    let parts = link.reader.into_parts();
    Ok(Opened {
        session: Session {
            reader: parts.io,
            buffer: parts.read_buf,
            codec: parts.codec,
            writer: link.writer,
        },
        version,
    })
}

struct Handshake<'a> {
    reader: FramedRead<tokio::net::tcp::OwnedReadHalf, AmiCodec>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    events: &'a EventBus,
    role: LinkRole,
}

impl Handshake<'_> {
    async fn login(
        &mut self,
        settings: &AmiSettings,
        next_id: &(dyn Fn() -> String + Sync),
    ) -> Result<(), OpenError> {
        match self.reader.next().await {
            Some(Ok(Frame::Banner(banner))) if banner.starts_with("Asterisk Call Manager") => {
                tracing::debug!(link = self.role.name(), %banner, "AMI banner");
            }
            Some(Ok(Frame::Banner(banner))) => {
                return Err(OpenError::Link(format!(
                    "not an Asterisk manager interface (banner {banner:?})"
                )));
            }
            Some(Ok(Frame::Message(_))) => {
                return Err(OpenError::Link("peer sent no AMI banner".to_owned()));
            }
            Some(Err(e)) => return Err(OpenError::Link(e.to_string())),
            None => return Err(OpenError::Link("closed before the AMI banner".to_owned())),
        }

        let mut login = Message::action("Login").with("Username", &settings.username);
        match settings.auth {
            AuthMethod::Plain => login.push("Secret", &settings.secret),
            AuthMethod::Md5 => {
                let challenge = Message::action("Challenge").with("AuthType", "MD5");
                let answer = self.exchange(challenge, next_id()).await?;
                let Some(challenge) = answer.get("Challenge").filter(|_| answer.is_success())
                else {
                    return Err(OpenError::Auth(format!(
                        "MD5 challenge refused: {}",
                        answer.message().unwrap_or("no Challenge in the answer")
                    )));
                };
                login.push("AuthType", "MD5");
                login.push("Key", md5_key(challenge, &settings.secret));
            }
        }
        let events = match self.role {
            LinkRole::Actions => "off",
            LinkRole::Events => settings.event_classes.as_str(),
        };
        login.push("Events", events);
        let answer = self.exchange(login, next_id()).await?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(OpenError::Auth(
                answer.message().unwrap_or("login refused").to_owned(),
            ))
        }
    }

    async fn core_version(
        &mut self,
        next_id: &(dyn Fn() -> String + Sync),
    ) -> Result<Option<String>, OpenError> {
        let answer = self
            .exchange(Message::action("CoreSettings"), next_id())
            .await?;
        Ok(answer
            .get("AsteriskVersion")
            .filter(|_| answer.is_success())
            .map(str::to_owned))
    }

    /// Writes one action and waits for its answer; events read meanwhile go to subscribers.
    async fn exchange(&mut self, mut action: Message, id: String) -> Result<Message, OpenError> {
        action.set("ActionID", &id);
        let mut buffer = BytesMut::new();
        encode_message(&action, &mut buffer).map_err(|e| OpenError::Link(e.to_string()))?;
        tracing::debug!(link = self.role.name(), action = %action.masked(), "sent");
        self.writer
            .write_all(&buffer)
            .await
            .map_err(|e| OpenError::Link(format!("write to Asterisk failed: {e}")))?;
        loop {
            match self.reader.next().await {
                Some(Ok(Frame::Message(message))) => {
                    if message.is_response() && message.action_id() == Some(id.as_str()) {
                        return Ok(message);
                    }
                    if message.event().is_some() {
                        self.events.publish(vec![message]);
                    }
                }
                Some(Ok(Frame::Banner(_))) => {}
                Some(Err(e)) => return Err(OpenError::Link(e.to_string())),
                None => {
                    return Err(OpenError::Link(format!(
                        "Asterisk closed the connection during {}",
                        action.action_name().unwrap_or("login")
                    )));
                }
            }
        }
    }
}

/// `Key:` of an MD5 login: md5 hex of the challenge followed by the secret.
pub(crate) fn md5_key(challenge: &str, secret: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(challenge.as_bytes());
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_key_matches_the_recorded_login() {
        // a4-login-md5-challenge: md5hex('135889231' + 'rayan-secret').
        assert_eq!(
            md5_key("135889231", "rayan-secret"),
            "4e64a3de4a1db48316b550ce540401fb"
        );
    }
}
