//! Fused CPU kernels on dfdx's tape, registered from outside dfdx.
//!
//! A pattern's reference lowering is a chain of dfdx ops (see [`crate::Tie`]); each op allocates its
//! output and records its own backward. A fused kernel does the whole `y = x·W (+ b)` in one pass
//! over `x` and records one backward that writes every gradient in one pass over `dy`. It reads like
//! dfdx's own `try_unary_op`/`try_binary_op` (`tensor_ops/utilities/ops.rs`): split the tape,
//! compute, `tape.add_backward_op(move |grads| ..)` accumulating with
//! [`Gradients::get_or_alloc_mut`], put the tape back.
//!
//! # Writing a kernel
//!
//! A kernel is the slice arithmetic of one linear op, [`LinearKernel`]; [`try_fused_linear`] does the
//! rest (device dispatch, zero-copy views of dfdx's buffers, the output from dfdx's allocator and
//! cache, the tape, the bias, gradient aliasing). A pattern uses it by overriding
//! [`Tie::try_apply_fused`](crate::Tie::try_apply_fused) (and
//! [`Tie::try_apply_transposed_fused`](crate::Tie::try_apply_transposed_fused)):
//!
//! ```ignore
//! fn try_apply_fused<E: Dtype, D: Device<E>, T: Tape<E, D>>(
//!     x: Batch<I, E, D, T>,
//!     stored: &Tensor<Self::Stored, E, D>,
//!     bias: Option<&FusedBias<E, D>>,
//! ) -> FusedLinear<I, O, E, D, T> {
//!     try_fused_linear::<_, I, O, _, _, _, _>(x, stored, bias, MyKernel::new())
//! }
//! ```
//!
//! The broadcast family's kernel (`fold.rs`) is the worked example: one struct describing the
//! pattern's structure, `forward` and `backward` over rows, split over threads with [`par`].
//!
//! The dispatch is by device type: the kernel runs when `D` is dfdx's `Cpu` and `E` is `f32` or
//! `f64`; otherwise (`Cuda`, other dtypes) [`Fused::Declined`] hands `x` back and the pattern runs its
//! reference lowering, the plain dfdx ops, which is also what kernels are tested against
//! ([`with_reference`] forces it on the current thread).
//!
//! A kernel that makes a tensor of its own (a pattern's effective weight materialized on all cores,
//! with a scatter-add backward into the stored values, to hand to `matmul`) is a [`MapKernel`]
//! run by [`try_fused_map`].
//!
//! Lower-level pieces for kernels that need more (other tensors on the tape): [`OnCpu`] (the
//! type-checked cast), [`cpu_slice`], [`cpu_output`], [`RawGrad`], and the thread helpers in
//! [`par`].

pub mod band;
mod cpu;
pub mod dense;
pub mod diagonal;
pub mod fft;
mod fold;
pub mod index;
mod linear;
mod map;
mod matmul;
pub mod par;
pub mod symmetric;

use core::cell::Cell;

use dfdx::prelude::*;

use crate::Batch;

pub use cpu::{cpu_output, cpu_slice, OnCpu, RawGrad};
pub(crate) use fold::{Fold, FoldKernel};
pub use index::forget_index_tables;
pub use linear::{try_fused_linear, BiasIndex, FusedBias, KernelBias};
pub use map::{try_fused_map, MapKernel};

/// The dtypes kernels are written for: `f32` and `f64` (the dtypes dispatched to a kernel).
///
/// Kernels are generic over it; add a bound here if a kernel needs more of its dtype (both `f32` and
/// `f64` must provide it).
pub trait KernelDtype:
    Dtype
    + num_traits::Float
    + core::iter::Sum
    + Send
    + Sync
    + rustfft::FftNum
    + faer::traits::ComplexField
    + faer::traits::Conjugate<Canonical = Self>
{
}
impl KernelDtype for f32 {}
impl KernelDtype for f64 {}

/// What a fused op did: it ran (`Done`, with the op's result), or there is no kernel for this
/// device, dtype or input and it hands the input back untouched (`Declined`), for the reference
/// lowering to take.
#[derive(Debug)]
pub enum Fused<Done, In> {
    /// The kernel ran.
    Done(Done),
    /// No kernel: the input, unchanged.
    Declined(In),
}

/// What a fused linear op on `IN` → `OUT` features returns: the output (or the device's error), or
/// the input back.
pub type FusedLinear<const IN: usize, const OUT: usize, E, D, T> =
    Fused<Result<Batch<OUT, E, D, T>, <D as HasErr>::Err>, Batch<IN, E, D, T>>;

impl<Y, X, Err> Fused<Result<Y, Err>, X> {
    /// The kernel's result, or `reference(x)` when it declined.
    pub fn or_else(self, reference: impl FnOnce(X) -> Result<Y, Err>) -> Result<Y, Err> {
        match self {
            Fused::Done(y) => y,
            Fused::Declined(x) => reference(x),
        }
    }
}

/// One fused linear op `y = x·W (+ b)` as slice arithmetic: the part of a kernel that is specific
/// to a pattern. Every slice is row-major and contiguous.
///
/// The kernel is moved into the backward closure, so it can carry state built once (plans, tables).
pub trait LinearKernel: Send + Sync + 'static {
    /// `y = x·W + b` for `args.n` rows: `args.x` is n×I, `args.y` is n×O and arrives zeroed,
    /// `args.bias` is the effective bias row (O values) when there is one.
    fn forward<F: KernelDtype>(&self, args: Forward<'_, F>);

    /// Accumulates (`+=`) `dx = dy·Wᵀ` into `args.dx` (n×I), the stored values' gradient into
    /// `args.dw` (as many values as stored) and, when `Some`, the column sums of `dy` into `args.db`
    /// (O values, arriving zeroed).
    fn backward<F: KernelDtype>(&self, args: Backward<'_, F>);
}

/// The arguments of [`LinearKernel::forward`].
#[derive(Debug)]
pub struct Forward<'a, F> {
    /// Number of rows.
    pub n: usize,
    /// The input, n×I.
    pub x: &'a [F],
    /// The stored values.
    pub w: &'a [F],
    /// The effective bias row (O values), if any.
    pub bias: Option<&'a [F]>,
    /// The output, n×O, zeroed.
    pub y: &'a mut [F],
}

/// The arguments of [`LinearKernel::backward`].
#[derive(Debug)]
pub struct Backward<'a, F> {
    /// Number of rows.
    pub n: usize,
    /// The input of the forward, n×I.
    pub x: &'a [F],
    /// The stored values.
    pub w: &'a [F],
    /// The gradient of the output, n×O.
    pub dy: &'a [F],
    /// The input's gradient, n×I: accumulate into it.
    pub dx: &'a mut [F],
    /// The stored values' gradient: accumulate into it.
    pub dw: &'a mut [F],
    /// The effective bias row's gradient (O values, zeroed), if there is a bias.
    pub db: Option<&'a mut [F]>,
}

thread_local! {
    static REFERENCE_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Whether fused kernels may run on this thread (they do, unless inside [`with_reference`]).
pub fn enabled() -> bool {
    !REFERENCE_ONLY.with(Cell::get)
}

/// Runs `f` with fused kernels off on this thread: every pattern takes its reference lowering
/// (plain dfdx ops), as on a device without kernels. For testing kernels against it, and for
/// benchmarks.
pub fn with_reference<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            REFERENCE_ONLY.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(REFERENCE_ONLY.with(|r| r.replace(true)));
    f()
}
