//! The server's API over real state stores, through real HTTP on 127.0.0.1.

mod api;
mod edges;
mod page;
mod schemathesis;
mod triggers;
