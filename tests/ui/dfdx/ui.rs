//! Compile-time tests of `#[tied::layer]` (dfdx): every misuse in `fail/*.rs` must fail with the
//! reviewed message in its `.stderr`, and every case in `pass/*.rs` must build and run. See
//! `tests/ui/README.md` to add a case.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    t.pass("pass/*.rs");
}
