//! Compile-time tests of `#[tied::layer]`: every misuse in `tests/ui/*.rs` must fail with the
//! reviewed message in its `.stderr`, and every case in `tests/ui/pass/*.rs` must build and run.
//! See `tests/ui/README.md` to add a case.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
    // `#[tied::burn::layer]`, with the `burn` feature (the README's test command has it).
    if cfg!(feature = "burn") {
        t.compile_fail("tests/ui/burn/*.rs");
        t.pass("tests/ui/burn/pass/*.rs");
    }
}
