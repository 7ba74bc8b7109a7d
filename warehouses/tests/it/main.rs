//! Integration tests of the warehouses: the shared conformance suite against
//! real SQLite and DuckDB files and a real PostgreSQL (each also boxed, as
//! chosen at run time),
//! then what is particular to each.

mod boxed;
mod duckdb;
mod postgres;
mod sources;
mod sqlite;
