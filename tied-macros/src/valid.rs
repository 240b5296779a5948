//! Checks that need more than one attribute or field: the role of each tensor, ties between fields
//! (resolved to the field that stores the values, cycles refused), stated sizes against shapes, and
//! the declared forward. Errors point at the user's tokens; sizes the macro cannot compute are left
//! to the compiler (`dim_checks`) or to a const assertion (`const_checks`).

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::Ident;

use crate::ast::{Dim, DimKey, Field, Layer};
use crate::attr::{Errors, Step, TieKind, TieValue};

/// What the layer is made of, once checked.
pub struct Plan<'l, 'a> {
    pub weights: Vec<Weight<'l, 'a>>,
    pub biases: Vec<Bias<'l, 'a>>,
    /// The generated `Module` forward, when the layer has one weight or declares `forward`.
    pub forward: Option<Vec<PlanStep>>,
    /// Sizes the macro cannot compare itself: the compiler checks `expected == actual`, with the
    /// error at `at`.
    pub dim_checks: Vec<DimCheck>,
    /// Size arithmetic the macro cannot evaluate (`K == I + O - 1` with generic sizes): a const
    /// assertion, evaluated when the layer is built.
    pub const_checks: Vec<ConstCheck>,
}

/// How a field's effective tensor is made from stored values: a `tied::Tie` type.
#[derive(Clone)]
pub enum TieType {
    Dense,
    /// A pattern of `tied` (`Rows`, `Toeplitz<K>`, ...), with its const arguments.
    Builtin(&'static str, Vec<Dim>),
    /// `pattern = path::Type`
    User(syn::Type),
    Transposed(Box<TieType>),
}

impl TieType {
    pub fn tokens(&self) -> TokenStream {
        match self {
            TieType::Dense => quote!(::tied::__private::Dense),
            TieType::Builtin(name, args) => {
                let name = Ident::new(name, proc_macro2::Span::call_site());
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

    /// Whether the pattern is the user's, so it is checked when the layer is built.
    pub fn is_user(&self) -> bool {
        match self {
            TieType::User(_) => true,
            TieType::Transposed(inner) => inner.is_user(),
            _ => false,
        }
    }

    /// The pattern's name in docs.
    pub fn describe(&self) -> String {
        match self {
            TieType::Dense => "dense".to_owned(),
            TieType::Builtin(name, _) => name.to_lowercase(),
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
}

pub struct ConstCheck {
    pub condition: TokenStream,
    pub message: String,
    pub at: TokenStream,
}

pub fn check<'l, 'a>(layer: &'l Layer<'a>, errors: &mut Errors) -> Plan<'l, 'a> {
    let mut checker = Checker {
        layer,
        const_params: layer.const_params(),
        dim_checks: Vec::new(),
        const_checks: Vec::new(),
    };

    // Roles by rank; ranks other than 1 and 2 are errors.
    for field in &layer.fields {
        let rank = field.tensor.rank();
        if rank == 1 || rank == 2 {
            continue;
        }
        match &field.tie {
            Some(tie) => errors.spanned(
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
            None => errors.spanned(
                field.tensor.shape,
                format!(
                    "`{field}` has rank {rank}: a tied layer holds weights `Rank2<I, O>` and \
                     biases `Rank1<O>`",
                    field = field.ident
                ),
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
        const_checks: checker.const_checks,
    }
}

struct Checker<'l, 'a> {
    layer: &'l Layer<'a>,
    const_params: Vec<String>,
    dim_checks: Vec<DimCheck>,
    const_checks: Vec<ConstCheck>,
}

impl<'l, 'a> Checker<'l, 'a> {
    fn field(&self, name: &Ident) -> Option<&'l Field<'a>> {
        self.layer.fields.iter().find(|f| f.ident == name)
    }

    /// Compares two dims: an error now when they differ for sure, a compiler check when unsure.
    fn same(
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
            }),
        }
    }

    /// A rank-2 field's tie type and the field storing its values.
    fn resolve(
        &mut self,
        field: &'l Field<'a>,
        visiting: &mut Vec<&'l Ident>,
        errors: &mut Errors,
    ) -> Option<(TieType, &'l Ident)> {
        let (i, o) = (&field.tensor.dims[0], &field.tensor.dims[1]);
        let Some(tie) = &field.tie else {
            return Some((TieType::Dense, field.ident));
        };
        let shape = text(field.tensor.shape);
        let name = field.ident;
        let key = tie.kind.key();
        let builtin = |ty: &'static str, args: Vec<Dim>| Some((TieType::Builtin(ty, args), name));
        match (&tie.kind, &tie.value) {
            (TieKind::Rows, value) | (TieKind::Cols, value) => {
                let (against, what) = if tie.kind == TieKind::Rows {
                    (i, "inputs")
                } else {
                    (o, "outputs")
                };
                if let TieValue::Size(value) = value {
                    let stated = Dim::from_expr(value);
                    self.same(against, &stated, value, errors, || {
                        format!(
                            "`{key} = {stated}` does not match the weight: a `{key}` tie stores \
                             one value per {one}, and `{name}: {shape}` has `{against}` {what}; \
                             write `{key} = {against}`, or just `#[tied({key})]`",
                            stated = text(&stated.original),
                            one = &what[..what.len() - 1],
                            against = text(&against.original),
                        )
                    });
                }
                builtin(
                    if tie.kind == TieKind::Rows {
                        "Rows"
                    } else {
                        "Cols"
                    },
                    vec![],
                )
            }
            (TieKind::Scalar, _) => builtin("Scalar", vec![]),
            (TieKind::Tile, TieValue::Pair(r, c)) | (TieKind::Block, TieValue::Pair(r, c)) => {
                let (r, c) = (Dim::from_expr(r), Dim::from_expr(c));
                for (part, whole, what) in [(&r, i, "inputs"), (&c, o, "outputs")] {
                    self.divides(part, whole, &part.original, errors, || {
                        format!(
                            "`{key}({r}, {c})` on `{name}: {shape}`: `{part}` must divide the \
                             {what} `{whole}` (and not be 0)",
                            r = text(&r.original),
                            c = text(&c.original),
                            part = text(&part.original),
                            whole = text(&whole.original),
                        )
                    });
                }
                let ty = if tie.kind == TieKind::Tile {
                    "Tile"
                } else {
                    "Block"
                };
                builtin(ty, vec![r, c])
            }
            (TieKind::Toeplitz, TieValue::Size(k)) | (TieKind::Hankel, TieValue::Size(k)) => {
                let stated = Dim::from_expr(k);
                // Checked: a literal past `usize` is the compiler's to reject, not a reason to panic.
                let want = lit(i)
                    .zip(lit(o))
                    .and_then(|(i, o)| i.checked_add(o))
                    .map(|n| n.saturating_sub(1));
                self.arithmetic(
                    want,
                    quote!(#stated == #i + #o - 1),
                    k,
                    errors,
                    |want| {
                        format!(
                            "`{key} = {k}` on `{name}: {shape}`: a {key} weight stores one value \
                             per diagonal, I + O − 1 = {want}; write `{key} = {want}`",
                            k = text(&stated.original),
                        )
                    },
                    format!(
                        "I + O − 1 = {} + {} − 1{} for `{name}: {shape}` ({key})",
                        text(&i.original),
                        text(&o.original),
                        equals(want),
                    ),
                );
                builtin(
                    if tie.kind == TieKind::Toeplitz {
                        "Toeplitz"
                    } else {
                        "Hankel"
                    },
                    vec![stated],
                )
            }
            (TieKind::Symmetric, TieValue::Size(k)) => {
                self.square(field, &tie.key, errors);
                let stated = Dim::from_expr(k);
                let want = lit(i)
                    .and_then(|n| n.checked_add(1).and_then(|m| m.checked_mul(n)))
                    .map(|n| n / 2);
                self.arithmetic(
                    want,
                    quote!(#stated == #i * (#i + 1) / 2),
                    k,
                    errors,
                    |want| {
                        format!(
                            "`symmetric = {k}` on `{name}: {shape}`: a symmetric N×N weight \
                             stores its upper triangle, N(N + 1)/2 = {want} values; write \
                             `symmetric = {want}`",
                            k = text(&stated.original),
                        )
                    },
                    format!(
                        "N(N + 1)/2{} with N = {} for `{name}: {shape}` (symmetric)",
                        equals(want),
                        text(&i.original)
                    ),
                );
                builtin("Symmetric", vec![stated])
            }
            (TieKind::Circulant, _) => {
                self.square(field, &tie.key, errors);
                builtin("Circulant", vec![])
            }
            (TieKind::Banded, TieValue::Size(k)) => {
                let stated = Dim::from_expr(k);
                match (lit(&stated), lit(i), lit(o)) {
                    (Some(k_val), Some(i_val), Some(o_val)) => {
                        let side = i_val.min(o_val);
                        if k_val % 2 == 0 || k_val / 2 >= side {
                            // The widest band that fits: bandwidth `side − 1`.
                            let widest = side.saturating_mul(2).saturating_sub(1);
                            let problem = if k_val % 2 == 0 {
                                "a band stores 2·bandwidth + 1 diagonals, an odd number".to_owned()
                            } else {
                                format!(
                                    "its bandwidth {} must be below both sides, and the shorter \
                                     is {side}",
                                    k_val / 2
                                )
                            };
                            let fix = if k_val > widest {
                                format!("the widest band that fits is `banded = {widest}`")
                            } else if k_val == 0 {
                                "write `banded = 1` for the diagonal alone".to_owned()
                            } else if k_val < widest {
                                format!(
                                    "write `banded = {}` or `banded = {}`",
                                    k_val - 1,
                                    k_val + 1
                                )
                            } else {
                                format!("write `banded = {}`", k_val - 1)
                            };
                            errors.spanned(
                                k,
                                format!(
                                    "`banded = {k_val}` on `{name}: {shape}`: {problem}; {fix}"
                                ),
                            );
                        }
                    }
                    _ => self.const_checks.push(ConstCheck {
                        condition: quote!(#stated % 2 == 1 && #stated / 2 < #i && #stated / 2 < #o),
                        message: format!(
                            "tied: `banded = {}` on `{name}`: a band stores 2·bandwidth + 1 \
                             diagonals (an odd number) and the bandwidth must be below both sides",
                            text(&stated.original)
                        ),
                        at: k.to_token_stream(),
                    }),
                }
                builtin("Banded", vec![stated])
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
                             weight `Rank2<..>`"
                        ),
                    );
                    return None;
                }
                let (ti, to) = (&target_field.tensor.dims[0], &target_field.tensor.dims[1]);
                let target_shape = text(target_field.tensor.shape);
                let transpose = tie.kind == TieKind::TransposeOf;
                let (want_i, want_o) = if transpose { (to, ti) } else { (ti, to) };
                let fix = format!(
                    "Rank2<{}, {}>",
                    text(&want_i.original),
                    text(&want_o.original)
                );
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
                    errors.spanned(field.tensor.shape, mismatch());
                    return None;
                }
                self.same(want_i, i, field.tensor.shape, errors, mismatch);
                self.same(want_o, o, field.tensor.shape, errors, mismatch);
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

    /// A rank-1 field: a plain bias, a tied bias (`Tie<1, O>`), or one sharing another bias.
    fn resolve_bias(
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
            (TieKind::Scalar, _) | (TieKind::Rows, TieValue::None) => {
                Some((Some(TieType::Builtin("Scalar", vec![])), name))
            }
            (TieKind::Pattern, TieValue::Type(ty)) => Some((Some(TieType::User(ty.clone())), name)),
            (TieKind::SameAs, TieValue::Field(target)) => {
                let target_field = self.target(field, target, visiting, errors)?;
                if target_field.tensor.rank() != 1 {
                    errors.spanned(
                        target,
                        format!(
                            "`{target}` is a weight: `same_as` on the bias `{name}` needs another \
                             bias `Rank1<..>`"
                        ),
                    );
                    return None;
                }
                let len = &field.tensor.dims[0];
                let target_len = &target_field.tensor.dims[0];
                self.same(target_len, len, field.tensor.shape, errors, || {
                    format!(
                        "`{name}: {}` cannot share the values of `{target}: {}`: same_as needs \
                         the same length",
                        text(field.tensor.shape),
                        text(target_field.tensor.shape)
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

    /// `part` divides `whole` and is not 0.
    fn divides(
        &mut self,
        part: &Dim,
        whole: &Dim,
        at: impl ToTokens,
        errors: &mut Errors,
        message: impl FnOnce() -> String,
    ) {
        match (lit(part), lit(whole)) {
            (Some(p), Some(w)) => {
                if p == 0 || w % p != 0 {
                    errors.spanned(at, message());
                }
            }
            _ => self.const_checks.push(ConstCheck {
                condition: quote!(#part != 0 && #whole % #part == 0),
                message: format!("tied: {}", message()),
                at: at.into_token_stream(),
            }),
        }
    }

    /// A stated stored size against the size a formula gives: now if the macro can evaluate the
    /// formula, else as a const assertion.
    fn arithmetic(
        &mut self,
        want: Option<u128>,
        condition: TokenStream,
        at: &syn::Expr,
        errors: &mut Errors,
        message: impl FnOnce(String) -> String,
        formula: String,
    ) {
        let stated = Dim::from_expr(at);
        match (lit(&stated), want) {
            (Some(k), Some(w)) => {
                if k != w {
                    errors.spanned(at, message(w.to_string()));
                }
            }
            // Evaluated by the compiler when the layer is built: the message names the field and
            // the size expected, in the user's own terms.
            _ => self.const_checks.push(ConstCheck {
                condition,
                message: format!(
                    "tied: the stored size `{}` must equal {formula}",
                    text(&stated.original)
                ),
                at: at.into_token_stream(),
            }),
        }
    }

    fn square(&mut self, field: &Field, key: &Ident, errors: &mut Errors) {
        let (i, o) = (&field.tensor.dims[0], &field.tensor.dims[1]);
        let message = || {
            format!(
                "`{key}` needs a square weight, and `{}: {}` is not: declare it `Rank2<{n}, {n}>`",
                field.ident,
                text(field.tensor.shape),
                n = text(&i.original)
            )
        };
        self.same(i, o, field.tensor.shape, errors, message);
    }

    fn implicit_forward(
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
            bias.field.tensor.shape,
            errors,
            || {
                format!(
                "bias `{bias}` has length `{len}`, but weight `{weight}` has `{outputs}` outputs: \
                 declare it `Rank1<{outputs}>`",
                bias = bias.field.ident,
                len = text(&len.original),
                weight = weight.field.ident,
                outputs = text(&weight.outputs.original),
            )
            },
        );
    }

    fn declared_forward(
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
                                     `Rank1<{}>`",
                                    self.layer.original.ident,
                                    text(&weight.outputs.original)
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

/// ` = 6` after a formula the macro could evaluate, for a const assertion's message (which cannot
/// format numbers itself).
fn equals(value: Option<u128>) -> String {
    value.map_or_else(String::new, |v| format!(" = {v}"))
}

/// A literal dim's value.
fn lit(dim: &Dim) -> Option<u128> {
    match dim.key {
        DimKey::Literal(v) => Some(v),
        _ => None,
    }
}

/// The name closest to `name`, for "did you mean": within two edits, or one name an abbreviation
/// of the other (`encoder` for `enc`).
fn closest<'n>(name: &str, names: &'n [String]) -> Option<&'n String> {
    let abbreviates = |a: &str, b: &str| {
        let (a, b) = (a.to_lowercase(), b.to_lowercase());
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        short.len() >= 3 && long.starts_with(&short)
    };
    names
        .iter()
        .map(|n| (crate::attr::edit_distance(name, n), n))
        .filter(|&(d, n)| (d <= 2 && d < n.len()) || abbreviates(name, n))
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
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
