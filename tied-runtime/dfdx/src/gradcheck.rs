//! Finite-difference gradient checks in f64, the way PyTorch users call `torch.autograd.gradcheck`:
//! every stored parameter and every input element is perturbed by ±ε and the central difference is
//! compared with the gradient dfdx's tape computed.

use core::fmt;

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
};
use dfdx::prelude::*;

/// Step and tolerances of a gradient check: an entry passes when
/// `|analytic − numeric| ≤ atol + rtol·|numeric|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradcheckOptions {
    /// The finite-difference step ε.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-6,
            rtol: 1e-5,
        }
    }
}

/// What a passing gradient check compared.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Parameter tensors checked, by their `TensorCollection` names, with their sizes.
    pub parameters: Vec<(String, usize)>,
    /// Scalars compared in all (parameters and input).
    pub checked: usize,
    /// The largest `|analytic − numeric|` seen.
    pub max_abs_error: f64,
}

/// Why a gradient check failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GradcheckError {
    /// The first entry whose analytic and numeric gradients disagree.
    Mismatch {
        /// The parameter's `TensorCollection` name, or `"input"`.
        tensor: String,
        /// The entry's position in the tensor (row-major).
        index: usize,
        /// The gradient dfdx's tape computed.
        analytic: f64,
        /// The central finite difference.
        numeric: f64,
    },
    /// The input or the output has no elements (an empty batch): there is no loss to
    /// differentiate, so nothing would be checked.
    Empty {
        /// `"input"` or `"output"`.
        tensor: &'static str,
    },
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckError::Mismatch {
                tensor,
                index,
                analytic,
                numeric,
            } => write!(
                f,
                "gradient mismatch at {tensor}[{index}]: tape gives {analytic:e}, finite \
                 difference gives {numeric:e}"
            ),
            GradcheckError::Empty { tensor } => write!(
                f,
                "the {tensor} has no elements (an empty batch?): a gradient check needs at least \
                 one, nothing was checked"
            ),
        }
    }
}

impl std::error::Error for GradcheckError {}

type Dev = Cpu;
type Owned = OwnedTape<f64, Dev>;

/// Checks the gradients of `model.forward(x)` for every parameter of `model` and every element of
/// `x`, against central finite differences.
///
/// The loss is `Σ y ⊙ r` for a fixed pseudo-random `r`, so every output contributes with its own
/// weight. The analytic gradients come from a forward on an `OwnedTape`; the numeric ones from
/// forwards on `NoneTape`, so the check also proves both tapes compute the same function.
///
/// # Errors
///
/// [`GradcheckError::Mismatch`] at the first entry outside the tolerances;
/// [`GradcheckError::Empty`] when `x` or the output has no elements (an empty batch: the loss
/// would be a sum over nothing, which dfdx 0.13's `sum` to a scalar refuses with a panic). For
/// empty batches use [`gradcheck_with`] and a loss that reduces the batch axes first.
pub fn gradcheck<M, S, S2>(
    model: &M,
    x: &Tensor<S, f64, Dev>,
    opts: GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError>
where
    S: Shape,
    S2: Shape,
    M: TensorCollection<f64, Dev>
        + Clone
        + Module<Tensor<S, f64, Dev, Owned>, Output = Tensor<S2, f64, Dev, Owned>>
        + Module<Tensor<S, f64, Dev>, Output = Tensor<S2, f64, Dev>>,
{
    let dev = x.device().clone();
    if x.shape().num_elements() == 0 {
        return Err(GradcheckError::Empty { tensor: "input" });
    }
    let probe = model.forward(x.clone());
    if probe.shape().num_elements() == 0 {
        return Err(GradcheckError::Empty { tensor: "output" });
    }
    let weights = pseudo_random(probe.shape().num_elements(), 0x5eed);
    let r: Tensor<S2, f64, Dev> = dev.tensor_from_vec(weights, *probe.shape());
    check(
        model,
        x,
        opts,
        |m, x| (m.forward(x) * r.retaped::<Owned>()).sum::<Rank0, _>(),
        |m, x| (m.forward(x) * r.clone()).sum::<Rank0, _>().array(),
    )
}

/// Checks the gradients of a loss of your own, `loss(model, x)`, for every parameter of `model`
/// and every element of `x`. An empty `x` is allowed: the parameters' gradients are still
/// checked, through whatever `loss` makes of an empty output.
///
/// # Errors
///
/// [`GradcheckError::Mismatch`] at the first entry outside the tolerances.
pub fn gradcheck_with<M, S, F>(
    model: &M,
    x: &Tensor<S, f64, Dev>,
    opts: GradcheckOptions,
    loss: F,
) -> Result<GradcheckReport, GradcheckError>
where
    S: Shape,
    M: TensorCollection<f64, Dev> + Clone,
    F: Fn(&M, Tensor<S, f64, Dev, Owned>) -> Tensor<Rank0, f64, Dev, Owned>,
{
    check(model, x, opts, &loss, |m, x| {
        loss(m, x.retaped::<Owned>()).array()
    })
}

fn check<M, S, F, G>(
    model: &M,
    x: &Tensor<S, f64, Dev>,
    opts: GradcheckOptions,
    traced: F,
    value: G,
) -> Result<GradcheckReport, GradcheckError>
where
    S: Shape,
    M: TensorCollection<f64, Dev> + Clone,
    F: Fn(&M, Tensor<S, f64, Dev, Owned>) -> Tensor<Rank0, f64, Dev, Owned>,
    G: Fn(&M, Tensor<S, f64, Dev>) -> f64,
{
    // Analytic: one traced forward and backward. `leaky` keeps the input's gradient too.
    let grads = traced(model, x.trace(Gradients::leaky())).backward();
    let mut params = Params {
        grads: Some(grads),
        found: Vec::new(),
        target: None,
    };
    walk(&mut model.clone(), &mut params);
    let mut grads = params.grads.take().unwrap_or_else(Gradients::leaky);
    grads.try_alloc_for(x).expect("allocating a CPU gradient");
    let x_grad = as_vec(&grads.get(x));

    let mut report = GradcheckReport {
        parameters: params
            .found
            .iter()
            .map(|p| (p.name.clone(), p.grad.len()))
            .collect(),
        checked: 0,
        max_abs_error: 0.0,
    };
    let mut compare = |tensor: &str, index: usize, analytic: f64, plus: f64, minus: f64| {
        let numeric = (plus - minus) / (2.0 * opts.eps);
        let err = (analytic - numeric).abs();
        report.checked += 1;
        report.max_abs_error = report.max_abs_error.max(err);
        if err.is_nan() || err > opts.atol + opts.rtol * numeric.abs() {
            return Err(GradcheckError::Mismatch {
                tensor: tensor.to_owned(),
                index,
                analytic,
                numeric,
            });
        }
        Ok(())
    };

    // Numeric: perturb one stored value at a time.
    for (p, found) in params.found.iter().enumerate() {
        for (k, &analytic) in found.grad.iter().enumerate() {
            let eval = |delta: f64| {
                let mut m = model.clone();
                walk(
                    &mut m,
                    &mut Params {
                        grads: None,
                        found: Vec::new(),
                        target: Some((p, k, delta)),
                    },
                );
                value(&m, x.clone())
            };
            let (plus, minus) = (eval(opts.eps), eval(-opts.eps));
            compare(&found.name, k, analytic, plus, minus)?;
        }
    }
    let x_vals = as_vec(x);
    for (k, &analytic) in x_grad.iter().enumerate() {
        let eval = |delta: f64| {
            let mut v = x_vals.clone();
            v[k] += delta;
            let mut xp = x.clone();
            xp.copy_from(&v);
            value(model, xp)
        };
        let (plus, minus) = (eval(opts.eps), eval(-opts.eps));
        compare("input", k, analytic, plus, minus)?;
    }
    Ok(report)
}

/// The tensor's values; dfdx's `as_vec` reads element 0 first and panics on an empty tensor.
fn as_vec<S: Shape>(t: &Tensor<S, f64, Dev>) -> Vec<f64> {
    if t.shape().num_elements() == 0 {
        Vec::new()
    } else {
        t.as_vec()
    }
}

/// A fixed pseudo-random sequence in [-1, 1) (SplitMix64), so checks are reproducible.
pub(crate) fn pseudo_random(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

struct Found {
    name: String,
    grad: Vec<f64>,
}

/// Visits every parameter: records its name and gradient, or perturbs one entry of one of them.
struct Params {
    grads: Option<Gradients<f64, Dev>>,
    found: Vec<Found>,
    target: Option<(usize, usize, f64)>,
}

fn walk<M: TensorCollection<f64, Dev>>(model: &mut M, params: &mut Params) {
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: params,
    })
    .expect("visiting CPU tensors does not fail");
}

impl TensorVisitor<f64, Dev> for Params {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = <Dev as HasErr>::Err;
    type E2 = f64;
    type D2 = Dev;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f64, Dev>,
        (t, name): (&mut Tensor<S, f64, Dev>, String),
    ) -> Result<Option<Tensor<S, f64, Dev>>, Self::Err> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let position = self.found.len();
        let grad = match self.grads.as_mut() {
            Some(grads) => {
                grads.try_alloc_for(t)?;
                as_vec(&grads.get(t))
            }
            None => Vec::new(),
        };
        if let Some((p, k, delta)) = self.target {
            if p == position {
                let mut v = t.as_vec();
                v[k] += delta;
                t.copy_from(&v);
            }
        }
        self.found.push(Found { name, grad });
        Ok(None)
    }
}
