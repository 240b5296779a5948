//! The expansion of `#[tied::layer]`, as a normal library: `tied-macros` is the proc-macro shim
//! that calls [`layer`], so the expansion can be tested and fuzzed from `tests/` (as
//! wasm-bindgen keeps `wasm-bindgen-macro-support` behind its macro crate).
//!
//! The pipeline, one module per step: `attr` parses `#[tied(..)]` (keys from the pattern table
//! `tied_patterns`), `ast` models the struct, `valid` checks it into a `plan` (with `ties` and
//! `forward`, and `suggest` for "did you mean"), `expand` generates the code, and `fallback`
//! stands in for it beside the errors. `burn` is the Burn front end ([`burn_layer`]): it reads a
//! Burn module struct into the same model and plan, and emits Burn code.

mod ast;
mod attr;
mod burn;
mod expand;
mod fallback;
mod forward;
mod plan;
mod suggest;
mod ties;
mod valid;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::Ident;

use crate::ast::Layer;
use crate::valid::Errors;

/// The whole expansion of `#[tied::layer(args)] input`; never panics, errors become
/// `compile_error!` at the user's tokens.
pub fn layer(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: syn::Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(err) => {
            let err = err.to_compile_error();
            return quote!(#err #input);
        }
    };
    let item = match item {
        syn::Item::Struct(item) => item,
        syn::Item::Enum(e) => return only_error(&e.enum_token, &e.ident, "an enum"),
        syn::Item::Union(u) => return only_error(&u.union_token, &u.ident, "a union"),
        other => {
            return syn::Error::new_spanned(other, "`#[tied::layer]` goes on a struct of tensors")
                .to_compile_error()
        }
    };

    let mut errors = Errors::default();
    // Keep what parsed before an error (a first `forward`, a `builder` name): the fallback then
    // still generates them, and the user's uses of them add no errors of their own.
    let (args, err) = attr::layer_args_recovering(args, false);
    if let Some(err) = err {
        errors.push(err);
    }
    let Some(layer) = Layer::from_syn(&item, args, &mut errors) else {
        return match errors.finish() {
            Err(err) => fallback::expand(&item, None, err),
            // `from_syn` reports why it gives up; without a reason, the struct stays as written.
            Ok(()) => item.into_token_stream(),
        };
    };
    let plan = valid::check(&layer, &mut errors);
    match errors.finish() {
        Ok(()) => expand::layer(&layer, &plan),
        // The fallback stubs from the plan just computed: nothing is checked twice.
        Err(err) => fallback::expand(&item, Some((&layer, plan)), err),
    }
}

/// The whole expansion of `#[tied::burn::layer(args)] input`: the same keys and checks, emitted
/// as a Burn module (see `burn.rs`).
pub fn burn_layer(args: TokenStream, input: TokenStream) -> TokenStream {
    burn::layer(args, input)
}

fn only_error(keyword: &impl ToTokens, name: &Ident, what: &str) -> TokenStream {
    syn::Error::new_spanned(
        keyword,
        format!(
            "`#[tied::layer]` goes on a struct with named tensor fields, not {what}: \
             write `struct {name}<.., E: Dtype, D: Device<E>> {{ weight: Tensor<..>, .. }}`"
        ),
    )
    .to_compile_error()
}
