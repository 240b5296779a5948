//! What `#[tied::burn::layer]` must accept: each module of `pass/` declares layers as a user would
//! and its `#[test] fn runs` builds them and runs a forward, asserting real numbers. They are
//! modules of this library, not trybuild pass cases, so they compile once (see `tests/ui/dfdx`).
#![deny(missing_docs)]

#[path = "pass/autoencoder.rs"]
pub mod autoencoder;
