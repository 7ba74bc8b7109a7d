//! Compile-time checks of `#[workflow]`: what compiles, and each mistake's
//! error at its token (`tests/ui/fail/*.stderr`). `TRYBUILD=overwrite`
//! rewrites the snapshots after a deliberate change.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
