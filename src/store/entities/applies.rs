use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "applies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub node: String,
    pub trigger: String,
    pub status: String,
    pub dry_run: bool,
    pub requested_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub files: Option<Json>,
    pub reloads: Option<Json>,
    pub objects: Option<Json>,
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
