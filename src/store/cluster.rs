//! What the nodes sharing one database know of each other: the change counter
//! every write bumps (and, on PostgreSQL, announces), what each node has applied,
//! its health, each object's outcome per node, and the key check value.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::sqlx;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, Statement,
};

use super::StoreError;
use super::entities::{cluster, node, object_outcome};
use crate::model::apply::ObjectOutcome;

/// The PostgreSQL channel a committed change is announced on.
pub const CHANGES_CHANNEL: &str = "rayan_changes";

/// What a change announcement carries: the generation it made and the node it
/// was written through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub generation: i64,
    pub node: String,
}

impl Announcement {
    pub fn payload(&self) -> String {
        format!("{} {}", self.generation, self.node)
    }

    /// `None` for a payload this version did not write.
    pub fn parse(payload: &str) -> Option<Announcement> {
        let (generation, node) = payload.split_once(' ')?;
        Some(Announcement {
            generation: generation.parse().ok()?,
            node: node.to_owned(),
        })
    }
}

/// Bumps the change counter inside the write's transaction and, on PostgreSQL,
/// announces it; both take effect at commit, in commit order (the row lock
/// orders concurrent writers). Returns the new generation.
pub async fn bump(txn: &impl ConnectionTrait, node: &str) -> Result<i64, StoreError> {
    let backend = txn.get_database_backend();
    let row = txn
        .query_one(Statement::from_string(
            backend,
            "UPDATE cluster SET generation = generation + 1 WHERE id = 1 RETURNING generation",
        ))
        .await?
        .ok_or_else(|| StoreError::Corrupt("the cluster row is missing".into()))?;
    let generation: i64 = row.try_get("", "generation")?;
    if backend == DbBackend::Postgres {
        let announcement = Announcement {
            generation,
            node: node.to_owned(),
        };
        txn.execute(Statement::from_sql_and_values(
            backend,
            "SELECT pg_notify($1, $2)",
            [CHANGES_CHANNEL.into(), announcement.payload().into()],
        ))
        .await?;
    }
    Ok(generation)
}

async fn row(db: &impl ConnectionTrait) -> Result<cluster::Model, StoreError> {
    cluster::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the cluster row is missing".into()))
}

/// The newest committed generation.
pub async fn generation(db: &impl ConnectionTrait) -> Result<i64, StoreError> {
    Ok(row(db).await?.generation)
}

/// A node's own view of its Asterisk, written with every heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub ami_connected: bool,
    pub asterisk_version: Option<String>,
}

/// Says the node is alive now, and how its Asterisk is.
pub async fn heartbeat(
    db: &impl ConnectionTrait,
    node_name: &str,
    health: &Health,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    node::Entity::update_many()
        .col_expr(node::Column::LastSeenAt, Expr::value(Some(now)))
        .col_expr(
            node::Column::AmiConnected,
            Expr::value(health.ami_connected),
        )
        .col_expr(
            node::Column::AsteriskVersion,
            Expr::value(health.asterisk_version.clone()),
        )
        .filter(node::Column::Name.eq(node_name))
        .exec(db)
        .await?;
    Ok(())
}

/// The apply a node finished.
#[derive(Debug, Clone)]
pub struct Applied<'a> {
    pub node: &'a str,
    /// The generation read before rendering: the files reflect at least it.
    pub generation: i64,
    /// Whether the files were written and reloaded; `false` while Asterisk is
    /// unreachable, and then the node stays behind.
    pub caught_up: bool,
    pub apply_id: i64,
    pub status: &'a str,
    pub finished_at: DateTime<Utc>,
    pub objects: &'a [ObjectOutcome],
}

/// Records a finished apply: the node's last apply, its applied generation (never
/// lowered), and the outcome of each object it touched.
pub async fn record_applied(
    db: &impl ConnectionTrait,
    applied: &Applied<'_>,
) -> Result<(), StoreError> {
    // A removed object's outcome has nothing left to describe.
    let (gone, kept): (Vec<&ObjectOutcome>, Vec<&ObjectOutcome>) = applied
        .objects
        .iter()
        .partition(|o| o.change == "removed" && o.status == crate::model::apply::Outcome::Verified);
    for chunk in gone.chunks(500) {
        let mut condition = sea_orm::Condition::any();
        for o in chunk {
            condition = condition.add(
                sea_orm::Condition::all()
                    .add(object_outcome::Column::Kind.eq(o.kind.as_str()))
                    .add(object_outcome::Column::Name.eq(o.name.as_str())),
            );
        }
        object_outcome::Entity::delete_many()
            .filter(object_outcome::Column::Node.eq(applied.node))
            .filter(condition)
            .exec(db)
            .await?;
    }
    // 7 values a row: well inside every backend's limit on bound values.
    for chunk in kept.chunks(500) {
        let rows = chunk.iter().map(|o| object_outcome::ActiveModel {
            kind: Set(o.kind.clone()),
            name: Set(o.name.clone()),
            node: Set(applied.node.to_owned()),
            status: Set(o.status.as_str().to_owned()),
            detail: Set(o.detail.clone()),
            generation: Set(applied.generation),
            updated_at: Set(applied.finished_at),
        });
        object_outcome::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    object_outcome::Column::Kind,
                    object_outcome::Column::Name,
                    object_outcome::Column::Node,
                ])
                .update_columns([
                    object_outcome::Column::Status,
                    object_outcome::Column::Detail,
                    object_outcome::Column::Generation,
                    object_outcome::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec(db)
            .await?;
    }
    // Last, so that a node seen at a generation has its outcomes recorded.
    node::Entity::update_many()
        .col_expr(
            node::Column::LastApplyId,
            Expr::value(Some(applied.apply_id)),
        )
        .col_expr(
            node::Column::LastApplyStatus,
            Expr::value(Some(applied.status.to_owned())),
        )
        .col_expr(
            node::Column::LastApplyAt,
            Expr::value(Some(applied.finished_at)),
        )
        .filter(node::Column::Name.eq(applied.node))
        .exec(db)
        .await?;
    if applied.caught_up {
        node::Entity::update_many()
            .col_expr(
                node::Column::AppliedGeneration,
                Expr::value(applied.generation),
            )
            .filter(node::Column::Name.eq(applied.node))
            .filter(node::Column::AppliedGeneration.lt(applied.generation))
            .exec(db)
            .await?;
    }
    Ok(())
}

pub type OutcomeRow = object_outcome::Model;

/// One object's last outcome on every node that applied it.
pub async fn outcomes_of(
    db: &impl ConnectionTrait,
    kind: &str,
    name: &str,
) -> Result<Vec<OutcomeRow>, StoreError> {
    Ok(object_outcome::Entity::find()
        .filter(object_outcome::Column::Kind.eq(kind))
        .filter(object_outcome::Column::Name.eq(name))
        .all(db)
        .await?)
}

/// The stored key check value, if a node has stored one.
pub async fn key_check(db: &impl ConnectionTrait) -> Result<Option<String>, StoreError> {
    Ok(row(db).await?.key_check)
}

/// Stores `value` unless one is stored already; returns the one that counts.
pub async fn settle_key_check(
    db: &impl ConnectionTrait,
    value: &str,
) -> Result<String, StoreError> {
    cluster::Entity::update_many()
        .col_expr(
            cluster::Column::KeyCheck,
            Expr::value(Some(value.to_owned())),
        )
        .filter(cluster::Column::Id.eq(1))
        .filter(cluster::Column::KeyCheck.is_null())
        .exec(db)
        .await?;
    key_check(db)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the key check value did not stay".into()))
}

/// Change announcements, on a connection of their own (PostgreSQL only).
pub struct ChangeListener {
    inner: sqlx::postgres::PgListener,
}

/// What the listener heard.
#[derive(Debug)]
pub enum Heard {
    Change(Announcement),
    /// The connection was lost and is being made again: announcements made
    /// meanwhile are gone, so the listener must catch up from the generation.
    Reconnected,
}

impl ChangeListener {
    /// `None` on SQLite, where one node owns the database.
    pub async fn start(db: &DatabaseConnection) -> Result<Option<ChangeListener>, StoreError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let pool = db.get_postgres_connection_pool();
        let mut inner = sqlx::postgres::PgListener::connect_with(pool)
            .await
            .map_err(sqlx_error)?;
        inner.listen(CHANGES_CHANNEL).await.map_err(sqlx_error)?;
        Ok(Some(ChangeListener { inner }))
    }

    /// Waits for the next announcement; an error means the database is not
    /// reachable now (try again later).
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        loop {
            match self.inner.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(announcement) = Announcement::parse(notification.payload()) {
                        return Ok(Heard::Change(announcement));
                    }
                }
                Ok(None) => return Ok(Heard::Reconnected),
                Err(e) => return Err(sqlx_error(e)),
            }
        }
    }
}

/// A PostgreSQL advisory lock held on a connection of its own: it ends when the
/// connection does (the holder died), so another node can take over.
pub struct HeldLock {
    connection: sqlx::PgConnection,
}

impl HeldLock {
    /// Takes the lock named `key` if nobody holds it. `Ok(None)`: someone does.
    pub async fn try_take(
        db: &DatabaseConnection,
        key: i64,
    ) -> Result<Option<HeldLock>, StoreError> {
        use sqlx::Row;
        let pool = db.get_postgres_connection_pool();
        let mut connection = pool.acquire().await.map_err(sqlx_error)?.detach();
        let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind(key)
            .fetch_one(&mut connection)
            .await
            .map_err(sqlx_error)?;
        let taken: bool = row.try_get("taken").map_err(sqlx_error)?;
        // Out of the pool: a held lock's connection is never handed to anyone else.
        Ok(taken.then_some(HeldLock { connection }))
    }

    /// True while the lock's connection still answers.
    pub async fn still_held(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.connection)
            .await
            .is_ok()
    }
}

fn sqlx_error(e: sqlx::Error) -> StoreError {
    StoreError::Db(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)))
}

#[cfg(test)]
mod tests {
    use super::Announcement;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn announcements_read_back(generation in 0i64.., node in "[a-z0-9_-]{1,63}") {
            let a = Announcement { generation, node };
            prop_assert_eq!(Announcement::parse(&a.payload()), Some(a));
        }

        #[test]
        fn stray_payloads_are_ignored(payload in "\\PC{0,40}") {
            if let Some(a) = Announcement::parse(&payload) {
                prop_assert_eq!(Announcement::parse(&a.payload()), Some(a));
            }
        }
    }
}
