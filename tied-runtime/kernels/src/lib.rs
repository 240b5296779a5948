//! The slice kernels of `tied`'s patterns, framework-free: each pattern's `y = x·W (+ b)` and its
//! backward as arithmetic on row-major slices ([`LinearKernel`]), and the matrix multiply every
//! product runs on ([`matmul`]). The dfdx front end (`tied-dfdx`) registers them on dfdx's tape;
//! the Burn front end (`tied-burn`, feature `flex`) on Burn's autodiff tape for the Flex backend.
//! A kernel is written once, here, and tested against each framework's portable ops.
//!
//! - [`fold`]: the broadcast family (`rows`, `cols`, `scalar`, `tile`, `block`): fold `x`, a small
//!   product, spread;
//! - [`fft`]: Toeplitz, circulant and Hankel as one correlation per row, by FFT or directly;
//! - [`band`]: `banded`; [`diagonal`]: `diagonal`;
//! - [`dense`]: dense weights and their transposes; [`symmetric`]: the packed triangle by blocks;
//! - [`matmul`]: faer's multiply, the one every product calls; [`par`] and [`util`]: threads and
//!   shared arithmetic;
//! - [`kernel_for`]: a pattern's structure (`tied_patterns::Structure`) to its kernel, the one
//!   choice both front ends make.

pub mod band;
pub mod dense;
pub mod diagonal;
pub mod fft;
pub mod fold;
mod kernel;
pub mod matmul;
pub mod par;
pub mod symmetric;
pub mod util;

use core::cell::Cell;

pub use kernel::{kernel_for, Kernel};

/// The dtypes kernels are written for: `f32` and `f64` (the dtypes dispatched to a kernel).
///
/// Kernels are generic over it; add a bound here if a kernel needs more of its dtype (both `f32` and
/// `f64` must provide it).
pub trait KernelDtype:
    Copy
    + Default
    + core::fmt::Debug
    + num_traits::Float
    + core::iter::Sum
    + core::ops::AddAssign
    + Send
    + Sync
    + 'static
    + rustfft::FftNum
    + faer::traits::ComplexField
    + faer::traits::Conjugate<Canonical = Self>
{
}
impl KernelDtype for f32 {}
impl KernelDtype for f64 {}

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
/// (the framework's own ops), as on a device without kernels. For testing kernels against it, and for
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
