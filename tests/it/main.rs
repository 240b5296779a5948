//! The facade's integration tests, one module per area, in one test binary. Cargo builds every
//! `tests/*.rs` as a binary of its own, each linking dfdx and the whole dependency graph: as
//! modules of one binary these files compile and link once instead of once each.
//!
//! Two stay binaries of their own: `tests/ui.rs` (trybuild, which builds its cases as crates of
//! their own) and `tests/multithreaded.rs`, which must set `RAYON_NUM_THREADS` before rayon's
//! global pool exists (here another test would build the pool first, one thread per core).
//!
//! The modules are `pub`, so their `pub` items stay reachable from the crate root as they were
//! when each file was one: `dead_code` judges them as before. Run one module with a filter on its
//! path: `cargo test --test it -- interop::`.
//!
//! Proptest's regression seeds are `tests/proptest-regressions/<module>.txt`: with this `main.rs`,
//! proptest's default persistence (`SourceParallel`) looks there, not beside the source file.

mod common;

// dfdx and Burn on the same values: with the `burn` feature (the README's test command has it).
#[cfg(feature = "burn")]
pub mod burn_crosscheck;
// Dense checkpoints from Burn layers, against PyTorch's and dfdx's files.
#[cfg(feature = "burn")]
pub mod burn_interop;
// `#[tied::burn::layer]`, with the `burn` feature.
#[cfg(feature = "burn")]
pub mod burn_layer;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod empty;
pub mod hygiene;
pub mod index_kernels;
pub mod interop;
pub mod kernels;
pub mod layers;
pub mod load_inherent;
pub mod loading;
pub mod module;
pub mod patterns;
pub mod products;
pub mod properties;
pub mod random_patterns;
pub mod refused;
pub mod ties;
