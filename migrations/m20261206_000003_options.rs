//! Per-object PJSIP option overrides on extensions and trunks.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000003_options"
    }
}

#[derive(DeriveIden)]
enum Extensions {
    Table,
    Options,
}

#[derive(DeriveIden)]
enum Trunks {
    Table,
    Options,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Extensions::Table)
                .add_column(json_null(Extensions::Options))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Trunks::Table)
                .add_column(json_null(Trunks::Options))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Trunks::Table)
                .drop_column(Trunks::Options)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Extensions::Table)
                .drop_column(Extensions::Options)
                .to_owned(),
        )
        .await
    }
}
