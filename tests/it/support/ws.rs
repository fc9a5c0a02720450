//! A WebSocket subscriber of the daemon's event stream, for tests and benchmarks.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Frames are small: a large read buffer would only be zeroed on every read.
fn config() -> Option<WebSocketConfig> {
    Some(WebSocketConfig::default().read_buffer_size(16 * 1024))
}

/// What the server answered instead of upgrading.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What reading the next message gave.
#[derive(Debug)]
pub enum Read {
    Text(String),
    Closed(Option<(u16, String)>),
}

fn request(
    base_url: &str,
    token: Option<&str>,
    query: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let ws = base_url.replacen("http://", "ws://", 1);
    let url = if query.is_empty() {
        format!("{ws}/api/v1/events")
    } else {
        format!("{ws}/api/v1/events?{query}")
    };
    let mut request = url.into_client_request().expect("ws request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
    }
    request
}

fn refused(error: WsError) -> Refused {
    match error {
        WsError::Http(response) => Refused {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body: response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null),
        },
        other => panic!("connection failed: {other}"),
    }
}

impl Ws {
    /// Connects with `token` in the `Authorization` header (or none) and `query`.
    pub async fn try_connect(
        base_url: &str,
        token: Option<&str>,
        query: &str,
    ) -> Result<Ws, Refused> {
        tokio_tungstenite::connect_async_with_config(
            request(base_url, token, query),
            config(),
            true,
        )
        .await
        .map(|(stream, _)| Ws { stream })
        .map_err(refused)
    }

    /// Connects and reads the `subscribed` frame, which the server sends once the
    /// subscription exists: events published after this returns are delivered.
    pub async fn connect(base_url: &str, token: &str, query: &str) -> (Ws, Value) {
        let mut ws = Self::try_connect(base_url, Some(token), query)
            .await
            .unwrap_or_else(|r| panic!("refused: {r:?}"));
        let hello = ws.json().await;
        assert_eq!(hello["type"], "subscribed", "first frame: {hello}");
        (ws, hello)
    }

    /// As [`Ws::connect`], over a socket whose receive buffer is `bytes` small, so
    /// that a reader that stops reading pushes back on the server quickly.
    pub async fn connect_small_buffer(base_url: &str, token: &str, query: &str, bytes: u32) -> Ws {
        let addr: std::net::SocketAddr = base_url
            .trim_start_matches("http://")
            .parse()
            .expect("daemon address");
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let tcp = socket.connect(addr).await.expect("connect");
        let (stream, _) = tokio_tungstenite::client_async_with_config(
            request(base_url, Some(token), query),
            MaybeTlsStream::Plain(tcp),
            config(),
        )
        .await
        .expect("upgrade");
        let mut ws = Ws { stream };
        assert_eq!(ws.json().await["type"], "subscribed");
        ws
    }

    /// The next text frame or the close, within `within`; pings and pongs are skipped.
    pub async fn read_within(&mut self, within: Duration) -> Option<Read> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(message) => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => return Some(Read::Text(text.as_str().to_owned())),
                Some(Ok(Message::Close(frame))) => {
                    return Some(Read::Closed(
                        frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Read::Closed(None)),
            }
        }
    }

    /// The next text frame; fails the test on a close or after [`PATIENCE`].
    pub async fn text(&mut self) -> String {
        match self.read_within(PATIENCE).await {
            Some(Read::Text(text)) => text,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    pub async fn json(&mut self) -> Value {
        let text = self.text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"))
    }

    /// Asserts that no text frame arrives within `within`.
    pub async fn assert_quiet(&mut self, within: Duration) {
        if let Some(read) = self.read_within(within).await {
            panic!("expected nothing, got {read:?}");
        }
    }

    /// Reads until the server closes; returns its close code and reason.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            match self.read_within(PATIENCE).await {
                Some(Read::Text(_)) => continue,
                Some(Read::Closed(frame)) => return frame,
                None => panic!("the server did not close the stream"),
            }
        }
    }

    pub async fn send(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }
}
