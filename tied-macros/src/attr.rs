//! `#[tied(..)]` on fields and `#[tied::layer(..)]` on the struct, parsed with syn's
//! `parse_nested_meta`. Unknown and duplicate keys are errors at their tokens.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, Token};

/// The tie patterns a weight can declare, by attribute key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieKind {
    Rows,
    Cols,
    Scalar,
}

impl TieKind {
    pub const ALL: &'static [TieKind] = &[TieKind::Rows, TieKind::Cols, TieKind::Scalar];

    pub fn key(self) -> &'static str {
        match self {
            TieKind::Rows => "rows",
            TieKind::Cols => "cols",
            TieKind::Scalar => "scalar",
        }
    }

    /// The runtime type implementing `tied::Tie`.
    pub fn runtime_type(self) -> &'static str {
        match self {
            TieKind::Rows => "Rows",
            TieKind::Cols => "Cols",
            TieKind::Scalar => "Scalar",
        }
    }

    /// What the optional `= value` states, if the pattern takes one.
    pub fn value_meaning(self) -> Option<&'static str> {
        match self {
            TieKind::Rows => Some("the number of stored values, the weight's input size"),
            TieKind::Cols => Some("the number of stored values, the weight's output size"),
            TieKind::Scalar => None,
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        TieKind::ALL.iter().copied().find(|k| k.key() == key)
    }

    fn expected_keys() -> String {
        let keys: Vec<String> = TieKind::ALL
            .iter()
            .map(|k| format!("`{}`", k.key()))
            .collect();
        keys.join(", ")
    }
}

/// One field's `#[tied(..)]`.
pub struct TieAttr {
    pub kind: TieKind,
    /// The key's tokens, for errors about the pattern.
    pub key: Ident,
    /// `rows = N`: the stored length the user states, checked against the weight's shape.
    pub value: Option<Expr>,
}

/// Whether an attribute is our field attribute `#[tied(..)]`.
pub fn is_tied_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("tied")
}

/// Parses every `#[tied(..)]` on a field; errors are pushed onto `errors`.
pub fn field_tie(attrs: &[Attribute], errors: &mut Errors) -> Option<TieAttr> {
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
                    TieKind::expected_keys()
                ),
            ));
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .cloned()
                .ok_or_else(|| meta.error(unknown_key_message(&meta)))?;
            let Some(kind) = TieKind::from_key(&key.to_string()) else {
                return Err(meta.error(unknown_key_message(&meta)));
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

fn unknown_key_message(meta: &ParseNestedMeta) -> String {
    let name = path_text(&meta.path);
    let close = TieKind::ALL
        .iter()
        .map(|k| (edit_distance(&name, k.key()), k.key()))
        .filter(|&(distance, key)| distance <= 2 && distance < key.len())
        .min_by_key(|&(distance, _)| distance);
    match close {
        Some((_, key)) => format!(
            "unknown tie `{name}`; did you mean `{key}`? Expected one of {}",
            TieKind::expected_keys()
        ),
        None => format!(
            "unknown tie `{name}`; expected one of {}",
            TieKind::expected_keys()
        ),
    }
}

/// Levenshtein distance, case-insensitive: the number of one-character edits from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // `row[j]`: the distance from the first `i` chars of `a` to the first `j` of `b`.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    segments.join("::")
}

fn parse_value(meta: &ParseNestedMeta, kind: TieKind) -> syn::Result<Option<Expr>> {
    if !meta.input.peek(Token![=]) {
        if meta.input.is_empty() || meta.input.peek(Token![,]) {
            return Ok(None);
        }
        return Err(meta.error(format!("expected `,` or `= value` after `{}`", kind.key())));
    }
    let eq: Token![=] = meta.input.parse()?;
    let Some(meaning) = kind.value_meaning() else {
        return Err(syn::Error::new(
            eq.span,
            format!(
                "`{}` takes no value: write `#[tied({})]`",
                kind.key(),
                kind.key()
            ),
        ));
    };
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Err(syn::Error::new(
            eq.span,
            format!(
                "missing value after `{} =`: give {meaning} (e.g. `{} = N`), or drop `= ...`",
                kind.key(),
                kind.key()
            ),
        ));
    }
    let value: Expr = meta.input.parse()?;
    match &value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(_),
            ..
        })
        | Expr::Path(_)
        | Expr::Block(_) => Ok(Some(value)),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "`{key} = ...` takes {meaning}: an integer literal, a const parameter or a const \
                 item, e.g. `{key} = 4` or `{key} = N`",
                key = kind.key()
            ),
        )),
    }
}

/// `#[tied::layer(builder = Name)]`.
#[derive(Default)]
pub struct LayerArgs {
    pub builder: Option<Ident>,
}

pub fn layer_args(args: TokenStream) -> syn::Result<LayerArgs> {
    let mut parsed = LayerArgs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("builder") {
            if parsed.builder.is_some() {
                return Err(meta.error("duplicate `builder`: name the builder once"));
            }
            let needs_name = |span| {
                syn::Error::new(
                    span,
                    "`builder` takes the name of the builder type to generate, e.g. \
                     `#[tied::layer(builder = MyLayerConfig)]`",
                )
            };
            if !meta.input.peek(Token![=]) {
                return Err(needs_name(meta.path.span()));
            }
            let value = meta.value()?;
            let name = value.parse().map_err(|err| needs_name(err.span()))?;
            parsed.builder = Some(name);
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown `tied::layer` option `{}`; expected `builder = Name`",
                path_text(&meta.path)
            )))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(parsed)
}

/// Collects every error so the user sees all of them at once (serde's `Ctxt`).
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}
