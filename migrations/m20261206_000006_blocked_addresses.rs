//! Source addresses blocked for failing to authenticate, or by an admin.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000006_blocked_addresses"
    }
}

#[derive(DeriveIden)]
enum BlockedAddresses {
    Table,
    Address,
    Reason,
    Failures,
    BlockedBy,
    CreatedAt,
    ExpiresAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BlockedAddresses::Table)
                .col(string_len(BlockedAddresses::Address, 45).primary_key())
                .col(string_len(BlockedAddresses::Reason, 200))
                .col(integer(BlockedAddresses::Failures))
                .col(string_len(BlockedAddresses::BlockedBy, 200))
                .col(timestamp_with_time_zone(BlockedAddresses::CreatedAt))
                .col(timestamp_with_time_zone_null(BlockedAddresses::ExpiresAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BlockedAddresses::Table).to_owned())
            .await
    }
}
