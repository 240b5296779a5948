//! The unsafe corner: the cast from a generic `(E, D)` to `(f32 | f64, Cpu)`, zero-copy views of
//! dfdx's buffers, and gradient buffers held side by side. Each `unsafe` block says why it holds.

use core::any::TypeId;
use core::marker::PhantomData;
use core::mem::{size_of, ManuallyDrop};

use dfdx::prelude::*;
use dfdx::tensor::{CpuError, Storage};

use super::CpuDtype;

/// Proof that dtype `E` on device `D` is dtype `F` on dfdx's `Cpu`: exists only when the `TypeId`s
/// match, and then converts tensors (and their errors and gradient buffers) between the two
/// spellings of the one type. This is how code generic over `D: Device<E>` reaches a CPU kernel
/// without a new bound on its public signature.
pub struct OnCpu<E, D, F>(PhantomData<Types<E, D, F>>);

/// `OnCpu`'s marker: no values of these types, so `Send`, `Sync` and `'static` like its parameters.
type Types<E, D, F> = fn() -> (E, D, F);

impl<E, D, F> Clone for OnCpu<E, D, F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E, D, F> Copy for OnCpu<E, D, F> {}

/// `value` as a `U`.
///
/// # Safety
/// `T` and `U` must be the same type.
unsafe fn identical<T, U>(value: T) -> U {
    assert_eq!(size_of::<T>(), size_of::<U>());
    let value = ManuallyDrop::new(value);
    // SAFETY: the caller guarantees `T` is `U`; `ManuallyDrop` keeps the value from being dropped
    // twice.
    unsafe { core::ptr::read(&*value as *const T as *const U) }
}

impl<E: Dtype, D: Storage<E>, F: CpuDtype> OnCpu<E, D, F> {
    /// The proof, when `D` is `Cpu` and `E` is `F`.
    pub fn new() -> Option<Self> {
        (TypeId::of::<D>() == TypeId::of::<Cpu>() && TypeId::of::<E>() == TypeId::of::<F>())
            .then_some(OnCpu(PhantomData))
    }

    /// `t` spelled with `F` and `Cpu`.
    pub fn tensor<S: Shape, T>(self, t: Tensor<S, E, D, T>) -> Tensor<S, F, Cpu, T> {
        // SAFETY: `self` exists only when `E` is `F` and `D` is `Cpu`: the same type.
        unsafe { identical(t) }
    }

    /// `t` spelled with `F` and `Cpu`.
    pub fn tensor_ref<S: Shape, T>(self, t: &Tensor<S, E, D, T>) -> &Tensor<S, F, Cpu, T> {
        // SAFETY: as in `tensor`: the same type behind the reference.
        unsafe { identical(t) }
    }

    /// `t` spelled with `E` and `D` again.
    pub fn back<S: Shape, T>(self, t: Tensor<S, F, Cpu, T>) -> Tensor<S, E, D, T> {
        // SAFETY: as in `tensor`.
        unsafe { identical(t) }
    }

    /// A `Cpu` error as `D`'s error type (which is `CpuError`).
    pub fn err(self, err: CpuError) -> D::Err {
        // SAFETY: `D` is `Cpu`, whose `Err` is `CpuError`.
        unsafe { identical(err) }
    }

    /// A gradient buffer of `D` as `Cpu`'s, from [`Gradients::get_or_alloc_mut`].
    pub fn grad(self, v: &mut D::Vec) -> &mut <Cpu as Storage<F>>::Vec {
        // SAFETY: `D` is `Cpu` and `E` is `F`, so `D::Vec` is `<Cpu as Storage<F>>::Vec`.
        unsafe { identical(v) }
    }

    /// Any value mentioning `E`/`D` respelled: `A` must be `B` with `E` replaced by `F` and `D` by
    /// `Cpu` (for instance `FusedBias<E, D>` → `FusedBias<F, Cpu>`).
    ///
    /// # Safety
    /// `B` must be `A` with only those substitutions.
    pub unsafe fn respell<A, B>(self, value: A) -> B {
        // SAFETY: forwarded to the caller.
        unsafe { identical(value) }
    }
}

/// The values of a CPU tensor, row-major, without copying; `None` when the tensor is not laid out
/// row-major (a broadcast or permuted view: make it contiguous first, or copy it with
/// `Tensor::copy_into`).
///
/// dfdx 0.13 keeps a tensor's buffer private, but its `Index` impl is public and returns
/// `&data[i]` for `i = Σ strides·index`. The checks below show, through `Index` itself, that
/// stepping any axis of size > 1 by one moves by the row-major stride, so element `k` (row-major)
/// lives at `&t[0…0] + k`; indexing the last element is bounds-checked by dfdx, so the buffer holds
/// all `numel` values, in one `Vec`. The view borrows `t`, whose buffer (behind an `Arc`) cannot be
/// written while it is borrowed: dfdx writes through `IndexMut`/`Arc::make_mut` only with `&mut`.
/// The view is derived from a reference to the first element: accepted by Rust's Tree Borrows
/// model, not by Stacked Borrows (where it would be `Tensor::copy_into`, a memcpy).
pub fn cpu_slice<S: Shape, F: Dtype, T>(t: &Tensor<S, F, Cpu, T>) -> Option<&[F]> {
    let numel = t.shape().num_elements();
    if numel == 0 {
        return Some(&[]);
    }
    let base: *const F = &t[S::Concrete::default()];
    row_major(t.shape(), base, |index| &t[index] as *const F).then(|| {
        // SAFETY: see the function's documentation: `numel` initialized values from `base` in
        // one allocation, immutable for the borrow of `t`.
        unsafe { core::slice::from_raw_parts(base, numel) }
    })
}

/// Whether `address(index)` is `base + row-major position` for every index of `shape` (checked on
/// one step along each axis and on the last element).
fn row_major<S: Shape, F>(
    shape: &S,
    base: *const F,
    address: impl Fn(S::Concrete) -> *const F,
) -> bool {
    let dims = shape.concrete();
    let mut step = 1;
    for axis in (0..S::NUM_DIMS).rev() {
        if dims[axis] > 1 {
            let mut index = S::Concrete::default();
            index[axis] = 1;
            if address(index) != base.wrapping_add(step) {
                return false;
            }
        }
        step *= dims[axis];
    }
    let mut last = S::Concrete::default();
    for axis in 0..S::NUM_DIMS {
        last[axis] = dims[axis] - 1;
    }
    address(last) == base.wrapping_add(step - 1)
}

/// A new tensor of `shape` from dfdx's allocator (its cache when enabled, so the buffer returns
/// there when dropped), zeroed, then filled by `fill` with its row-major values.
///
/// The buffer is written through `IndexMut` (as `cpu_slice` reads through `Index`): the tensor is
/// fresh, so `Arc::make_mut` hands out its one buffer without copying.
pub fn cpu_output<S: Shape, F: Dtype>(
    dev: &Cpu,
    shape: S,
    fill: impl FnOnce(&mut [F]),
) -> Result<Tensor<S, F, Cpu>, CpuError> {
    let mut t: Tensor<S, F, Cpu> = dev.try_zeros_like(&shape)?;
    let numel = shape.num_elements();
    if numel == 0 {
        fill(&mut []);
        return Ok(t);
    }
    // Fresh tensors are row-major (`shape.strides()`); checked anyway, then the same argument as
    // `cpu_slice` with a unique borrow.
    let first: *const F = &t[S::Concrete::default()];
    let ok = row_major(&shape, first, |index| &t[index] as *const F);
    assert!(ok, "dfdx allocated a tensor that is not row-major");
    let base: *mut F = &mut t[S::Concrete::default()];
    assert_eq!(
        base as *const F, first,
        "dfdx copied a fresh tensor's buffer"
    );
    // SAFETY: `numel` initialized values from `base` in the tensor's one buffer, which nothing else
    // references (fresh tensor, `Arc` count 1, `make_mut` done above) while `fill` runs.
    fill(unsafe { core::slice::from_raw_parts_mut(base, numel) });
    Ok(t)
}

/// A gradient buffer held by pointer, so that several can be used at once in a backward op (one
/// read, others written), as dfdx's own `Gradients::mut_and_ref` does inside dfdx.
///
/// Sound because: each gradient is a separate heap buffer of a `Vec` in `Gradients`' map, keyed
/// by tensor id; inserting other gradients may move the `Vec` structs inside the map, never their
/// heap buffers; so once every gradient an op needs is allocated, the pointers stay valid until the
/// op returns. Buffers of distinct ids are distinct allocations; the same id twice (one tensor
/// passed as two operands) is the same buffer: check [`RawGrad::overlaps`] before taking a mutable
/// and another view.
#[derive(Debug, Clone, Copy)]
pub struct RawGrad<F> {
    ptr: *mut F,
    len: usize,
}

impl<F> RawGrad<F> {
    /// The buffer `v` points to (from [`Gradients::get_or_alloc_mut`] and [`OnCpu::grad`]).
    pub fn of(v: &mut <Cpu as Storage<F>>::Vec) -> Self
    where
        F: Dtype,
    {
        RawGrad {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the two views share memory.
    pub fn overlaps(&self, other: &RawGrad<F>) -> bool {
        let (a, b) = (self.ptr as usize, other.ptr as usize);
        let size = size_of::<F>();
        self.len > 0 && other.len > 0 && a < b + other.len * size && b < a + self.len * size
    }

    /// The buffer, read-only.
    ///
    /// # Safety
    /// No mutable view of an overlapping buffer may be alive, the `Gradients` it came from must not
    /// be used while this is, and the view must not outlive the backward op.
    pub unsafe fn slice<'a>(&self) -> &'a [F] {
        // SAFETY: forwarded to the caller.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The buffer, writable.
    ///
    /// # Safety
    /// As [`RawGrad::slice`], and no other view of an overlapping buffer may be alive.
    pub unsafe fn slice_mut<'a>(&self) -> &'a mut [F] {
        // SAFETY: forwarded to the caller.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}
