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

mod cpu;
pub mod index;
mod linear;
mod map;

use dfdx::prelude::*;

use crate::Batch;

// The slice kernels live in `tied-kernels` (framework-free, shared with the Burn front end); the
// modules stay reachable here under their old paths.
pub use tied_kernels::{band, dense, diagonal, fft, par, symmetric};
pub use tied_kernels::{enabled, with_reference, Backward, Forward, KernelDtype, LinearKernel};

pub use cpu::{cpu_output, cpu_slice, OnCpu, RawGrad};

/// A kernel dtype (`f32`, `f64`) that is also a dfdx dtype: what the glue between dfdx's tensors
/// and the slice kernels is generic over.
pub trait CpuDtype: KernelDtype + Dtype {}
impl CpuDtype for f32 {}
impl CpuDtype for f64 {}
pub use index::forget_index_tables;
pub use linear::{try_fused_linear, BiasIndex, FusedBias, KernelBias};
pub use map::{try_fused_map, MapKernel};

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
