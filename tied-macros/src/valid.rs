//! Checks that need more than one attribute or field: the role of each tensor, stated sizes against
//! shapes, the bias against its weight. Errors point at the user's tokens.

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::ast::{Dim, Field, Layer};
use crate::attr::{Errors, TieKind};

/// What the layer is made of, once checked.
pub struct Plan<'l, 'a> {
    pub weights: Vec<Weight<'l, 'a>>,
    pub biases: Vec<&'l Field<'a>>,
    /// The generated `Module` forward, `y = x·W + b`, when the layer has one weight.
    pub forward: Option<Forward>,
    /// Sizes the macro cannot compare itself: the compiler checks `expected == actual`, with the
    /// error at `at`.
    pub dim_checks: Vec<DimCheck>,
}

pub struct Weight<'l, 'a> {
    pub field: &'l Field<'a>,
    pub tie: Option<TieKind>,
    pub inputs: Dim,
    pub outputs: Dim,
}

/// Indices into `Plan::weights` and `Plan::biases`.
pub struct Forward {
    pub weight: usize,
    pub bias: Option<usize>,
}

pub struct DimCheck {
    pub expected: Dim,
    pub actual: Dim,
    pub at: TokenStream,
}

pub fn check<'l, 'a>(layer: &'l Layer<'a>, errors: &mut Errors) -> Plan<'l, 'a> {
    let const_params = layer.const_params();
    let mut plan = Plan {
        weights: Vec::new(),
        biases: Vec::new(),
        forward: None,
        dim_checks: Vec::new(),
    };

    for field in &layer.fields {
        let rank = field.tensor.rank();
        match (rank, &field.tie) {
            (2, tie) => {
                let inputs = field.tensor.dims[0].clone();
                let outputs = field.tensor.dims[1].clone();
                if let Some(tie) = tie {
                    // `scalar = ..` is refused while parsing: only rows and cols state a size.
                    let stated_size = match tie.kind {
                        TieKind::Rows => Some((&inputs, "inputs")),
                        TieKind::Cols => Some((&outputs, "outputs")),
                        TieKind::Scalar => None,
                    };
                    if let (Some(value), Some((against, what))) = (&tie.value, stated_size) {
                        let stated = Dim::from_expr(value);
                        match stated.same_as(against, &const_params) {
                            Some(true) => {}
                            Some(false) => errors.spanned(
                                value,
                                format!(
                                    "`{key} = {stated}` does not match the weight: a `{key}` tie \
                                     stores one value per {one}, and `{field}: {shape}` has \
                                     `{against}` {what}; write `{key} = {against}`, or just \
                                     `#[tied({key})]`",
                                    key = tie.kind.key(),
                                    stated = text(&stated.original),
                                    one = &what[..what.len() - 1],
                                    field = field.ident,
                                    against = text(&against.original),
                                    shape = text(field.tensor.shape),
                                ),
                            ),
                            None => plan.dim_checks.push(DimCheck {
                                expected: against.clone(),
                                actual: stated,
                                at: value.to_token_stream(),
                            }),
                        }
                    }
                }
                plan.weights.push(Weight {
                    field,
                    tie: tie.as_ref().map(|t| t.kind),
                    inputs,
                    outputs,
                });
            }
            (1, None) => plan.biases.push(field),
            (_, Some(tie)) => errors.spanned(
                &tie.key,
                format!(
                    "`{key}` ties a weight matrix, but `{field}` has rank {rank}: declare the \
                     effective weight, `Tensor<Rank2<I, O>, {e}, {d}>`",
                    key = tie.kind.key(),
                    field = field.ident,
                    e = layer.dtype,
                    d = layer.device,
                ),
            ),
            (_, None) => errors.spanned(
                field.tensor.shape,
                format!(
                    "`{field}` has rank {rank}: a tied layer holds weights `Rank2<I, O>` and \
                     biases `Rank1<O>`",
                    field = field.ident
                ),
            ),
        }
    }

    // Fields that are not tensors have their own errors: this one is for a struct without any.
    if layer.original.fields.is_empty() {
        errors.spanned(
            &layer.original.ident,
            "a tied layer needs at least one tensor field, e.g. `weight: Tensor<Rank2<I, O>, E, D>`",
        );
    }

    if plan.weights.len() == 1 {
        let weight = &plan.weights[0];
        if plan.biases.len() > 1 {
            for extra in &plan.biases[1..] {
                errors.spanned(
                    extra.ident,
                    format!(
                        "a layer with one weight adds at most one bias, and `{}` is already it; \
                         put further tensors in a layer of their own",
                        plan.biases[0].ident
                    ),
                );
            }
        } else if let Some(bias) = plan.biases.first() {
            let len = &bias.tensor.dims[0];
            match len.same_as(&weight.outputs, &const_params) {
                Some(true) => {}
                Some(false) => errors.spanned(
                    bias.tensor.shape,
                    format!(
                        "bias `{bias}` has length `{len}`, but weight `{weight}` has `{outputs}` \
                         outputs: declare it `Rank1<{outputs}>`",
                        bias = bias.ident,
                        len = text(&len.original),
                        weight = weight.field.ident,
                        outputs = text(&weight.outputs.original),
                    ),
                ),
                None => plan.dim_checks.push(DimCheck {
                    expected: weight.outputs.clone(),
                    actual: len.clone(),
                    at: bias.tensor.shape.to_token_stream(),
                }),
            }
        }
        plan.forward = Some(Forward {
            weight: 0,
            bias: if plan.biases.is_empty() {
                None
            } else {
                Some(0)
            },
        });
    }
    plan
}

/// The user's tokens as they would write them: `Rank2<4, 2>`, not `Rank2 < 4, 2 >`.
fn text(tokens: impl ToTokens) -> String {
    tokens
        .to_token_stream()
        .to_string()
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
}
