//! Tie patterns: how the distinct stored values fill an effective weight `W` (I×O, `y = x·W`), and the
//! structure-aware lowering of `x·W` for each.

use dfdx::prelude::*;

use crate::Batch;

/// A tie pattern for an effective weight of `I` inputs × `O` outputs.
///
/// A pattern says which stored value each effective entry `W[i, j]` is ([`Tie::index`]), and how to
/// compute `x·W` without building `W` when its structure allows ([`Tie::try_apply`]). The gradient of
/// every stored value is the sum over all entries of `W` that copy it; every lowering gets that sum
/// from dfdx's tape, so it holds under any tape and any thread count.
///
/// Implementations must agree with [`Tie::index`]: the crate's tests compare each lowering with the
/// dense `W` that `index` describes, and [`crate::gradcheck`] lets you do the same for your own.
pub trait Tie<const I: usize, const O: usize>: Sized + 'static {
    /// The shape of the stored distinct values.
    type Stored: ConstShape;

    /// The pattern's name in attributes and pictures (`rows`, `dense`, ...).
    const NAME: &'static str;

    /// The position, in the stored values (row-major), of effective entry `W[i, j]`.
    fn index(i: usize, j: usize) -> usize;

    /// `y = x·W` for a batch of `n` input rows, with gradients for `x` and the stored values.
    ///
    /// The result is contiguous (no stride-0 view), so it can go into `matmul` safely.
    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err>;

    /// The effective weight, materialized and contiguous, on `stored`'s tape: safe to pass to
    /// `matmul`.
    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Self::Stored, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err>;
}

/// No tie: every entry of `W` is its own parameter (a plain `Linear` weight, stored I×O).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dense;

impl<const I: usize, const O: usize> Tie<I, O> for Dense {
    type Stored = Rank2<I, O>;
    const NAME: &'static str = "dense";

    fn index(i: usize, j: usize) -> usize {
        i * O + j
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank2<I, O>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        // The stored weight is contiguous, never a broadcast view: matmul is safe here.
        x.try_matmul(stored.retaped::<T>())
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank2<I, O>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        stored.try_contiguous()
    }
}

/// Every row of `W` is one value: `W[i, j] = w[i]`, `I` stored values (the forum's layer).
///
/// Lowering: `y[n, j] = Σ_i x[n, i]·w[i]` for every `j`, so `y` is one dot product per input row,
/// broadcast over the outputs: O(n·(I + O)) work and memory, no I×O tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rows;

impl<const I: usize, const O: usize> Tie<I, O> for Rows {
    type Stored = Rank1<I>;
    const NAME: &'static str = "rows";

    fn index(i: usize, _j: usize) -> usize {
        i
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<I>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        let n = x.shape().0;
        let w = stored.retaped::<T>().try_broadcast_like(x.shape())?;
        let dot: Tensor<(usize,), E, D, T> = x.try_mul(w)?.try_sum()?;
        dot.try_broadcast_like(&(n, Const::<O>))?.try_contiguous()
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank1<I>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        stored
            .try_broadcast::<Rank2<I, O>, Axis<1>>()?
            .try_contiguous()
    }
}

/// Every column of `W` is one value: `W[i, j] = w[j]`, `O` stored values.
///
/// Lowering: `y[n, j] = (Σ_i x[n, i])·w[j]`: O(n·(I + O)), no I×O tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cols;

impl<const I: usize, const O: usize> Tie<I, O> for Cols {
    type Stored = Rank1<O>;
    const NAME: &'static str = "cols";

    fn index(_i: usize, j: usize) -> usize {
        j
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<O>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        let n = x.shape().0;
        let total: Tensor<(usize,), E, D, T> = x.try_sum()?;
        let total = total.try_broadcast_like(&(n, Const::<O>))?;
        let w = stored.retaped::<T>().try_broadcast_like(&(n, Const::<O>))?;
        total.try_mul(w)
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank1<O>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        stored
            .try_broadcast::<Rank2<I, O>, Axis<0>>()?
            .try_contiguous()
    }
}

/// Every entry of `W` is the same value: one stored value.
///
/// Lowering: `y[n, j] = (Σ_i x[n, i])·w`: O(n·(I + O)), no I×O tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scalar;

impl<const I: usize, const O: usize> Tie<I, O> for Scalar {
    type Stored = Rank1<1>;
    const NAME: &'static str = "scalar";

    fn index(_i: usize, _j: usize) -> usize {
        0
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<1>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        let n = x.shape().0;
        let total: Tensor<(usize,), E, D, T> = x.try_sum()?;
        let w: Tensor<(usize,), E, D, T> = stored
            .retaped::<T>()
            .try_reshape::<Rank0>()?
            .try_broadcast_like(&(n,))?;
        total
            .try_mul(w)?
            .try_broadcast_like(&(n, Const::<O>))?
            .try_contiguous()
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank1<1>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        stored
            .try_reshape::<Rank0>()?
            .try_broadcast::<Rank2<I, O>, Axes2<0, 1>>()?
            .try_contiguous()
    }
}
