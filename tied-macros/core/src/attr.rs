//! `#[tied(..)]` on fields and `#[tied::layer(..)]` on the struct, parsed with syn's
//! `parse_nested_meta`. Unknown and duplicate keys are errors at their tokens.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, Token};
use tied_patterns::{Form, Formula, Pattern, Rule, PATTERNS};

use crate::errors::Errors;
use crate::frontend::Frontend;
use crate::suggest::edit_distance;

/// A field's tie, by attribute key: a built-in pattern from the table, or one of the ties that are
/// not patterns of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieKind {
    /// A built-in pattern: its row of `tied_patterns::PATTERNS`.
    Builtin(&'static Pattern),
    /// `pattern = path::Type`: the user's `Tie` type.
    Pattern,
    /// `transpose_of = field`
    TransposeOf,
    /// `same_as = field`
    SameAs,
}

/// What follows a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueForm {
    /// A built-in pattern's value form.
    Builtin(Form),
    /// `pattern = path::Type`
    Type,
    /// `transpose_of = field`
    Field,
}

impl TieKind {
    /// Every key, in the order messages list them: the table's, then the others.
    pub fn all() -> impl Iterator<Item = TieKind> {
        PATTERNS.iter().map(TieKind::Builtin).chain([
            TieKind::Pattern,
            TieKind::TransposeOf,
            TieKind::SameAs,
        ])
    }

    pub fn key(self) -> &'static str {
        match self {
            TieKind::Builtin(pattern) => pattern.key,
            TieKind::Pattern => "pattern",
            TieKind::TransposeOf => "transpose_of",
            TieKind::SameAs => "same_as",
        }
    }

    pub fn form(self) -> ValueForm {
        match self {
            TieKind::Builtin(pattern) => ValueForm::Builtin(pattern.form),
            TieKind::Pattern => ValueForm::Type,
            TieKind::TransposeOf | TieKind::SameAs => ValueForm::Field,
        }
    }

    /// What the value states, for messages.
    pub fn value_meaning(self) -> String {
        match self {
            TieKind::Builtin(pattern) => match (pattern.form, pattern.rule) {
                (Form::Bare, _) => "nothing".to_owned(),
                (Form::Pair, _) => format!(
                    "the shape R×C of {}, e.g. `{}(2, 3)`",
                    pattern.stores, pattern.key
                ),
                (_, Rule::Exact(formula)) => {
                    let what = match formula {
                        Formula::Inputs => ", the weight's input size",
                        Formula::Outputs => ", the weight's output size",
                        Formula::One | Formula::Side => "",
                        Formula::Diagonals | Formula::Triangle | Formula::StrictTriangle => {
                            formula.text()
                        }
                    };
                    let sep = if what.starts_with(',') || what.is_empty() {
                        ""
                    } else {
                        ", "
                    };
                    format!("the number of stored values{sep}{what}")
                }
                (_, Rule::Band) => "the number of stored diagonals, 2·bandwidth + 1".to_owned(),
                (_, Rule::Divides) => format!("the number of stored {}", pattern.stores),
            },
            TieKind::Pattern => {
                "a type implementing `tied::Tie<I, O>`, e.g. `pattern = Checkerboard`".to_owned()
            }
            TieKind::TransposeOf => {
                "the weight field whose transpose this is, e.g. `transpose_of = enc`".to_owned()
            }
            TieKind::SameAs => {
                "the field whose values this one shares, e.g. `same_as = shared`".to_owned()
            }
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        TieKind::all().find(|k| k.key() == key)
    }

    /// The key as it is written, for "expected one of".
    pub fn written(self) -> String {
        match self.form() {
            ValueForm::Builtin(Form::Bare | Form::OptionalSize) => format!("`{}`", self.key()),
            ValueForm::Builtin(Form::Size) => format!("`{} = K`", self.key()),
            ValueForm::Builtin(Form::Pair) => format!("`{}(R, C)`", self.key()),
            ValueForm::Type => format!("`{} = Type`", self.key()),
            ValueForm::Field => format!("`{} = field`", self.key()),
        }
    }
}

/// The value given with a key, by its form.
pub enum TieValue {
    None,
    Size(Expr),
    Pair(Expr, Expr),
    Type(syn::Type),
    Field(Ident),
}

/// One field's `#[tied(..)]`.
pub struct TieAttr {
    pub kind: TieKind,
    /// The key's tokens, for errors about the pattern.
    pub key: Ident,
    pub value: TieValue,
}

/// Whether an attribute is our field attribute `#[tied(..)]`.
pub fn is_tied_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("tied")
}

/// The keys as they are written, for "expected one of".
fn expected_keys() -> String {
    let keys: Vec<String> = TieKind::all().map(TieKind::written).collect();
    keys.join(", ")
}

/// The message for an unknown tie key `name`.
fn unknown_key(name: &str) -> String {
    let close = TieKind::all()
        .map(|k| (edit_distance(name, k.key()), k.key()))
        .filter(|&(distance, key)| distance <= 2 && distance < key.len())
        .min_by_key(|&(distance, _)| distance);
    match close {
        Some((_, key)) => format!(
            "unknown tie `{name}`; did you mean `{key}`? Expected one of {}",
            expected_keys()
        ),
        None => format!("unknown tie `{name}`; expected one of {}", expected_keys()),
    }
}

/// A Burn field's `shape = [i, o]`: its effective shape, sizes named by the config's fields.
pub struct ShapeAttr {
    /// The bracketed sizes as written, for messages and spans.
    pub tokens: TokenStream,
    pub dims: Vec<Expr>,
}

/// Parses every `#[tied(..)]` on a field; errors are pushed onto `errors`. With `shape` (a Burn
/// layer), `shape = [..]` is read into it.
pub fn field_tie(
    attrs: &[Attribute],
    errors: &mut Errors,
    mut shape: Option<&mut Option<ShapeAttr>>,
) -> Option<TieAttr> {
    let mut tie: Option<TieAttr> = None;
    for attr in attrs.iter().filter(|a| is_tied_attr(a)) {
        // `#[tied]` and `#[tied()]` name no pattern: an error, not a silently dense weight.
        let empty = match &attr.meta {
            syn::Meta::Path(path) => Some(path.to_token_stream()),
            syn::Meta::List(list) if list.tokens.is_empty() => Some(list.to_token_stream()),
            _ => None,
        };
        if let Some(tokens) = empty {
            errors.push(syn::Error::new_spanned(
                tokens,
                format!(
                    "`#[tied]` needs a tie pattern, e.g. `#[tied(rows)]`; expected one of {}, \
                     or remove the attribute for a dense weight",
                    expected_keys()
                ),
            ));
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .cloned()
                .ok_or_else(|| meta.error(unknown_key(&path_text(&meta.path))))?;
            if key == "shape" {
                let Some(shape) = shape.as_deref_mut() else {
                    return Err(meta.error(
                        "`shape` is for Burn layers (`#[tied::burn::layer]`): a dfdx layer's \
                         sizes are its tensor type's, `Tensor<Rank2<I, O>, E, D>`",
                    ));
                };
                if shape.is_some() {
                    return Err(meta.error("duplicate `shape`: give the shape once"));
                }
                *shape = Some(parse_shape(&meta)?);
                return Ok(());
            }
            let Some(kind) = TieKind::from_key(&key.to_string()) else {
                return Err(meta.error(unknown_key(&path_text(&meta.path))));
            };
            let value = parse_value(&meta, kind)?;
            if let Some(previous) = &tie {
                let message = if previous.kind == kind {
                    format!("duplicate `{}`: give each tie once", kind.key())
                } else {
                    format!(
                        "`{}` conflicts with `{}` on the same weight: a weight has one tie pattern",
                        kind.key(),
                        previous.kind.key()
                    )
                };
                return Err(syn::Error::new(key.span(), message));
            }
            tie = Some(TieAttr { kind, key, value });
            Ok(())
        });
        if let Err(err) = result {
            errors.push(err);
        }
    }
    tie
}

fn parse_shape(meta: &ParseNestedMeta) -> syn::Result<ShapeAttr> {
    let needs = |span| {
        syn::Error::new(
            span,
            "`shape` takes the effective shape in brackets, sizes being config fields or \
             literals: `shape = [d_in, d_out]` for a weight (`y = x·W`), `shape = [d_out]` for a \
             bias",
        )
    };
    if !meta.input.peek(Token![=]) {
        return Err(needs(meta.path.span()));
    }
    let value = meta.value()?;
    if !value.peek(syn::token::Bracket) {
        return Err(needs(value.span()));
    }
    let content;
    let bracket = syn::bracketed!(content in value);
    let items = syn::punctuated::Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
    let mut tokens = TokenStream::new();
    bracket.surround(&mut tokens, |inner| items.to_tokens(inner));
    let dims: Vec<Expr> = items.into_iter().collect();
    for dim in &dims {
        check_size_expr(dim, "shape", "a size")?;
    }
    Ok(ShapeAttr { tokens, dims })
}

pub fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}

fn parse_value(meta: &ParseNestedMeta, kind: TieKind) -> syn::Result<TieValue> {
    let key = kind.key();
    let meaning = kind.value_meaning();
    let meaning = meaning.as_str();
    let at_end = |input: syn::parse::ParseStream| input.is_empty() || input.peek(Token![,]);
    match kind.form() {
        ValueForm::Builtin(Form::Bare) => {
            if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                let extra: proc_macro2::TokenTree = meta.input.parse()?;
                return Err(syn::Error::new(
                    extra.span(),
                    format!("`{key}` takes no value: write `#[tied({key})]`"),
                ));
            }
            Ok(TieValue::None)
        }
        ValueForm::Builtin(Form::Pair) => {
            if !meta.input.peek(syn::token::Paren) {
                return Err(meta.error(format!("`{key}` needs {meaning}")));
            }
            let content;
            syn::parenthesized!(content in meta.input);
            let items = syn::punctuated::Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
            let dims: Vec<Expr> = items.into_iter().collect();
            match <[Expr; 2]>::try_from(dims) {
                Ok([r, c]) => {
                    check_size_expr(&r, key, meaning)?;
                    check_size_expr(&c, key, meaning)?;
                    Ok(TieValue::Pair(r, c))
                }
                Err(_) => Err(meta.error(format!("`{key}(..)` takes two sizes: {meaning}"))),
            }
        }
        form => {
            if !meta.input.peek(Token![=]) {
                if at_end(meta.input) {
                    return match form {
                        ValueForm::Builtin(Form::OptionalSize) => Ok(TieValue::None),
                        ValueForm::Builtin(Form::Size) => Err(meta.error(format!(
                            "`{key}` needs a value: write `{key} = K`, K being {meaning}"
                        ))),
                        _ => Err(meta.error(format!("`{key}` needs a value: {meaning}"))),
                    };
                }
                return Err(meta.error(format!("expected `,` or `= value` after `{key}`")));
            }
            let eq: Token![=] = meta.input.parse()?;
            if at_end(meta.input) {
                return Err(syn::Error::new(
                    eq.span,
                    match form {
                        ValueForm::Builtin(Form::OptionalSize) => format!(
                            "missing value after `{key} =`: give {meaning} (e.g. `{key} = N`), or \
                             drop `= ...`"
                        ),
                        _ => format!("missing value after `{key} =`: give {meaning}"),
                    },
                ));
            }
            match form {
                ValueForm::Type => Ok(TieValue::Type(meta.input.parse()?)),
                ValueForm::Field => {
                    let field: Ident = meta.input.parse().map_err(|err| {
                        syn::Error::new(err.span(), format!("`{key} = ...` takes {meaning}"))
                    })?;
                    Ok(TieValue::Field(field))
                }
                _ => {
                    let value: Expr = meta.input.parse()?;
                    check_size_expr(&value, key, meaning)?;
                    Ok(TieValue::Size(value))
                }
            }
        }
    }
}

/// A size is an integer literal, a const parameter or const item, or a `{ block }`.
fn check_size_expr(value: &Expr, key: &str, meaning: &str) -> syn::Result<()> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(_),
            ..
        })
        | Expr::Path(_)
        | Expr::Block(_) => Ok(()),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "`{key}` takes {meaning}: an integer literal, a const parameter or a const \
                 item, e.g. `{key} = 4` or `{key} = N`"
            ),
        )),
    }
}

/// `#[tied::layer(builder = Name, forward = [..])]`.
#[derive(Default)]
pub struct LayerArgs {
    pub builder: Option<Ident>,
    /// The declared forward of a layer with several weights, with the `forward` key's tokens.
    pub forward: Option<(Ident, Vec<Step>)>,
}

/// One step of `forward = [enc + enc_bias, ReLU, dec]`: a weight field (`x·W`), optionally
/// followed by `+ bias_field`, or a dfdx module type that is `Default` (an activation).
pub struct Step {
    pub path: syn::TypePath,
    pub bias: Option<Ident>,
}

impl syn::parse::Parse for Step {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        let path: syn::TypePath = input.parse().map_err(|err| {
            syn::Error::new(
                err.span(),
                "a forward step is a weight field (`enc`), a weight plus its bias \
                 (`enc + enc_bias`), or an activation module (`ReLU`)",
            )
        })?;
        let bias = if input.peek(Token![+]) {
            input.parse::<Token![+]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Step { path, bias })
    }
}

/// The options parsed before the first error, with that error: a caller that keeps them (the
/// builder's name, the first `forward`) lets the fallback stub what the user's code calls.
pub fn layer_args_recovering(
    args: TokenStream,
    frontend: Frontend,
) -> (LayerArgs, Option<syn::Error>) {
    let mut parsed = LayerArgs::default();
    let (attribute, builder_key) = (frontend.attribute(), frontend.builder_key());
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(builder_key) {
            if parsed.builder.is_some() {
                return Err(meta.error(format!(
                    "duplicate `{builder_key}`: name the {builder_key} once"
                )));
            }
            let needs_name = |span| {
                syn::Error::new(
                    span,
                    format!(
                        "`{builder_key}` takes the name of the {builder_key} type to generate, \
                         e.g. `#[{attribute}({builder_key} = MyLayerConfig)]`"
                    ),
                )
            };
            if !meta.input.peek(Token![=]) {
                return Err(needs_name(meta.path.span()));
            }
            let value = meta.value()?;
            let name = value.parse().map_err(|err| needs_name(err.span()))?;
            parsed.builder = Some(name);
            Ok(())
        } else if meta.path.is_ident("forward") {
            let key = meta
                .path
                .get_ident()
                .cloned()
                .ok_or_else(|| meta.error("expected `forward`"))?;
            if parsed.forward.is_some() {
                return Err(meta.error("duplicate `forward`: declare the forward once"));
            }
            let needs_steps = |span| {
                syn::Error::new(
                    span,
                    "`forward` takes the steps in order, e.g. \
                     `forward = [enc + enc_bias, ReLU, dec + dec_bias]`",
                )
            };
            if !meta.input.peek(Token![=]) {
                return Err(needs_steps(meta.path.span()));
            }
            let value = meta.value()?;
            let content;
            syn::bracketed!(content in value);
            let steps = syn::punctuated::Punctuated::<Step, Token![,]>::parse_terminated(&content)?;
            // `forward = []` is kept, and refused by valid.rs: the layer still declares a forward,
            // so the fallback stubs one and calls to it add no errors.
            parsed.forward = Some((key, steps.into_iter().collect()));
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown `{attribute}` option `{}`; expected `{builder_key} = Name` or \
                 `forward = [..]`",
                path_text(&meta.path)
            )))
        }
    });
    let error = syn::parse::Parser::parse2(parser, args).err();
    (parsed, error)
}
