//! The pipeline, once for both front ends: parse the item, read `#[tied::layer(..)]`'s options,
//! model the struct, check it into a plan, then emit the front end's code, or its fallback beside
//! the errors (burn-derive's `ModuleCodegen` driver, serde's `Derive` value).

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Ident, ItemStruct};

use crate::ast::Layer;
use crate::attr;
use crate::emit::{burn, dfdx};
use crate::errors::Errors;
use crate::frontend::Frontend;
use crate::plan::Plan;
use crate::valid;

/// The whole expansion of `frontend`'s attribute with `args` on `input`; never panics, errors
/// become `compile_error!` at the user's tokens.
pub fn layer(frontend: Frontend, args: TokenStream, input: TokenStream) -> TokenStream {
    let item: syn::Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(err) => {
            let err = err.to_compile_error();
            return quote!(#err #input);
        }
    };
    let item = match item {
        syn::Item::Struct(item) => item,
        other => return not_a_struct(frontend, other),
    };

    let mut errors = Errors::default();
    // Keep what parsed before an error (a first `forward`, a `builder` name): the fallback then
    // still generates them, and the user's uses of them add no errors of their own.
    let (args, err) = attr::layer_args_recovering(args, frontend);
    if let Some(err) = err {
        errors.push(err);
    }
    let Some(layer) = Layer::from_syn(&item, frontend, args, &mut errors) else {
        return match errors.finish() {
            Err(err) => fallback(frontend, &item, None, err),
            // `from_syn` reports why it gives up; without a reason, the struct stays as written.
            Ok(()) => item.into_token_stream(),
        };
    };
    let plan = valid::check(&layer, &mut errors);
    match errors.finish() {
        Ok(()) => match frontend {
            Frontend::Dfdx => dfdx::layer(&layer, &plan),
            Frontend::Burn => burn::layer(&layer, &plan),
        },
        // The fallback stubs from the plan just computed: nothing is checked twice.
        Err(err) => fallback(frontend, &item, Some((&layer, plan)), err),
    }
}

/// The front end's fallback: the errors, and stand-ins for what the user's code calls.
fn fallback(
    frontend: Frontend,
    item: &ItemStruct,
    checked: Option<(&Layer, Plan)>,
    err: syn::Error,
) -> TokenStream {
    match frontend {
        Frontend::Dfdx => dfdx::fallback(item, checked, err),
        Frontend::Burn => burn::fallback(item, checked.map(|(layer, _)| layer), err),
    }
}

/// The error for an item that is not a struct, at its tokens.
fn not_a_struct(frontend: Frontend, item: syn::Item) -> TokenStream {
    match (frontend, item) {
        (Frontend::Dfdx, syn::Item::Enum(e)) => only_error(&e.enum_token, &e.ident, "an enum"),
        (Frontend::Dfdx, syn::Item::Union(u)) => only_error(&u.union_token, &u.ident, "a union"),
        (Frontend::Dfdx, other) => {
            syn::Error::new_spanned(other, "`#[tied::layer]` goes on a struct of tensors")
                .to_compile_error()
        }
        (Frontend::Burn, other) => syn::Error::new_spanned(
            other,
            "`#[tied::burn::layer]` goes on a struct of `Param` fields",
        )
        .to_compile_error(),
    }
}

/// A dfdx layer declared as an enum or a union: the keyword is what to change.
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
