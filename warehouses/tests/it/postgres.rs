//! `PostgresWarehouse` against a real PostgreSQL (a throw-away cluster, or
//! `ETL_TEST_POSTGRES_URL`): the conformance suite, each check in a fresh
//! database, then what is particular to PostgreSQL.

use std::path::Path;

use etl_warehouses::{PostgresOptions, PostgresWarehouse};

/// A fresh database of the test server; its URL (the password in it).
pub(crate) fn fresh_database() -> String {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(etl_testing::postgres::shared().database())
    })
}

fn open(_: &Path) -> etl_core::Result<PostgresWarehouse> {
    PostgresWarehouse::new(&fresh_database(), PostgresOptions::default())
}

mod conformance {
    use super::*;
    etl_testing::warehouse_conformance!(open);
}

mod boxed {
    use super::*;
    use etl_core::BoxedWarehouse;
    etl_testing::warehouse_conformance!(
        |dir: &Path| open(dir).map(|w| Box::new(w) as BoxedWarehouse)
    );
}
