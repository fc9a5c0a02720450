//! What each import adopted, and the hand-written text it replaced.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000005_imports"
    }
}

#[derive(DeriveIden)]
enum Imports {
    Table,
    Id,
    At,
    Actor,
    Plan,
    Originals,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Imports::Table)
                .col(big_integer(Imports::Id).auto_increment().primary_key())
                .col(timestamp_with_time_zone(Imports::At))
                .col(string_len(Imports::Actor, 200))
                .col(json(Imports::Plan))
                .col(json(Imports::Originals))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Imports::Table).to_owned())
            .await
    }
}
