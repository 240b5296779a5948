//! Procedural macros of [`tied`](https://docs.rs/tied). Use them through the `tied` crate, whose
//! documentation has the runnable examples; the expansion itself is `tied-macros-core`.

use proc_macro::TokenStream;

/// Turns a struct of tensors into a dfdx module whose `#[tied(..)]` weights store only their
/// distinct values. See the `tied` crate for the full reference.
#[proc_macro_attribute]
pub fn layer(args: TokenStream, input: TokenStream) -> TokenStream {
    tied_macros_core::layer(args.into(), input.into()).into()
}

/// Turns a Burn module struct of `Param` fields into a tied Burn layer: stored values, config with
/// `init(&device)`, `forward`. Use it as `tied::burn::layer` (the `burn` feature of `tied`).
#[proc_macro_attribute]
pub fn burn_layer(args: TokenStream, input: TokenStream) -> TokenStream {
    tied_macros_core::burn_layer(args.into(), input.into()).into()
}
