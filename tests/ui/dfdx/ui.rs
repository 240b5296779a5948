//! Compile-time tests of `#[tied::layer]` (dfdx): every misuse in `fail/*.rs` and
//! `fail-build/*.rs` must fail with the reviewed message in its `.stderr`, and every case in
//! `pass/*.rs` must build and run. See `tests/ui/README.md` to add a case.

#[test]
fn ui() {
    // What the macro or the type checker refuses: a project without a pass case is one
    // `cargo check --keep-going` of every case at once (trybuild builds a project with a pass
    // case one case at a time, each with `cargo build`).
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
    drop(t);

    // What must be built: the pass cases (run, asserting their numbers), and the size checks
    // that fail only when a layer is monomorphized, which `cargo check` does not report.
    let t = trybuild::TestCases::new();
    t.compile_fail("fail-build/*.rs");
    t.pass("pass/*.rs");
}
