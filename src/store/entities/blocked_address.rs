use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "blocked_addresses")]
pub struct Model {
    /// The address as `IpAddr` prints it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub address: String,
    pub reason: String,
    pub failures: i32,
    /// `security` for an automatic block, else the admin's token name.
    pub blocked_by: String,
    pub created_at: DateTimeUtc,
    /// `None`: until an admin lifts it.
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
