//! Code generation: the struct with tied weights stored as their distinct values, its builder,
//! `BuildOnDevice`, `TensorCollection`, `Module`, and accessors for the effective weights.
//!
//! Generated code names everything through `::tied::__private`, so the user's scope (a shadowed
//! `Result`, `Tensor`, ...) cannot change its meaning.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{GenericParam, Generics, Ident, ItemStruct};

use crate::ast::{Field, Layer};
use crate::attr::{self, Errors};
use crate::fallback;
use crate::valid::{self, Plan, Weight};

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
    let args = match attr::layer_args(args) {
        Ok(args) => args,
        Err(err) => {
            errors.push(err);
            Default::default()
        }
    };
    let Some(layer) = Layer::from_syn(&item, args, &mut errors) else {
        return fallback::expand(&item, None, errors);
    };
    let plan = valid::check(&layer, &mut errors);
    match errors.finish() {
        Ok(()) => expand(&layer, &plan),
        Err(err) => {
            let mut errors = Errors::default();
            errors.push(err);
            fallback::expand(&item, Some(&layer), errors)
        }
    }
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

fn expand(layer: &Layer, plan: &Plan) -> TokenStream {
    let item = rewritten_struct(layer, plan);
    let builder = builder(layer);
    let collection = tensor_collection(layer, plan);
    let module = module(layer, plan);
    let accessors = accessors(layer, plan);
    quote! {
        #item
        #builder
        #collection
        #module
        #accessors
    }
}

/// The `::tied::__private::Tie` impl naming a weight's pattern.
fn tie_type(weight: &Weight) -> TokenStream {
    let name = Ident::new(
        weight.tie.map_or("Dense", |t| t.runtime_type()),
        Span::call_site(),
    );
    quote!(::tied::__private::#name)
}

fn tie_trait(weight: &Weight) -> TokenStream {
    let (i, o) = (&weight.inputs, &weight.outputs);
    quote!(::tied::__private::Tie<#i, #o>)
}

/// The user's struct without `#[tied]` attributes; tied weights become their stored tensors.
fn rewritten_struct(layer: &Layer, plan: &Plan) -> ItemStruct {
    let mut item = strip_tied_attrs(layer.original);
    let (e, d) = (layer.dtype, layer.device);
    if let syn::Fields::Named(named) = &mut item.fields {
        for (field, weight) in named.named.iter_mut().zip(layer.fields.iter()) {
            let Some(weight) = plan
                .weights
                .iter()
                .find(|w| w.field.ident == weight.ident && w.tie.is_some())
            else {
                continue;
            };
            let (tie, tie_trait) = (tie_type(weight), tie_trait(weight));
            let pattern = weight.tie.map_or("dense", |t| t.key());
            field.ty = syn::parse_quote! {
                ::tied::__private::Tensor<<#tie as #tie_trait>::Stored, #e, #d>
            };
            let effective = format_ident!("{}_effective", weight.field.ident);
            let shape = weight.field.tensor.shape.to_token_stream().to_string();
            let doc = format!(
                " Tied (`{pattern}`): the distinct values of the effective `{shape}` weight, \
                 which [`Self::{effective}`] expands."
            );
            let has_doc = field.attrs.iter().any(|a| a.path().is_ident("doc"));
            if has_doc {
                field.attrs.push(syn::parse_quote!(#[doc = ""]));
            }
            field.attrs.push(syn::parse_quote!(#[doc = #doc]));
        }
    }
    item
}

pub fn strip_tied_attrs(original: &ItemStruct) -> ItemStruct {
    let mut item = original.clone();
    for field in item.fields.iter_mut() {
        field.attrs.retain(|a| !attr::is_tied_attr(a));
    }
    item
}

/// The builder's generics: the layer's, less the dtype and device and predicates naming them.
fn builder_generics(layer: &Layer) -> Generics {
    let mut generics = layer.generics.clone();
    let is_e_or_d = |ident: &Ident| ident == layer.dtype || ident == layer.device;
    generics.params = generics
        .params
        .into_iter()
        .filter(|p| !matches!(p, GenericParam::Type(t) if is_e_or_d(&t.ident)))
        .collect();
    if let Some(where_clause) = &mut generics.where_clause {
        where_clause.predicates = where_clause
            .predicates
            .clone()
            .into_iter()
            .filter(|p| !mentions(p.to_token_stream(), layer))
            .collect();
    }
    generics
}

fn mentions(tokens: TokenStream, layer: &Layer) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) => &i == layer.dtype || &i == layer.device,
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), layer),
        _ => false,
    })
}

/// The builder ZST and its `BuildOnDevice`, as dfdx's `builder::Linear`.
pub fn builder(layer: &Layer) -> TokenStream {
    let name = &layer.original.ident;
    let vis = &layer.original.vis;
    let builder = &layer.builder;
    let generics = builder_generics(layer);
    let (_, b_ty, b_where) = generics.split_for_impl();
    let type_params: Vec<&Ident> = generics.type_params().map(|t| &t.ident).collect();
    let body = if type_params.is_empty() {
        quote!(;)
    } else {
        quote!((::core::marker::PhantomData<fn() -> (#(#type_params,)*)>);)
    };
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let doc = format!(
        " Builds a [`{name}`]: `dev.build_module::<{builder}<..>, f32>()`, or use it in a dfdx \
         tuple model."
    );
    let mut build_where = where_clause
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(where));
    build_where.predicates.push(syn::parse_quote! {
        #name #ty_generics: ::tied::__private::BuildModule<#d, #e>
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #vis struct #builder #generics #b_where #body

        #[automatically_derived]
        impl #impl_generics ::tied::__private::BuildOnDevice<#d, #e> for #builder #b_ty
        #build_where
        {
            type Built = #name #ty_generics;
        }
    }
}

/// `Self::To<E2, D2>`: the layer's type with the dtype and device replaced.
pub fn converted_type(layer: &Layer, e2: &Ident, d2: &Ident) -> TokenStream {
    let name = &layer.original.ident;
    let args = layer.generics.params.iter().map(|p| match p {
        GenericParam::Type(t) if &t.ident == layer.dtype => e2.to_token_stream(),
        GenericParam::Type(t) if &t.ident == layer.device => d2.to_token_stream(),
        GenericParam::Type(t) => t.ident.to_token_stream(),
        GenericParam::Const(c) => c.ident.to_token_stream(),
        GenericParam::Lifetime(l) => l.lifetime.to_token_stream(),
    });
    quote!(#name<#(#args),*>)
}

/// Where-clause of the layer with extra predicates.
fn where_with(layer: &Layer, extra: TokenStream) -> syn::WhereClause {
    let mut clause = layer
        .generics
        .where_clause
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(where));
    clause.predicates.push(syn::parse_quote!(#extra));
    clause
}

fn tensor_collection(layer: &Layer, plan: &Plan) -> TokenStream {
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, _) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let where_clause = where_with(layer, quote!(#e: ::tied::__private::TiedDtype));
    let (e2, d2) = (format_ident!("__TiedE2"), format_ident!("__TiedD2"));
    let to = converted_type(layer, &e2, &d2);

    let fan_in = |field: &Field| -> TokenStream {
        match plan.weights.iter().find(|w| w.field.ident == field.ident) {
            Some(w) => w.inputs.to_token_stream(),
            None if plan.weights.len() == 1 => plan.weights[0].inputs.to_token_stream(),
            None => field.tensor.dims[0].to_token_stream(),
        }
    };
    let visits = layer.fields.iter().map(|field| {
        let ident = field.ident;
        let key = ident.to_string();
        let fan_in = fan_in(field);
        quote! {
            Self::tensor(
                #key,
                |s| &s.#ident,
                |s| &mut s.#ident,
                ::tied::__private::fan_in_uniform::<_, #e, #d, #fan_in>(),
            )
        }
    });
    let idents: Vec<&Ident> = layer.fields.iter().map(|f| f.ident).collect();
    let names = idents.iter().map(|i| i.to_token_stream());
    let (fields, pattern) = nested_tuple(visits.zip(names).collect());
    quote! {
        #[automatically_derived]
        impl #impl_generics ::tied::__private::TensorCollection<#e, #d> for #name #ty_generics
        #where_clause
        {
            type To<#e2: ::tied::__private::Dtype, #d2: ::tied::__private::Device<#e2>> = #to;

            fn iter_tensors<__TiedV: ::tied::__private::ModuleVisitor<Self, #e, #d>>(
                visitor: &mut __TiedV,
            ) -> ::core::result::Result<
                ::core::option::Option<Self::To<__TiedV::E2, __TiedV::D2>>,
                __TiedV::Err,
            > {
                visitor.visit_fields(#fields, |#pattern| #name { #(#idents),* })
            }
        }
    }
}

/// dfdx's `ModuleFields` tuples stop at six: larger groups nest. Returns the fields' tuple and the
/// matching pattern of their names.
fn nested_tuple(items: Vec<(TokenStream, TokenStream)>) -> (TokenStream, TokenStream) {
    const MAX: usize = 6;
    if items.len() <= MAX {
        let (fields, names): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        return (quote!((#(#fields,)*)), quote!((#(#names,)*)));
    }
    let groups = items
        .chunks(MAX)
        .map(|c| nested_tuple(c.to_vec()))
        .collect();
    nested_tuple(groups)
}

fn module(layer: &Layer, plan: &Plan) -> TokenStream {
    let Some(forward) = &plan.forward else {
        return TokenStream::new();
    };
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let weight = &plan.weights[forward.weight];
    let (i, o) = (&weight.inputs, &weight.outputs);
    let tie = tie_type(weight);
    let stored = weight.field.ident;
    let bias = match forward.bias {
        Some(b) => {
            let b = plan.biases[b].ident;
            quote!(&self.#b)
        }
        None => quote!(&()),
    };
    let mut generics = layer.generics.clone();
    generics.params.push(syn::parse_quote!(__TiedX));
    let (module_impl, _, _) = generics.split_for_impl();
    let module_where = where_with(
        layer,
        quote!(__TiedX: ::tied::__private::LinearInput<#i, #e, #d>),
    );
    quote! {
        #[automatically_derived]
        impl #impl_generics ::tied::__private::NonMutableModule for #name #ty_generics
        #where_clause
        {
        }

        #[automatically_derived]
        impl #module_impl ::tied::__private::Module<__TiedX> for #name #ty_generics
        #module_where
        {
            type Output = <__TiedX as ::tied::__private::LinearInput<#i, #e, #d>>::Output<#o>;
            type Error = <#d as ::tied::__private::HasErr>::Err;

            fn try_forward(
                &self,
                input: __TiedX,
            ) -> ::core::result::Result<Self::Output, Self::Error> {
                ::tied::__private::try_linear::<#tie, #i, #o, #e, #d, __TiedX, _>(
                    input,
                    &self.#stored,
                    #bias,
                )
            }
        }
    }
}

fn accessors(layer: &Layer, plan: &Plan) -> TokenStream {
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let methods = plan.weights.iter().map(|weight| {
        let field = weight.field.ident;
        let (i, o) = (&weight.inputs, &weight.outputs);
        let (tie, tie_trait) = (tie_type(weight), tie_trait(weight));
        let effective = format_ident!("{}_effective", field);
        let try_effective = format_ident!("try_{}_effective", field);
        let matmul = format_ident!("matmul_{}", field);
        let try_matmul = format_ident!("try_matmul_{}", field);
        let picture = format_ident!("{}_picture", field);
        let key = field.to_string();
        let label = key.chars().next().map_or("w".to_owned(), |c| c.to_lowercase().to_string());
        let shape = weight.field.tensor.shape.to_token_stream().to_string();
        let pattern = weight.tie.map_or("dense", |t| t.key());
        let doc_effective = format!(
            " The effective `{shape}` weight of `{key}` (`{pattern}`), materialized and \
             contiguous on `tape`: safe to pass to `matmul`. Gradients flow back to the stored \
             values, summed over every copy."
        );
        let doc_matmul = format!(
            " `input·W` for the effective weight of `{key}` (`{pattern}`), without building `W` \
             where the pattern allows. Takes `Rank1<I>`, `(B, Const<I>)` or `(B, S, Const<I>)` on \
             any tape."
        );
        let doc_picture = format!(
            " The effective weight of `{key}` drawn as labels of its stored values, like the \
             forum thread draws it."
        );
        quote! {
            #[doc = #doc_effective]
            pub fn #try_effective<__TiedT: ::tied::__private::Tape<#e, #d>>(
                &self,
                tape: __TiedT,
            ) -> ::core::result::Result<
                ::tied::__private::Tensor<::tied::__private::Rank2<#i, #o>, #e, #d, __TiedT>,
                <#d as ::tied::__private::HasErr>::Err,
            > {
                <#tie as #tie_trait>::try_effective(
                    ::tied::__private::PutTape::put_tape(::core::clone::Clone::clone(&self.#field), tape),
                )
            }

            #[doc = #doc_effective]
            ///
            /// Panics on a device error, like dfdx's non-`try` methods.
            pub fn #effective<__TiedT: ::tied::__private::Tape<#e, #d>>(
                &self,
                tape: __TiedT,
            ) -> ::tied::__private::Tensor<::tied::__private::Rank2<#i, #o>, #e, #d, __TiedT> {
                ::tied::__private::device_ok(self.#try_effective(tape))
            }

            #[doc = #doc_matmul]
            pub fn #try_matmul<__TiedX: ::tied::__private::LinearInput<#i, #e, #d>>(
                &self,
                input: __TiedX,
            ) -> ::core::result::Result<__TiedX::Output<#o>, <#d as ::tied::__private::HasErr>::Err> {
                ::tied::__private::try_linear::<#tie, #i, #o, #e, #d, __TiedX, _>(
                    input,
                    &self.#field,
                    &(),
                )
            }

            #[doc = #doc_matmul]
            ///
            /// Panics on a device error, like dfdx's non-`try` methods.
            pub fn #matmul<__TiedX: ::tied::__private::LinearInput<#i, #e, #d>>(
                &self,
                input: __TiedX,
            ) -> __TiedX::Output<#o> {
                ::tied::__private::device_ok(self.#try_matmul(input))
            }

            #[doc = #doc_picture]
            pub fn #picture(&self) -> ::tied::__private::Picture {
                ::tied::__private::Picture::of::<#tie, #i, #o>(#key, #label)
            }
        }
    });
    let checks = size_checks(plan);
    quote! {
        #[automatically_derived]
        impl #impl_generics #name #ty_generics #where_clause {
            #(#methods)*
            #checks
        }
    }
}

/// Sizes the macro could not compare (const items, expressions): the compiler compares them, with
/// the error under the user's tokens.
fn size_checks(plan: &Plan) -> TokenStream {
    if plan.dim_checks.is_empty() {
        return TokenStream::new();
    }
    let checks = plan.dim_checks.iter().map(|check| {
        let (expected, actual) = (&check.expected, &check.actual);
        let span = check
            .at
            .clone()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span());
        quote_spanned! {span=>
            let _: ::tied::__private::SameSize<#expected> = ::tied::__private::SameSize::<#actual>;
        }
    });
    quote! {
        #[doc(hidden)]
        #[allow(dead_code)]
        fn __tied_size_checks() {
            #(#checks)*
        }
    }
}
