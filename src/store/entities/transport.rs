use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "transports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub protocol: String,
    pub bind: String,
    pub port: Option<i32>,
    pub external_media_address: Option<String>,
    pub external_signaling_address: Option<String>,
    pub external_signaling_port: Option<i32>,
    /// A JSON array of networks.
    pub local_net: Json,
    pub tos: Option<String>,
    pub cos: Option<i32>,
    /// `TlsSettings` as JSON; absent for transports without TLS.
    pub tls: Option<Json>,
    pub allow_reload: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
