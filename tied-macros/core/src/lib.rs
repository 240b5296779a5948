//! The expansion of `#[tied::layer]`, as a normal library: `tied-macros` is the proc-macro shim
//! that calls [`layer`], so the expansion can be tested and fuzzed from `tests/` (as
//! wasm-bindgen keeps `wasm-bindgen-macro-support` behind its macro crate).
//!
//! One driver, two emitters. `driver` runs the pipeline once for either front end (a
//! `frontend::Frontend` value: dfdx's [`layer`] or Burn's [`burn_layer`]), one module per step:
//! `attr` parses `#[tied(..)]` (keys from the pattern table `tied_patterns`), `ast` models the
//! struct (a dfdx or a Burn one), `valid` checks it into a `plan` (with `ties` and `forward`, and
//! `suggest` for "did you mean"), and `emit` generates the front end's code (`emit::dfdx`,
//! `emit::burn`), or its fallback beside the errors. `errors` collects the errors of every step.

mod ast;
mod attr;
mod driver;
mod emit;
mod errors;
mod forward;
mod frontend;
mod plan;
mod suggest;
mod ties;
mod valid;

use proc_macro2::TokenStream;

use crate::frontend::Frontend;

/// The whole expansion of `#[tied::layer(args)] input`; never panics, errors become
/// `compile_error!` at the user's tokens.
pub fn layer(args: TokenStream, input: TokenStream) -> TokenStream {
    driver::layer(Frontend::Dfdx, args, input)
}

/// The whole expansion of `#[tied::burn::layer(args)] input`: the same keys and checks, emitted
/// as a Burn module.
pub fn burn_layer(args: TokenStream, input: TokenStream) -> TokenStream {
    driver::layer(Frontend::Burn, args, input)
}
