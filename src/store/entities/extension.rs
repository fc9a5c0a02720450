use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "extensions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub number: String,
    pub name: Option<String>,
    pub template: String,
    pub context: String,
    pub codecs: Option<Json>,
    pub max_contacts: Option<i32>,
    pub caller_id: Option<String>,
    pub enabled: bool,
    pub auth_realm: String,
    pub md5_cred: String,
    pub created_at: DateTimeUtc,
    /// Per-object PJSIP option overrides (`ObjectOptions`).
    pub options: Option<Json>,
    /// The transport its endpoint names; `None`: the default for its template.
    pub transport: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
