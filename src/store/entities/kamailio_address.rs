use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kamailio_addresses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub group_id: i32,
    pub address: String,
    pub port: i32,
    pub tag: Option<String>,
    pub trunk_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
