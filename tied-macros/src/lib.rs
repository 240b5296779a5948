//! Procedural macros of [`tied`](https://docs.rs/tied). Use them through the `tied` crate, whose
//! documentation has the runnable examples; the expansion itself is `tied-macros-core`.

use proc_macro::TokenStream;

/// Turns a struct of tensors into a dfdx module whose `#[tied(..)]` weights store only their
/// distinct values. See the `tied` crate for the full reference.
#[proc_macro_attribute]
pub fn layer(args: TokenStream, input: TokenStream) -> TokenStream {
    tied_macros_core::layer(args.into(), input.into()).into()
}
