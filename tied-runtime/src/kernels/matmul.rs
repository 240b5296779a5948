//! The one matrix multiply behind every product `tied` computes itself: dense fields and their
//! `transpose_of`/`same_as` uses ([`DenseKernel`](super::dense::DenseKernel)), the symmetric
//! blocks, and the table kernel of user patterns.
//!
//! It is `gemm` 0.19 with its `x86-v4` feature: AVX-512 kernels where the CPU has them, chosen at
//! run time, and the AVX2/FMA, SSE or scalar kernels elsewhere (a build needs only a Rust
//! toolchain). dfdx 0.13's own `matmul` still calls `gemm` 0.15, which is 1.6–2.2× slower on the
//! shapes of a B = 64 layer; only a user's own dfdx `Linear` runs there.

use super::KernelDtype;

/// A strided matrix: entry `(p, q)` at `data[p·rs + q·cs]`.
pub(super) struct Mat<T> {
    pub(super) data: T,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

/// Row-major with `stride` values per row (a block of columns when `data` starts inside a row).
pub(super) fn rows_of<T>(data: T, stride: usize) -> Mat<T> {
    Mat {
        data,
        rs: stride,
        cs: 1,
    }
}

/// The transpose of a row-major matrix with `stride` values per row.
pub(super) fn cols_of<T>(data: T, stride: usize) -> Mat<T> {
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

/// `gemm` on every rayon thread.
pub(super) fn all_cores() -> gemm::Parallelism {
    gemm::Parallelism::Rayon(rayon::current_num_threads())
}

/// `dst (m×n) = lhs (m×k) · rhs (k×n)`, or `+=` when `accumulate`, on `par`'s threads.
pub(super) fn gemm_into<E: KernelDtype>(
    dst: Mat<&mut [E]>,
    mnk: (usize, usize, usize),
    lhs: Mat<&[E]>,
    rhs: Mat<&[E]>,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    let dst = Mat {
        data: (dst.data.as_mut_ptr(), dst.data.len()),
        rs: dst.rs,
        cs: dst.cs,
    };
    // SAFETY: `dst` is borrowed mutably: valid, and nothing else reads or writes it meanwhile.
    unsafe { gemm_raw(dst, mnk, lhs, rhs, accumulate, par) }
}

/// [`gemm_into`] into a buffer given as a pointer and its length, so that tasks on several
/// threads can each write their own rectangle of one output.
///
/// # Safety
/// `dst.data` must be valid for reads and writes of its length in values, and while this runs
/// nothing else may access the m×n entries it writes at its strides (other entries may be written
/// by other threads).
pub(super) unsafe fn gemm_raw<E: KernelDtype>(
    dst: Mat<(*mut E, usize)>,
    (m, n, k): (usize, usize, usize),
    lhs: Mat<&[E]>,
    rhs: Mat<&[E]>,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 || (k == 0 && accumulate) {
        return;
    }
    assert!(
        fits(dst.data.1, (m, n), dst.rs, dst.cs)
            && fits(lhs.data.len(), (m, k), lhs.rs, lhs.cs)
            && fits(rhs.data.len(), (k, n), rhs.rs, rhs.cs),
        "gemm operands out of bounds"
    );
    // SAFETY: each matrix lies inside its buffer at its strides (asserted above); the entries of
    // `dst` written are the caller's alone, so they overlap neither operand (shared borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.0,
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            if accumulate { E::one() } else { E::zero() },
            E::one(),
            false,
            false,
            false,
            par,
        )
    }
}
