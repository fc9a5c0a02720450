//! Database migrations. They run at start (and with `rayand migrate`) and use
//! only portable column types, so the same steps work on PostgreSQL and SQLite.

use sea_orm_migration::prelude::*;

mod m20261121_000001_initial;
mod m20261206_000002_cluster;
mod m20261206_000003_options;
mod m20261206_000004_transports;
mod m20261206_000005_imports;
mod m20261206_000006_blocked_addresses;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_initial::Migration),
            Box::new(m20261206_000002_cluster::Migration),
            Box::new(m20261206_000003_options::Migration),
            Box::new(m20261206_000004_transports::Migration),
            Box::new(m20261206_000005_imports::Migration),
            Box::new(m20261206_000006_blocked_addresses::Migration),
        ]
    }
}
