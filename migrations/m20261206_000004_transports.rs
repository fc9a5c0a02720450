//! Managed PJSIP transports, and the transport an extension or trunk names.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000004_transports"
    }
}

#[derive(DeriveIden)]
enum Transports {
    Table,
    Id,
    Name,
    Protocol,
    Bind,
    Port,
    ExternalMediaAddress,
    ExternalSignalingAddress,
    ExternalSignalingPort,
    LocalNet,
    Tos,
    Cos,
    Tls,
    AllowReload,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Extensions {
    Table,
    Transport,
}

#[derive(DeriveIden)]
enum Trunks {
    Table,
    Transport,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Transports::Table)
                .col(big_integer(Transports::Id).auto_increment().primary_key())
                .col(string_len_uniq(Transports::Name, 40))
                .col(string_len(Transports::Protocol, 8))
                .col(string_len(Transports::Bind, 64))
                .col(integer_null(Transports::Port))
                .col(string_len_null(Transports::ExternalMediaAddress, 255))
                .col(string_len_null(Transports::ExternalSignalingAddress, 255))
                .col(integer_null(Transports::ExternalSignalingPort))
                .col(json(Transports::LocalNet))
                .col(string_len_null(Transports::Tos, 16))
                .col(integer_null(Transports::Cos))
                .col(json_null(Transports::Tls))
                .col(boolean(Transports::AllowReload).default(false))
                .col(timestamp_with_time_zone(Transports::CreatedAt))
                .col(timestamp_with_time_zone(Transports::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Extensions::Table)
                .add_column(string_len_null(Extensions::Transport, 40))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Trunks::Table)
                .add_column(string_len_null(Trunks::Transport, 40))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Trunks::Table)
                .drop_column(Trunks::Transport)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Extensions::Table)
                .drop_column(Extensions::Transport)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Transports::Table).to_owned())
            .await
    }
}
