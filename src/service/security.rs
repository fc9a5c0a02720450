//! Blocking sources that fail to authenticate: the automatic blocks the
//! security monitor asks for, an admin's own blocks, their expiry, and lifting
//! them. A block is one more write through the write path: stored, audited,
//! rendered (an ACL in pjsip.conf, or Kamailio's address group 99), reloaded
//! and verified like any other object.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::ServiceError;
use super::applies::ApplyView;
use super::write::{Action, Writer};
pub use crate::live::SourceReport;
use crate::live::{BlockCandidate, SecurityMonitor};
use crate::model::blocked::AUTOMATIC;
use crate::model::{BlockedAddress, FieldErrors, ObjectRef};
use crate::store;
use crate::store::audit::Actor;

/// How often expired blocks are lifted.
const EXPIRY_CHECK: std::time::Duration = std::time::Duration::from_secs(30);
/// Longest reason kept.
const MAX_REASON: usize = 200;

/// A blocked address as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlockedView {
    #[schema(example = "203.0.113.9")]
    pub address: String,
    pub reason: String,
    /// Failed attempts counted when it was blocked (0 for an admin's block).
    pub failures: u32,
    /// `security` for an automatic block, else the token that blocked it.
    pub blocked_by: String,
    pub created_at: DateTime<Utc>,
    /// `null`: until an admin lifts it.
    pub expires_at: Option<DateTime<Utc>>,
    /// Where the block is enforced: `asterisk` (a `type=acl` section of
    /// pjsip.conf) or `kamailio` (address group 99).
    pub enforced_by: &'static str,
    /// True once the block was applied and no attempt from the address has
    /// reached Asterisk since (a refused request raises no security event).
    pub live: bool,
    /// Attempts Asterisk still reported from it after the block was applied.
    pub attempts_since_block: u64,
    pub last_attempt_since_block: Option<DateTime<Utc>>,
    /// In answers to writes: what Asterisk (or Kamailio) applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
}

/// `POST /api/v1/security/blocked`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    #[schema(example = "203.0.113.9")]
    pub address: String,
    pub reason: Option<String>,
    /// How long; absent or 0: until lifted.
    pub duration_secs: Option<u64>,
}

#[derive(Clone)]
pub struct SecurityService {
    writer: Writer,
    monitor: SecurityMonitor,
    enforced_by: &'static str,
}

impl SecurityService {
    pub(super) fn new(writer: Writer, monitor: SecurityMonitor, kamailio: bool) -> Self {
        Self {
            writer,
            monitor,
            enforced_by: if kamailio { "kamailio" } else { "asterisk" },
        }
    }

    fn view(&self, block: &BlockedAddress) -> BlockedView {
        let leak = self.monitor.leak(block.address);
        BlockedView {
            live: leak.as_ref().is_some_and(|l| l.attempts == 0),
            attempts_since_block: leak.as_ref().map_or(0, |l| l.attempts),
            last_attempt_since_block: leak.and_then(|l| l.last),
            address: block.address.to_string(),
            reason: block.reason.clone(),
            failures: block.failures,
            blocked_by: block.blocked_by.clone(),
            created_at: block.created_at,
            expires_at: block.expires_at,
            enforced_by: self.enforced_by,
            apply: None,
        }
    }

    /// Every block, read from the database (so right at once after a restart).
    pub async fn blocked(&self) -> Result<Vec<BlockedView>, ServiceError> {
        Ok(store::blocks::all(self.writer.db())
            .await?
            .iter()
            .map(|b| self.view(b))
            .collect())
    }

    /// The sources with the most recent failures, from memory.
    pub fn sources(&self, limit: usize) -> Vec<SourceReport> {
        self.monitor.top_sources(limit)
    }

    /// Prometheus text of the per-source counters, for `/metrics`.
    pub fn render_metrics(&self, out: &mut String) {
        self.monitor.render_metrics(out);
    }

    /// Parses an address named by a client; 422 naming `field` otherwise.
    fn address(&self, field: &str, text: &str) -> Result<IpAddr, ServiceError> {
        let text = text.trim();
        let address: IpAddr = text.parse().map_err(|_| {
            ServiceError::Validation(FieldErrors::single(
                field,
                "must be one IPv4 or IPv6 address (no network, no port)",
            ))
        })?;
        if let Some(net) = self.monitor.protects(address) {
            return Err(ServiceError::Validation(FieldErrors::single(
                field,
                format!("{address} is never blocked (rayan's own or a listed address: {net})"),
            )));
        }
        Ok(address)
    }

    /// An admin's block.
    pub async fn block(&self, actor: &Actor, input: NewBlock) -> Result<BlockedView, ServiceError> {
        let address = self.address("address", &input.address)?;
        let reason = input
            .reason
            .unwrap_or_else(|| "blocked by an admin".to_owned());
        if reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
            return Err(ServiceError::Validation(FieldErrors::single(
                "reason",
                format!("at most {MAX_REASON} characters, no control characters"),
            )));
        }
        let now = Utc::now();
        let expires_at = input.duration_secs.filter(|s| *s > 0).map(|s| {
            now + chrono::Duration::seconds(
                i64::try_from(s).unwrap_or(i64::MAX / 1000).min(315_360_000),
            )
        });
        let block = BlockedAddress {
            address,
            reason,
            failures: 0,
            blocked_by: actor.name.clone(),
            created_at: now,
            expires_at,
        };
        self.store_block(actor, block).await
    }

    async fn store_block(
        &self,
        actor: &Actor,
        block: BlockedAddress,
    ) -> Result<BlockedView, ServiceError> {
        let object = ObjectRef::blocked_address(block.address);
        let mut write = self.writer.write(actor).await?;
        let before = store::blocks::get(&*write, block.address).await?;
        store::blocks::upsert(&*write, &block).await?;
        let action = if before.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        write
            .audit(
                action,
                &object,
                before.map(|b| audit_image(&b)),
                Some(audit_image(&block)),
            )
            .await?;
        let apply = write.commit_and_apply(&ObjectRef::blocklist()).await?;
        if apply.status == crate::apply::Outcome::Verified {
            self.monitor.block_enforced(block.address);
        }
        let mut view = self.view(&block);
        view.apply = Some(apply);
        Ok(view)
    }

    /// Lifts a block; 404 when the address is not blocked.
    pub async fn unblock(&self, actor: &Actor, address: &str) -> Result<ApplyView, ServiceError> {
        let address: IpAddr = address.trim().parse().map_err(|_| {
            ServiceError::Validation(FieldErrors::single(
                "address",
                "must be one IPv4 or IPv6 address",
            ))
        })?;
        let mut write = self.writer.write(actor).await?;
        let Some(before) = store::blocks::get(&*write, address).await? else {
            return Err(ServiceError::NotFound(format!("blocked address {address}")));
        };
        store::blocks::delete(&*write, address).await?;
        write
            .audit(
                Action::Delete,
                &ObjectRef::blocked_address(address),
                Some(audit_image(&before)),
                None,
            )
            .await?;
        let apply = write.commit_and_apply(&ObjectRef::blocklist()).await?;
        self.monitor.unblocked(address);
        Ok(apply)
    }

    /// Makes the blocks the monitor asks for, and lifts expired ones.
    pub fn run(
        self,
        mut candidates: mpsc::Receiver<BlockCandidate>,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            // Blocks kept from before a restart are in the files already.
            match store::blocks::all(self.writer.db()).await {
                Ok(blocks) => blocks
                    .iter()
                    .for_each(|b| self.monitor.block_enforced(b.address)),
                Err(e) => tracing::warn!(error = %e, "cannot read the blocks"),
            }
            let mut expiry = tokio::time::interval(EXPIRY_CHECK);
            loop {
                let candidate = tokio::select! {
                    candidate = candidates.recv() => match candidate {
                        Some(candidate) => Some(candidate),
                        None => break,
                    },
                    _ = expiry.tick() => None,
                    _ = shutdown.wait_for(|stop| *stop) => break,
                };
                match candidate {
                    Some(candidate) => self.block_automatically(candidate).await,
                    None => self.lift_expired().await,
                }
            }
        })
    }

    async fn block_automatically(&self, candidate: BlockCandidate) {
        let settings = self.monitor.settings();
        match store::blocks::count_by(self.writer.db(), AUTOMATIC).await {
            Ok(count) if count >= settings.max_blocked as u64 => {
                tracing::warn!(
                    address = %candidate.address,
                    blocked = count,
                    "not blocking: security.max_blocked automatic blocks are in force already"
                );
                self.monitor.unblocked(candidate.address);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the blocks");
                self.monitor.unblocked(candidate.address);
                return;
            }
        }
        let now = Utc::now();
        let reason = format!(
            "{} failed attempts within {} s{}",
            candidate.failures,
            settings.window_secs,
            candidate
                .account
                .as_deref()
                .map(|a| format!(", last account '{}'", a.escape_debug()))
                .unwrap_or_default()
        );
        let block = BlockedAddress {
            address: candidate.address,
            reason: reason.chars().take(MAX_REASON).collect(),
            failures: candidate.failures,
            blocked_by: AUTOMATIC.to_owned(),
            created_at: now,
            expires_at: (settings.block_secs > 0).then(|| {
                now + chrono::Duration::seconds(
                    i64::try_from(settings.block_secs).unwrap_or(i64::MAX / 1000),
                )
            }),
        };
        let actor = Actor {
            token_id: None,
            name: AUTOMATIC.to_owned(),
        };
        tracing::warn!(address = %candidate.address, failures = candidate.failures, "blocking a source that keeps failing to authenticate");
        if let Err(e) = self.store_block(&actor, block).await {
            tracing::error!(address = %candidate.address, error = %e, "cannot block");
            self.monitor.unblocked(candidate.address);
        }
    }

    async fn lift_expired(&self) {
        let expired = match store::blocks::expired(self.writer.db(), Utc::now()).await {
            Ok(expired) => expired,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read expired blocks");
                return;
            }
        };
        let actor = Actor {
            token_id: None,
            name: AUTOMATIC.to_owned(),
        };
        for block in expired {
            tracing::info!(address = %block.address, "a block expired");
            if let Err(e) = self.unblock(&actor, &block.address.to_string()).await {
                tracing::warn!(address = %block.address, error = %e, "cannot lift an expired block");
            }
        }
    }
}

fn audit_image(block: &BlockedAddress) -> serde_json::Value {
    serde_json::to_value(block).unwrap_or_default()
}
