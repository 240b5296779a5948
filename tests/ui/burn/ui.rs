//! Compile-time tests of `#[tied::burn::layer]` (Burn): every misuse in `fail/*.rs` must fail
//! with the reviewed message in its `.stderr`, and every case in `pass/*.rs` must build and run.
//! See `tests/ui/README.md` to add a case.

#[test]
fn ui() {
    // Misuses: a project without a pass case is one `cargo check --keep-going` of every case at
    // once; a project with one is built a case at a time.
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    drop(t);

    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
}
