use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "calls")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub node: String,
    #[sea_orm(unique)]
    pub uniqueid: String,
    pub linkedid: String,
    pub from_number: String,
    pub to_number: String,
    pub started_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    pub ended_at: DateTimeUtc,
    pub duration_s: i32,
    pub billable_s: i32,
    pub disposition: String,
    pub cause: Option<i32>,
    pub cause_text: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
