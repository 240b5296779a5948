//! What the generated `Module` and `TensorCollection` impls call: the linear forward of a tie and
//! dfdx's fan-in initialization.

use dfdx::prelude::*;

use num_traits::Float;
use rand_distr::{uniform::SampleUniform, Uniform};

use crate::{Batch, LinearInput, Tie};

/// The dtypes a tied layer can be built and reset in: dfdx's `Linear` asks the same of its dtype.
pub trait TiedDtype: Dtype + Float + SampleUniform {}
impl<E: Dtype + Float + SampleUniform> TiedDtype for E {}

/// A bias added after `x·W`: a stored `Rank1<O>` vector, or `()` for none.
pub trait Bias<const O: usize, E: Dtype, D: Device<E>> {
    /// `y + b` broadcast over the rows of `y`.
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err>;
}

impl<const O: usize, E: Dtype, D: Device<E>> Bias<O, E, D> for () {
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err> {
        Ok(y)
    }
}

impl<const O: usize, E: Dtype, D: Device<E>> Bias<O, E, D> for Tensor<Rank1<O>, E, D> {
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err> {
        let shape = *y.shape();
        y.try_add(self.retaped::<T>().try_broadcast_like(&shape)?)
    }
}

/// A tied bias: the 1×O row of pattern `P`'s effective weight (e.g. [`crate::Scalar`]: one value
/// for every output), added to every output row.
pub struct TiedBias<'a, P: Tie<1, O>, const O: usize, E: Dtype, D: Device<E>> {
    stored: &'a Tensor<P::Stored, E, D>,
}

impl<'a, P: Tie<1, O>, const O: usize, E: Dtype, D: Device<E>> TiedBias<'a, P, O, E, D> {
    /// The bias whose stored values are `stored`.
    pub fn new(stored: &'a Tensor<P::Stored, E, D>) -> Self {
        TiedBias { stored }
    }
}

impl<P: Tie<1, O>, const O: usize, E: Dtype, D: Device<E>> Bias<O, E, D>
    for TiedBias<'_, P, O, E, D>
{
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err> {
        let shape = *y.shape();
        let row = P::try_effective(self.stored.retaped::<T>())?;
        let row: Tensor<Rank1<O>, E, D, T> = row.try_reshape()?;
        y.try_add(row.try_broadcast_like(&shape)?)
    }
}

/// `y = x·W + b` where `W` is the effective weight of tie `P` stored in `stored`.
///
/// This is the whole forward of a generated single-weight layer; the output is contiguous.
pub fn try_linear<P, const I: usize, const O: usize, E, D, X, B>(
    x: X,
    stored: &Tensor<P::Stored, E, D>,
    bias: &B,
) -> Result<X::Output<O>, D::Err>
where
    P: Tie<I, O>,
    E: Dtype,
    D: Device<E>,
    X: LinearInput<I, E, D>,
    B: Bias<O, E, D>,
{
    let (x, layout) = x.try_flatten()?;
    let y = bias.try_add_to(P::try_apply(x, stored)?)?;
    X::try_unflatten(y, layout)
}

/// Tensor options that reset a parameter like dfdx's `Linear`: uniform in ±1/√`fan_in`.
pub fn fan_in_uniform<S: ConstShape, E: TiedDtype, D: Device<E>, const FAN_IN: usize>(
) -> TensorOptions<S, E, D> {
    TensorOptions::reset_with(|t| {
        let bound = E::one() / E::from_usize(FAN_IN.max(1)).unwrap_or_else(E::one).sqrt();
        t.try_fill_with_distr(Uniform::new(-bound, bound))
    })
}

/// A compile-time size, for the size checks the macro leaves to the compiler: assigning
/// `SameSize<A>` from `SameSize<B>` compiles only when `A == B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SameSize<const N: usize>;

/// The value of a device operation, panicking on a device error (allocation failure) as dfdx's
/// non-`try` methods (`forward`, `matmul`, ...) do.
#[track_caller]
pub fn device_ok<T, Err: core::fmt::Debug>(result: Result<T, Err>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("dfdx device error: {err:?}"),
    }
}
