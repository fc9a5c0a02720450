//! JSON-RPC over HTTP to Kamailio's jsonrpcs module (Kamailio 5.6).
//!
//! What the lab showed and this client relies on: params are positional (an
//! object is read by member order, not by name), integers must be JSON
//! numbers, errors come as HTTP 500 with a JSON-RPC error body whose message is
//! the only useful text, a request with a bad envelope is answered `200 {}`
//! without being run, malformed JSON may get no answer at all, and reloads are
//! rate-limited (`Ongoing reload` / `ongoing reload`) for `reload_delta` seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::error::KamailioError;
use super::live::{self, LiveAddress, LiveDestination, LiveFlags};

/// Kamailio's default `reload_delta` for dispatcher and permissions.
pub const DEFAULT_RELOAD_WINDOW: Duration = Duration::from_secs(5);

/// Kamailio closes idle keep-alive connections after `tcp_connection_lifetime`
/// (60 s in the lab); idle pooled connections are dropped well before that.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A 10,000-destination `dispatcher.list` is 3.6 MB; anything far beyond is not a reply.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// Kamailio's rate-limit check works in whole seconds; wait a little past the window.
const RETRY_MARGIN: Duration = Duration::from_millis(50);

/// Which table to reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadKind {
    /// `dispatcher.reload`: re-reads `dispatcher.list`.
    Dispatcher,
    /// `permissions.addressReload`: re-reads `address.list`.
    Addresses,
}

impl ReloadKind {
    pub fn method(self) -> &'static str {
        match self {
            Self::Dispatcher => "dispatcher.reload",
            Self::Addresses => "permissions.addressReload",
        }
    }
}

/// How a reload that waited out the rate limit went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadReport {
    /// 1 when the first call succeeded.
    pub attempts: u32,
    pub waited: Duration,
}

/// Which destinations `dispatcher.set_state` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateTarget {
    Uri(String),
    /// Every destination of the set.
    All,
}

/// A JSON-RPC client for one Kamailio.
#[derive(Debug)]
pub struct KamailioRpc {
    http: reqwest::Client,
    url: reqwest::Url,
    /// The URL with any password masked, for messages and logs.
    shown_url: String,
    timeout: Duration,
    reload_window: Duration,
    next_id: AtomicU64,
}

impl KamailioRpc {
    /// `url` is the full endpoint, e.g. `http://127.0.0.1:5071/RPC`; every call
    /// (connect, send, reply) must finish within `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, KamailioError> {
        let config_error = |reason: String| KamailioError::Config {
            url: mask_url_text(url),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| config_error(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(config_error("the scheme must be http or https".into()));
        }
        if timeout.is_zero() {
            return Err(config_error("the timeout must be more than zero".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| config_error(e.to_string()))?;
        Ok(Self {
            http,
            shown_url: mask_url(&parsed),
            url: parsed,
            timeout,
            reload_window: DEFAULT_RELOAD_WINDOW,
            next_id: AtomicU64::new(1),
        })
    }

    /// Sets the wait after a rate-limited reload: Kamailio's `reload_delta`.
    pub fn with_reload_window(mut self, window: Duration) -> Self {
        self.reload_window = window;
        self
    }

    /// The endpoint, with any password masked.
    pub fn url(&self) -> &str {
        &self.shown_url
    }

    /// Calls `method` with positional `params` and returns its `result`.
    pub async fn call(&self, method: &str, params: &[Value]) -> Result<Value, KamailioError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut request = json!({"jsonrpc": "2.0", "method": method, "id": id});
        if !params.is_empty() {
            request["params"] = Value::Array(params.to_vec());
        }
        let started = Instant::now();
        let (status, body) = self.post(method, request.to_string()).await?;
        let reply = interpret_reply(method, id, status, &body, self.reload_window);
        tracing::debug!(
            method,
            id,
            status,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            ok = reply.is_ok(),
            "kamailio rpc"
        );
        reply
    }

    async fn post(&self, method: &str, body: String) -> Result<(u16, Vec<u8>), KamailioError> {
        let mut response = self
            .http
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(method, e))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(method, e))?
        {
            if bytes.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(KamailioError::Protocol {
                    method: method.into(),
                    reason: format!("reply larger than {MAX_REPLY_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    }

    fn transport_error(&self, method: &str, error: reqwest::Error) -> KamailioError {
        if error.is_timeout() {
            return KamailioError::Timeout {
                url: self.shown_url.clone(),
                method: method.into(),
                after: self.timeout,
            };
        }
        KamailioError::Unreachable {
            url: self.shown_url.clone(),
            reason: error_chain(error.without_url()),
        }
    }

    /// `core.version`, e.g. `kamailio 5.6.3 (x86_64/linux)`.
    pub async fn version(&self) -> Result<String, KamailioError> {
        let result = self.call("core.version", &[]).await?;
        Ok(expect_text("core.version", result)?.trim().to_owned())
    }

    /// `dispatcher.reload`: re-reads `dispatcher.list`. On failure Kamailio keeps
    /// the old list; on success every runtime state is reset to the file's flags.
    pub async fn dispatcher_reload(&self) -> Result<(), KamailioError> {
        self.reload(ReloadKind::Dispatcher).await
    }

    /// `permissions.addressReload`: re-reads `address.list`.
    pub async fn permissions_address_reload(&self) -> Result<(), KamailioError> {
        self.reload(ReloadKind::Addresses).await
    }

    pub async fn reload(&self, kind: ReloadKind) -> Result<(), KamailioError> {
        let result = self.call(kind.method(), &[]).await?;
        expect_text(kind.method(), result).map(drop)
    }

    /// Reloads, waiting out Kamailio's rate limit for at most `max_wait` in
    /// total. Any other error is returned at once.
    pub async fn reload_with_retry(
        &self,
        kind: ReloadKind,
        max_wait: Duration,
    ) -> Result<ReloadReport, KamailioError> {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.reload(kind).await {
                Ok(()) => {
                    return Ok(ReloadReport {
                        attempts,
                        waited: started.elapsed(),
                    });
                }
                Err(error) => {
                    let Some(wait) = error.retry_after().map(|w| w + RETRY_MARGIN) else {
                        return Err(error);
                    };
                    if started.elapsed() + wait > max_wait {
                        return Err(error);
                    }
                    tracing::info!(
                        method = kind.method(),
                        attempts,
                        wait_ms = wait.as_millis() as u64,
                        "kamailio reload rate-limited, waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// `dispatcher.list` in its normal form (with each destination's attrs).
    /// No destination sets at all gives an empty list.
    pub async fn dispatcher_list(&self) -> Result<Vec<LiveDestination>, KamailioError> {
        self.list_destinations(&[]).await
    }

    /// `dispatcher.list ["short"]`: URI, flags and priority only, much smaller
    /// for large sets.
    pub async fn dispatcher_list_short(&self) -> Result<Vec<LiveDestination>, KamailioError> {
        self.list_destinations(&[Value::from("short")]).await
    }

    async fn list_destinations(
        &self,
        params: &[Value],
    ) -> Result<Vec<LiveDestination>, KamailioError> {
        const METHOD: &str = "dispatcher.list";
        match self.call(METHOD, params).await {
            Ok(result) => {
                live::parse_dispatcher_list(result).map_err(|reason| protocol(METHOD, reason))
            }
            Err(KamailioError::Rpc { message, .. })
                if message.eq_ignore_ascii_case("No Destination Sets") =>
            {
                Ok(Vec::new())
            }
            Err(error) => Err(error),
        }
    }

    /// `dispatcher.set_state`: runtime only, undone by the next reload.
    pub async fn dispatcher_set_state(
        &self,
        flags: LiveFlags,
        set_id: u32,
        target: &StateTarget,
    ) -> Result<(), KamailioError> {
        const METHOD: &str = "dispatcher.set_state";
        let address = match target {
            StateTarget::Uri(uri) => uri.as_str(),
            StateTarget::All => "all",
        };
        let params = [
            Value::from(flags.set_state_argument()),
            Value::from(set_id),
            Value::from(address),
        ];
        let result = self.call(METHOD, &params).await?;
        expect_text(METHOD, result).map(drop)
    }

    /// `permissions.addressDump`: the single hosts (mask 32 / 128).
    pub async fn permissions_address_dump(&self) -> Result<Vec<LiveAddress>, KamailioError> {
        const METHOD: &str = "permissions.addressDump";
        let result = self.call(METHOD, &[]).await?;
        live::parse_address_dump(result).map_err(|reason| protocol(METHOD, reason))
    }

    /// `permissions.subnetDump`: the subnets.
    pub async fn permissions_subnet_dump(&self) -> Result<Vec<LiveAddress>, KamailioError> {
        const METHOD: &str = "permissions.subnetDump";
        let result = self.call(METHOD, &[]).await?;
        live::parse_subnet_dump(result).map_err(|reason| protocol(METHOD, reason))
    }
}

fn protocol(method: &str, reason: impl Into<String>) -> KamailioError {
    KamailioError::Protocol {
        method: method.into(),
        reason: reason.into(),
    }
}

/// Turns an HTTP reply into the call's result or error. The body is read
/// before the status: Kamailio's errors are HTTP 500 with a JSON-RPC body.
pub(crate) fn interpret_reply(
    method: &str,
    id: u64,
    status: u16,
    body: &[u8],
    reload_window: Duration,
) -> Result<Value, KamailioError> {
    let reply: Value = match serde_json::from_slice(body) {
        Ok(reply) => reply,
        Err(_) => {
            let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
            return Err(protocol(
                method,
                format!(
                    "HTTP {status} with a body that is not JSON: {:?}",
                    text.trim()
                ),
            ));
        }
    };
    let Value::Object(mut reply) = reply else {
        return Err(protocol(
            method,
            format!("HTTP {status} with a JSON body that is not an object"),
        ));
    };
    match reply.get("id") {
        None | Some(Value::Null) => {}
        Some(echoed) if echoed.as_u64() == Some(id) => {}
        Some(echoed) => {
            return Err(protocol(
                method,
                format!("reply id {echoed} does not match request id {id}"),
            ));
        }
    }
    if let Some(error) = reply.remove("error") {
        let code = error
            .get("code")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(status));
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if message.eq_ignore_ascii_case("ongoing reload") {
            return Err(KamailioError::RateLimited {
                method: method.into(),
                message,
                retry_after: reload_window,
            });
        }
        return Err(KamailioError::Rpc {
            method: method.into(),
            code,
            message,
        });
    }
    match reply.remove("result") {
        Some(result) if (200..300).contains(&status) => Ok(result),
        Some(_) => Err(protocol(
            method,
            format!("HTTP {status} with a result and no error"),
        )),
        None => Err(protocol(
            method,
            format!("HTTP {status} with neither result nor error"),
        )),
    }
}

/// A method that answers with text; `{}` means Kamailio did not run it.
fn expect_text(method: &str, result: Value) -> Result<String, KamailioError> {
    match result {
        Value::String(text) => Ok(text),
        Value::Object(map) if map.is_empty() => Err(protocol(
            method,
            "empty result {}: Kamailio did not run the request (bad request envelope)",
        )),
        other => Err(protocol(
            method,
            format!("expected a text result, got {other}"),
        )),
    }
}

fn error_chain(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn mask_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("****"));
    }
    shown.to_string()
}

/// Masks the password of a URL that may not even parse.
fn mask_url_text(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => mask_url(&parsed),
        Err(_) => match url.split_once('@') {
            Some((_, host)) => format!("****@{host}"),
            None => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WINDOW: Duration = Duration::from_secs(5);

    fn reply(status: u16, body: &str, id: u64) -> Result<Value, KamailioError> {
        interpret_reply("m", id, status, body.as_bytes(), WINDOW)
    }

    #[test]
    fn success_result_is_returned() {
        let body = "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t\"kamailio 5.6.3 (x86_64/linux) \",\n\t\"id\":\t1\n}";
        assert_eq!(
            reply(200, body, 1).unwrap(),
            Value::from("kamailio 5.6.3 (x86_64/linux) ")
        );
    }

    /// Transcripts 08 and 31: both spellings are the rate limit.
    #[test]
    fn ongoing_reload_is_rate_limited_in_both_spellings() {
        for message in ["Ongoing reload", "ongoing reload"] {
            let body = format!(
                "{{\"jsonrpc\":\"2.0\",\"error\":{{\"code\":500,\"message\":\"{message}\"}},\"id\":8}}"
            );
            let error = reply(500, &body, 8).unwrap_err();
            assert!(error.is_rate_limited(), "{error:?}");
            assert_eq!(error.retry_after(), Some(WINDOW));
            assert!(!error.is_transport());
        }
    }

    /// Transcripts 13 and 40: an HTTP 500 body is read as an RPC error.
    #[test]
    fn http_500_body_is_an_rpc_error() {
        let body = r#"{"jsonrpc":"2.0","error":{"code":500,"message":"Reload Failed"},"id":13}"#;
        match reply(500, body, 13) {
            Err(KamailioError::Rpc { code, message, .. }) => {
                assert_eq!((code, message.as_str()), (500, "Reload Failed"))
            }
            other => panic!("{other:?}"),
        }
        // Transcript 41: the cfg's parse-error reply has id null.
        let body = r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#;
        assert!(matches!(
            reply(400, body, 41),
            Err(KamailioError::Rpc { code: -32700, .. })
        ));
    }

    #[test]
    fn wrong_id_and_non_json_are_protocol_errors() {
        assert!(matches!(
            reply(200, r#"{"result":"x","id":7}"#, 8),
            Err(KamailioError::Protocol { .. })
        ));
        // Transcript 52: the cfg's text/plain 404.
        assert!(matches!(
            reply(404, "JSON-RPC is served on /RPC\n", 1),
            Err(KamailioError::Protocol { .. })
        ));
        assert!(matches!(
            reply(200, "[1]", 1),
            Err(KamailioError::Protocol { .. })
        ));
        assert!(matches!(
            reply(200, r#"{"id":1}"#, 1),
            Err(KamailioError::Protocol { .. })
        ));
        assert!(matches!(
            reply(500, r#"{"result":"x","id":1}"#, 1),
            Err(KamailioError::Protocol { .. })
        ));
        // Transcript 48: no id in the reply is accepted.
        assert!(reply(200, r#"{"jsonrpc":"2.0","result":"x"}"#, 1).is_ok());
    }

    /// Transcripts 43/44/50: `{}` where text was due means "not run".
    #[test]
    fn empty_object_is_not_success_for_text_methods() {
        assert!(matches!(
            expect_text("dispatcher.reload", serde_json::json!({})),
            Err(KamailioError::Protocol { .. })
        ));
        assert_eq!(
            expect_text("x", Value::from("Reload OK")).unwrap(),
            "Reload OK"
        );
    }

    #[test]
    fn urls_are_checked_and_masked() {
        let rpc = KamailioRpc::new(
            "http://admin:secret@127.0.0.1:5071/RPC",
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!rpc.url().contains("secret"));
        assert!(rpc.url().contains("127.0.0.1:5071/RPC"));
        assert!(matches!(
            KamailioRpc::new("ftp://127.0.0.1/", Duration::from_secs(1)),
            Err(KamailioError::Config { .. })
        ));
        assert!(matches!(
            KamailioRpc::new("not a url", Duration::from_secs(1)),
            Err(KamailioError::Config { .. })
        ));
        assert!(matches!(
            KamailioRpc::new("http://127.0.0.1/", Duration::ZERO),
            Err(KamailioError::Config { .. })
        ));
        match KamailioRpc::new("nonsense://user:secret@", Duration::from_secs(1)) {
            Err(error) => assert!(!error.to_string().contains("secret"), "{error}"),
            Ok(_) => panic!("accepted"),
        }
    }

    proptest! {
        /// Any status and body give a result or an error, never a panic, and
        /// a result only comes with a 2xx status.
        #[test]
        fn any_reply_is_handled(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..200), id in 0u64..3) {
            if reply(status, &String::from_utf8_lossy(&body), id).is_ok() {
                prop_assert!((200..300).contains(&status));
            }
        }

        #[test]
        fn json_shaped_replies_are_handled(
            status in prop::sample::select(vec![200u16, 400, 404, 500]),
            has_result in any::<bool>(),
            message in "[ -~]{0,20}",
            id in prop::option::of(0u64..3),
        ) {
            let mut body = serde_json::json!({"jsonrpc": "2.0"});
            if has_result { body["result"] = Value::from("ok"); } else { body["error"] = serde_json::json!({"code": 500, "message": message}); }
            if let Some(id) = id { body["id"] = Value::from(id); }
            let outcome = reply(status, &body.to_string(), 1);
            if id.is_some_and(|id| id != 1) {
                prop_assert!(matches!(outcome, Err(KamailioError::Protocol { .. })), "id mismatch must be refused");
            } else if !has_result {
                prop_assert_eq!(outcome.unwrap_err().is_rate_limited(), message.eq_ignore_ascii_case("ongoing reload"));
            }
        }
    }
}
