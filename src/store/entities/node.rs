use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub sip_address: String,
    pub ami_address: String,
    pub last_seen_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The change counter this node's files reflect.
    pub applied_generation: i64,
    pub ami_connected: bool,
    pub asterisk_version: Option<String>,
    pub last_apply_id: Option<i64>,
    pub last_apply_status: Option<String>,
    pub last_apply_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
