//! The forward: one weight and at most one bias (`y = x·W + b`), or the steps of
//! `forward = [enc + enc_bias, ReLU, dec]`, checked to chain.

use syn::Ident;

use crate::ast::Dim;
use crate::attr::Step;
use crate::errors::Errors;
use crate::plan::{text, Bias, PlanStep, Weight};
use crate::valid::Checker;

impl Checker<'_, '_> {
    pub fn implicit_forward(
        &mut self,
        weights: &[Weight],
        biases: &[Bias],
        errors: &mut Errors,
    ) -> Option<Vec<PlanStep>> {
        if weights.len() != 1 {
            return None;
        }
        let weight = &weights[0];
        if biases.len() > 1 {
            for extra in &biases[1..] {
                errors.spanned(
                    extra.field.ident,
                    format!(
                        "a layer with one weight adds at most one bias, and `{}` is already it; \
                         declare the forward with `#[tied::layer(forward = [..])]`, or put \
                         further tensors in a layer of their own",
                        biases[0].field.ident
                    ),
                );
            }
        } else if let Some(bias) = biases.first() {
            self.bias_fits(weight, bias, errors);
        }
        Some(vec![PlanStep::Weight {
            weight: 0,
            bias: if biases.is_empty() { None } else { Some(0) },
        }])
    }

    fn bias_fits(&mut self, weight: &Weight, bias: &Bias, errors: &mut Errors) {
        let len = &bias.len;
        self.same(
            &weight.outputs,
            len,
            &bias.field.tensor.shape,
            errors,
            || {
                format!(
                "bias `{bias}` has length `{len}`, but weight `{weight}` has `{outputs}` outputs: \
                 declare it `{hint}`",
                hint = self.layer.shape_hint(&[&text(&weight.outputs.original)]),
                bias = bias.field.ident,
                len = text(&len.original),
                weight = weight.field.ident,
                outputs = text(&weight.outputs.original),
            )
            },
        );
    }

    pub fn declared_forward(
        &mut self,
        key: &Ident,
        steps: &[Step],
        weights: &[Weight],
        biases: &[Bias],
        errors: &mut Errors,
    ) -> Option<Vec<PlanStep>> {
        let mut plan = Vec::new();
        let mut width: Option<Dim> = None;
        let mut ok = true;
        for step in steps {
            let field_name = step.path.path.get_ident();
            let weight = field_name.and_then(|n| weights.iter().position(|w| w.field.ident == n));
            if let Some(w) = weight {
                let weight = &weights[w];
                match &width {
                    None => {}
                    Some(prev) => {
                        let prev = prev.clone();
                        self.same(&prev, &weight.inputs, &step.path, errors, || {
                            format!(
                                "`{}` takes `{}` inputs, but the step before gives `{}` \
                                 features",
                                weight.field.ident,
                                text(&weight.inputs.original),
                                text(&prev.original)
                            )
                        })
                    }
                }
                let bias = match &step.bias {
                    None => None,
                    Some(b) => match biases.iter().position(|x| x.field.ident == b) {
                        Some(index) => {
                            self.bias_fits(weight, &biases[index], errors);
                            Some(index)
                        }
                        None => {
                            ok = false;
                            errors.spanned(
                                b,
                                format!(
                                    "`{b}` is not a bias of `{}`: after `+` name a field \
                                     `{}`",
                                    self.layer.original.ident,
                                    self.layer.shape_hint(&[&text(&weight.outputs.original)])
                                ),
                            );
                            None
                        }
                    },
                };
                width = Some(weight.outputs.clone());
                plan.push(PlanStep::Weight { weight: w, bias });
                continue;
            }
            if let Some(name) = field_name.filter(|n| self.field(n).is_some()) {
                ok = false;
                errors.spanned(
                    name,
                    match plan.last() {
                        // Most likely meant for the weight just before it.
                        Some(PlanStep::Weight { weight, bias: None }) => format!(
                            "`{name}` is a bias: add it in its weight's step, `{} + {name}`",
                            weights[*weight].field.ident
                        ),
                        _ => format!(
                            "`{name}` is a bias: add it after its weight, as in `weight + {name}`"
                        ),
                    },
                );
                continue;
            }
            if let Some(b) = &step.bias {
                ok = false;
                errors.spanned(
                    b,
                    format!(
                        "`{}` is not a weight of `{}`, so it takes no bias",
                        text(&step.path),
                        self.layer.original.ident
                    ),
                );
                continue;
            }
            match &width {
                Some(w) => plan.push(PlanStep::Module {
                    path: step.path.clone(),
                    width: w.clone(),
                }),
                None => {
                    ok = false;
                    errors.spanned(
                        &step.path,
                        format!(
                            "`forward` starts with a weight field, whose inputs are the layer's: \
                             move `{}` after the first weight",
                            text(&step.path)
                        ),
                    );
                }
            }
        }
        if steps.is_empty() {
            errors.spanned(
                key,
                "`forward = []` has no steps: list them in order, e.g. \
                 `forward = [enc + enc_bias, ReLU, dec + dec_bias]`",
            );
            return None;
        }
        if width.is_none() && ok {
            errors.spanned(key, "`forward` needs at least one weight field");
            return None;
        }
        ok.then_some(plan)
    }
}
