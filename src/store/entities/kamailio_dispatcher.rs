use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kamailio_dispatchers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub set_id: i32,
    pub uri: String,
    pub priority: i32,
    pub attributes: String,
    pub state: String,
    pub node_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
