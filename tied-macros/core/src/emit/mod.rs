//! The two emitters, one per front end, and what they share: the user's struct rewritten to store
//! each tied field's distinct values.
//!
//! The driver (`driver.rs`) calls [`dfdx::layer`] or [`burn::layer`] with the checked model and
//! plan, or the front end's fallback beside the errors. Each emitter names its framework only
//! through its own facade path: `::tied::__private` for dfdx, `::tied::burn::__private` for Burn.

pub mod burn;
pub mod dfdx;

use quote::format_ident;
use syn::{ItemStruct, Type};

use crate::ast::Layer;
use crate::attr;
use crate::plan::{self, Bias, Plan, Weight};

/// What a field of the user's struct is in the plan, for the struct rewrite.
pub enum Part<'p, 'l, 'a> {
    Weight(&'p Weight<'l, 'a>),
    Bias(&'p Bias<'l, 'a>),
}

/// The user's struct without `#[tied]` attributes, with the model's generics (dfdx's pattern
/// bounds among them); each field that stores values gets the type `stored_type` gives it (from
/// its declared type) and a doc line saying what it holds, a field tied to another is gone (its
/// values live there), and any other field stays as written.
pub fn rewritten_struct(
    layer: &Layer,
    plan: &Plan,
    stored_type: impl Fn(&Type, Part) -> Option<Type>,
) -> ItemStruct {
    let mut item = strip_tied_attrs(layer.original);
    if item.generics.where_clause != layer.generics.where_clause {
        // The pattern bounds: a private pattern type is fine on a field that is not `pub`, as it
        // was before the bound named it.
        item.attrs.push(syn::parse_quote!(#[allow(private_bounds)]));
        item.generics = layer.generics.clone();
    }
    if let syn::Fields::Named(named) = &mut item.fields {
        let fields = std::mem::take(&mut named.named);
        for mut field in fields {
            let Some(ident) = field.ident.clone() else {
                continue;
            };
            let (stored, ty, doc) =
                if let Some(w) = plan.weights.iter().find(|w| w.field.ident == &ident) {
                    let effective = format_ident!("{}_effective", ident);
                    let doc = format!(
                        " Tied ({}): the distinct values of the effective `{}` weight, which \
                         [`Self::{effective}`] expands.{}",
                        w.tie.describe(),
                        plan::text(&w.field.tensor.shape),
                        w.tie
                            .doc_line()
                            .map_or_else(String::new, |line| format!(" {line}.")),
                    );
                    (w.is_stored(), stored_type(&field.ty, Part::Weight(w)), doc)
                } else if let Some(b) = plan.biases.iter().find(|b| b.field.ident == &ident) {
                    let doc = format!(
                        " Tied ({}): the distinct values of the `{}` bias.",
                        b.tie
                            .as_ref()
                            .map_or_else(|| "dense".to_owned(), |t| t.describe()),
                        plan::text(&b.field.tensor.shape),
                    );
                    (b.is_stored(), stored_type(&field.ty, Part::Bias(b)), doc)
                } else {
                    (true, None, String::new())
                };
            if !stored {
                continue;
            }
            if let Some(ty) = ty {
                field.ty = ty;
                if field.attrs.iter().any(|a| a.path().is_ident("doc")) {
                    field.attrs.push(syn::parse_quote!(#[doc = ""]));
                }
                field.attrs.push(syn::parse_quote!(#[doc = #doc]));
            }
            named.named.push(field);
        }
    }
    item
}

/// The user's struct as written, less our `#[tied(..)]` field attributes (no such attribute
/// exists for the compiler).
pub fn strip_tied_attrs(original: &ItemStruct) -> ItemStruct {
    let mut item = original.clone();
    for field in item.fields.iter_mut() {
        field.attrs.retain(|a| !attr::is_tied_attr(a));
    }
    item
}
