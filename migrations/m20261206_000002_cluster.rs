//! Several nodes on one database: a change counter every write bumps, what each
//! node has applied and how it is, each object's outcome per node, and the key
//! check value that tells a node whether its secret key is the cluster's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000002_cluster"
    }
}

#[derive(DeriveIden)]
enum Cluster {
    Table,
    Id,
    Generation,
    KeyCheck,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    AppliedGeneration,
    AmiConnected,
    AsteriskVersion,
    LastApplyId,
    LastApplyStatus,
    LastApplyAt,
}

#[derive(DeriveIden)]
enum ObjectOutcomes {
    Table,
    Node,
    Kind,
    Name,
    Status,
    Detail,
    Generation,
    UpdatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Cluster::Table)
                .col(integer(Cluster::Id).primary_key())
                .col(big_integer(Cluster::Generation).default(0))
                .col(string_len_null(Cluster::KeyCheck, 64))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(Cluster::Table)
                .columns([Cluster::Id, Cluster::Generation])
                .values_panic([1.into(), 0.into()])
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per statement.
        for column in [
            big_integer(Nodes::AppliedGeneration).default(0).take(),
            boolean(Nodes::AmiConnected).default(false).take(),
            string_len_null(Nodes::AsteriskVersion, 80),
            big_integer_null(Nodes::LastApplyId),
            string_len_null(Nodes::LastApplyStatus, 20),
            timestamp_with_time_zone_null(Nodes::LastApplyAt),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Nodes::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(ObjectOutcomes::Table)
                .col(string_len(ObjectOutcomes::Node, 63))
                .col(string_len(ObjectOutcomes::Kind, 40))
                .col(string_len(ObjectOutcomes::Name, 255))
                .col(string_len(ObjectOutcomes::Status, 20))
                .col(text_null(ObjectOutcomes::Detail))
                .col(big_integer(ObjectOutcomes::Generation))
                .col(timestamp_with_time_zone(ObjectOutcomes::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(ObjectOutcomes::Kind)
                        .col(ObjectOutcomes::Name)
                        .col(ObjectOutcomes::Node),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ObjectOutcomes::Table).to_owned())
            .await?;
        for column in [
            Nodes::LastApplyAt,
            Nodes::LastApplyStatus,
            Nodes::LastApplyId,
            Nodes::AsteriskVersion,
            Nodes::AmiConnected,
            Nodes::AppliedGeneration,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Nodes::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.drop_table(Table::drop().table(Cluster::Table).to_owned())
            .await
    }
}
