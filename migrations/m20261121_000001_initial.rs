//! The whole schema: configuration (extensions, trunks, routes, templates),
//! access (api_tokens, audit_log), operations (applies, calls, nodes) and the
//! Kamailio tables (dispatchers, trusted addresses).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000001_initial"
    }
}

#[derive(DeriveIden)]
enum Extensions {
    Table,
    Id,
    Number,
    Name,
    Template,
    Context,
    Codecs,
    MaxContacts,
    CallerId,
    Enabled,
    AuthRealm,
    Md5Cred,
}

#[derive(DeriveIden)]
enum Trunks {
    Table,
    Id,
    Name,
    Provider,
    Username,
    SecretEnc,
    Server,
    Port,
    Did,
    Context,
    Codecs,
    MatchAddresses,
    Enabled,
}

#[derive(DeriveIden)]
enum ProviderTemplates {
    Table,
    Id,
    DisplayName,
    AuthType,
    Builtin,
    Definition,
}

#[derive(DeriveIden)]
enum ExtensionTemplates {
    Table,
    Id,
    DisplayName,
    Description,
    Builtin,
    Definition,
}

#[derive(DeriveIden)]
enum InboundRoutes {
    Table,
    Id,
    Did,
    TrunkId,
    ExtensionId,
}

#[derive(DeriveIden)]
enum OutboundRoutes {
    Table,
    Id,
    Name,
    Pattern,
    TrunkId,
    Strip,
    Prepend,
    Priority,
    Context,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    Role,
    TokenHash,
    Prefix,
    CreatedBy,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Applies {
    Table,
    Id,
    Node,
    Trigger,
    Status,
    DryRun,
    RequestedAt,
    StartedAt,
    FinishedAt,
    Files,
    Reloads,
    Objects,
    Detail,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    TokenId,
    Actor,
    Action,
    ObjectKind,
    ObjectId,
    Before,
    After,
}

#[derive(DeriveIden)]
enum Calls {
    Table,
    Id,
    Node,
    Uniqueid,
    Linkedid,
    FromNumber,
    ToNumber,
    StartedAt,
    AnsweredAt,
    EndedAt,
    DurationS,
    BillableS,
    Disposition,
    Cause,
    CauseText,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Name,
    SipAddress,
    AmiAddress,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum KamailioDispatchers {
    Table,
    Id,
    SetId,
    Uri,
    Priority,
    Attributes,
    State,
    NodeId,
}

#[derive(DeriveIden)]
enum KamailioAddresses {
    Table,
    Id,
    GroupId,
    Address,
    Port,
    Tag,
    TrunkId,
}

/// A 64-bit auto-increment primary key (plain INTEGER PRIMARY KEY on SQLite).
fn big_pk_auto<T: IntoIden>(name: T) -> ColumnDef {
    big_integer(name).auto_increment().primary_key().take()
}

fn created() -> ColumnDef {
    timestamp_with_time_zone(Alias::new("created_at"))
        .default(Expr::current_timestamp())
        .take()
}

fn updated() -> ColumnDef {
    timestamp_with_time_zone(Alias::new("updated_at"))
        .default(Expr::current_timestamp())
        .take()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Extensions::Table)
                .col(big_pk_auto(Extensions::Id))
                .col(string_len_uniq(Extensions::Number, 20))
                .col(string_len_null(Extensions::Name, 200))
                .col(string_len(Extensions::Template, 40))
                .col(string_len(Extensions::Context, 80))
                .col(json_null(Extensions::Codecs))
                .col(integer_null(Extensions::MaxContacts))
                .col(string_len_null(Extensions::CallerId, 200))
                .col(boolean(Extensions::Enabled).default(true))
                .col(string_len(Extensions::AuthRealm, 80))
                .col(string_len(Extensions::Md5Cred, 64))
                .col(created())
                .col(updated())
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_extensions_context", Extensions::Context),
            ("idx_extensions_template", Extensions::Template),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Extensions::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(ProviderTemplates::Table)
                .col(string_len(ProviderTemplates::Id, 40).primary_key())
                .col(string_len(ProviderTemplates::DisplayName, 120))
                .col(string_len(ProviderTemplates::AuthType, 20))
                .col(boolean(ProviderTemplates::Builtin).default(false))
                .col(json(ProviderTemplates::Definition))
                .col(created())
                .col(updated())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ExtensionTemplates::Table)
                .col(string_len(ExtensionTemplates::Id, 40).primary_key())
                .col(string_len(ExtensionTemplates::DisplayName, 120))
                .col(text(ExtensionTemplates::Description))
                .col(boolean(ExtensionTemplates::Builtin).default(false))
                .col(json(ExtensionTemplates::Definition))
                .col(created())
                .col(updated())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Trunks::Table)
                .col(big_pk_auto(Trunks::Id))
                .col(string_len_uniq(Trunks::Name, 40))
                .col(string_len(Trunks::Provider, 40))
                .col(string_len_null(Trunks::Username, 200))
                .col(text_null(Trunks::SecretEnc))
                .col(string_len_null(Trunks::Server, 255))
                .col(integer_null(Trunks::Port))
                .col(string_len_null(Trunks::Did, 40))
                .col(string_len(Trunks::Context, 80))
                .col(json_null(Trunks::Codecs))
                .col(json(Trunks::MatchAddresses))
                .col(boolean(Trunks::Enabled).default(true))
                .col(created())
                .col(updated())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_trunks_provider")
                        .from(Trunks::Table, Trunks::Provider)
                        .to(ProviderTemplates::Table, ProviderTemplates::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(InboundRoutes::Table)
                .col(big_pk_auto(InboundRoutes::Id))
                .col(string_len(InboundRoutes::Did, 40))
                .col(big_integer_null(InboundRoutes::TrunkId))
                .col(big_integer(InboundRoutes::ExtensionId))
                .col(created())
                .col(updated())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_inbound_trunk")
                        .from(InboundRoutes::Table, InboundRoutes::TrunkId)
                        .to(Trunks::Table, Trunks::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_inbound_extension")
                        .from(InboundRoutes::Table, InboundRoutes::ExtensionId)
                        .to(Extensions::Table, Extensions::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_inbound_did_trunk")
                .table(InboundRoutes::Table)
                .col(InboundRoutes::Did)
                .col(InboundRoutes::TrunkId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(OutboundRoutes::Table)
                .col(big_pk_auto(OutboundRoutes::Id))
                .col(string_len_uniq(OutboundRoutes::Name, 80))
                .col(string_len(OutboundRoutes::Pattern, 80))
                .col(big_integer(OutboundRoutes::TrunkId))
                .col(integer(OutboundRoutes::Strip).default(0))
                .col(string_len(OutboundRoutes::Prepend, 40).default(""))
                .col(integer(OutboundRoutes::Priority).default(100))
                .col(string_len(OutboundRoutes::Context, 80))
                .col(created())
                .col(updated())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_outbound_trunk")
                        .from(OutboundRoutes::Table, OutboundRoutes::TrunkId)
                        .to(Trunks::Table, Trunks::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(big_pk_auto(ApiTokens::Id))
                .col(string_len(ApiTokens::Name, 120))
                .col(string_len(ApiTokens::Role, 20))
                .col(string_len_uniq(ApiTokens::TokenHash, 64))
                .col(string_len(ApiTokens::Prefix, 16))
                .col(big_integer_null(ApiTokens::CreatedBy))
                .col(created())
                .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Applies::Table)
                .col(big_pk_auto(Applies::Id))
                .col(string_len(Applies::Node, 63))
                .col(string_len(Applies::Trigger, 200))
                .col(string_len(Applies::Status, 20))
                .col(boolean(Applies::DryRun).default(false))
                .col(
                    timestamp_with_time_zone(Applies::RequestedAt)
                        .default(Expr::current_timestamp()),
                )
                .col(timestamp_with_time_zone_null(Applies::StartedAt))
                .col(timestamp_with_time_zone_null(Applies::FinishedAt))
                .col(json_null(Applies::Files))
                .col(json_null(Applies::Reloads))
                .col(json_null(Applies::Objects))
                .col(text_null(Applies::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_applies_node_id")
                .table(Applies::Table)
                .col(Applies::Node)
                .col(Applies::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_pk_auto(AuditLog::Id))
                .col(timestamp_with_time_zone(AuditLog::At).default(Expr::current_timestamp()))
                .col(big_integer_null(AuditLog::TokenId))
                .col(string_len(AuditLog::Actor, 120))
                .col(string_len(AuditLog::Action, 20))
                .col(string_len(AuditLog::ObjectKind, 40))
                .col(string_len(AuditLog::ObjectId, 120))
                .col(json_null(AuditLog::Before))
                .col(json_null(AuditLog::After))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Calls::Table)
                .col(big_pk_auto(Calls::Id))
                .col(string_len(Calls::Node, 63))
                .col(string_len_uniq(Calls::Uniqueid, 64))
                .col(string_len(Calls::Linkedid, 64))
                .col(string_len(Calls::FromNumber, 80))
                .col(string_len(Calls::ToNumber, 80))
                .col(timestamp_with_time_zone(Calls::StartedAt))
                .col(timestamp_with_time_zone_null(Calls::AnsweredAt))
                .col(timestamp_with_time_zone(Calls::EndedAt))
                .col(integer(Calls::DurationS))
                .col(integer(Calls::BillableS))
                .col(string_len(Calls::Disposition, 20))
                .col(integer_null(Calls::Cause))
                .col(string_len_null(Calls::CauseText, 120))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_calls_started")
                .table(Calls::Table)
                .col(Calls::StartedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Nodes::Table)
                .col(big_pk_auto(Nodes::Id))
                .col(string_len_uniq(Nodes::Name, 63))
                .col(string_len(Nodes::SipAddress, 80))
                .col(string_len(Nodes::AmiAddress, 80))
                .col(timestamp_with_time_zone_null(Nodes::LastSeenAt))
                .col(created())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(KamailioDispatchers::Table)
                .col(big_pk_auto(KamailioDispatchers::Id))
                .col(integer(KamailioDispatchers::SetId))
                .col(string_len(KamailioDispatchers::Uri, 120))
                .col(integer(KamailioDispatchers::Priority).default(0))
                .col(string_len(KamailioDispatchers::Attributes, 255).default(""))
                .col(string_len(KamailioDispatchers::State, 20))
                .col(big_integer_null(KamailioDispatchers::NodeId))
                .col(created())
                .col(updated())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_dispatcher_node")
                        .from(KamailioDispatchers::Table, KamailioDispatchers::NodeId)
                        .to(Nodes::Table, Nodes::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_dispatcher_set_uri")
                .table(KamailioDispatchers::Table)
                .col(KamailioDispatchers::SetId)
                .col(KamailioDispatchers::Uri)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(KamailioAddresses::Table)
                .col(big_pk_auto(KamailioAddresses::Id))
                .col(integer(KamailioAddresses::GroupId))
                .col(string_len(KamailioAddresses::Address, 64))
                .col(integer(KamailioAddresses::Port).default(0))
                .col(string_len_null(KamailioAddresses::Tag, 64))
                .col(big_integer_null(KamailioAddresses::TrunkId))
                .col(created())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_address_trunk")
                        .from(KamailioAddresses::Table, KamailioAddresses::TrunkId)
                        .to(Trunks::Table, Trunks::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            KamailioAddresses::Table.into_iden(),
            KamailioDispatchers::Table.into_iden(),
            Nodes::Table.into_iden(),
            Calls::Table.into_iden(),
            AuditLog::Table.into_iden(),
            Applies::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            OutboundRoutes::Table.into_iden(),
            InboundRoutes::Table.into_iden(),
            Trunks::Table.into_iden(),
            ExtensionTemplates::Table.into_iden(),
            ProviderTemplates::Table.into_iden(),
            Extensions::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
