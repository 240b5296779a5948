//! The checks that tie the parts together: each field's role by rank, every tie resolved
//! (`ties.rs`) and the forward checked (`forward.rs`), into the [`Plan`] the emitters generate from.
//! Errors are collected, each at the user's tokens; sizes the macro cannot compare are left to the
//! compiler (`dim_checks`) or to the runtime's compile-time assertion (`size_asserts`).

use quote::ToTokens;
use syn::Ident;

use crate::ast::{Dim, Field, Layer};
use crate::errors::Errors;
use crate::frontend::Frontend;
use crate::plan::{Bias, DimCheck, Plan, PlanStep, SizeAssert, TieType, Weight};

pub fn check<'l, 'a>(layer: &'l Layer<'a>, errors: &mut Errors) -> Plan<'l, 'a> {
    let mut checker = Checker {
        layer,
        const_params: layer.const_params(),
        dim_checks: Vec::new(),
        size_asserts: Vec::new(),
    };

    // Roles by rank; ranks other than 1 and 2 are errors.
    for field in &layer.fields {
        let rank = field.tensor.rank();
        if rank == 1 || rank == 2 {
            continue;
        }
        let weight = match layer.frontend {
            Frontend::Dfdx => format!("`Tensor<Rank2<I, O>, {}, {}>`", layer.dtype, layer.device),
            Frontend::Burn => "`Param<Tensor<2>>` with `shape = [i, o]`".to_owned(),
        };
        match &field.tie {
            Some(tie) => errors.spanned(
                &tie.key,
                format!(
                    "`{key}` ties a weight matrix, but `{field}` has rank {rank}: declare the \
                     effective weight, {weight}",
                    key = tie.kind.key(),
                    field = field.ident,
                ),
            ),
            None => errors.spanned(
                &field.tensor.shape,
                match layer.frontend {
                    Frontend::Dfdx => format!(
                        "`{field}` has rank {rank}: a tied layer holds weights `Rank2<I, O>` and \
                         biases `Rank1<O>`",
                        field = field.ident
                    ),
                    Frontend::Burn => format!(
                        "`{field}` has rank {rank}: a tied layer holds weights (rank 2, \
                         `Param<Tensor<2>>`) and biases (rank 1, `Param<Tensor<1>>`)",
                        field = field.ident
                    ),
                },
            ),
        }
    }

    // A field whose tie was refused (its error is reported) stays in the plan as a dense tensor of
    // its declared shape: the forward still finds it, and the fallback stubs its accessors, so the
    // tie's error comes alone.
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for field in &layer.fields {
        match field.tensor.rank() {
            2 => {
                let (tie, stored) = checker
                    .resolve(field, &mut Vec::new(), errors)
                    .unwrap_or((TieType::Dense, field.ident));
                weights.push(Weight {
                    field,
                    tie,
                    stored,
                    inputs: field.tensor.dims[0].clone(),
                    outputs: field.tensor.dims[1].clone(),
                });
            }
            1 => {
                let (tie, stored) = checker
                    .resolve_bias(field, &mut Vec::new(), errors)
                    .unwrap_or((None, field.ident));
                biases.push(Bias {
                    field,
                    tie,
                    stored,
                    len: field.tensor.dims[0].clone(),
                    fan_in: None,
                });
            }
            _ => {}
        }
    }

    // Fields that are not tensors have their own errors: this one is for a struct without any.
    if layer.original.fields.is_empty() {
        errors.spanned(
            &layer.original.ident,
            "a tied layer needs at least one tensor field, e.g. `weight: Tensor<Rank2<I, O>, E, D>`",
        );
    }

    let forward = match &layer.forward {
        Some((key, steps)) => checker.declared_forward(key, steps, &weights, &biases, errors),
        None => checker.implicit_forward(&weights, &biases, errors),
    };
    if let Some(steps) = &forward {
        for step in steps {
            if let PlanStep::Weight {
                weight,
                bias: Some(b),
            } = step
            {
                biases[*b].fan_in = Some(weights[*weight].inputs.clone());
            }
        }
    }
    Plan {
        weights,
        biases,
        forward,
        dim_checks: checker.dim_checks,
        size_asserts: checker.size_asserts,
    }
}

/// The state the checks share: the sizes they leave to the compiler.
pub struct Checker<'l, 'a> {
    pub layer: &'l Layer<'a>,
    pub const_params: Vec<String>,
    pub dim_checks: Vec<DimCheck>,
    pub size_asserts: Vec<SizeAssert>,
}

impl<'l, 'a> Checker<'l, 'a> {
    pub fn field(&self, name: &Ident) -> Option<&'l Field<'a>> {
        self.layer.fields.iter().find(|f| f.ident == name)
    }

    /// Compares two dims: an error now when they differ for sure, a compiler check when unsure.
    pub fn same(
        &mut self,
        expected: &Dim,
        actual: &Dim,
        at: impl ToTokens,
        errors: &mut Errors,
        message: impl FnOnce() -> String,
    ) {
        match actual.same_as(expected, &self.const_params) {
            Some(true) => {}
            Some(false) => errors.spanned(at, message()),
            None => self.dim_checks.push(DimCheck {
                expected: expected.clone(),
                actual: actual.clone(),
                at: at.into_token_stream(),
                rule: message(),
            }),
        }
    }
}
