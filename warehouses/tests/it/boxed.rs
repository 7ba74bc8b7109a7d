//! The warehouses behind `Box<dyn DynWarehouse>`, as a pipeline file or a
//! registry chooses them at run time: the same conformance suite, through
//! the boxed futures.

use std::path::Path;

use etl_core::BoxedWarehouse;
use etl_warehouses::{DuckDbWarehouse, SqliteWarehouse};

mod sqlite {
    use super::*;
    etl_testing::warehouse_conformance!(|dir: &Path| {
        SqliteWarehouse::open(dir.join("dwh.sqlite")).map(|w| Box::new(w) as BoxedWarehouse)
    });
}

mod duckdb {
    use super::*;
    etl_testing::warehouse_conformance!(|dir: &Path| {
        DuckDbWarehouse::open(dir.join("dwh.duckdb")).map(|w| Box::new(w) as BoxedWarehouse)
    });
}
