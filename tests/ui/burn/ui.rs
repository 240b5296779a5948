//! Compile-time tests of `#[tied::burn::layer]` (Burn): every misuse in `fail/*.rs` must fail
//! with the reviewed message in its `.stderr`. What must compile and run, `pass/*.rs`, is this
//! crate's library and its unit tests (`lib.rs`). See `tests/ui/README.md` to add a case.

#[test]
fn ui() {
    // Misuses: a project without a pass case is one `cargo check --keep-going` of every case at
    // once.
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
}
