//! On error: the `compile_error!`s, plus the struct as written and stub impls of what the macro
//! would have generated, so the user sees the real error alone, not a cascade of "no builder" and
//! "not a TensorCollection" errors (thiserror's `fallback.rs`).

use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote, ToTokens};
use syn::{Ident, ItemStruct};

use super::{accessors, builder, converted_type, module, tied_weights, Mode};
use crate::ast::Layer;
use crate::emit::strip_tied_attrs;
use crate::plan::{Plan, PlanStep};

/// The `errors` beside the struct as written and stubs of what the emitter would generate from
/// `plan` (the plan valid.rs computed while finding the errors).
pub fn fallback(
    item: &ItemStruct,
    layer: Option<(&Layer, Plan)>,
    errors: syn::Error,
) -> TokenStream {
    let errors = errors.to_compile_error();
    // Without the dtype and device parameters the struct itself cannot name its tensors' types:
    // emitting it would add "cannot find type `E`" to the one real error.
    let Some((layer, mut plan)) = layer else {
        return errors;
    };
    let mut item = strip_tied_attrs(item);
    mark_unused_params(&mut item);
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let (e2, d2) = (format_ident!("__TiedE2"), format_ident!("__TiedD2"));
    let to = converted_type(layer, &e2, &d2);
    let builder = builder(layer);
    stub_declared_forward(layer, &mut plan);
    let methods = stub_methods(layer, &plan);
    quote! {
        #errors
        #item
        #builder
        #methods

        #[automatically_derived]
        impl #impl_generics ::tied::__private::TensorCollection<#e, #d> for #name #ty_generics
        #where_clause
        {
            type To<#e2: ::tied::__private::Dtype, #d2: ::tied::__private::Device<#e2>> = #to;

            fn iter_tensors<__TiedV: ::tied::__private::ModuleVisitor<Self, #e, #d>>(
                _: &mut __TiedV,
            ) -> ::core::result::Result<
                ::core::option::Option<Self::To<__TiedV::E2, __TiedV::D2>>,
                __TiedV::Err,
            > {
                ::core::unreachable!("`#[tied::layer]` reported an error for this struct")
            }
        }
    }
}

/// A type parameter no field names any more (its field was rejected) would add "parameter `E` is
/// never used": give it a hidden `PhantomData` field.
fn mark_unused_params(item: &mut ItemStruct) {
    let fields: TokenStream = item.fields.iter().map(|f| f.ty.to_token_stream()).collect();
    let unused: Vec<&Ident> = item
        .generics
        .type_params()
        .map(|t| &t.ident)
        .filter(|ident| !mentions(fields.clone(), ident))
        .collect();
    if unused.is_empty() {
        return;
    }
    let phantom: syn::Field = syn::parse_quote! {
        #[doc(hidden)]
        __tied_unused: ::core::marker::PhantomData<fn() -> (#(#unused,)*)>
    };
    if let syn::Fields::Named(named) = &mut item.fields {
        named.named.push(phantom);
    }
}

fn mentions(tokens: TokenStream, ident: &Ident) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => &i == ident,
        TokenTree::Group(g) => mentions(g.stream(), ident),
        _ => false,
    })
}

/// A declared forward that was refused still gets its `Module` stub, from the first weight it names
/// to the last (naming none, the first declared weight to the last), so the user's calls to
/// `forward` do not add "no method named `forward`".
fn stub_declared_forward(layer: &Layer, plan: &mut Plan) {
    let Some((_, steps)) = &layer.forward else {
        return;
    };
    if plan.forward.is_some() {
        return;
    }
    let mut named: Vec<usize> = steps
        .iter()
        .filter_map(|step| step.path.path.get_ident())
        .filter_map(|name| plan.weights.iter().position(|w| w.field.ident == name))
        .collect();
    if named.is_empty() {
        named = (0..plan.weights.len()).collect();
    }
    if !named.is_empty() {
        let steps = named
            .into_iter()
            .map(|weight| PlanStep::Weight { weight, bias: None });
        plan.forward = Some(steps.collect());
    }
}

/// Stubs of the `Module` impl and the weights' accessors, with their real signatures (the emitter's
/// own generators in stub mode), so calls to `forward` or `weight_effective` elsewhere do not add
/// "no method named ..." errors.
fn stub_methods(layer: &Layer, plan: &Plan) -> TokenStream {
    let module = module(layer, plan, Mode::Stub);
    let accessors = accessors(layer, plan, Mode::Stub);
    let weights = tied_weights(layer, plan, Mode::Stub);
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    quote! {
        #module
        #accessors
        #weights

        #[automatically_derived]
        impl #impl_generics ::tied::__private::TiedLayer for #name #ty_generics #where_clause {
            fn check_patterns() -> ::core::result::Result<(), ::tied::__private::InvalidPattern> {
                ::core::result::Result::Ok(())
            }
        }
    }
}
