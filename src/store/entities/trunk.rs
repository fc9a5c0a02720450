use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "trunks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub provider: String,
    pub username: Option<String>,
    /// base64(nonce || ciphertext) of the provider password.
    pub secret_enc: Option<String>,
    pub server: Option<String>,
    pub port: Option<i32>,
    pub did: Option<String>,
    pub context: String,
    pub codecs: Option<Json>,
    pub match_addresses: Json,
    pub enabled: bool,
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
