//! API tokens: creation (shown once), hashing, lookup with a short-lived cache,
//! revocation, and the bootstrap admin token written on first start.

use super::write::Action;
use crate::model::{ObjectKind, ObjectRef};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ServiceError;
use super::write::Writer;
use crate::model::{FieldErrors, Role};
use crate::store::{self, audit::Actor, tokens::TokenRow};

/// How long a looked-up token is trusted before the database is asked again, so
/// that a token revoked on another node stops working soon.
const CACHE_TTL: Duration = Duration::from_secs(30);
pub const TOKEN_PREFIX: &str = "rayan_";
pub use crate::config::ADMIN_TOKEN_FILE;

/// The caller a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            token_id: Some(self.token_id),
            name: self.name.clone(),
        }
    }
}

#[derive(Clone, Default)]
pub struct TokenCache {
    entries: Arc<RwLock<HashMap<String, (Caller, Instant)>>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.read().ok()?;
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(c, _)| c.clone())
    }

    fn put(&self, hash: String, caller: Caller) {
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(hash, (caller, Instant::now()));
        }
    }

    fn forget_id(&self, id: i64) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, (c, _)| c.token_id != id);
        }
    }

    /// Drops every cached token (SIGHUP).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// `POST /api/v1/tokens`.
#[derive(Debug, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub role: Role,
    /// A label to recognise the token by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// The first characters of the token.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The token itself: present only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<TokenRow> for TokenView {
    fn from(r: TokenRow) -> Self {
        TokenView {
            id: r.id,
            name: r.name,
            role: r.role,
            prefix: r.prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            token: None,
        }
    }
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// API tokens, and the cache that spares a database read per request.
#[derive(Clone)]
pub struct TokenService {
    writer: Writer,
    cache: TokenCache,
    /// Where the first start writes the admin token.
    state_dir: PathBuf,
}

impl TokenService {
    pub(super) fn new(writer: Writer, state_dir: PathBuf) -> Self {
        TokenService {
            writer,
            cache: TokenCache::default(),
            state_dir,
        }
    }

    /// Forgets every cached token (a SIGHUP), so that the next request reads the database.
    pub fn forget_cached(&self) {
        self.cache.clear();
    }
}

impl TokenService {
    /// Resolves a bearer token to its caller; `None` when unknown or revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>, ServiceError> {
        let hash = hash_token(token);
        if let Some(caller) = self.cache.get(&hash) {
            return Ok(Some(caller));
        }
        let Some(row) = store::tokens::find_active_by_hash(self.writer.db(), &hash).await? else {
            return Ok(None);
        };
        let role = row.role.parse::<Role>().map_err(|e| {
            ServiceError::Store(store::StoreError::Corrupt(format!("token {}: {e}", row.id)))
        })?;
        let caller = Caller {
            token_id: row.id,
            name: row.name,
            role,
        };
        store::tokens::touch(self.writer.db(), caller.token_id).await?;
        self.cache.put(hash, caller.clone());
        Ok(Some(caller))
    }

    pub async fn create(&self, actor: &Actor, input: NewToken) -> Result<TokenView, ServiceError> {
        let mut errors = FieldErrors::new();
        let name = input
            .name
            .unwrap_or_else(|| format!("{} token", input.role));
        errors.text("name", &name, 120);
        errors.finish()?;
        let token = generate_token();
        let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let mut write = self.writer.write(actor).await?;
        let row = store::tokens::insert(
            &*write,
            &name,
            input.role.as_str(),
            &hash_token(&token),
            &prefix,
            actor.token_id,
        )
        .await?;
        let object = ObjectRef::new(ObjectKind::Token, row.id.to_string());
        let after = serde_json::json!({"name": row.name, "role": row.role, "prefix": row.prefix});
        write
            .audit(Action::Create, &object, None, Some(after))
            .await?;
        write.commit().await?;
        Ok(TokenView {
            token: Some(token),
            ..row.into()
        })
    }

    pub async fn list(&self) -> Result<Vec<TokenView>, ServiceError> {
        Ok(store::tokens::list(self.writer.db())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn revoke(&self, actor: &Actor, id: i64) -> Result<(), ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let row = store::tokens::revoke(&*write, id).await?;
        let object = ObjectRef::new(ObjectKind::Token, id.to_string());
        let before = serde_json::json!({"name": row.name, "role": row.role, "prefix": row.prefix});
        write
            .audit(Action::Revoke, &object, Some(before), None)
            .await?;
        write.commit().await?;
        self.cache.forget_id(id);
        Ok(())
    }

    /// On a first start (no live token at all), creates an admin token and writes
    /// it to `<state_dir>/admin.token` with mode 0600, where `rayan-ctl` on this
    /// host finds it. Returns the file written, if any.
    pub async fn bootstrap_admin_token(&self) -> Result<Option<PathBuf>, ServiceError> {
        if store::tokens::count_active(self.writer.db()).await? > 0 {
            return Ok(None);
        }
        let view = self
            .create(
                &Actor::system(),
                NewToken {
                    role: Role::Admin,
                    name: Some("bootstrap admin".into()),
                },
            )
            .await?;
        let token = view.token.unwrap_or_default();
        let path = self.state_dir.join(ADMIN_TOKEN_FILE);
        write_secret_file(&path, &token).map_err(|e| {
            ServiceError::Unavailable(format!(
                "cannot write the admin token to {}: {e}",
                path.display()
            ))
        })?;
        Ok(Some(path))
    }
}

/// Writes `content` to a file readable by its owner only, replacing it atomically.
pub fn write_secret_file(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(content.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
