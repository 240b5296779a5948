//! Compile-time tests of `#[tied::layer]`: every misuse in `tests/ui/*.rs` must fail with the
//! reviewed message in its `.stderr`, and every case in `tests/ui/pass/*.rs` must build and run.
//! See `tests/ui/README.md` to add a case.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
