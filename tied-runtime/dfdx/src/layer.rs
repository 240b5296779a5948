//! What the generated `Module` and `TensorCollection` impls call: the linear forward of a tie and
//! dfdx's fan-in initialization.

use dfdx::prelude::*;

use num_traits::Float;
use rand_distr::{uniform::SampleUniform, Uniform};

use core::cell::RefCell;

use crate::kernels::{Fused, FusedBias, KernelBias};
use crate::{Batch, LinearInput, Tie};
use dfdx::nn::BuildOnDevice;

/// The dtypes a tied layer can be built and reset in: dfdx's `Linear` asks the same of its dtype.
pub trait TiedDtype: Dtype + Float + SampleUniform {}
impl<E: Dtype + Float + SampleUniform> TiedDtype for E {}

/// A bias added after `x·W`: a stored `Rank1<O>` vector, or `()` for none.
pub trait Bias<const O: usize, E: Dtype, D: Device<E>> {
    /// `y + b` broadcast over the rows of `y`.
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err>;

    /// The bias for a fused kernel to add in its own pass over the output. The provided version
    /// says it cannot be fused: [`Bias::try_add_to`] adds it after.
    #[doc(hidden)]
    fn kernel_bias(&self) -> KernelBias<E, D> {
        KernelBias::Separate
    }
}

impl<const O: usize, E: Dtype, D: Device<E>> Bias<O, E, D> for () {
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err> {
        Ok(y)
    }

    fn kernel_bias(&self) -> KernelBias<E, D> {
        KernelBias::None
    }
}

impl<const O: usize, E: Dtype, D: Device<E>> Bias<O, E, D> for Tensor<Rank1<O>, E, D> {
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err> {
        let shape = *y.shape();
        y.try_add(self.retaped::<T>().try_broadcast_like(&shape)?)
    }

    fn kernel_bias(&self) -> KernelBias<E, D> {
        FusedBias::new(self, None).map_or(KernelBias::Separate, KernelBias::Fused)
    }
}

/// A bias `Rank1<M>` added to `O` outputs where the macro could not compare `M` and `O` (const items):
/// the layer's `SameSize` check makes `M == O` a compile error otherwise, so the reshape is a no-op.
pub struct CheckedBias<'a, const M: usize, E: Dtype, D: Device<E>>(pub &'a Tensor<Rank1<M>, E, D>);

impl<const M: usize, const O: usize, E: Dtype, D: Device<E>> Bias<O, E, D>
    for CheckedBias<'_, M, E, D>
{
    fn try_add_to<T: Tape<E, D>>(&self, y: Batch<O, E, D, T>) -> Result<Batch<O, E, D, T>, D::Err> {
        let shape = *y.shape();
        let b = self.0.retaped::<T>().try_reshape_like(&(Const::<O>,))?;
        y.try_add(b.try_broadcast_like(&shape)?)
    }

    fn kernel_bias(&self) -> KernelBias<E, D> {
        match M == O {
            true => FusedBias::new(self.0, None).map_or(KernelBias::Separate, KernelBias::Fused),
            false => KernelBias::Separate,
        }
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

    fn kernel_bias(&self) -> KernelBias<E, D> {
        // Entry j of the 1×O row is stored value `P::index(0, j)`.
        FusedBias::new(self.stored, Some(<P as Tie<1, O>>::index))
            .map_or(KernelBias::Separate, KernelBias::Fused)
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
    if x.shape().0 == 0 {
        return X::try_unflatten(try_apply_empty(x, stored, bias)?, layout);
    }
    X::try_unflatten(
        try_apply_biased::<P, I, O, E, D, _, B>(x, stored, bias)?,
        layout,
    )
}

/// `x·W + b` on `n` rows, contiguous: one step of a generated forward.
///
/// Where the pattern has a fused kernel for this device ([`crate::kernels`]), the kernel adds the
/// bias in its one pass over the output. Otherwise the bias is added to the pattern's view of `x·W`
/// (a broadcast for `rows` and `scalar`), so the sum is the only allocation; the result is made
/// contiguous before anything else sees it.
pub fn try_apply_biased<P, const I: usize, const O: usize, E, D, T, B>(
    x: Batch<I, E, D, T>,
    stored: &Tensor<P::Stored, E, D>,
    bias: &B,
) -> Result<Batch<O, E, D, T>, D::Err>
where
    P: Tie<I, O>,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    B: Bias<O, E, D>,
{
    if x.shape().0 == 0 {
        return try_apply_empty(x, stored, bias);
    }
    let kernel_bias = bias.kernel_bias();
    let fused = match &kernel_bias {
        KernelBias::Fused(b) => Some(b),
        KernelBias::None | KernelBias::Separate => None,
    };
    match P::try_apply_fused(x, stored, fused) {
        Fused::Done(y) => match kernel_bias {
            KernelBias::Separate => bias.try_add_to(y?),
            KernelBias::None | KernelBias::Fused(_) => y,
        },
        Fused::Declined(x) => bias
            .try_add_to(P::try_apply_view(x, stored)?)?
            .try_contiguous(),
    }
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

/// A field whose pattern cannot be used, found when its layer is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPattern {
    /// The layer's type name.
    pub layer: &'static str,
    /// The field whose pattern is wrong.
    pub field: &'static str,
    /// What is wrong with it.
    pub error: crate::PatternError,
}

impl core::fmt::Display for InvalidPattern {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "cannot build `{}`: field `{}`: {}",
            self.layer, self.field, self.error
        )
    }
}

impl std::error::Error for InvalidPattern {}

/// Implemented by every `#[tied::layer]`: what can only be checked when the layer is built
/// (which its `iter_tensors` does, through [`check_built`], however it is built).
pub trait TiedLayer {
    /// Checks the layer's own patterns (`#[tied(pattern = ..)]`): every entry of each weight maps
    /// into the stored values, and every stored value is used.
    fn check_patterns() -> Result<(), InvalidPattern>;
}

/// Compiles only where `P` is a pattern for an `I`×`O` weight: the macro's early check that a
/// `pattern = P` is one (the error is `Tie`'s `on_unimplemented` text, at `P`).
pub fn assert_tie<P: Tie<I, O>, const I: usize, const O: usize>() {}

/// `check_pattern` for one field of a layer.
pub fn check_field_pattern<P: Tie<I, O>, const I: usize, const O: usize>(
    layer: &'static str,
    field: &'static str,
) -> Result<(), InvalidPattern> {
    crate::check_pattern::<P, I, O>().map_err(|error| InvalidPattern {
        layer,
        field,
        error,
    })
}

thread_local! {
    /// While [`try_build`] runs on this thread: the pattern errors found, kept instead of panics.
    static REFUSED: RefCell<Option<Vec<InvalidPattern>>> = const { RefCell::new(None) };
}

/// Checks the patterns of a layer that was just made (built, or converted by `to_dtype` /
/// `to_device`): the generated `TensorCollection::iter_tensors` calls it whenever its visitor
/// returns a new model, so dfdx's tuple builders, which call no per-layer hook, cannot skip it.
///
/// An invalid pattern panics with its message, as dfdx's `build_module` does for its own errors,
/// unless [`try_build`] is running on this thread: then the error is kept and `try_build`
/// returns it.
#[track_caller]
pub fn check_built<M: TiedLayer>() {
    if let Err(err) = M::check_patterns() {
        let kept = REFUSED.with(|refused| match refused.borrow_mut().as_mut() {
            Some(errors) => {
                errors.push(err.clone());
                true
            }
            None => false,
        });
        if !kept {
            panic!("{err}");
        }
    }
}

/// Why [`try_build`] built nothing.
#[derive(Debug)]
pub enum BuildError<Err> {
    /// A field's pattern cannot be used.
    Pattern(InvalidPattern),
    /// The device failed (allocation).
    Device(Err),
}

impl<Err: core::fmt::Debug> core::fmt::Display for BuildError<Err> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::Pattern(err) => write!(f, "{err}"),
            BuildError::Device(err) => write!(f, "device error while building: {err:?}"),
        }
    }
}

impl<Err: core::fmt::Debug> std::error::Error for BuildError<Err> {}

/// Builds any dfdx model from its builder (a tied layer's, or a tuple or other model containing
/// tied layers at any depth), returning an invalid pattern as an error instead of panicking:
/// `tied::try_build::<(MyConfig<4>, ReLU), f32, _>(&dev)`.
pub fn try_build<M, E, D>(device: &D) -> Result<M::Built, BuildError<D::Err>>
where
    M: BuildOnDevice<D, E>,
    E: Dtype,
    D: Device<E>,
{
    /// Puts back the collector that was active before (a `try_build` inside a `try_build`), also
    /// when building panics.
    struct Restore(Option<Vec<InvalidPattern>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            REFUSED.with(|refused| *refused.borrow_mut() = previous);
        }
    }
    let _restore = Restore(REFUSED.with(|refused| refused.borrow_mut().replace(Vec::new())));
    let built = M::try_build_on_device(device);
    let refused = REFUSED.with(|refused| refused.borrow_mut().take());
    if let Some(first) = refused.and_then(|errors| errors.into_iter().next()) {
        return Err(BuildError::Pattern(first));
    }
    built.map_err(BuildError::Device)
}

/// `x·W + b` for an empty batch (no rows): an empty output on `x`'s tape, whose backward gives `x`
/// and the stored values zero gradients (the bias gets its zero gradient from its own add).
///
/// The lowerings cannot run on zero rows: dfdx 0.13's CPU kernels that walk a tensor by index
/// (`contiguous` of a view, `gather`, a reshape that copies, `sum` to a scalar) read element 0
/// of every tensor, and panic when there is none.
fn try_apply_empty<S, const I: usize, const O: usize, E, D, T, B>(
    x: Batch<I, E, D, T>,
    stored: &Tensor<S, E, D>,
    bias: &B,
) -> Result<Batch<O, E, D, T>, D::Err>
where
    S: Shape,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    B: Bias<O, E, D>,
{
    let (x, tape) = x.split_tape();
    let (dev, x, stored) = (x.device().clone(), x.ghost(), stored.ghost());
    let y = try_empty_on_tape(&dev, (0, Const::<O>), tape, move |grads| {
        grads.try_alloc_for(&x)?;
        grads.try_alloc_for(&stored)
    })?;
    bias.try_add_to(y)
}

/// An empty tensor of shape `dst` on `tape`, whose backward allocates (zero) gradients with
/// `alloc`: how an op on empty inputs stays on the tape without running a kernel.
pub(crate) fn try_empty_on_tape<Dst, E, D, T, F>(
    dev: &D,
    dst: Dst,
    mut tape: T,
    alloc: F,
) -> Result<Tensor<Dst, E, D, T>, D::Err>
where
    Dst: Shape,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
    F: 'static + FnOnce(&mut Gradients<E, D>) -> Result<(), D::Err>,
{
    debug_assert_eq!(dst.num_elements(), 0);
    let y = dev.try_zeros_like(&dst)?;
    tape.add_backward_op(alloc);
    Ok(y.put_tape(tape))
}
