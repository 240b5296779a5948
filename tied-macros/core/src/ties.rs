//! Each field's tie resolved: a built-in pattern from the table (its stated sizes checked against
//! the shape now when they are literals, else by the runtime's compile-time assertion), the user's
//! pattern, or a tie to another field (followed to the field that stores the values; missing
//! fields, self-ties and cycles refused).

use quote::ToTokens;
use syn::Ident;
use tied_patterns::{Form, Formula, Pattern, Problem, Rule};

use crate::ast::{Dim, DimKey, Field};
use crate::attr::{TieAttr, TieKind, TieValue};
use crate::errors::Errors;
use crate::plan::{text, SizeAssert, TieType};
use crate::suggest::closest;
use crate::valid::Checker;

impl<'l, 'a> Checker<'l, 'a> {
    /// A rank-2 field's tie type and the field storing its values.
    pub fn resolve(
        &mut self,
        field: &'l Field<'a>,
        visiting: &mut Vec<&'l Ident>,
        errors: &mut Errors,
    ) -> Option<(TieType, &'l Ident)> {
        let (i, o) = (&field.tensor.dims[0], &field.tensor.dims[1]);
        let Some(tie) = &field.tie else {
            return Some((TieType::Dense, field.ident));
        };
        let shape = text(&field.tensor.shape);
        let name = field.ident;
        let key = tie.kind.key();
        match (&tie.kind, &tie.value) {
            (TieKind::Builtin(pattern), value) => {
                let tie = self.builtin(field, tie, pattern, value, errors);
                Some((tie, name))
            }
            (TieKind::Pattern, TieValue::Type(ty)) => Some((TieType::User(ty.clone()), name)),
            (TieKind::TransposeOf, TieValue::Field(target))
            | (TieKind::SameAs, TieValue::Field(target)) => {
                let target_field = self.target(field, target, visiting, errors)?;
                if target_field.tensor.rank() != 2 {
                    errors.spanned(
                        target,
                        format!(
                            "`{target}` is a bias (rank 1): `{key}` ties a weight to another \
                             weight (rank 2)"
                        ),
                    );
                    return None;
                }
                let (ti, to) = (&target_field.tensor.dims[0], &target_field.tensor.dims[1]);
                let target_shape = text(&target_field.tensor.shape);
                let transpose = tie.kind == TieKind::TransposeOf;
                let (want_i, want_o) = if transpose { (to, ti) } else { (ti, to) };
                let fix = self
                    .layer
                    .shape_hint(&[&text(&want_i.original), &text(&want_o.original)]);
                // The shape fits the other tie: say so, it is the likely mix-up.
                let (other_i, other_o) = if transpose { (ti, to) } else { (to, ti) };
                let fits_other = i.same_as(other_i, &self.const_params) == Some(true)
                    && o.same_as(other_o, &self.const_params) == Some(true);
                let mismatch = || {
                    if transpose {
                        let other = if fits_other {
                            format!(", or share its values as they are with `same_as = {target}`")
                        } else {
                            String::new()
                        };
                        format!(
                            "`{name}: {shape}` cannot be the transpose of `{target}: \
                             {target_shape}`: declare it `{fix}`{other}"
                        )
                    } else {
                        let other = if fits_other {
                            format!("; for its transpose, write `transpose_of = {target}`")
                        } else {
                            String::new()
                        };
                        format!(
                            "`{name}: {shape}` cannot share the values of `{target}: \
                             {target_shape}`: same_as needs the same shape, `{fix}`{other}"
                        )
                    }
                };
                let wrong = matches!(i.same_as(want_i, &self.const_params), Some(false))
                    || matches!(o.same_as(want_o, &self.const_params), Some(false));
                if wrong {
                    errors.spanned(&field.tensor.shape, mismatch());
                    return None;
                }
                self.same(want_i, i, &field.tensor.shape, errors, mismatch);
                self.same(want_o, o, &field.tensor.shape, errors, mismatch);
                visiting.push(name);
                let (inner, stored) = self.resolve(target_field, visiting, errors)?;
                let tie = if transpose {
                    match inner {
                        TieType::Transposed(twice) => *twice,
                        other => TieType::Transposed(Box::new(other)),
                    }
                } else {
                    inner
                };
                Some((tie, stored))
            }
            // attr.rs pairs each key with its value form; anything else was reported there.
            _ => None,
        }
    }

    /// A built-in pattern on a weight: its type, with the stated sizes checked against the
    /// shape by the table's rule.
    fn builtin(
        &mut self,
        field: &Field,
        tie: &TieAttr,
        pattern: &'static Pattern,
        value: &TieValue,
        errors: &mut Errors,
    ) -> TieType {
        let (i, o) = (&field.tensor.dims[0], &field.tensor.dims[1]);
        if pattern.square {
            self.square(field, &tie.key, errors);
        }
        let (stated, at): (Vec<Dim>, Vec<&syn::Expr>) = match value {
            TieValue::Size(k) => (vec![Dim::from_expr(k)], vec![k]),
            TieValue::Pair(r, c) => (vec![Dim::from_expr(r), Dim::from_expr(c)], vec![r, c]),
            _ => (Vec::new(), Vec::new()),
        };
        let tie_type = |args: Vec<Dim>| TieType::Builtin(pattern, args);
        if pattern.form == Form::OptionalSize {
            // The type has no size of its own (`Rows` stores `I`): compare the stated one here.
            if let (Some(stated), Some(at), Rule::Exact(formula)) =
                (stated.first(), at.first(), pattern.rule)
            {
                self.stated_side(field, pattern, formula, stated, at, errors);
            }
            return tie_type(Vec::new());
        }
        let values: Option<Vec<usize>> = [i, o].into_iter().chain(&stated).map(usize_of).collect();
        match values {
            Some(values) => {
                let (iv, ov) = (values[0], values[1]);
                match pattern.problem(iv, ov, &values[2..]) {
                    // Reported by `square`, at the shape.
                    None | Some(Problem::NotSquare) => {}
                    Some(problem) => {
                        let at = match problem {
                            Problem::NotDividing { inputs: false, .. } => at[1],
                            _ => at[0],
                        };
                        errors.spanned(
                            at,
                            self.size_message(field, pattern, &stated, problem, iv, ov),
                        );
                    }
                }
            }
            // Squareness is `square`'s (above); a stated size waits for the compiler's values.
            None => {
                if let Some(at) = at.first() {
                    self.size_asserts.push(SizeAssert {
                        tie: tie_type(stated.clone()),
                        inputs: i.clone(),
                        outputs: o.clone(),
                        at: at.to_token_stream(),
                    });
                }
            }
        }
        tie_type(stated)
    }

    /// `rows = N`: the stated size against the side the formula names.
    fn stated_side(
        &mut self,
        field: &Field,
        pattern: &Pattern,
        formula: Formula,
        stated: &Dim,
        at: &syn::Expr,
        errors: &mut Errors,
    ) {
        let (i, o) = (&field.tensor.dims[0], &field.tensor.dims[1]);
        let (against, what) = match formula {
            Formula::Outputs => (o, "outputs"),
            _ => (i, "inputs"),
        };
        let (key, name, shape) = (pattern.key, field.ident, text(&field.tensor.shape));
        self.same(against, stated, at, errors, || {
            format!(
                "`{key} = {stated}` does not match the weight: a `{key}` tie stores {stores}, and \
                 `{name}: {shape}` has `{against}` {what}; write `{key} = {against}`, or just \
                 `#[tied({key})]`",
                stated = text(&stated.original),
                stores = pattern.stores,
                against = text(&against.original),
            )
        });
    }

    /// A literal size that does not fit, in the user's terms, with the fix.
    fn size_message(
        &self,
        field: &Field,
        pattern: &Pattern,
        stated: &[Dim],
        problem: Problem,
        i: usize,
        o: usize,
    ) -> String {
        let (key, name, shape) = (pattern.key, field.ident, text(&field.tensor.shape));
        let written = match stated {
            [k] => format!("{key} = {}", text(&k.original)),
            [r, c] => format!("{key}({}, {})", text(&r.original), text(&c.original)),
            _ => key.to_owned(),
        };
        match problem {
            Problem::Size {
                formula,
                want: Some(want),
                ..
            } => format!(
                "`{written}` on `{name}: {shape}`: a {key} weight stores {stores}, {formula} = \
                 {want}; write `{key} = {want}`",
                stores = pattern.stores,
                formula = formula.text(),
            ),
            Problem::Size { formula, .. } => format!(
                "`{written}` on `{name}: {shape}`: {formula} overflows `usize`",
                formula = formula.text()
            ),
            Problem::EvenBand | Problem::BandTooWide { .. } => {
                let k = stated.first().and_then(usize_of).unwrap_or(0);
                let side = i.min(o);
                // The widest band that fits: bandwidth `side − 1`.
                let widest = side.saturating_mul(2).saturating_sub(1);
                let problem = if problem == Problem::EvenBand {
                    format!("a band stores {}, an odd number", pattern.stores)
                } else {
                    format!(
                        "its bandwidth {} must be below both sides, and the shorter is {side}",
                        k / 2
                    )
                };
                let fix = if k > widest {
                    format!("the widest band that fits is `{key} = {widest}`")
                } else if k == 0 {
                    format!("write `{key} = 1` for the diagonal alone")
                } else if k < widest {
                    format!("write `{key} = {}` or `{key} = {}`", k - 1, k + 1)
                } else {
                    format!("write `{key} = {}`", k - 1)
                };
                format!("`{written}` on `{name}: {shape}`: {problem}; {fix}")
            }
            Problem::NotDividing {
                part,
                whole,
                inputs,
            } => format!(
                "`{written}` on `{name}: {shape}`: `{part}` must divide the {what} `{whole}` (and \
                 not be 0)",
                what = if inputs { "inputs" } else { "outputs" },
            ),
            Problem::NotSquare => format!("`{key}` needs a square weight"),
        }
    }

    /// A rank-1 field: a plain bias, a tied bias (`Tie<1, O>`), or one sharing another bias.
    pub fn resolve_bias(
        &mut self,
        field: &'l Field<'a>,
        visiting: &mut Vec<&'l Ident>,
        errors: &mut Errors,
    ) -> Option<(Option<TieType>, &'l Ident)> {
        let Some(tie) = &field.tie else {
            return Some((None, field.ident));
        };
        let name = field.ident;
        match (&tie.kind, &tie.value) {
            // A bias is a 1×O row: the patterns whose row is one value, given without a size.
            (TieKind::Builtin(pattern), TieValue::None) if pattern.bias => {
                Some((Some(TieType::Builtin(pattern, Vec::new())), name))
            }
            (TieKind::Pattern, TieValue::Type(ty)) => Some((Some(TieType::User(ty.clone())), name)),
            (TieKind::SameAs, TieValue::Field(target)) => {
                let target_field = self.target(field, target, visiting, errors)?;
                if target_field.tensor.rank() != 1 {
                    errors.spanned(
                        target,
                        format!(
                            "`{target}` is a weight: `same_as` on the bias `{name}` needs another \
                             bias (rank 1)"
                        ),
                    );
                    return None;
                }
                let len = &field.tensor.dims[0];
                let target_len = &target_field.tensor.dims[0];
                self.same(target_len, len, &field.tensor.shape, errors, || {
                    format!(
                        "`{name}: {}` cannot share the values of `{target}: {}`: same_as needs \
                         the same length",
                        text(&field.tensor.shape),
                        text(&target_field.tensor.shape)
                    )
                });
                visiting.push(name);
                self.resolve_bias(target_field, visiting, errors)
            }
            (kind, _) => {
                errors.spanned(
                    &tie.key,
                    format!(
                        "`{key}` ties a weight matrix, but `{name}` is a bias (rank 1): a bias \
                         takes `scalar` (one value for every output), `pattern = ..` or \
                         `same_as = ..`",
                        key = kind.key()
                    ),
                );
                None
            }
        }
    }

    /// The field a cross-field tie names; errors for a missing field, a self-tie and a cycle.
    fn target(
        &mut self,
        field: &'l Field<'a>,
        target: &Ident,
        visiting: &[&'l Ident],
        errors: &mut Errors,
    ) -> Option<&'l Field<'a>> {
        if target == field.ident {
            errors.spanned(
                target,
                format!(
                    "`{target}` cannot be tied to itself: name the other field that stores the \
                     values"
                ),
            );
            return None;
        }
        if visiting.contains(&field.ident) {
            let mut chain: Vec<String> = visiting.iter().map(|f| format!("`{f}`")).collect();
            chain.push(format!("`{}`", field.ident));
            // Report each cycle once: from its first-declared field, when resolution started there.
            let position = |name: &Ident| self.layer.fields.iter().position(|f| f.ident == name);
            let first_declared =
                visiting.iter().filter_map(|name| position(name)).min() == position(field.ident);
            if visiting.first() == Some(&field.ident) && first_declared {
                errors.spanned(
                    target,
                    format!(
                        "these ties form a cycle ({}): one of the fields must store the values, \
                         without `transpose_of`/`same_as`",
                        chain.join(" → ")
                    ),
                );
            }
            return None;
        }
        match self.field(target) {
            Some(found) => Some(found),
            None => {
                // A weight ties to a weight and a bias to a bias: suggest only those.
                let rank = field.tensor.rank();
                let names: Vec<String> = self
                    .layer
                    .fields
                    .iter()
                    .filter(|f| f.ident != field.ident && f.tensor.rank() == rank)
                    .map(|f| f.ident.to_string())
                    .collect();
                let role = if rank == 1 { "bias" } else { "weight" };
                let hint = closest(&target.to_string(), &names)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_else(|| match names.as_slice() {
                        [] => format!("; it has no other {role} to tie `{}` to", field.ident),
                        [one] => format!("; the other {role} is `{one}`"),
                        many => format!(
                            "; the other {role}s are {}",
                            many.iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                errors.spanned(
                    target,
                    format!(
                        "no field `{target}` in `{}`{hint}",
                        self.layer.original.ident
                    ),
                );
                None
            }
        }
    }

    fn square(&mut self, field: &Field, key: &Ident, errors: &mut Errors) {
        let (i, o) = (&field.tensor.dims[0], &field.tensor.dims[1]);
        let message = || {
            format!(
                "`{key}` needs a square weight, and `{}: {}` is not: declare it `{}`",
                field.ident,
                text(&field.tensor.shape),
                self.layer
                    .shape_hint(&[&text(&i.original), &text(&i.original)])
            )
        };
        self.same(i, o, &field.tensor.shape, errors, message);
    }
}

/// A literal dim's value, if it fits a `usize` (a larger one is the compiler's to reject).
fn usize_of(dim: &Dim) -> Option<usize> {
    match dim.key {
        DimKey::Literal(v) => usize::try_from(v).ok(),
        _ => None,
    }
}
