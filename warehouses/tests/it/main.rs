//! Integration tests of the warehouses: the shared conformance suite against
//! real SQLite and DuckDB files, then what is particular to each.

mod duckdb;
mod sqlite;
