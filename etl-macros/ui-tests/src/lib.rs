//! Nothing here: `tests/ui.rs` holds the compile-time tests of `#[workflow]`
//! and `#[step]`, with the cases under `tests/ui/pass` and `tests/ui/fail`.
