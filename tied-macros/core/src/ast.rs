//! The model of a tied layer, read from a dfdx struct (`#[tied::layer]`) or a Burn one
//! (`#[tied::burn::layer]`): borrowed views of the user's syntax, each keeping its `original` node
//! so every error points at the user's tokens.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Expr, GenericArgument, GenericParam, Generics, Ident, ItemStruct, PathArguments, Type};

use crate::attr::{self, LayerArgs, TieAttr};
use crate::errors::Errors;
use crate::frontend::Frontend;

pub struct Layer<'a> {
    pub original: &'a ItemStruct,
    /// The struct's generics, plus `Pattern: Tie<I, O>` for each user pattern of a dfdx layer (see
    /// [`user_patterns`]): every generated item carries them.
    pub generics: Generics,
    /// Each user pattern of a dfdx layer with the sizes it is used at: `(Pattern, I, O)`. (A Burn
    /// layer's are `tied::RuntimePattern`s, checked by its config's `init`: none here.)
    pub patterns: Vec<(Type, TokenStream, TokenStream)>,
    /// The dtype parameter (`E: Dtype`). A Burn layer has none: its struct's name stands here,
    /// unused (Burn's tensors carry no dtype or device type).
    pub dtype: &'a Ident,
    /// The device parameter (`D: Device<E>`); the struct's name for a Burn layer.
    pub device: &'a Ident,
    /// The front end: dfdx (`#[tied::layer]`, sizes in the types) or Burn
    /// (`#[tied::burn::layer]`, sizes in the config, stated by `shape = [..]`).
    pub frontend: Frontend,
    pub builder: Ident,
    /// `forward = [..]`, with the key's tokens.
    pub forward: Option<(Ident, Vec<attr::Step>)>,
    pub fields: Vec<Field<'a>>,
    /// `PhantomData` fields, for type parameters no tensor names; rebuilt, never stored.
    pub markers: Vec<&'a Ident>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub tensor: TensorType,
    pub tie: Option<TieAttr>,
}

/// The effective tensor as the user declared it: `Tensor<Shape, E, D>` on dfdx, or a Burn
/// `Param<Tensor<R>>` with `#[tied(shape = [..])]`.
pub struct TensorType {
    /// The shape's tokens (`Rank2<I, O>`, or Burn's `[i, o]`), for messages and their spans.
    pub shape: TokenStream,
    pub dims: Vec<Dim>,
}

/// One compile-time dimension: a literal, a const parameter or const item, or an expression.
#[derive(Clone)]
pub struct Dim {
    pub key: DimKey,
    /// The user's tokens, for errors.
    pub original: TokenStream,
}

#[derive(Clone, PartialEq, Eq)]
pub enum DimKey {
    Literal(u128),
    Ident(String),
    /// An expression the macro cannot evaluate; compared by the compiler instead.
    Opaque,
}

impl Dim {
    pub fn from_expr(expr: &Expr) -> Dim {
        let key = match expr {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(int),
                ..
            }) => int
                .base10_parse::<u128>()
                .map_or(DimKey::Opaque, DimKey::Literal),
            Expr::Path(p) if p.qself.is_none() => match p.path.get_ident() {
                Some(ident) => DimKey::Ident(ident.to_string()),
                None => DimKey::Opaque,
            },
            _ => DimKey::Opaque,
        };
        Dim {
            key,
            original: expr.to_token_stream(),
        }
    }

    fn from_generic_argument(arg: &GenericArgument) -> Option<Dim> {
        match arg {
            GenericArgument::Const(expr) => Some(Dim::from_expr(expr)),
            GenericArgument::Type(Type::Path(p)) if p.qself.is_none() => {
                let key = match p.path.get_ident() {
                    Some(ident) => DimKey::Ident(ident.to_string()),
                    None => DimKey::Opaque,
                };
                Some(Dim {
                    key,
                    original: p.to_token_stream(),
                })
            }
            _ => None,
        }
    }

    /// The dimension as a const generic argument.
    pub fn as_const_arg(&self) -> TokenStream {
        let tokens = &self.original;
        match self.key {
            DimKey::Literal(_) | DimKey::Ident(_) => tokens.clone(),
            DimKey::Opaque => quote!({ #tokens }),
        }
    }

    /// Whether two dims are equal, if the macro can tell: `None` leaves it to the compiler.
    /// `const_params` are the struct's const parameters, which no literal can be proven to equal.
    pub fn same_as(&self, other: &Dim, const_params: &[String]) -> Option<bool> {
        let is_param = |name: &String| const_params.contains(name);
        match (&self.key, &other.key) {
            (DimKey::Literal(a), DimKey::Literal(b)) => Some(a == b),
            (DimKey::Ident(a), DimKey::Ident(b)) if a == b => Some(true),
            (DimKey::Ident(a), DimKey::Ident(b)) if is_param(a) && is_param(b) => Some(false),
            (DimKey::Ident(a), DimKey::Literal(_)) | (DimKey::Literal(_), DimKey::Ident(a))
                if is_param(a) =>
            {
                Some(false)
            }
            _ => None,
        }
    }
}

impl ToTokens for Dim {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.as_const_arg());
    }
}

impl<'a> Layer<'a> {
    /// Reads the struct as `frontend` declares a layer; returns `None` (with errors pushed) when
    /// it is not a model we can check.
    pub fn from_syn(
        item: &'a ItemStruct,
        frontend: Frontend,
        args: LayerArgs,
        errors: &mut Errors,
    ) -> Option<Self> {
        match frontend {
            Frontend::Dfdx => Layer::from_dfdx(item, args, errors),
            Frontend::Burn => Layer::from_burn(item, args, errors),
        }
    }

    /// A dfdx module struct: `Tensor<Shape, E, D>` fields, generic over `E: Dtype, D: Device<E>`.
    fn from_dfdx(item: &'a ItemStruct, args: LayerArgs, errors: &mut Errors) -> Option<Self> {
        let named = match &item.fields {
            syn::Fields::Named(named) => named,
            syn::Fields::Unnamed(_) => {
                errors.spanned(
                    &item.fields,
                    "a tied layer needs named fields (`weight: Tensor<..>`), not a tuple struct: \
                     field names become the parameter names optimizers and safetensors see",
                );
                return None;
            }
            syn::Fields::Unit => {
                errors.spanned(
                    &item.ident,
                    "a tied layer needs at least one tensor field, e.g. \
                     `weight: Tensor<Rank2<I, O>, E, D>`",
                );
                return None;
            }
        };

        let mut has_lifetimes = false;
        for lifetime in item.generics.lifetimes() {
            has_lifetimes = true;
            errors.spanned(
                &lifetime.lifetime,
                "a tied layer owns its tensors: remove the lifetime parameter and store each field \
                 as `Tensor<..>`, not a reference",
            );
        }
        let (dtype, device) = find_dtype_and_device(&item.generics, &item.ident, errors)?;
        // The fields a lifetime serves are borrowed, not tensors: reporting each of them too
        // would repeat the error above.
        if has_lifetimes {
            return None;
        }

        let mut fields = Vec::new();
        let mut markers = Vec::new();
        for field in &named.named {
            let ident = field.ident.as_ref()?;
            let tie = attr::field_tie(&field.attrs, errors, None);
            if ident == "_" {
                // syn reads `_: T` as a field (unnamed fields are an unstable Rust feature); a
                // parameter needs a name for optimizers and safetensors, and the generated code
                // reads each field by it.
                errors.spanned(
                    ident,
                    "a field of a tied layer needs a name: it is the parameter's name in \
                     safetensors files and the generated code reads the field by it",
                );
                continue;
            }
            if is_phantom(&field.ty) {
                // A marker for an extra type parameter (an activation type, say): no values.
                if let Some(tie) = tie {
                    errors.spanned(
                        &tie.key,
                        format!("`{ident}` is a `PhantomData` marker: it holds no values to tie"),
                    );
                }
                markers.push(ident);
                continue;
            }
            match TensorType::from_syn(&field.ty, dtype, device) {
                Ok(tensor) => fields.push(Field { ident, tensor, tie }),
                Err(err) => errors.push(err),
            }
        }
        let builder = args
            .builder
            .unwrap_or_else(|| quote::format_ident!("{}Config", item.ident));
        let mut generics = item.generics.clone();
        let patterns = user_patterns(&fields);
        if !patterns.is_empty() {
            generics
                .make_where_clause()
                .predicates
                .extend(patterns.iter().map(|(ty, i, o)| {
                    let span = first_span(ty);
                    let bound: syn::WherePredicate = syn::parse_quote_spanned! {span=>
                        #ty: ::tied::__private::Tie<#i, #o>
                    };
                    bound
                }));
        }
        Some(Layer {
            original: item,
            generics,
            patterns,
            dtype,
            device,
            frontend: Frontend::Dfdx,
            builder,
            forward: args.forward,
            fields,
            markers,
        })
    }

    /// A Burn module struct: `Param<Tensor<R>>` fields, each with its `shape = [..]`, and no
    /// generics. Its struct's name stands for the dtype and device it does not have.
    fn from_burn(item: &'a ItemStruct, args: LayerArgs, errors: &mut Errors) -> Option<Self> {
        let named = match &item.fields {
            syn::Fields::Named(named) => named,
            _ => {
                errors.spanned(
                    &item.ident,
                    "a tied Burn layer needs named `Param` fields, e.g. \
                     `#[tied(rows, shape = [n, n])] weight: Param<Tensor<2>>`: field names become \
                     the parameter names in Burn's records",
                );
                return None;
            }
        };
        if !item.generics.params.is_empty() {
            errors.spanned(
                &item.generics,
                "a tied Burn layer has no generic parameters: Burn tensors carry no backend or size \
                 types, and the sizes are fields of the layer's config (`shape = [d_in, d_out]`)",
            );
            return None;
        }
        let mut fields = Vec::new();
        for field in &named.named {
            let ident = field.ident.as_ref()?;
            let mut shape = None;
            let tie = attr::field_tie(&field.attrs, errors, Some(&mut shape));
            let rank = match param_rank(&field.ty) {
                Ok(rank) => rank,
                Err(err) => {
                    errors.push(err);
                    continue;
                }
            };
            let Some(shape) = shape else {
                let example = if rank == 1 {
                    "[d_out]"
                } else {
                    "[d_in, d_out]"
                };
                errors.spanned(
                    ident,
                    format!(
                        "`{ident}` needs its effective shape: `#[tied(shape = {example})]`, sizes \
                         being fields of the config (or literals); a Burn tensor's type has no sizes"
                    ),
                );
                continue;
            };
            if shape.dims.len() != rank {
                errors.spanned(
                    &shape.tokens,
                    format!(
                        "`{ident}` is a `Param<Tensor<{rank}>>`, so its shape has {rank} size{s}, not \
                         {}",
                        shape.dims.len(),
                        s = if rank == 1 { "" } else { "s" }
                    ),
                );
                continue;
            }
            let dims = shape.dims.iter().map(Dim::from_expr).collect();
            fields.push(Field {
                ident,
                tensor: TensorType {
                    shape: shape.tokens,
                    dims,
                },
                tie,
            });
        }
        if let Some(taken) = fields.iter().find(|f| f.ident == "tied") {
            errors.spanned(
                taken.ident,
                "`tied` is the field where a tied Burn layer keeps its patterns: rename this one",
            );
        }
        Some(Layer {
            original: item,
            generics: item.generics.clone(),
            patterns: Vec::new(),
            dtype: &item.ident,
            device: &item.ident,
            frontend: Frontend::Burn,
            builder: args
                .builder
                .unwrap_or_else(|| quote::format_ident!("{}Config", item.ident)),
            forward: args.forward,
            fields,
            markers: Vec::new(),
        })
    }

    /// How the user declares an effective shape of `dims`, for "declare it ..." hints:
    /// `Rank2<I, O>` on dfdx, `shape = [i, o]` on Burn.
    pub fn shape_hint(&self, dims: &[&str]) -> String {
        match self.frontend {
            Frontend::Dfdx => format!("Rank{}<{}>", dims.len(), dims.join(", ")),
            Frontend::Burn => format!("shape = [{}]", dims.join(", ")),
        }
    }

    /// Names of the struct's const parameters.
    pub fn const_params(&self) -> Vec<String> {
        self.generics
            .const_params()
            .map(|c| c.ident.to_string())
            .collect()
    }
}

/// Each field declaring `pattern = Pattern`, with the sizes it is used at (a bias: `1`, `O`).
/// `Pattern: Tie<I, O>` goes on the struct and every generated impl, at the pattern's tokens: a
/// type that is not a pattern for these sizes is one unsatisfied bound there (rustc reports the
/// identical ones once), instead of an error at every generated use of it. (A transposed or shared
/// field uses its target's bound.)
fn user_patterns(fields: &[Field]) -> Vec<(Type, TokenStream, TokenStream)> {
    fields
        .iter()
        .filter_map(|field| {
            let tie = field.tie.as_ref()?;
            let attr::TieValue::Type(ty) = &tie.value else {
                return None;
            };
            let (i, o) = match field.tensor.dims.as_slice() {
                [i, o] => (i.to_token_stream(), o.to_token_stream()),
                [o] => (quote!(1), o.to_token_stream()),
                _ => return None,
            };
            Some((ty.clone(), i, o))
        })
        .collect()
}

/// The span of the first token of `tokens`: where an error about them starts.
pub fn first_span(tokens: impl ToTokens) -> proc_macro2::Span {
    tokens
        .to_token_stream()
        .into_iter()
        .next()
        .map_or_else(proc_macro2::Span::call_site, |t| t.span())
}

/// `PhantomData<..>`, by its last path segment.
fn is_phantom(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "PhantomData"))
}

/// Finds `E: Dtype` and `D: Device<E>` among the type parameters, by their bounds.
fn find_dtype_and_device<'a>(
    generics: &'a Generics,
    name: &Ident,
    errors: &mut Errors,
) -> Option<(&'a Ident, &'a Ident)> {
    let bounded = |trait_name: &str| {
        generics.params.iter().find_map(|param| match param {
            GenericParam::Type(t) if has_bound(t, generics, trait_name) => Some(&t.ident),
            _ => None,
        })
    };
    let dtype = bounded("Dtype");
    let device = bounded("Device");
    match (dtype, device) {
        (Some(e), Some(d)) => Some((e, d)),
        (e, d) => {
            let missing = match (e, d) {
                (None, None) => "its dtype and device",
                (None, Some(_)) => "its dtype",
                _ => "its device",
            };
            let span_tokens: TokenStream = if generics.params.is_empty() {
                name.to_token_stream()
            } else {
                generics.to_token_stream()
            };
            errors.spanned(
                span_tokens,
                format!(
                    "a tied layer is generic over {missing}, like dfdx's own modules: add \
                     `E: Dtype, D: Device<E>` to the generics (e.g. \
                     `struct {name}<const N: usize, E: Dtype, D: Device<E>>`)"
                ),
            );
            None
        }
    }
}

fn has_bound(param: &syn::TypeParam, generics: &Generics, trait_name: &str) -> bool {
    let named = |bound: &syn::TypeParamBound| match bound {
        syn::TypeParamBound::Trait(t) => t
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == trait_name),
        _ => false,
    };
    param.bounds.iter().any(named)
        || generics.where_clause.as_ref().is_some_and(|w| {
            w.predicates.iter().any(|p| match p {
                syn::WherePredicate::Type(t) => {
                    matches!(&t.bounded_ty, Type::Path(p) if p.path.is_ident(&param.ident))
                        && t.bounds.iter().any(named)
                }
                _ => false,
            })
        })
}

impl TensorType {
    fn from_syn(ty: &Type, dtype: &Ident, device: &Ident) -> syn::Result<Self> {
        let not_tensor = || {
            syn::Error::new_spanned(
                ty,
                format!(
                    "every field of a tied layer is a parameter tensor: \
                     `Tensor<Rank2<I, O>, {dtype}, {device}>` for a weight or \
                     `Tensor<Rank1<O>, {dtype}, {device}>` for a bias"
                ),
            )
        };
        let Type::Path(path) = ty else {
            return Err(not_tensor());
        };
        let last = path.path.segments.last().ok_or_else(not_tensor)?;
        if last.ident != "Tensor" || path.qself.is_some() {
            // `Tensor as T` or `type W = Tensor<..>`: the macro cannot see through a renaming.
            if matches!(last.arguments, PathArguments::AngleBracketed(_)) {
                return Err(syn::Error::new_spanned(
                    ty,
                    format!(
                        "every field of a tied layer is a parameter tensor, and the macro knows \
                         dfdx's `Tensor` by its name: if `{}` is `Tensor` renamed, write \
                         `Tensor<..>` or a path ending in `::Tensor`",
                        last.ident
                    ),
                ));
            }
            return Err(not_tensor());
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return Err(not_tensor());
        };
        let args: Vec<&GenericArgument> = args.args.iter().collect();
        if args.len() != 3 {
            return Err(syn::Error::new_spanned(
                &last.arguments,
                format!(
                    "a parameter tensor is `Tensor<Shape, {dtype}, {device}>`: three arguments, no tape"
                ),
            ));
        }
        for (arg, param) in [(args[1], dtype), (args[2], device)] {
            let is_param =
                matches!(arg, GenericArgument::Type(Type::Path(p)) if p.path.is_ident(param));
            if !is_param {
                return Err(syn::Error::new_spanned(
                    arg,
                    format!(
                        "a tied layer's tensors use the layer's own dtype and device: write `{param}` here"
                    ),
                ));
            }
        }
        let GenericArgument::Type(shape) = args[0] else {
            return Err(syn::Error::new_spanned(
                args[0],
                "expected a shape such as `Rank2<I, O>`",
            ));
        };
        let dims = shape_dims(shape)?;
        Ok(TensorType {
            shape: shape.to_token_stream(),
            dims,
        })
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }
}

/// `R` of `Param<Tensor<R>>` (or `Param<Tensor<R, Float>>`).
fn param_rank(ty: &Type) -> syn::Result<usize> {
    let not_param = || {
        syn::Error::new_spanned(
            ty,
            "every field of a tied Burn layer is a parameter: `Param<Tensor<2>>` for a weight \
             or `Param<Tensor<1>>` for a bias, with its `#[tied(shape = [..])]`",
        )
    };
    let inner = last_args(ty, "Param").ok_or_else(not_param)?;
    let [GenericArgument::Type(tensor)] = inner.as_slice() else {
        return Err(not_param());
    };
    let args = last_args(tensor, "Tensor").ok_or_else(|| {
        syn::Error::new_spanned(
            tensor,
            "the macro knows Burn's `Tensor` by its name: if this is `Tensor` renamed, write \
             `Tensor<2>` or a path ending in `::Tensor` (`burn::tensor::Tensor<2>`)",
        )
    })?;
    match args.first() {
        Some(GenericArgument::Const(syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }))) => int.base10_parse(),
        _ => Err(not_param()),
    }
}

/// The generic arguments of a path type whose last segment is `name`.
fn last_args<'t>(ty: &'t Type, name: &str) -> Option<Vec<&'t GenericArgument>> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    match &last.arguments {
        PathArguments::AngleBracketed(args) if last.ident == name => {
            Some(args.args.iter().collect())
        }
        _ => None,
    }
}

/// The dims of `RankN<..>` or `(Const<A>, ..)`.
fn shape_dims(shape: &Type) -> syn::Result<Vec<Dim>> {
    let unsupported = || {
        syn::Error::new_spanned(
            shape,
            "expected a compile-time shape: `Rank1<N>`, `Rank2<I, O>`, `(Const<N>,)` or \
             `(Const<I>, Const<O>)`",
        )
    };
    match shape {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().ok_or_else(unsupported)?;
            let rank = match last.ident.to_string().as_str() {
                "Rank0" => 0,
                "Rank1" => 1,
                "Rank2" => 2,
                "Rank3" => 3,
                "Rank4" => 4,
                "Rank5" => 5,
                "Rank6" => 6,
                _ => return Err(unsupported()),
            };
            let args: Vec<&GenericArgument> = match &last.arguments {
                PathArguments::AngleBracketed(a) => a.args.iter().collect(),
                PathArguments::None => Vec::new(),
                PathArguments::Parenthesized(_) => return Err(unsupported()),
            };
            if args.len() != rank {
                return Err(unsupported());
            }
            args.into_iter()
                .map(|a| Dim::from_generic_argument(a).ok_or_else(unsupported))
                .collect()
        }
        Type::Tuple(t) => t
            .elems
            .iter()
            .map(|elem| {
                let Type::Path(p) = elem else {
                    return Err(unsupported());
                };
                let last = p.path.segments.last().ok_or_else(unsupported)?;
                match (&last.ident, &last.arguments) {
                    (ident, PathArguments::AngleBracketed(a))
                        if ident == "Const" && a.args.len() == 1 =>
                    {
                        Dim::from_generic_argument(&a.args[0]).ok_or_else(unsupported)
                    }
                    _ => Err(syn::Error::new_spanned(
                        elem,
                        "tied layers need compile-time sizes: write `Const<N>` here",
                    )),
                }
            })
            .collect(),
        Type::Paren(p) => shape_dims(&p.elem),
        _ => Err(unsupported()),
    }
}
