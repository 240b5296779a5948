//! What the emitters (`emit/`) generate from: each weight and bias with its resolved tie, the forward's
//! steps, and the size checks left to the compiler. `valid::check` builds it; the fallback stubs
//! from the same plan.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::Ident;
use tied_patterns::Pattern;

use crate::ast::{Dim, Field};

/// What the layer is made of, once checked.
pub struct Plan<'l, 'a> {
    pub weights: Vec<Weight<'l, 'a>>,
    pub biases: Vec<Bias<'l, 'a>>,
    /// The generated `Module` forward, when the layer has one weight or declares `forward`.
    pub forward: Option<Vec<PlanStep>>,
    /// Sizes the macro cannot compare itself: the compiler checks `expected == actual`, with the
    /// error at `at`.
    pub dim_checks: Vec<DimCheck>,
    /// Built-in patterns whose stated sizes the macro cannot evaluate (generic sizes, const items):
    /// the runtime's own compile-time assertion (`Tie::SIZE_CHECK`), referenced at the user's
    /// tokens and evaluated when the layer is built.
    pub size_asserts: Vec<SizeAssert>,
}

/// How a field's effective tensor is made from stored values: a `tied::Tie` type.
#[derive(Clone)]
pub enum TieType {
    Dense,
    /// A built-in pattern, with its stated sizes as const arguments.
    Builtin(&'static Pattern, Vec<Dim>),
    /// `pattern = path::Type`
    User(syn::Type),
    Transposed(Box<TieType>),
}

impl TieType {
    pub fn tokens(&self) -> TokenStream {
        match self {
            TieType::Dense => quote!(::tied::__private::Dense),
            TieType::Builtin(pattern, args) => {
                let name = Ident::new(pattern.ty, proc_macro2::Span::call_site());
                if args.is_empty() {
                    quote!(::tied::__private::#name)
                } else {
                    quote!(::tied::__private::#name<#(#args),*>)
                }
            }
            TieType::User(ty) => ty.to_token_stream(),
            TieType::Transposed(inner) => {
                let inner = inner.tokens();
                quote!(::tied::__private::Transposed<#inner>)
            }
        }
    }

    /// The user's own pattern type, if this is one (or its transpose).
    pub fn user(&self) -> Option<&syn::Type> {
        match self {
            TieType::User(ty) => Some(ty),
            TieType::Transposed(inner) => inner.user(),
            _ => None,
        }
    }

    /// Where errors about the pattern type belong: the user's type, or the macro's call site.
    pub fn span(&self) -> proc_macro2::Span {
        self.user()
            .and_then(|ty| ty.to_token_stream().into_iter().next())
            .map_or_else(proc_macro2::Span::call_site, |t| t.span())
    }

    /// The table's documentation line of a built-in pattern.
    pub fn doc_line(&self) -> Option<&'static str> {
        match self {
            TieType::Builtin(pattern, _) => Some(pattern.doc),
            _ => None,
        }
    }

    /// The pattern's name in docs.
    pub fn describe(&self) -> String {
        match self {
            TieType::Dense => "dense".to_owned(),
            TieType::Builtin(pattern, _) => pattern.key.to_owned(),
            TieType::User(ty) => format!("pattern `{}`", text(ty)),
            TieType::Transposed(inner) => format!("transpose of {}", inner.describe()),
        }
    }
}

pub struct Weight<'l, 'a> {
    pub field: &'l Field<'a>,
    pub tie: TieType,
    /// The field whose tensor stores the values: this one, or the one it is tied to.
    pub stored: &'l Ident,
    pub inputs: Dim,
    pub outputs: Dim,
}

impl Weight<'_, '_> {
    pub fn is_stored(&self) -> bool {
        self.stored == self.field.ident
    }
}

/// The names and doc facts of a weight's generated accessors, the same on both front ends:
/// `{w}_effective`, `matmul_{w}`, `lookup_{w}` (each with a `try_` form) and `{w}_picture`.
pub struct Accessors {
    pub effective: Ident,
    pub try_effective: Ident,
    pub matmul: Ident,
    pub try_matmul: Ident,
    pub lookup: Ident,
    pub try_lookup: Ident,
    pub picture: Ident,
    /// The field's name, as the picture and the docs write it.
    pub key: String,
    /// The picture's label of stored values: the field's first letter, lowercase.
    pub label: String,
    /// The effective shape as declared.
    pub shape: String,
    /// The pattern, for docs.
    pub pattern: String,
    /// `" Its values are stored in `enc`."` for a field tied to another; empty otherwise.
    pub held: String,
}

impl Accessors {
    pub fn of(weight: &Weight) -> Accessors {
        let field = weight.field.ident;
        let key = field.to_string();
        let label = key
            .chars()
            .next()
            .map_or("w".to_owned(), |c| c.to_lowercase().to_string());
        let held = if weight.is_stored() {
            String::new()
        } else {
            format!(" Its values are stored in `{}`.", weight.stored)
        };
        Accessors {
            effective: format_ident!("{}_effective", field),
            try_effective: format_ident!("try_{}_effective", field),
            matmul: format_ident!("matmul_{}", field),
            try_matmul: format_ident!("try_matmul_{}", field),
            lookup: format_ident!("lookup_{}", field),
            try_lookup: format_ident!("try_lookup_{}", field),
            picture: format_ident!("{}_picture", field),
            key,
            label,
            shape: text(&weight.field.tensor.shape),
            pattern: weight.tie.describe(),
            held,
        }
    }
}

/// The `Option<TiedTo>` of a field in a dense checkpoint's metadata, `tied_to` being the path of
/// the front end's `TiedTo`: `None` for a field that stores its values, else the tie to `stored`.
pub fn tied_to_tokens(
    tied_to: TokenStream,
    is_stored: bool,
    transposed: bool,
    stored: &str,
) -> TokenStream {
    if is_stored {
        quote!(::core::option::Option::None)
    } else if transposed {
        quote!(::core::option::Option::Some(#tied_to::TransposeOf(
            ::std::borrow::Cow::Borrowed(#stored),
        )))
    } else {
        quote!(::core::option::Option::Some(#tied_to::SameAs(
            ::std::borrow::Cow::Borrowed(#stored),
        )))
    }
}

pub struct Bias<'l, 'a> {
    pub field: &'l Field<'a>,
    /// A `Tie<1, O>` for a tied bias; `None` for a plain `Rank1<O>` vector.
    pub tie: Option<TieType>,
    pub stored: &'l Ident,
    pub len: Dim,
    /// The input size of the weight this bias follows in the forward: its fan-in.
    pub fan_in: Option<Dim>,
}

impl Bias<'_, '_> {
    pub fn is_stored(&self) -> bool {
        self.stored == self.field.ident
    }
}

pub enum PlanStep {
    /// `x·W` (+ `b`): indices into `Plan::weights` and `Plan::biases`.
    Weight { weight: usize, bias: Option<usize> },
    /// A `Default` dfdx module applied to a batch of `width` features.
    Module { path: syn::TypePath, width: Dim },
}

pub struct DimCheck {
    pub expected: Dim,
    pub actual: Dim,
    pub at: TokenStream,
    /// What the rule is, in the words of the error the macro gives when it can tell: a Burn
    /// layer's `init` states it with the numbers.
    pub rule: String,
}

/// `<tie as Tie<inputs, outputs>>::SIZE_CHECK`, referenced at `at`.
pub struct SizeAssert {
    pub tie: TieType,
    pub inputs: Dim,
    pub outputs: Dim,
    pub at: TokenStream,
}

/// The user's tokens as they would write them: `Rank2<4, 2>`, not `Rank2 < 4, 2 >`.
pub fn text(tokens: impl ToTokens) -> String {
    tokens
        .to_token_stream()
        .to_string()
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ::", "::")
        .replace(":: ", "::")
        .replace(" ,", ",")
}
