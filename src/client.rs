//! A small REST client for the rayan API, used by `rayan-ctl`, and the rules by
//! which it finds a local daemon (URL and bootstrap token in the state dir).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::config::{ADMIN_TOKEN_FILE, URL_FILE};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8088";

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach rayand at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    /// The server answered with a problem document.
    #[error("{}", format_problem(.status, .problem))]
    Api { status: StatusCode, problem: Value },
    #[error("unexpected answer from rayand ({status}): {body}")]
    Unexpected { status: StatusCode, body: String },
    #[error(
        "no token: pass --token or RAYAN_TOKEN, or run on the daemon's host as a user who can read {0}"
    )]
    NoToken(String),
    #[error("cannot encode the request: {0}")]
    Encode(#[from] serde_json::Error),
}

fn to_json(body: &impl Serialize) -> Result<Value, ClientError> {
    Ok(serde_json::to_value(body)?)
}

fn format_problem(status: &StatusCode, problem: &Value) -> String {
    let detail = problem.get("detail").and_then(Value::as_str).unwrap_or("");
    let title = problem
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let errors = problem
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty());
    let mut text = match errors {
        Some(_) => format!("{title} ({})", status.as_u16()),
        None => format!("{title} ({}): {detail}", status.as_u16()),
    };
    if let Some(errors) = errors {
        for e in errors {
            let field = e.get("field").and_then(Value::as_str).unwrap_or("?");
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            text.push_str(&format!("\n  {field}: {message}"));
        }
    }
    text
}

/// The state directories where a local daemon leaves its URL and admin token.
pub fn candidate_state_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(dir) = std::env::var("RAYAN_STATE_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("state"));
    dirs.push(PathBuf::from("/var/lib/rayan"));
    dirs
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The daemon's URL: the explicit one, else the one a local daemon wrote.
pub fn discover_url(explicit: Option<String>, dirs: &[PathBuf]) -> String {
    explicit
        .or_else(|| dirs.iter().find_map(|d| read_trimmed(&d.join(URL_FILE))))
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// The token: the explicit one, else the bootstrap admin token of a local daemon.
pub fn discover_token(explicit: Option<String>, dirs: &[PathBuf]) -> Result<String, ClientError> {
    explicit
        .or_else(|| {
            dirs.iter()
                .find_map(|d| read_trimmed(&d.join(ADMIN_TOKEN_FILE)))
        })
        .ok_or_else(|| {
            let places: Vec<String> = dirs
                .iter()
                .map(|d| d.join(ADMIN_TOKEN_FILE).display().to_string())
                .collect();
            ClientError::NoToken(places.join(" or "))
        })
}

#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            token: token.into(),
            http,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Sends a request; returns the status and the body as text.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let unreachable = |source| ClientError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        Ok((status, text))
    }

    /// A failed answer as the error it describes.
    fn failure(status: StatusCode, text: String) -> ClientError {
        match serde_json::from_str::<Value>(&text) {
            Ok(problem) if problem.get("detail").is_some() => ClientError::Api { status, problem },
            _ => ClientError::Unexpected {
                status,
                body: text.chars().take(500).collect(),
            },
        }
    }

    /// Sends a request; `Ok(Value::Null)` for an empty success body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let (status, text) = self.send(method, path, body).await?;
        if !status.is_success() {
            return Err(Self::failure(status, text));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|_| ClientError::Unexpected {
            status,
            body: text.chars().take(500).collect(),
        })
    }

    /// A GET whose answer is not JSON (a CSV export), as text.
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let (status, text) = self.send(Method::GET, path, None).await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(Self::failure(status, text))
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.request(Method::GET, path, None).await
    }

    /// Sends `body` (a request type the API declares) as JSON.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
        self.request(Method::POST, path, Some(&to_json(body)?))
            .await
    }

    pub async fn patch(&self, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
        self.request(Method::PATCH, path, Some(&to_json(body)?))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.request(Method::DELETE, path, None).await
    }
}

/// Percent-encodes one path segment or query value.
pub fn encode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
