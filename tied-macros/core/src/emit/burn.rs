//! The Burn emitter, `#[tied::burn::layer]`: the same keys, checks and [`Plan`] as dfdx's (the
//! struct is read by `Layer::from_burn`), emitted as Burn code. It names nothing of dfdx: a user
//! pattern is a `tied::RuntimePattern`, the framework-free definition, at any sizes.
//!
//! A Burn tensor's type has no sizes, so each field states its effective shape in the attribute,
//! `#[tied(rows, shape = [n, n])] weight: Param<Tensor<2>>`, sizes being the config's fields (or
//! literals). What the macro can compare (literals, the same name twice) it checks now, at the
//! user's tokens, in the dfdx words; what it cannot (two different names) becomes a check in the
//! config's `init`, which states the rule and the numbers (`Plan::dim_checks`). Each pattern's own
//! rule on its sizes is the runtime's (`tied_burn::Tie::new`, the same sentence as dfdx's).
//!
//! Generated, for `struct TiedLinear`:
//! - the struct, each tied field rewritten to its stored `Param` (`Param<Tensor<1>>` for `rows`),
//!   fields tied to another gone, and a `#[module(skip)] tied: TiedLinearTies` holding each
//!   stored field's checked pattern; the user's `#[derive(Module, Debug)]` then sees one `Param`
//!   per stored tensor, under the field's name;
//! - `TiedLinearConfig`, a Burn `#[derive(Config)]` holding the sizes, with `init(&device)` and
//!   `try_init(&device)`;
//! - `forward(&self, x)` (one weight, or `forward = [..]`), and per weight its effective tensor,
//!   `x·W`, row lookup and picture; `load_checked(&mut self, path)`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{GenericArgument, Ident, ItemStruct, PathArguments, Type};
use tied_patterns::Form;

use crate::ast::{Dim, DimKey, Layer};
use crate::attr::TieValue;
use crate::emit::{self, strip_tied_attrs, Part};
use crate::plan::{text, Plan, PlanStep, TieType, Weight};

/// `ty` (`Param<Tensor<R>>`) with its rank replaced by `rank`, keeping the user's paths.
fn with_rank(ty: &Type, rank: usize) -> Type {
    let mut ty = ty.clone();
    let rank = syn::LitInt::new(&rank.to_string(), proc_macro2::Span::call_site());
    if let Type::Path(param) = &mut ty {
        if let Some(PathArguments::AngleBracketed(args)) =
            param.path.segments.last_mut().map(|s| &mut s.arguments)
        {
            if let Some(GenericArgument::Type(Type::Path(tensor))) = args.args.first_mut() {
                if let Some(PathArguments::AngleBracketed(args)) =
                    tensor.path.segments.last_mut().map(|s| &mut s.arguments)
                {
                    if let Some(first) = args.args.first_mut() {
                        *first = syn::parse_quote!(#rank);
                    }
                }
            }
        }
    }
    ty
}

/// A stored field's pattern: its runtime key, stated sizes and stored rank, or the user's type.
struct Stored<'p> {
    key: &'static str,
    stated: &'p [Dim],
    rank: usize,
    /// `pattern = Type`: a `tied::RuntimePattern` type, its values stored flat.
    user: Option<&'p syn::Type>,
}

fn stored_of(tie: &TieType) -> Option<Stored<'_>> {
    match tie {
        TieType::Dense => Some(Stored {
            key: "dense",
            stated: &[],
            rank: 2,
            user: None,
        }),
        TieType::Builtin(pattern, args) => Some(Stored {
            key: pattern.key,
            stated: args,
            rank: if pattern.form == Form::Pair { 2 } else { 1 },
            user: None,
        }),
        TieType::User(ty) => Some(Stored {
            key: "",
            stated: &[],
            rank: 1,
            user: Some(ty),
        }),
        // Only fields tied to another are transposed.
        TieType::Transposed(_) => None,
    }
}

/// The config's fields: every size named by an identifier, in order of first appearance.
fn sizes(layer: &Layer) -> Vec<Ident> {
    let mut names: Vec<Ident> = Vec::new();
    let mut add = |dim: &Dim| {
        if let DimKey::Ident(_) = dim.key {
            if let Ok(ident) = syn::parse2::<Ident>(dim.original.clone()) {
                if !names.contains(&ident) {
                    names.push(ident);
                }
            }
        }
    };
    for field in &layer.fields {
        field.tensor.dims.iter().for_each(&mut add);
        if let Some(tie) = &field.tie {
            match &tie.value {
                TieValue::Size(k) => add(&Dim::from_expr(k)),
                TieValue::Pair(r, c) => {
                    add(&Dim::from_expr(r));
                    add(&Dim::from_expr(c));
                }
                _ => {}
            }
        }
    }
    names
}

fn ties_name(layer: &Layer) -> Ident {
    format_ident!("{}Ties", layer.original.ident)
}

/// What the generated code names: `::tied::burn::...`, so the user's scope cannot change it.
fn burn_path() -> TokenStream {
    quote!(::tied::burn::__private::burn)
}

/// The layer's items: the rewritten struct, its patterns' struct, its config and methods.
pub fn layer(layer: &Layer, plan: &Plan) -> TokenStream {
    let item = rewritten_struct(layer, plan);
    let ties = ties_struct(layer, plan);
    let config = config(layer, plan);
    let methods = methods(layer, plan);
    let weights = tied_weights(layer, plan);
    quote! {
        #item
        #ties
        #config
        #methods
        #weights
    }
}

/// `tied::burn::TiedWeights`: each effective field with its index map, and the stored values, for
/// `tied::burn::export_dense` / `import_dense` (the dfdx front end's file format).
fn tied_weights(layer: &Layer, plan: &Plan) -> TokenStream {
    let name = &layer.original.ident;
    let private = quote!(::tied::burn::__private);
    let tied_to = |is_stored: bool, transposed: bool, stored: &str| {
        crate::plan::tied_to_tokens(quote!(::tied::burn::TiedTo), is_stored, transposed, stored)
    };
    let fields = layer.fields.iter().filter_map(|field| {
        if let Some(w) = plan.weights.iter().find(|w| w.field.ident == field.ident) {
            let (stored, transposed) = use_of(w);
            let (key, stored_text) = (w.field.ident.to_string(), stored.to_string());
            let to = tied_to(w.is_stored(), transposed, &stored_text);
            Some(quote!(
                #private::weight_field(#key, #stored_text, &self.tied.#stored, #to, #transposed)
            ))
        } else {
            let b = plan.biases.iter().find(|b| b.field.ident == field.ident)?;
            let (key, stored) = (b.field.ident.to_string(), b.stored);
            let stored_text = stored.to_string();
            let to = tied_to(b.is_stored(), false, &stored_text);
            let tie = if b.tie.is_some() {
                quote!(::core::option::Option::Some(&self.tied.#stored))
            } else {
                quote!(::core::option::Option::None)
            };
            Some(quote!(
                #private::bias_field(#key, #stored_text, #tie, &self.#stored, #to)
            ))
        }
    });
    let stored: Vec<&Ident> = plan
        .weights
        .iter()
        .filter(|w| w.is_stored())
        .map(|w| w.field.ident)
        .chain(
            plan.biases
                .iter()
                .filter(|b| b.is_stored())
                .map(|b| b.field.ident),
        )
        .collect();
    let stored_text: Vec<String> = stored.iter().map(|s| s.to_string()).collect();
    let first = stored.first();
    let dtype = match first {
        Some(first) => quote!(#private::dtype(&self.#first)),
        None => quote!(#private::burn::tensor::DType::F32),
    };
    quote! {
        #[automatically_derived]
        impl ::tied::burn::TiedWeights for #name {
            fn effective_fields(&self) -> ::std::vec::Vec<::tied::burn::EffectiveField> {
                ::std::vec![#(#fields),*]
            }

            fn stored_values(
                &self,
            ) -> #private::BTreeMap<::std::string::String, ::std::vec::Vec<f64>> {
                let mut values = #private::BTreeMap::new();
                #(values.insert(
                    ::std::string::String::from(#stored_text),
                    #private::host(&self.#stored),
                );)*
                values
            }

            fn with_stored_values(
                &self,
                values: &#private::HashMap<::std::string::String, ::std::vec::Vec<f64>>,
            ) -> Self {
                let mut layer = ::core::clone::Clone::clone(self);
                #(if let ::core::option::Option::Some(v) = values.get(#stored_text) {
                    layer.#stored = #private::replaced(&layer.#stored, v);
                })*
                layer
            }

            fn dtype(&self) -> #private::burn::tensor::DType {
                #dtype
            }
        }
    }
}

/// The user's struct, each tied field typed as its stored `Param` (`Param<Tensor<1>>` for
/// `rows`), and the patterns' field.
fn rewritten_struct(layer: &Layer, plan: &Plan) -> ItemStruct {
    let mut item = emit::rewritten_struct(layer, plan, |ty, part| {
        let rank = match part {
            Part::Weight(w) => stored_of(&w.tie).map_or(2, |s| s.rank),
            Part::Bias(b) => b.tie.as_ref().and_then(stored_of).map_or(1, |s| s.rank),
        };
        Some(with_rank(ty, rank))
    });
    let ties = ties_name(layer);
    if let syn::Fields::Named(named) = &mut item.fields {
        let vis = &layer.original.vis;
        named.named.push(syn::parse_quote! {
            /// The pattern of each stored field, with its sizes checked at `init`: not
            /// parameters, so Burn's optimizers and records never see them.
            #[module(skip)]
            #vis tied: #ties
        });
    }
    item
}

/// Every stored field with a pattern: its weights (dense included) and tied biases.
fn stored_ties<'p>(plan: &'p Plan) -> Vec<(&'p Ident, Stored<'p>, TokenStream, TokenStream)> {
    let weights = plan
        .weights
        .iter()
        .filter(|w| w.is_stored())
        .filter_map(|w| {
            let (i, o) = (&w.inputs.original, &w.outputs.original);
            Some((w.field.ident, stored_of(&w.tie)?, quote!(#i), quote!(#o)))
        });
    let biases = plan
        .biases
        .iter()
        .filter(|b| b.is_stored())
        .filter_map(|b| {
            let len = &b.len.original;
            Some((
                b.field.ident,
                stored_of(b.tie.as_ref()?)?,
                quote!(1),
                quote!(#len),
            ))
        });
    weights.chain(biases).collect()
}

fn ties_struct(layer: &Layer, plan: &Plan) -> TokenStream {
    let vis = &layer.original.vis;
    let name = &layer.original.ident;
    let ties = ties_name(layer);
    let doc = format!(
        " The patterns of [`{name}`]'s stored fields, one [`tied::burn::Tie`] each, checked by \
         its config's `init`."
    );
    let fields = stored_ties(plan).into_iter().map(|(field, stored, _, _)| {
        let doc = match stored.user {
            Some(ty) => format!(" `{field}`: pattern `{}`.", text(ty)),
            None => format!(" `{field}`: `{}`.", stored.key),
        };
        quote! {
            #[doc = #doc]
            pub #field: ::tied::burn::Tie,
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        #vis struct #ties {
            #(#fields)*
        }
    }
}

fn config(layer: &Layer, plan: &Plan) -> TokenStream {
    let name = &layer.original.ident;
    let name_text = name.to_string();
    let vis = &layer.original.vis;
    let config = &layer.builder;
    let ties = ties_name(layer);
    let burn = burn_path();
    let sizes = sizes(layer);
    let size_docs = sizes.iter().map(|s| format!(" The size `{s}`."));
    let checks = plan.dim_checks.iter().map(|check| {
        let (e, a) = (&check.expected.original, &check.actual.original);
        let (et, at) = (text(e), text(a));
        let rule = &check.rule;
        quote! {
            ::tied::burn::__private::same_size(#name_text, #rule, (#et, #e), (#at, #a))?;
        }
    });
    let stored = stored_ties(plan);
    let tie_locals = stored.iter().map(|(field, s, i, o)| {
        let local = format_ident!("__tied_{}", field);
        let (field_text, key) = (field.to_string(), s.key);
        if let Some(user) = s.user {
            // The pattern's `RuntimePattern` map, at literal and config sizes alike: the
            // framework-free definition, so a Burn-only build needs no dfdx. A type without one
            // is an error at the user's type.
            let span = crate::ast::first_span(user);
            let path =
                quote::quote_spanned!(span=> ::tied::burn::__private::runtime_user_tie::<#user>);
            return quote! {
                let #local = #path(#name_text, #field_text, (#i, #o))?;
            };
        }
        let stated = s.stated.iter().map(|d| &d.original);
        quote! {
            let #local = ::tied::burn::__private::tie(
                #name_text, #field_text, #key, (#i, #o), &[#(#stated),*],
            )?;
        }
    });
    let tie_fields = stored.iter().map(|(field, ..)| {
        let local = format_ident!("__tied_{}", field);
        quote!(#field: #local,)
    });
    let weights = plan.weights.iter().filter(|w| w.is_stored()).map(|w| {
        let (field, local) = (w.field.ident, format_ident!("__tied_{}", w.field.ident));
        let rank = unsuffixed(stored_of(&w.tie).map_or(2, |s| s.rank));
        let fan_in = &w.inputs.original;
        quote!(#field: ::tied::burn::__private::stored::<#rank>(&#local, #fan_in, device)?,)
    });
    let biases = plan.biases.iter().filter(|b| b.is_stored()).map(|b| {
        let field = b.field.ident;
        let len = &b.len.original;
        let fan_in = b.fan_in.as_ref().map_or(len, |d| &d.original);
        match b.tie.as_ref().and_then(stored_of) {
            Some(s) => {
                let (local, rank) = (format_ident!("__tied_{}", field), unsuffixed(s.rank));
                quote!(#field: ::tied::burn::__private::stored::<#rank>(&#local, #fan_in, device)?,)
            }
            None => quote!(#field: ::tied::burn::__private::bias(#len, #fan_in, device),),
        }
    });
    let doc = format!(
        " The sizes of a [`{name}`]: `{config}::new(..).init(&device)` builds one, its sizes \
         checked against every pattern's rule."
    );
    let doc_try = format!(
        " A [`{name}`] on `device`, each stored value uniform in ±1/√fan-in as Burn's `Linear`, \
         or the error stating the rule a size breaks and the numbers."
    );
    let doc_init = format!(
        " A [`{name}`] on `device`, as [`Self::try_init`]; panics with its message where a size \
         breaks a pattern's rule, as Burn's configs do."
    );
    quote! {
        #[doc = #doc]
        #[derive(burn::config::Config, Debug)]
        #vis struct #config {
            #(#[doc = #size_docs] pub #sizes: usize,)*
        }

        #[automatically_derived]
        impl #config {
            #[doc = #doc_try]
            #[allow(unused_variables, clippy::redundant_field_names)]
            pub fn try_init(
                &self,
                device: &#burn::tensor::Device,
            ) -> ::core::result::Result<#name, ::tied::burn::Error> {
                #(let #sizes: usize = self.#sizes;)*
                #(#checks)*
                #(#tie_locals)*
                ::core::result::Result::Ok(#name {
                    #(#weights)*
                    #(#biases)*
                    tied: #ties { #(#tie_fields)* },
                })
            }

            #[doc = #doc_init]
            #[track_caller]
            pub fn init(&self, device: &#burn::tensor::Device) -> #name {
                match self.try_init(device) {
                    ::core::result::Result::Ok(layer) => layer,
                    ::core::result::Result::Err(err) => ::tied::burn::__private::init_failed(err),
                }
            }
        }
    }
}

fn unsuffixed(n: usize) -> proc_macro2::Literal {
    proc_macro2::Literal::usize_unsuffixed(n)
}

/// How a weight is computed from its stored field: the field, and whether it is used transposed.
fn use_of<'p>(weight: &'p Weight) -> (&'p Ident, bool) {
    (weight.stored, matches!(weight.tie, TieType::Transposed(_)))
}

/// `x·W` for a weight, as a `Result`.
fn product(weight: &Weight, x: TokenStream) -> TokenStream {
    let (stored, transposed) = use_of(weight);
    if transposed {
        quote!(self.tied.#stored.try_forward_transposed(#x, self.#stored.val()))
    } else {
        quote!(self.tied.#stored.try_forward(#x, self.#stored.val()))
    }
}

/// `x·W + b` for a weight and its bias's effective vector, as a `Result`: one op on Flex, where
/// the fused kernels start `y` at the bias.
fn product_with_bias(weight: &Weight, x: TokenStream, bias: TokenStream) -> TokenStream {
    let (stored, transposed) = use_of(weight);
    if transposed {
        quote!(self.tied.#stored.try_forward_transposed_with_bias(#x, self.#stored.val(), #bias))
    } else {
        quote!(self.tied.#stored.try_forward_with_bias(#x, self.#stored.val(), #bias))
    }
}

/// A bias's effective vector, and whether it is a `Result` (a tied bias) or the tensor itself.
fn bias_value(plan: &Plan, b: usize) -> (TokenStream, bool) {
    let bias = &plan.biases[b];
    let stored = bias.stored;
    if bias.tie.is_some() {
        let value =
            quote!(::tied::burn::__private::bias_effective(&self.tied.#stored, self.#stored.val()));
        (value, true)
    } else {
        (quote!(self.#stored.val()), false)
    }
}

fn methods(layer: &Layer, plan: &Plan) -> TokenStream {
    let name = &layer.original.ident;
    let burn = burn_path();
    let tensor = quote!(#burn::tensor::Tensor);
    let result = quote!(::core::result::Result);
    let error = quote!(::tied::burn::Error);
    let forward = plan.forward.as_ref().map(|steps| {
        let steps = steps.iter().map(|step| match step {
            PlanStep::Weight { weight, bias } => {
                let weight = &plan.weights[*weight];
                let product = match bias {
                    Some(b) => {
                        let value = match bias_value(plan, *b) {
                            (value, true) => quote!(#value?),
                            (value, false) => value,
                        };
                        product_with_bias(weight, quote!(x), value)
                    }
                    None => product(weight, quote!(x)),
                };
                quote!(let x = #product?;)
            }
            PlanStep::Module { path, .. } => quote! {
                let x = <#path as ::core::default::Default>::default().forward(x);
            },
        });
        quote! {
            /// `y = x·W + b` through the layer's steps, structure-aware (no `W` is built where the
            /// pattern allows), for `x` of any rank whose last dimension is the inputs; or the
            /// error naming the shape that does not fit.
            pub fn try_forward<const D: usize>(
                &self,
                input: #tensor<D>,
            ) -> #result<#tensor<D>, #error> {
                let x = input;
                #(#steps)*
                #result::Ok(x)
            }

            /// [`Self::try_forward`], panicking with its message on a shape that does not fit,
            /// as Burn's modules do.
            #[track_caller]
            pub fn forward<const D: usize>(&self, input: #tensor<D>) -> #tensor<D> {
                match self.try_forward(input) {
                    #result::Ok(y) => y,
                    #result::Err(err) => ::core::panic!("{}", err),
                }
            }
        }
    });
    let weights = plan.weights.iter().map(|weight| {
        let (stored, transposed) = use_of(weight);
        let crate::plan::Accessors {
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
        } = crate::plan::Accessors::of(weight);
        let effective_body = if transposed {
            quote!(#result::Ok(self.tied.#stored.try_effective(self.#stored.val())?.transpose()))
        } else {
            quote!(self.tied.#stored.try_effective(self.#stored.val()))
        };
        let product = product(weight, quote!(input));
        let lookup_body = if transposed {
            quote!(self.tied.#stored.try_lookup_transposed(ids, self.#stored.val()))
        } else {
            quote!(self.tied.#stored.try_lookup(ids, self.#stored.val()))
        };
        let doc_effective = format!(
            " The effective `{shape}` weight `{key}` ({pattern}), materialized: gradients flow \
             back to the stored values, summed over every copy.{held}"
        );
        let doc_matmul = format!(
            " `input·W` for the effective weight `{key}` ({pattern}), without building `W` \
             where the pattern allows; `input` of any rank, its last dimension the inputs.{held}"
        );
        let doc_lookup = format!(
            " Rows of the effective weight `{key}` ({pattern}) picked by `ids` (an embedding \
             whose table is `W`): ids of shape `[..]` give `[.., O]`, so `D2 = D + 1`.{held}"
        );
        let doc_picture = format!(
            " The effective weight `{key}` drawn as labels of its stored values, like the forum \
             thread draws it."
        );
        quote! {
            #[doc = #doc_effective]
            pub fn #try_effective(&self) -> #result<#tensor<2>, #error> {
                #effective_body
            }

            #[doc = #doc_effective]
            #[track_caller]
            pub fn #effective(&self) -> #tensor<2> {
                match self.#try_effective() {
                    #result::Ok(w) => w,
                    #result::Err(err) => ::core::panic!("{}", err),
                }
            }

            #[doc = #doc_matmul]
            pub fn #try_matmul<const D: usize>(
                &self,
                input: #tensor<D>,
            ) -> #result<#tensor<D>, #error> {
                #product
            }

            #[doc = #doc_matmul]
            #[track_caller]
            pub fn #matmul<const D: usize>(&self, input: #tensor<D>) -> #tensor<D> {
                match self.#try_matmul(input) {
                    #result::Ok(y) => y,
                    #result::Err(err) => ::core::panic!("{}", err),
                }
            }

            #[doc = #doc_lookup]
            pub fn #try_lookup<const D: usize, const D2: usize>(
                &self,
                ids: #tensor<D, #burn::tensor::Int>,
            ) -> #result<#tensor<D2>, #error> {
                #lookup_body
            }

            #[doc = #doc_lookup]
            #[track_caller]
            pub fn #lookup<const D: usize, const D2: usize>(
                &self,
                ids: #tensor<D, #burn::tensor::Int>,
            ) -> #tensor<D2> {
                match self.#try_lookup(ids) {
                    #result::Ok(rows) => rows,
                    #result::Err(err) => ::core::panic!("{}", err),
                }
            }

            #[doc = #doc_picture]
            pub fn #picture(&self) -> ::tied::burn::Picture {
                self.tied.#stored.picture(#key, #label, #transposed)
            }
        }
    });
    let biases = plan.biases.iter().enumerate().map(|(b, bias)| {
        let field = bias.field.ident;
        let effective = format_ident!("{}_effective", field);
        let value = match bias_value(plan, b) {
            (value, true) => value,
            (value, false) => quote!(#result::Ok(#value)),
        };
        let doc = format!(
            " The effective bias `{field}` ({}), `[O]`.",
            bias.tie
                .as_ref()
                .map_or_else(|| "dense".to_owned(), TieType::describe)
        );
        quote! {
            #[doc = #doc]
            pub fn #effective(&self) -> #result<#tensor<1>, #error> {
                #value
            }
        }
    });
    let doc_load = format!(
        " Loads the burnpack file at `path` (as Burn's `Module::save_file` writes it) into this \
         `{name}`. A file that does not fit (a tensor missing, or of another shape than this \
         layer stores) is refused with Burn's message naming the tensor, and the layer is left \
         as it was."
    );
    quote! {
        #[automatically_derived]
        impl #name {
            #forward
            #(#weights)*
            #(#biases)*

            #[doc = #doc_load]
            pub fn load_checked(
                &mut self,
                path: impl ::core::convert::AsRef<::std::path::Path>,
            ) -> #result<(), #error> {
                *self = ::tied::burn::__private::load_file(
                    ::core::stringify!(#name),
                    self,
                    path.as_ref(),
                )?;
                #result::Ok(())
            }
        }
    }
}

/// On error: the `compile_error!`s beside the struct as written and a stand-in config with the
/// sizes that parsed, so calls to `Config::new(..).init(..)` add no errors of their own.
pub fn fallback(item: &ItemStruct, layer: Option<&Layer>, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    let item = strip_tied_attrs(item);
    let Some(layer) = layer else {
        return quote!(#errors #item);
    };
    let (name, vis, config) = (&item.ident, &item.vis, &layer.builder);
    let sizes = sizes(layer);
    let burn = burn_path();
    let unreachable = quote!(::core::unreachable!(
        "`#[tied::burn::layer]` reported an error for this struct"
    ));
    quote! {
        #errors
        #item

        #[derive(Debug, Clone)]
        #vis struct #config {
            #(pub #sizes: usize,)*
        }

        impl #config {
            #[allow(clippy::too_many_arguments)]
            pub fn new(#(#sizes: usize),*) -> Self {
                Self { #(#sizes),* }
            }

            pub fn init(&self, _: &#burn::tensor::Device) -> #name {
                #unreachable
            }

            pub fn try_init(
                &self,
                _: &#burn::tensor::Device,
            ) -> ::core::result::Result<#name, ::tied::burn::Error> {
                #unreachable
            }
        }
    }
}
