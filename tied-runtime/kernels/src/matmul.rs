//! The one matrix multiply behind every product `tied` computes itself: dense fields and their
//! `transpose_of`/`same_as` uses ([`DenseKernel`](super::dense::DenseKernel)), the symmetric
//! blocks, and the table kernel of user patterns.
//!
//! It is `faer`'s `matmul` (0.24): its AVX-512 kernels where the CPU has them, chosen at run time,
//! then AVX2/FMA, then `gemm` 0.19's portable kernels (a build needs only a Rust toolchain). On a
//! B = 64 layer's shapes it is 1.3× faster than `gemm` 0.19 on `x·W` and 2.5× faster on `dy·Wᵀ`,
//! whose right operand is read by columns (`gemm` 0.19: 20.3 ms at 64×4096×4096, `faer`: 7.9 ms,
//! 2 threads). dfdx 0.13's own `matmul` still calls `gemm` 0.15; only a user's own dfdx `Linear`
//! runs there.

use faer::{Accum, MatMut, MatRef};

use crate::KernelDtype;

/// A strided matrix: entry `(p, q)` at `data[p·rs + q·cs]`.
pub struct Mat<T> {
    pub data: T,
    pub rs: usize,
    pub cs: usize,
}

/// Row-major with `stride` values per row (a block of columns when `data` starts inside a row).
pub fn rows_of<T>(data: T, stride: usize) -> Mat<T> {
    Mat {
        data,
        rs: stride,
        cs: 1,
    }
}

/// The transpose of a row-major matrix with `stride` values per row.
pub fn cols_of<T>(data: T, stride: usize) -> Mat<T> {
    Mat {
        data,
        rs: 1,
        cs: stride,
    }
}

/// Whether an m×n matrix at these strides lies inside `len` values.
fn fits(len: usize, (m, n): (usize, usize), rs: usize, cs: usize) -> bool {
    m == 0 || n == 0 || (m - 1) * rs + (n - 1) * cs < len
}

/// How many threads one product may use.
pub use faer::Par;

/// Products smaller than this many multiply-adds (`m·n·k`) run on one thread whatever `par` says:
/// below it, faer's parallel start costs more than it saves. Measured here (2 threads, f32):
/// 32×64×16 took 8.2 µs on two threads and 0.5 µs on one, 128×192×32 23 against 7 µs,
/// 128×192×384 with the right operand by columns 102 against 76 µs; from 64×1024×256 (2²⁴) on,
/// two threads win.
const PARALLEL_FROM: usize = 1 << 24;

/// One product on every rayon thread (when it is large enough to gain from them).
pub fn all_cores() -> Par {
    Par::rayon(rayon::current_num_threads())
}

/// `dst (m×n) = lhs (m×k) · rhs (k×n)`, or `+=` when `accumulate`, on `par`'s threads.
pub fn matmul_into<E: KernelDtype>(
    dst: Mat<&mut [E]>,
    mnk: (usize, usize, usize),
    lhs: Mat<&[E]>,
    rhs: Mat<&[E]>,
    accumulate: bool,
    par: Par,
) {
    let dst = Mat {
        data: (dst.data.as_mut_ptr(), dst.data.len()),
        rs: dst.rs,
        cs: dst.cs,
    };
    // SAFETY: `dst` is borrowed mutably: valid, and nothing else reads or writes it meanwhile.
    unsafe { matmul_raw(dst, mnk, lhs, rhs, accumulate, par) }
}

/// [`matmul_into`] into a buffer given as a pointer and its length, so that tasks on several
/// threads can each write their own rectangle of one output.
///
/// # Safety
/// `dst.data` must be valid for reads and writes of its length in values, and while this runs
/// nothing else may access the m×n entries it writes at its strides (other entries may be written
/// by other threads).
pub unsafe fn matmul_raw<E: KernelDtype>(
    dst: Mat<(*mut E, usize)>,
    mnk: (usize, usize, usize),
    lhs: Mat<&[E]>,
    rhs: Mat<&[E]>,
    accumulate: bool,
    par: Par,
) {
    // SAFETY: the caller's contract is this one's.
    unsafe { matmul_raw_scaled(dst, mnk, lhs, rhs, accumulate, E::one(), par) }
}

/// `dst (m×n) = alpha·lhs (m×k)·rhs (k×n)`, or `+=` when `accumulate`: [`matmul_into`] with a
/// scale (a packed triangle's sign).
pub fn matmul_scaled_into<E: KernelDtype>(
    dst: Mat<&mut [E]>,
    mnk: (usize, usize, usize),
    lhs: Mat<&[E]>,
    rhs: Mat<&[E]>,
    accumulate: bool,
    alpha: E,
    par: Par,
) {
    let dst = Mat {
        data: (dst.data.as_mut_ptr(), dst.data.len()),
        rs: dst.rs,
        cs: dst.cs,
    };
    // SAFETY: `dst` is borrowed mutably: valid, and nothing else reads or writes it meanwhile.
    unsafe { matmul_raw_scaled(dst, mnk, lhs, rhs, accumulate, alpha, par) }
}

/// [`matmul_raw`] with a scale `alpha` on the product.
///
/// # Safety
/// As [`matmul_raw`].
pub unsafe fn matmul_raw_scaled<E: KernelDtype>(
    dst: Mat<(*mut E, usize)>,
    (m, n, k): (usize, usize, usize),
    lhs: Mat<&[E]>,
    rhs: Mat<&[E]>,
    accumulate: bool,
    alpha: E,
    par: Par,
) {
    if m == 0 || n == 0 || (k == 0 && accumulate) {
        return;
    }
    assert!(
        fits(dst.data.1, (m, n), dst.rs, dst.cs)
            && fits(lhs.data.len(), (m, k), lhs.rs, lhs.cs)
            && fits(rhs.data.len(), (k, n), rhs.rs, rhs.cs),
        "matmul operands out of bounds"
    );
    let stride = |s: usize| isize::try_from(s).expect("a stride inside a slice fits in isize");
    // SAFETY: each matrix lies inside its buffer at its strides (asserted above); the entries of
    // `dst` written are the caller's alone, so they overlap neither operand (shared borrows).
    let (dst, lhs, rhs) = unsafe {
        (
            MatMut::from_raw_parts_mut(dst.data.0, m, n, stride(dst.rs), stride(dst.cs)),
            MatRef::from_raw_parts(lhs.data.as_ptr(), m, k, stride(lhs.rs), stride(lhs.cs)),
            MatRef::from_raw_parts(rhs.data.as_ptr(), k, n, stride(rhs.rs), stride(rhs.cs)),
        )
    };
    let par = if m * n * k < PARALLEL_FROM {
        Par::Seq
    } else {
        par
    };
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    faer::linalg::matmul::matmul(dst, beta, lhs, rhs, alpha, par);
    clear_upper_vector_state();
}

/// Clears the upper halves of the vector registers after faer's AVX-512 kernels, which return
/// without `vzeroupper`. Left dirty, they slowed every following SSE op of dfdx (its element-wise
/// kernels, libm's `expf`): `digits`' training step took 52 µs instead of 18.
#[inline]
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked above), which is all `vzeroupper` needs; it changes no
        // value a Rust program can hold across this call (only the registers' upper halves).
        unsafe { core::arch::x86_64::_mm256_zeroupper() }
    }
}
