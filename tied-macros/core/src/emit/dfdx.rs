//! The dfdx emitter, `#[tied::layer]`: the struct with tied weights stored as their distinct
//! values, its builder, `BuildOnDevice`, `TensorCollection`, `Module`, and accessors for the
//! effective weights; on error, stubs of the same (`fallback.rs`).
//!
//! Generated code names everything through `::tied::__private`, so the user's scope (a shadowed
//! `Result`, `Tensor`, ...) cannot change its meaning.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::{GenericParam, Generics, Ident, ItemStruct};

use crate::ast::Layer;
use crate::emit::{self, Part};
use crate::plan::{self, Bias, Plan, PlanStep, Weight};

mod fallback;

pub use self::fallback::fallback;

/// The layer's items: the rewritten struct, its builder and every generated impl.
pub fn layer(layer: &Layer, plan: &Plan) -> TokenStream {
    let item = rewritten_struct(layer, plan);
    let builder = builder(layer);
    let collection = tensor_collection(layer, plan);
    let module = module(layer, plan, Mode::Real);
    let accessors = accessors(layer, plan, Mode::Real);
    let checks = tied_layer(layer, plan);
    let loading = loading(layer);
    let weights = tied_weights(layer, plan, Mode::Real);
    let pattern_checks = pattern_checks(layer);
    quote! {
        #pattern_checks
        #item
        #builder
        #collection
        #module
        #accessors
        #checks
        #loading
        #weights
    }
}

/// Real code, or stubs with the same signatures beside a `compile_error!` (`fallback.rs`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Real,
    Stub,
}

fn unreachable_body() -> TokenStream {
    quote!(::core::unreachable!(
        "`#[tied::layer]` reported an error for this struct"
    ))
}

fn tie_trait(weight: &Weight) -> TokenStream {
    let (i, o) = (&weight.inputs, &weight.outputs);
    quote!(::tied::__private::Tie<#i, #o>)
}

/// The user's struct, each tied field typed as its stored tensor, `Tensor<Tie::Stored, E, D>`.
fn rewritten_struct(layer: &Layer, plan: &Plan) -> ItemStruct {
    let (e, d) = (layer.dtype, layer.device);
    // A dense field keeps its declared type. The stored type is spanned at the user's pattern
    // type: a type that is not a pattern is reported there.
    emit::rewritten_struct(layer, plan, |_, part| match part {
        Part::Weight(w) => {
            let (tie, tie_trait, span) = (w.tie.tokens(), tie_trait(w), w.tie.span());
            let ty = syn::parse_quote_spanned! {span=>
                ::tied::__private::Tensor<<#tie as #tie_trait>::Stored, #e, #d>
            };
            (!matches!(w.tie, plan::TieType::Dense)).then_some(ty)
        }
        Part::Bias(b) => b.tie.as_ref().map(|tie| {
            let (len, span) = (&b.len, tie.span());
            let tie = tie.tokens();
            syn::parse_quote_spanned! {span=>
                ::tied::__private::Tensor<<#tie as ::tied::__private::Tie<1, #len>>::Stored, #e, #d>
            }
        }),
    })
}

/// The builder's generics: the struct's as written (without the pattern bounds: the builder's
/// derives would each repeat their error), less the dtype and device and predicates naming them.
fn builder_generics(layer: &Layer) -> Generics {
    let mut generics = layer.original.generics.clone();
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

/// The builder ZST and its `BuildOnDevice`, as dfdx's `builder::Linear`. (Building checks the
/// layer's own patterns in `iter_tensors`, so tuples of builders check them too.)
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

            fn try_build_on_device(
                device: &#d,
            ) -> ::core::result::Result<Self::Built, <#d as ::tied::__private::HasErr>::Err> {
                <Self::Built as ::tied::__private::BuildModule<#d, #e>>::try_build(device)
            }
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
fn where_with(layer: &Layer, extra: impl IntoIterator<Item = TokenStream>) -> syn::WhereClause {
    let mut clause = layer
        .generics
        .where_clause
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(where));
    for predicate in extra {
        clause.predicates.push(syn::parse_quote!(#predicate));
    }
    clause
}

/// `TensorCollection` over the stored fields only: a tied-to field has no tensor of its own, so
/// optimizers, safetensors and `num_trainable_params` see each stored value once.
fn tensor_collection(layer: &Layer, plan: &Plan) -> TokenStream {
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, _) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let where_clause = where_with(layer, [quote!(#e: ::tied::__private::TiedDtype)]);
    let (e2, d2) = (format_ident!("__TiedE2"), format_ident!("__TiedD2"));
    let to = converted_type(layer, &e2, &d2);

    let visit = |ident: &Ident, fan_in: TokenStream| {
        let key = ident.to_string();
        (
            quote! {
                Self::tensor(
                    #key,
                    |s| &s.#ident,
                    |s| &mut s.#ident,
                    ::tied::__private::fan_in_uniform::<_, #e, #d, #fan_in>(),
                )
            },
            ident.to_token_stream(),
        )
    };
    // In declaration order, so safetensors files list tensors as the struct does.
    let mut items = Vec::new();
    let mut idents = Vec::new();
    for field in &layer.fields {
        if let Some(w) = plan
            .weights
            .iter()
            .find(|w| w.field.ident == field.ident && w.is_stored())
        {
            items.push(visit(w.field.ident, w.inputs.to_token_stream()));
            idents.push(w.field.ident);
        } else if let Some(b) = plan
            .biases
            .iter()
            .find(|b| b.field.ident == field.ident && b.is_stored())
        {
            items.push(visit(b.field.ident, bias_fan_in(b, plan)));
            idents.push(b.field.ident);
        }
    }
    let (fields, pattern) = nested_tuple(items);
    let markers = &layer.markers;
    let checks =
        (!plan.size_asserts.is_empty()).then(|| quote!(let () = Self::__TIED_SIZE_CHECKS;));
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
                #checks
                let made = visitor.visit_fields(#fields, |#pattern| #name {
                    #(#idents,)*
                    #(#markers: ::core::marker::PhantomData,)*
                })?;
                // A new layer (built, or converted by `to_dtype`/`to_device`) checks its own
                // patterns, however it was built: dfdx's tuple builders call no other hook.
                // Visitors that make nothing (optimizer updates) skip the O(I·O) check.
                if made.is_some() {
                    ::tied::__private::check_built::<Self>();
                }
                ::core::result::Result::Ok(made)
            }
        }
    }
}

/// A bias is reset like its weight's (fan-in of the weight it follows), else by its own length.
fn bias_fan_in(bias: &Bias, plan: &Plan) -> TokenStream {
    match &bias.fan_in {
        Some(dim) => dim.to_token_stream(),
        None if plan.weights.len() == 1 => plan.weights[0].inputs.to_token_stream(),
        None => bias.len.to_token_stream(),
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

/// The bias argument of an `x·W + b` step.
fn bias_expr(bias: &Bias, weight: &Weight, layer: &Layer) -> TokenStream {
    let stored = bias.stored;
    let (e, d) = (layer.dtype, layer.device);
    let len = &bias.len;
    let same = bias.len.same_as(&weight.outputs, &layer.const_params()) == Some(true);
    match &bias.tie {
        None if same => quote!(&self.#stored),
        // The compiler compares the sizes (`size_checks`); this keeps that the only error.
        None => quote!(&::tied::__private::CheckedBias::<#len, #e, #d>(&self.#stored)),
        Some(tie) => {
            let tie = tie.tokens();
            quote!(&::tied::__private::TiedBias::<#tie, #len, #e, #d>::new(&self.#stored))
        }
    }
}

/// `Module` and `NonMutableModule`: the steps of `plan.forward` on the flattened input.
pub fn module(layer: &Layer, plan: &Plan, mode: Mode) -> TokenStream {
    let Some(steps) = &plan.forward else {
        return TokenStream::new();
    };
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let mut input_width = None;
    let mut output_width = None;
    let mut body = Vec::new();
    let mut bounds = Vec::new();
    for step in steps {
        match step {
            PlanStep::Weight { weight, bias } => {
                let w = &plan.weights[*weight];
                input_width.get_or_insert_with(|| w.inputs.clone());
                output_width = Some(w.outputs.clone());
                let (tie, stored) = (w.tie.tokens(), w.stored);
                let (i, o) = (&w.inputs, &w.outputs);
                let bias = match bias {
                    Some(b) => bias_expr(&plan.biases[*b], w, layer),
                    None => quote!(&()),
                };
                body.push(quote! {
                    let x = ::tied::__private::try_apply_biased::<#tie, #i, #o, #e, #d, _, _>(
                        x,
                        &self.#stored,
                        #bias,
                    )?;
                });
            }
            PlanStep::Module { path, width } => {
                body.push(quote! {
                    let x = ::tied::__private::Module::try_forward(
                        &<#path as ::core::default::Default>::default(),
                        x,
                    )?;
                });
                bounds.push((path.clone(), width.clone()));
            }
        }
    }
    let (Some(i), Some(o)) = (input_width, output_width) else {
        return TokenStream::new();
    };
    let input = quote!(<__TiedX as ::tied::__private::LinearInput<#i, #e, #d>>);
    let mut predicates = vec![quote!(__TiedX: ::tied::__private::LinearInput<#i, #e, #d>)];
    for (path, width) in &bounds {
        predicates.push(quote! {
            #path: ::core::default::Default
                + ::tied::__private::Module<
                    ::tied::__private::Batch<#width, #e, #d, #input::Tape>,
                    Output = ::tied::__private::Batch<#width, #e, #d, #input::Tape>,
                    Error = <#d as ::tied::__private::HasErr>::Err,
                >
        });
    }
    let module_where = where_with(layer, predicates);
    let mut generics = layer.generics.clone();
    generics.params.push(syn::parse_quote!(__TiedX));
    let (module_impl, _, _) = generics.split_for_impl();
    let forward = match mode {
        Mode::Real => quote! {
            let (x, layout) = #input::try_flatten(input)?;
            #(#body)*
            #input::try_unflatten(x, layout)
        },
        Mode::Stub => {
            let unreachable = unreachable_body();
            quote!(let _ = input; #unreachable)
        }
    };
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
            type Output = #input::Output<#o>;
            type Error = <#d as ::tied::__private::HasErr>::Err;

            fn try_forward(
                &self,
                input: __TiedX,
            ) -> ::core::result::Result<Self::Output, Self::Error> {
                #forward
            }
        }
    }
}

/// Per weight (stored or tied to another): its effective tensor, `x·W`, row lookup, picture.
pub fn accessors(layer: &Layer, plan: &Plan, mode: Mode) -> TokenStream {
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let (e, d) = (layer.dtype, layer.device);
    let stub = mode == Mode::Stub;
    let methods = plan.weights.iter().map(|weight| {
        let stored = weight.stored;
        let (i, o) = (&weight.inputs, &weight.outputs);
        let (tie, tie_trait) = (weight.tie.tokens(), tie_trait(weight));
        let plan::Accessors {
            effective,
            try_effective,
            matmul,
            try_matmul,
            lookup,
            try_lookup,
            picture,
            key,
            label,
            shape,
            pattern,
            held,
        } = plan::Accessors::of(weight);
        let doc_effective = format!(
            " The effective `{shape}` weight `{key}` ({pattern}), materialized and contiguous on \
             `tape`: safe to pass to `matmul`. Gradients flow back to the stored values, summed \
             over every copy.{held}"
        );
        let doc_matmul = format!(
            " `input·W` for the effective weight `{key}` ({pattern}), without building `W` where \
             the pattern allows. Takes `Rank1<I>`, `(B, Const<I>)` or `(B, S, Const<I>)` on any \
             tape.{held}"
        );
        let doc_lookup = format!(
            " Rows of the effective weight `{key}` ({pattern}) picked by `ids`, like dfdx's \
             `Embedding`: `(B,)` or `(B, S)` ids give `(B, O)` or `(B, S, O)`. The ids' tape \
             carries the gradient.{held}"
        );
        let doc_picture = format!(
            " The effective weight `{key}` drawn as labels of its stored values, like the forum \
             thread draws it."
        );
        let body = |real: TokenStream| if stub { unreachable_body() } else { real };
        let effective_body = body(quote! {
            <#tie as #tie_trait>::try_effective(
                ::tied::__private::PutTape::put_tape(::core::clone::Clone::clone(&self.#stored), tape),
            )
        });
        let matmul_body = body(quote! {
            ::tied::__private::try_linear::<#tie, #i, #o, #e, #d, __TiedX, _>(input, &self.#stored, &())
        });
        // Only the rows asked for: O(ids·O), never the whole I×O weight.
        let lookup_body = body(quote! {
            ::tied::__private::try_lookup::<#tie, #i, #o, #e, #d, __TiedT, __TiedIdx, __TiedDst>(
                &self.#stored,
                ids,
            )
        });
        let picture_body = body(quote! {
            <::tied::__private::Picture as ::tied::__private::PictureOf>::of::<#tie, #i, #o>(#key, #label)
        });
        quote! {
            #[doc = #doc_effective]
            pub fn #try_effective<__TiedT: ::tied::__private::Tape<#e, #d>>(
                &self,
                tape: __TiedT,
            ) -> ::core::result::Result<
                ::tied::__private::Tensor<::tied::__private::Rank2<#i, #o>, #e, #d, __TiedT>,
                <#d as ::tied::__private::HasErr>::Err,
            > {
                #effective_body
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
                #matmul_body
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

            #[doc = #doc_lookup]
            pub fn #try_lookup<__TiedT, __TiedIdx, __TiedDst>(
                &self,
                ids: ::tied::__private::Tensor<__TiedIdx, ::core::primitive::usize, #d, __TiedT>,
            ) -> ::core::result::Result<
                ::tied::__private::Tensor<__TiedDst, #e, #d, __TiedT>,
                <#d as ::tied::__private::HasErr>::Err,
            >
            where
                __TiedT: ::tied::__private::Tape<#e, #d>,
                __TiedIdx: ::tied::__private::Shape,
                __TiedDst: ::tied::__private::Shape,
                ::tied::__private::Rank2<#i, #o>: ::tied::__private::ReplaceDimTo<__TiedDst, __TiedIdx>,
            {
                #lookup_body
            }

            #[doc = #doc_lookup]
            ///
            /// Panics on a device error, like dfdx's non-`try` methods.
            pub fn #lookup<__TiedT, __TiedIdx, __TiedDst>(
                &self,
                ids: ::tied::__private::Tensor<__TiedIdx, ::core::primitive::usize, #d, __TiedT>,
            ) -> ::tied::__private::Tensor<__TiedDst, #e, #d, __TiedT>
            where
                __TiedT: ::tied::__private::Tape<#e, #d>,
                __TiedIdx: ::tied::__private::Shape,
                __TiedDst: ::tied::__private::Shape,
                ::tied::__private::Rank2<#i, #o>: ::tied::__private::ReplaceDimTo<__TiedDst, __TiedIdx>,
            {
                ::tied::__private::device_ok(self.#try_lookup(ids))
            }

            #[doc = #doc_picture]
            pub fn #picture(&self) -> ::tied::__private::Picture {
                #picture_body
            }
        }
    });
    let checks = if stub {
        TokenStream::new()
    } else {
        size_checks(plan)
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics #name #ty_generics #where_clause {
            #(#methods)*
            #checks
        }
    }
}

/// A user pattern used at generic sizes (`Tie<N, N>`): its bound on the layer cannot fail where
/// it is declared, so this check, at the pattern's tokens, says what to implement there rather
/// than only where the layer is built. (At concrete sizes the bound itself does.)
fn pattern_checks(layer: &Layer) -> TokenStream {
    let generics = builder_generics(layer);
    let params: Vec<String> = generics
        .params
        .iter()
        .map(|p| match p {
            GenericParam::Type(t) => t.ident.to_string(),
            GenericParam::Const(c) => c.ident.to_string(),
            GenericParam::Lifetime(l) => l.lifetime.ident.to_string(),
        })
        .collect();
    let uses_params = |tokens: TokenStream| {
        fn walk(tokens: TokenStream, params: &[String]) -> bool {
            tokens.into_iter().any(|tt| match tt {
                proc_macro2::TokenTree::Ident(i) => params.contains(&i.to_string()),
                proc_macro2::TokenTree::Group(g) => walk(g.stream(), params),
                _ => false,
            })
        }
        walk(tokens, &params)
    };
    let checks: Vec<TokenStream> = layer
        .patterns
        .iter()
        .filter(|(ty, i, o)| {
            let all = quote!(#ty #i #o);
            uses_params(quote!(#i #o)) && !mentions(all, layer)
        })
        .map(|(ty, i, o)| {
            let span = crate::ast::first_span(ty);
            quote_spanned! {span=> ::tied::__private::assert_tie::<#ty, #i, #o>(); }
        })
        .collect();
    if checks.is_empty() {
        return TokenStream::new();
    }
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn __tied_pattern_checks #impl_generics () #where_clause {
                #(#checks)*
            }
        };
    }
}

/// An inherent `load_safetensors`, the checked loader: method resolution picks it before dfdx's
/// unchecked trait method of the same name.
fn loading(layer: &Layer) -> TokenStream {
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, _) = layer.generics.split_for_impl();
    let e = layer.dtype;
    let where_clause = where_with(
        layer,
        [quote!(#e: ::tied::__private::TiedDtype + ::tied::__private::SafeDtype)],
    );
    quote! {
        #[automatically_derived]
        impl #impl_generics #name #ty_generics #where_clause {
            /// Loads every parameter from the safetensors file at `path`, checking each tensor's
            /// name, shape and dtype first: all or nothing, and on error the layer is unchanged
            /// (`tied::LoadChecked::load_safetensors_checked`). dfdx's own loader, which can
            /// half-load, stays reachable as `LoadFromSafetensors::load_safetensors(&mut layer, path)`.
            pub fn load_safetensors<__TiedP: ::core::convert::AsRef<::std::path::Path>>(
                &mut self,
                path: __TiedP,
            ) -> ::core::result::Result<(), ::tied::__private::LoadError> {
                ::tied::__private::LoadChecked::load_safetensors_checked(self, path)
            }

            /// [`Self::load_safetensors`] as `options` allow (`tied::LoadOptions`: a key prefix,
            /// unknown tensors, other float dtypes, non-finite values); all or nothing.
            pub fn load_safetensors_with<__TiedP: ::core::convert::AsRef<::std::path::Path>>(
                &mut self,
                path: __TiedP,
                options: ::tied::__private::LoadOptions,
            ) -> ::core::result::Result<(), ::tied::__private::LoadError> {
                ::tied::__private::LoadChecked::load_safetensors_with(self, path, options)
            }
        }
    }
}

/// `TiedWeights`: each effective field (name, stored parameter, shape, pattern, tie), for
/// `tied::export_dense` / `import_dense`. In stub mode, no fields.
pub fn tied_weights(layer: &Layer, plan: &Plan, mode: Mode) -> TokenStream {
    let name = &layer.original.ident;
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let tied_to = |is_stored: bool, transposed: bool, stored: &str| {
        plan::tied_to_tokens(
            quote!(::tied::__private::TiedTo),
            is_stored,
            transposed,
            stored,
        )
    };
    let fields = layer.fields.iter().filter_map(|field| {
        if mode == Mode::Stub {
            return None;
        }
        if let Some(w) = plan.weights.iter().find(|w| w.field.ident == field.ident) {
            let (tie, i, o) = (w.tie.tokens(), &w.inputs, &w.outputs);
            let (key, stored) = (w.field.ident.to_string(), w.stored.to_string());
            let transposed = matches!(w.tie, plan::TieType::Transposed(_));
            let to = tied_to(w.is_stored(), transposed, &stored);
            Some(quote!(
                <::tied::__private::EffectiveField as ::tied::__private::TieField>::weight::<#tie, #i, #o>(
                    #key, #stored, #to,
                )
            ))
        } else {
            let b = plan.biases.iter().find(|b| b.field.ident == field.ident)?;
            let tie = b
                .tie
                .as_ref()
                .map_or_else(|| quote!(::tied::__private::Dense), |t| t.tokens());
            let (len, key, stored) = (&b.len, b.field.ident.to_string(), b.stored.to_string());
            let to = tied_to(b.is_stored(), false, &stored);
            Some(quote!(
                <::tied::__private::EffectiveField as ::tied::__private::TieField>::bias::<#tie, #len>(
                    #key, #stored, #to,
                )
            ))
        }
    });
    quote! {
        #[automatically_derived]
        impl #impl_generics ::tied::__private::TiedWeights for #name #ty_generics #where_clause {
            fn effective_fields() -> ::std::vec::Vec<::tied::__private::EffectiveField> {
                ::std::vec![#(#fields),*]
            }
        }
    }
}

/// `TiedLayer`: the patterns the layer can only check when built (the user's own).
fn tied_layer(layer: &Layer, plan: &Plan) -> TokenStream {
    let name = &layer.original.ident;
    let layer_name = name.to_string();
    let (impl_generics, ty_generics, where_clause) = layer.generics.split_for_impl();
    let weights = plan
        .weights
        .iter()
        .filter(|w| w.is_stored() && w.tie.user().is_some())
        .map(|w| {
            let (tie, i, o) = (w.tie.tokens(), &w.inputs, &w.outputs);
            let key = w.field.ident.to_string();
            quote!(::tied::__private::check_field_pattern::<#tie, #i, #o>(#layer_name, #key)?;)
        });
    let biases = plan
        .biases
        .iter()
        .filter(|b| b.is_stored() && b.tie.as_ref().is_some_and(|t| t.user().is_some()))
        .filter_map(|b| {
            let tie = b.tie.as_ref()?.tokens();
            let (len, key) = (&b.len, b.field.ident.to_string());
            Some(quote!(::tied::__private::check_field_pattern::<#tie, 1, #len>(#layer_name, #key)?;))
        });
    quote! {
        #[automatically_derived]
        impl #impl_generics ::tied::__private::TiedLayer for #name #ty_generics #where_clause {
            fn check_patterns() -> ::core::result::Result<(), ::tied::__private::InvalidPattern> {
                #(#weights)*
                #(#biases)*
                ::core::result::Result::Ok(())
            }
        }
    }
}

/// Sizes the macro could not compare or compute (const items, generic arithmetic): the compiler
/// checks them, with the error under the user's tokens.
fn size_checks(plan: &Plan) -> TokenStream {
    let same = plan.dim_checks.iter().map(|check| {
        let (expected, actual) = (&check.expected, &check.actual);
        let span = first_span(&check.at);
        quote_spanned! {span=>
            let _: ::tied::__private::SameSize<#expected> = ::tied::__private::SameSize::<#actual>;
        }
    });
    let same = (!plan.dim_checks.is_empty()).then(|| {
        quote! {
            #[doc(hidden)]
            #[allow(dead_code)]
            fn __tied_size_checks() {
                #(#same)*
            }
        }
    });
    // The runtime's own size assertion of each built-in pattern the macro could not check,
    // referenced at the user's tokens: the error names the numbers, the note points here.
    let asserts = plan.size_asserts.iter().map(|check| {
        let (i, o) = (&check.inputs, &check.outputs);
        let tie = check.tie.tokens();
        let span = first_span(&check.at);
        quote_spanned! {span=> let () = <#tie as ::tied::__private::Tie<#i, #o>>::SIZE_CHECK; }
    });
    let asserts = (!plan.size_asserts.is_empty()).then(|| {
        quote! {
            #[doc(hidden)]
            const __TIED_SIZE_CHECKS: () = { #(#asserts)* };
        }
    });
    quote!(#same #asserts)
}

fn first_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}
