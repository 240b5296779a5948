//! Inputs a tied linear layer accepts: one vector, a batch, or a batch of sequences.

use dfdx::prelude::*;

/// `n` rows of `F` features: the matrix every lowering works on.
pub type Batch<const F: usize, E, D, T> = Tensor<(usize, Const<F>), E, D, T>;

/// An input to a layer with `I` input features: `Rank1<I>`, `(B, Const<I>)` or
/// `(B, S, Const<I>)`, with any batch/sequence dims and any tape.
///
/// Every lowering works on a matrix of `n` rows; this trait flattens the input to one and puts the
/// output back into the input's layout. Flattening a contiguous input is free (no copy).
pub trait LinearInput<const I: usize, E: Dtype, D: Device<E>>: Sized {
    /// The tape the input carries, and so the output.
    type Tape: Tape<E, D>;
    /// The output for `O` output features, in the input's layout.
    type Output<const O: usize>;
    /// What is needed to put the output back (the batch dims).
    type Layout: Copy;

    /// The input as `n` rows of `I` features.
    #[allow(clippy::type_complexity)]
    fn try_flatten(self) -> Result<(Batch<I, E, D, Self::Tape>, Self::Layout), D::Err>;

    /// The `n` output rows in the input's layout.
    fn try_unflatten<const O: usize>(
        y: Batch<O, E, D, Self::Tape>,
        layout: Self::Layout,
    ) -> Result<Self::Output<O>, D::Err>;
}

impl<const I: usize, E: Dtype, D: Device<E>, T: Tape<E, D>> LinearInput<I, E, D>
    for Tensor<Rank1<I>, E, D, T>
{
    type Tape = T;
    type Output<const O: usize> = Tensor<Rank1<O>, E, D, T>;
    type Layout = ();

    fn try_flatten(self) -> Result<(Batch<I, E, D, T>, ()), D::Err> {
        Ok((try_reshape(self, &(1, Const::<I>))?, ()))
    }

    fn try_unflatten<const O: usize>(
        y: Batch<O, E, D, T>,
        _: (),
    ) -> Result<Tensor<Rank1<O>, E, D, T>, D::Err> {
        try_reshape(y, &(Const::<O>,))
    }
}

impl<B: Dim, const I: usize, E: Dtype, D: Device<E>, T: Tape<E, D>> LinearInput<I, E, D>
    for Tensor<(B, Const<I>), E, D, T>
{
    type Tape = T;
    type Output<const O: usize> = Tensor<(B, Const<O>), E, D, T>;
    type Layout = B;

    fn try_flatten(self) -> Result<(Batch<I, E, D, T>, B), D::Err> {
        let b = self.shape().0;
        Ok((try_reshape(self, &(b.size(), Const::<I>))?, b))
    }

    fn try_unflatten<const O: usize>(
        y: Batch<O, E, D, T>,
        b: B,
    ) -> Result<Tensor<(B, Const<O>), E, D, T>, D::Err> {
        try_reshape(y, &(b, Const::<O>))
    }
}

impl<B: Dim, S: Dim, const I: usize, E: Dtype, D: Device<E>, T: Tape<E, D>> LinearInput<I, E, D>
    for Tensor<(B, S, Const<I>), E, D, T>
{
    type Tape = T;
    type Output<const O: usize> = Tensor<(B, S, Const<O>), E, D, T>;
    type Layout = (B, S);

    fn try_flatten(self) -> Result<(Batch<I, E, D, T>, (B, S)), D::Err> {
        let (b, s, _) = *self.shape();
        Ok((
            try_reshape(self, &(b.size() * s.size(), Const::<I>))?,
            (b, s),
        ))
    }

    fn try_unflatten<const O: usize>(
        y: Batch<O, E, D, T>,
        (b, s): (B, S),
    ) -> Result<Tensor<(B, S, Const<O>), E, D, T>, D::Err> {
        try_reshape(y, &(b, s, Const::<O>))
    }
}

/// `t` reshaped to `dst` (free when `t` is contiguous). dfdx's reshape copies a strided view
/// element by element, reading element 0 even of an empty one: an empty `t` becomes an empty
/// tensor on its tape instead, giving `t` a (zero) gradient.
fn try_reshape<S: Shape, Dst: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    t: Tensor<S, E, D, T>,
    dst: &Dst,
) -> Result<Tensor<Dst, E, D, T>, D::Err> {
    if t.shape().num_elements() > 0 {
        return t.try_reshape_like(dst);
    }
    let (t, tape) = t.split_tape();
    let (dev, t) = (t.device().clone(), t.ghost());
    crate::layer::try_empty_on_tape(&dev, *dst, tape, move |grads| grads.try_alloc_for(&t))
}
