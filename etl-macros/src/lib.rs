//! The `#[workflow]` and `#[step]` macros of etl.
//!
//! Not written yet: this crate holds their place in the workspace so the
//! facade's layout is final. The design is in the project's ARCHITECTURE.md:
//! a parameter named after a step receives that step's output, so rustc checks
//! the DAG's dependencies and types.
