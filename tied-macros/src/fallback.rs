//! On error: the `compile_error!`s, plus the struct as written and stub impls of what the macro
//! would have generated, so the user sees the real error alone, not a cascade of "no builder" and
//! "not a TensorCollection" errors (thiserror's `fallback.rs`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ItemStruct;

use crate::ast::Layer;
use crate::attr::Errors;
use crate::expand::{builder, converted_type, strip_tied_attrs};

pub fn expand(item: &ItemStruct, layer: Option<&Layer>, errors: Errors) -> TokenStream {
    let errors = match errors.finish() {
        Err(err) => err.to_compile_error(),
        Ok(()) => TokenStream::new(),
    };
    // Without the dtype and device parameters the struct itself cannot name its tensors' types:
    // emitting it would add "cannot find type `E`" to the one real error.
    let Some(layer) = layer else {
        return errors;
    };
    let item = strip_tied_attrs(item);
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let (e2, d2) = (format_ident!("__TiedE2"), format_ident!("__TiedD2"));
    let to = converted_type(layer, &e2, &d2);
    let builder = builder(layer);
    quote! {
        #errors
        #item
        #builder

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
