//! Compile-time tests of `#[tied::layer]` (dfdx): every misuse in `fail/*.rs` and
//! `fail-build/*.rs` must fail with the reviewed message in its `.stderr`. What must compile and
//! run, `pass/*.rs`, is this crate's library and its unit tests (`lib.rs`). See
//! `tests/ui/README.md` to add a case.

#[test]
fn ui() {
    // What the macro or the type checker refuses: a project without a pass case is one
    // `cargo check --keep-going` of every case at once (trybuild builds a project with a pass
    // case one case at a time, each with `cargo build`).
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    drop(t);

    // The size checks that fail only when a layer is monomorphized, which `cargo check` does not
    // report, and their passing twin (`build/`, generic sizes that agree, built and run): trybuild
    // runs `cargo build` only for a project with a pass case, a case at a time.
    let t = trybuild::TestCases::new();
    t.compile_fail("fail-build/*.rs");
    t.pass("build/*.rs");
}
