//! Tie patterns: how the distinct stored values fill an effective weight `W` (I×O, `y = x·W`), and the
//! lowering of `x·W` for each.
//!
//! Two families:
//! - **broadcast** (`Rows`, `Cols`, `Scalar`, `Tile`, `Block`): `x·W` is computed from the
//!   structure, in O(n·(I + O)) plus a small matmul with the stored block, never building `W`;
//! - **index** (`Toeplitz`, `Circulant`, `Hankel`, `Symmetric`, `Skew`, `Banded`, and your own
//!   patterns):
//!   on the CPU, fused kernels: an FFT (or direct) correlation for Toeplitz, circulant and Hankel,
//!   a direct band kernel for banded, cache-sized blocks of the packed triangle for symmetric and
//!   the triangular patterns, `W`
//!   materialized on all cores and multiplied for the rest (see [`crate::kernels`]); elsewhere, and as the reference, `W` is gathered from the stored
//!   values by [`Tie::index`] and multiplied densely.
//!
//! On dfdx's `Cpu` (f32, f64) the broadcast family runs as fused kernels with their own backward
//! ([`crate::kernels`]); the dfdx-op lowerings below are the reference they are tested against and
//! what other devices run. Either way a stored value's gradient is the sum over all its copies,
//! under any tape and any thread count. No lowering hands `matmul` a stride-0 (broadcast) view:
//! dfdx 0.13's CPU `matmul` backward races through one.

use dfdx::prelude::*;

use crate::kernels::index::{table_kernel, table_of, MaterializedKernel, WholeWeight};
use crate::kernels::{
    try_fused_linear, try_fused_map, Fused, FusedBias, FusedLinear, LinearKernel,
};
use crate::Batch;

/// Why a pattern cannot be used: the first problem [`check_pattern`] finds (the framework-free
/// check's error, in the words the Burn front end uses too).
pub use tied_patterns::MapError as PatternError;

/// A tie pattern for an effective weight of `I` inputs × `O` outputs.
///
/// A pattern says which stored value each effective entry `W[i, j]` is ([`Tie::index`]); that alone
/// defines it, and the provided [`Tie::try_effective`] and [`Tie::try_apply`] gather `W` from it.
/// Patterns with structure override `try_apply` to compute `x·W` without building `W`.
///
/// # A pattern of your own
///
/// ```
/// use dfdx::prelude::*;
/// use tied_dfdx::{check_pattern, Picture, PictureOf, Tie};
///
/// /// A checkerboard: two values, alternating.
/// pub struct Checkerboard;
///
/// impl<const I: usize, const O: usize> Tie<I, O> for Checkerboard {
///     type Stored = Rank1<2>;
///     const NAME: &'static str = "checkerboard";
///     fn index(i: usize, j: usize) -> Option<usize> {
///         Some((i + j) % 2)
///     }
/// }
///
/// assert!(check_pattern::<Checkerboard, 3, 3>().is_ok());
/// assert_eq!(Picture::of::<Checkerboard, 3, 3>("W", "w").label(0, 1), "w2");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tie pattern for a {I}×{O} weight: it does not implement `tied::Tie<{I}, {O}>`",
    label = "not a `Tie<{I}, {O}>`",
    note = "a pattern implements `tied::Tie<I, O>` for every size it is used at, usually all of them: \
            `impl<const I: usize, const O: usize> Tie<I, O> for {Self} {{ type Stored = ..; \
            const NAME: &'static str = ..; fn index(i: usize, j: usize) -> Option<usize> {{ .. }} }}`"
)]
pub trait Tie<const I: usize, const O: usize>: Sized + 'static {
    /// The shape of the stored distinct values.
    type Stored: ConstShape;

    /// The pattern's name in attributes and pictures (`rows`, `toeplitz`, ...).
    const NAME: &'static str;

    /// Fails to evaluate, naming the sizes, where the stored values cannot fit an `I`×`O` weight
    /// (a built-in pattern's stated size against its rule in `tied_patterns`). Every built-in
    /// pattern's `index` and lowerings reference it, so a wrong size is a compile-time error
    /// however the pattern is used, with or without the macro.
    #[doc(hidden)]
    const SIZE_CHECK: () = ();

    /// The position, in the stored values (row-major), of effective entry `W[i, j]`, or `None`
    /// where `W` is a structural zero (outside a band, say).
    ///
    /// Every position must be below the number of stored values and every stored value must be
    /// used: [`check_pattern`] verifies it, and a generated layer refuses to build otherwise.
    ///
    /// It must be a pure function of `(i, j)`: on the CPU the runtime builds a compact table from
    /// it once per (pattern, I, O) and reuses it (see
    /// [`kernels::forget_index_tables`](crate::kernels::forget_index_tables)).
    fn index(i: usize, j: usize) -> Option<usize>;

    /// Whether `W[i, j]` is its stored value negated (a signed tie: `skew` below its diagonal),
    /// rather than the value itself. Read only where [`Tie::SIGNED`] is `true`. The provided
    /// version says no.
    fn negated(i: usize, j: usize) -> bool {
        let _ = (i, j);
        false
    }

    /// Whether some entry is negated ([`Tie::negated`]): the gathers then apply the signs, and
    /// the unsigned CPU table kernels decline. `false` unless the pattern says otherwise.
    #[doc(hidden)]
    const SIGNED: bool = false;

    /// `y = x·W` for a batch of `n` input rows, with gradients for `x` and the stored values.
    ///
    /// The result is contiguous, so it can go into `matmul` safely. The provided version runs the
    /// pattern's fused kernel ([`Tie::try_apply_fused`]) where there is one; otherwise, on the CPU,
    /// it materializes `W` on all cores from a `u32` table of [`Tie::index`] (built once per
    /// pattern and size) and multiplies, and elsewhere gathers `W` and multiplies.
    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        let () = Self::SIZE_CHECK;
        Self::try_apply_fused(x, stored, None).or_else(|x| {
            let table = table_kernel::<Self, I, O, E, D>();
            fold_fused::<I, O, _, _, _, _>(table, x, stored, None).or_else(|x| {
                let w = Self::try_effective(stored.retaped::<T>())?;
                x.try_matmul(w)
            })
        })
    }

    /// The built-in map this pattern is (`None` for a pattern of your own): its
    /// [`Structure`](tied_patterns::Structure) picks the fused kernel
    /// ([`tied_kernels::kernel_for`]) of the provided [`Tie::try_apply_fused`].
    #[doc(hidden)]
    const MAP: Option<tied_patterns::Map> = None;

    /// `x·W (+ b)` by a fused CPU kernel (see [`crate::kernels`]), or `Declined(x)` where the
    /// pattern has none for this device and dtype: the caller then runs [`Tie::try_apply`].
    /// The provided version runs the kernel of a built-in's structure ([`Tie::MAP`]) and
    /// otherwise declines, so a pattern's own `try_apply` (a structure-aware lowering of yours) is
    /// what runs, never bypassed by a generic kernel.
    #[doc(hidden)]
    fn try_apply_fused<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
        bias: Option<&FusedBias<E, D>>,
    ) -> FusedLinear<I, O, E, D, T> {
        builtin_fused::<Self, I, O, I, O, E, D, T>(false, x, stored, bias)
    }

    /// `x·Wᵀ (+ b)` by a fused CPU kernel, or `Declined(x)`: [`Tie::try_apply_fused`] for
    /// [`Tie::try_apply_transposed`].
    #[doc(hidden)]
    fn try_apply_transposed_fused<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
        bias: Option<&FusedBias<E, D>>,
    ) -> FusedLinear<O, I, E, D, T> {
        builtin_fused::<Self, I, O, O, I, E, D, T>(true, x, stored, bias)
    }

    /// `x·W`, possibly as a broadcast (stride-0) view, for [`crate::try_apply_biased`] to add a
    /// bias to before anything else sees it: saves a copy where the result is a broadcast. Never
    /// hand its result to `matmul`. The provided version is [`Tie::try_apply`].
    #[doc(hidden)]
    fn try_apply_view<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        Self::try_apply(x, stored)
    }

    /// The effective weight, materialized and contiguous, on `stored`'s tape: safe to pass to
    /// `matmul`. The provided version gathers it through [`Tie::index`].
    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Self::Stored, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        gather_effective::<Self, I, O, E, D, T>(stored)
    }

    /// `y = x·Wᵀ` (`O` features in, `I` out): the lowering of a weight declared
    /// `transpose_of` this one. The provided version runs the fused kernel
    /// ([`Tie::try_apply_transposed_fused`]) where there is one, then the table kernel of
    /// [`Tie::try_apply`] transposed, and otherwise materializes `Wᵀ` contiguously and
    /// multiplies; structured patterns compute it from the structure.
    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        Self::try_apply_transposed_fused(x, stored, None).or_else(|x| {
            let table = table_kernel::<Self, I, O, E, D>().map(MaterializedKernel::transposed);
            fold_fused::<O, I, _, _, _, _>(table, x, stored, None).or_else(|x| {
                let w = Self::try_effective(stored.retaped::<T>())?;
                x.try_matmul(contiguous(w.try_permute::<Rank2<O, I>, _>()?)?)
            })
        })
    }
}

/// The transpose of pattern `P`: `W[i, j] = Wₚ[j, i]` on the same stored values. A weight declared
/// `#[tied(transpose_of = other)]` uses it, so both weights share one stored tensor (a tied
/// autoencoder's decoder, a language model's output head tied to its embedding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transposed<P>(core::marker::PhantomData<P>);

impl<const I: usize, const O: usize, P: Tie<O, I>> Tie<I, O> for Transposed<P> {
    type Stored = P::Stored;
    const NAME: &'static str = "transpose";
    const SIZE_CHECK: () = P::SIZE_CHECK;

    const SIGNED: bool = P::SIGNED;

    fn index(i: usize, j: usize) -> Option<usize> {
        P::index(j, i)
    }

    fn negated(i: usize, j: usize) -> bool {
        P::negated(j, i)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        P::try_apply_transposed(x, stored)
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Self::Stored, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        contiguous(P::try_effective(stored)?.try_permute::<Rank2<I, O>, _>()?)
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        P::try_apply(x, stored)
    }

    fn try_apply_fused<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
        bias: Option<&FusedBias<E, D>>,
    ) -> FusedLinear<I, O, E, D, T> {
        P::try_apply_transposed_fused(x, stored, bias)
    }

    fn try_apply_transposed_fused<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Self::Stored, E, D>,
        bias: Option<&FusedBias<E, D>>,
    ) -> FusedLinear<O, I, E, D, T> {
        P::try_apply_fused(x, stored, bias)
    }
}

/// Checks that pattern `P` stores at least one value, maps every entry of an I×O weight into its
/// stored values and uses each stored value at least once.
pub fn check_pattern<P: Tie<I, O>, const I: usize, const O: usize>() -> Result<(), PatternError> {
    tied_patterns::check_map(P::NAME, I, O, <P::Stored as ConstShape>::NUMEL, P::index)
}

/// `W` gathered from the stored values through `P::index`; structural zeros are masked out, and
/// negated entries ([`Tie::negated`]) multiplied by −1.
///
/// On dfdx's `Cpu` (f32, f64) `W` is written on all cores from the pattern's shared `u32` index
/// table (built once per pattern and size) by one op whose backward folds `dW` into the stored
/// values. Elsewhere, and as the reference ([`crate::kernels::with_reference`]), it is dfdx's
/// `gather` on a `usize` index tensor; gather's CPU backward accumulates sequentially, so the
/// copies' gradients sum exactly.
///
/// # Panics
///
/// Where `P::index` is past the stored values (a pattern [`check_pattern`] refuses, so never for a
/// built layer): gathering it would read out of bounds, and a zero there would be a wrong answer.
pub fn gather_effective<P, const I: usize, const O: usize, E, D, T>(
    stored: Tensor<P::Stored, E, D, T>,
) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err>
where
    P: Tie<I, O>,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    let stored = match table_of::<P, I, O, E, D>() {
        Some(table) => {
            let shape = (Const::<I>, Const::<O>);
            match try_fused_map(stored, shape, WholeWeight(table)) {
                Fused::Done(w) => return w,
                Fused::Declined(stored) => stored,
            }
        }
        None => stored,
    };
    let dev = stored.device().clone();
    let numel = <P::Stored as ConstShape>::NUMEL;
    if numel == 0 {
        panic!("tied: {}", PatternError::NothingStored { pattern: P::NAME });
    }
    let mut index = Vec::with_capacity(I * O);
    let mut mask = Vec::with_capacity(I * O);
    for i in 0..I {
        for j in 0..O {
            match P::index(i, j) {
                // Never a silent zero: every build of a layer runs `check_pattern`, so only a
                // pattern used outside a built layer gets here, and that is a bug to stop at.
                Some(k) if k >= numel => panic!(
                    "tied: {}",
                    PatternError::OutOfRange {
                        pattern: P::NAME,
                        i,
                        j,
                        index: k,
                        stored: numel,
                    }
                ),
                Some(k) => {
                    index.push(k);
                    mask.push(if P::SIGNED && P::negated(i, j) {
                        E::default() - E::ONE
                    } else {
                        E::ONE
                    });
                }
                None => {
                    index.push(0);
                    mask.push(E::default());
                }
            }
        }
    }
    let flat: Tensor<(usize,), E, D, T> = stored.try_reshape_like(&(numel,))?;
    let index: Tensor<(usize,), usize, D> = dev.try_tensor_from_vec(index, (I * O,))?;
    let gathered: Tensor<(usize,), E, D, T> = flat.try_gather(index)?;
    let w = gathered.try_reshape_like(&(Const::<I>, Const::<O>))?;
    if mask.iter().all(|m| *m == E::ONE) {
        Ok(w)
    } else {
        let mask: Tensor<Rank2<I, O>, E, D> = dev.try_tensor_from_vec(mask, (Const, Const))?;
        w.try_mul(mask)
    }
}

/// `t` materialized contiguously (a copy with a sequential backward when `t` is a view).
fn contiguous<S: Shape, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    t: Tensor<S, E, D, T>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    t.try_contiguous()
}

/// `x·W (+ b)` by a fused kernel (the broadcast family's fold kernel, an index-family kernel),
/// when there is one for these sizes.
fn fold_fused<
    const IN: usize,
    const OUT: usize,
    S: Shape,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
>(
    kernel: Option<impl LinearKernel>,
    x: Batch<IN, E, D, T>,
    stored: &Tensor<S, E, D>,
    bias: Option<&FusedBias<E, D>>,
) -> FusedLinear<IN, OUT, E, D, T> {
    match kernel {
        Some(kernel) => try_fused_linear::<_, IN, OUT, _, _, _, _>(x, stored, bias, kernel),
        None => Fused::Declined(x),
    }
}

/// `x·W (+ b)`, or `x·Wᵀ (+ b)` when `transposed`, by the kernel of the structure of `P`'s
/// built-in map ([`tied_kernels::kernel_for`], the one Burn's Flex ops take too), when `P` is a
/// built-in whose stored values fit its structure at `I`×`O`; otherwise declined.
fn builtin_fused<P, const I: usize, const O: usize, const IN: usize, const OUT: usize, E, D, T>(
    transposed: bool,
    x: Batch<IN, E, D, T>,
    stored: &Tensor<P::Stored, E, D>,
    bias: Option<&FusedBias<E, D>>,
) -> FusedLinear<IN, OUT, E, D, T>
where
    P: Tie<I, O>,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    // No `P::SIZE_CHECK` here: every caller's path references it already (a second reference
    // only repeats the compile error's notes), and a stored length that does not fit the
    // structure declines the kernel below.
    let kernel = P::MAP
        .map(|map| map.structure(I, O))
        .filter(|s| s.stored_len(I, O) == Some(<P::Stored as ConstShape>::NUMEL))
        .and_then(|s| tied_kernels::kernel_for(s, I, O, transposed))
        .map(|kernel| kernel.keeping(T::OWNS_TAPE));
    fold_fused::<IN, OUT, _, _, _, _>(kernel, x, stored, bias)
}

/// No tie: every entry of `W` is its own parameter (a plain `Linear` weight, stored I×O).
///
/// On the CPU its kernel ([`DenseKernel`](crate::kernels::dense::DenseKernel)) is one op on the
/// current `gemm`, bias included, both ways (`x·W` and, for a `transpose_of` use, `x·Wᵀ`);
/// elsewhere it is dfdx's `matmul`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dense;

impl<const I: usize, const O: usize> Tie<I, O> for Dense {
    type Stored = Rank2<I, O>;
    const NAME: &'static str = "dense";
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Dense);

    fn index(i: usize, j: usize) -> Option<usize> {
        tied_patterns::Map::Dense.index(I, O, i, j)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank2<I, O>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_fused(x, stored, None).or_else(|x| {
            // The stored weight is contiguous, never a broadcast view: matmul is safe here.
            x.try_matmul(stored.retaped::<T>())
        })
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank2<I, O>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        contiguous(stored)
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank2<I, O>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_transposed_fused(x, stored, None).or_else(|x| {
            // A permuted view swaps strides but never has a zero stride: this is exactly how
            // dfdx's own `Linear` multiplies by its (O×I-stored) weight.
            x.try_matmul(stored.retaped::<T>().try_permute::<Rank2<O, I>, _>()?)
        })
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
    const NAME: &'static str = tied_patterns::ROWS.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Rows);

    fn index(i: usize, j: usize) -> Option<usize> {
        tied_patterns::Map::Rows.index(I, O, i, j)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<I>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_fused(x, stored, None)
            .or_else(|x| contiguous(<Self as Tie<I, O>>::try_apply_view(x, stored)?))
    }

    fn try_apply_view<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<I>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        let n = x.shape().0;
        let w = stored.retaped::<T>().try_broadcast_like(x.shape())?;
        let dot: Tensor<(usize,), E, D, T> = x.try_mul(w)?.try_sum()?;
        dot.try_broadcast_like(&(n, Const::<O>))
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank1<I>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        contiguous(stored.try_broadcast::<Rank2<I, O>, Axis<1>>()?)
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank1<I>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        // Wᵀ[j, i] = w[i]: a cols tie of the transposed shape.
        <Cols as Tie<O, I>>::try_apply(x, stored)
    }
}

/// Every column of `W` is one value: `W[i, j] = w[j]`, `O` stored values.
///
/// Lowering: `y[n, j] = (Σ_i x[n, i])·w[j]`: O(n·(I + O)), no I×O tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cols;

impl<const I: usize, const O: usize> Tie<I, O> for Cols {
    type Stored = Rank1<O>;
    const NAME: &'static str = tied_patterns::COLS.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Cols);

    fn index(i: usize, j: usize) -> Option<usize> {
        tied_patterns::Map::Cols.index(I, O, i, j)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<O>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_fused(x, stored, None).or_else(|x| {
            let n = x.shape().0;
            let total: Tensor<(usize,), E, D, T> = x.try_sum()?;
            let total = total.try_broadcast_like(&(n, Const::<O>))?;
            let w = stored.retaped::<T>().try_broadcast_like(&(n, Const::<O>))?;
            total.try_mul(w)
        })
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank1<O>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        contiguous(stored.try_broadcast::<Rank2<I, O>, Axis<0>>()?)
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank1<O>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        // Wᵀ[j, i] = w[j]: a rows tie of the transposed shape.
        <Rows as Tie<O, I>>::try_apply(x, stored)
    }
}

/// Every entry of `W` is the same value: one stored value.
///
/// Lowering: `y[n, j] = (Σ_i x[n, i])·w`: O(n·(I + O)), no I×O tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scalar;

impl<const I: usize, const O: usize> Tie<I, O> for Scalar {
    type Stored = Rank1<1>;
    const NAME: &'static str = tied_patterns::SCALAR.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Scalar);

    fn index(i: usize, j: usize) -> Option<usize> {
        tied_patterns::Map::Scalar.index(I, O, i, j)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<1>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_fused(x, stored, None)
            .or_else(|x| contiguous(<Self as Tie<I, O>>::try_apply_view(x, stored)?))
    }

    fn try_apply_view<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<1>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        let n = x.shape().0;
        let total: Tensor<(usize,), E, D, T> = x.try_sum()?;
        let w: Tensor<(usize,), E, D, T> = stored
            .retaped::<T>()
            .try_reshape::<Rank0>()?
            .try_broadcast_like(&(n,))?;
        total.try_mul(w)?.try_broadcast_like(&(n, Const::<O>))
    }

    fn try_effective<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        stored: Tensor<Rank1<1>, E, D, T>,
    ) -> Result<Tensor<Rank2<I, O>, E, D, T>, D::Err> {
        contiguous(
            stored
                .try_reshape::<Rank0>()?
                .try_broadcast::<Rank2<I, O>, Axes2<0, 1>>()?,
        )
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank1<1>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        <Scalar as Tie<O, I>>::try_apply(x, stored)
    }
}

/// A small `R`×`C` matrix `V` repeated `I/R` × `O/C` times (PyTorch's `V.repeat(I/R, O/C)`):
/// `W[i, j] = V[i mod R, j mod C]`. `R` must divide `I` and `C` divide `O`.
///
/// Lowering: fold `x` into `R` sums (`Σ_a x[n, a·R + r]`), multiply by `V` (R×C), and repeat the
/// `C` results over the outputs: O(n·(I + R·C + O)), no I×O tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tile<const R: usize, const C: usize>;

impl<const I: usize, const O: usize, const R: usize, const C: usize> Tie<I, O> for Tile<R, C> {
    type Stored = Rank2<R, C>;
    const NAME: &'static str = tied_patterns::TILE.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Tile { r: R, c: C });
    const SIZE_CHECK: () = tied_patterns::TILE.assert_fits(I, O, &[R, C]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Tile { r: R, c: C }.index(I, O, i, j)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank2<R, C>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_fused(x, stored, None)
            .or_else(|x| tile_apply::<I, O, R, C, E, D, T>(x, stored.retaped::<T>()))
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank2<R, C>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_transposed_fused(x, stored, None).or_else(|x| {
            // Wᵀ tiles Vᵀ: a permuted (never stride-0) view of the stored V.
            let vt = stored.retaped::<T>().try_permute::<Rank2<C, R>, _>()?;
            tile_apply::<O, I, C, R, E, D, T>(x, vt)
        })
    }
}

/// `x·W` for `W` = `v` (R×C) tiled over IN×OUT.
fn tile_apply<const IN: usize, const OUT: usize, const R: usize, const C: usize, E, D, T>(
    x: Batch<IN, E, D, T>,
    v: Tensor<Rank2<R, C>, E, D, T>,
) -> Result<Batch<OUT, E, D, T>, D::Err>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    let () = <Tile<R, C> as Tie<IN, OUT>>::SIZE_CHECK;
    let n = x.shape().0;
    let folded: Tensor<(usize, usize, Const<R>), E, D, T> =
        x.try_reshape_like(&(n, IN / R, Const::<R>))?;
    let folded: Batch<R, E, D, T> = folded.try_sum::<(usize, Const<R>), Axis<1>>()?;
    let small: Batch<C, E, D, T> = folded.try_matmul(v)?;
    let repeated: Tensor<(usize, usize, Const<C>), E, D, T> =
        small.try_broadcast_like::<_, Axis<1>>(&(n, OUT / C, Const::<C>))?;
    repeated.try_reshape_like(&(n, Const::<OUT>))
}

/// Each stored value fills a block (PyTorch's `V.repeat_interleave`): `V` is `R`×`C` and
/// `W[i, j] = V[i / (I/R), j / (O/C)]`. `R` must divide `I` and `C` divide `O`.
///
/// Lowering: sum `x` over each block of `I/R` inputs, multiply by `V` (R×C), and spread each of
/// the `C` results over its `O/C` outputs: O(n·(I + R·C + O)), no I×O tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Block<const R: usize, const C: usize>;

impl<const I: usize, const O: usize, const R: usize, const C: usize> Tie<I, O> for Block<R, C> {
    type Stored = Rank2<R, C>;
    const NAME: &'static str = tied_patterns::BLOCK.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Block { r: R, c: C });
    const SIZE_CHECK: () = tied_patterns::BLOCK.assert_fits(I, O, &[R, C]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Block { r: R, c: C }.index(I, O, i, j)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank2<R, C>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_fused(x, stored, None)
            .or_else(|x| block_apply::<I, O, R, C, E, D, T>(x, stored.retaped::<T>()))
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank2<R, C>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        <Self as Tie<I, O>>::try_apply_transposed_fused(x, stored, None).or_else(|x| {
            // Wᵀ spreads Vᵀ in blocks: a permuted (never stride-0) view of the stored V.
            let vt = stored.retaped::<T>().try_permute::<Rank2<C, R>, _>()?;
            block_apply::<O, I, C, R, E, D, T>(x, vt)
        })
    }
}

/// `x·W` for `W` = each entry of `v` (R×C) filling an (IN/R)×(OUT/C) block.
fn block_apply<const IN: usize, const OUT: usize, const R: usize, const C: usize, E, D, T>(
    x: Batch<IN, E, D, T>,
    v: Tensor<Rank2<R, C>, E, D, T>,
) -> Result<Batch<OUT, E, D, T>, D::Err>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    let () = <Block<R, C> as Tie<IN, OUT>>::SIZE_CHECK;
    let n = x.shape().0;
    let blocks: Tensor<(usize, Const<R>, usize), E, D, T> =
        x.try_reshape_like(&(n, Const::<R>, IN / R))?;
    let sums: Batch<R, E, D, T> = blocks.try_sum::<(usize, Const<R>), Axis<2>>()?;
    let small: Batch<C, E, D, T> = sums.try_matmul(v)?;
    let spread: Tensor<(usize, Const<C>, usize), E, D, T> =
        small.try_broadcast_like::<_, Axis<2>>(&(n, Const::<C>, OUT / C))?;
    spread.try_reshape_like(&(n, Const::<OUT>))
}

/// Constant along each diagonal: `W[i, j] = v[i − j + O − 1]`, `K = I + O − 1` stored values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Toeplitz<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for Toeplitz<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = tied_patterns::TOEPLITZ.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Toeplitz);
    const SIZE_CHECK: () = tied_patterns::TOEPLITZ.assert_fits(I, O, &[K]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Toeplitz.index(I, O, i, j)
    }
}

/// Each row is the previous one rotated right by one: square `N`×`N`,
/// `W[i, j] = v[(j − i) mod N]`, `N` stored values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Circulant;

impl<const I: usize, const O: usize> Tie<I, O> for Circulant {
    type Stored = Rank1<O>;
    const NAME: &'static str = tied_patterns::CIRCULANT.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Circulant);
    const SIZE_CHECK: () = tied_patterns::CIRCULANT.assert_fits(I, O, &[]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Circulant.index(I, O, i, j)
    }
}

/// Constant along each anti-diagonal: `W[i, j] = v[i + j]`, `K = I + O − 1` stored values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hankel<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for Hankel<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = tied_patterns::HANKEL.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Hankel);
    const SIZE_CHECK: () = tied_patterns::HANKEL.assert_fits(I, O, &[K]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Hankel.index(I, O, i, j)
    }
}

/// `W = Wᵀ`, square `N`×`N`: the upper triangle row by row, `K = N(N + 1)/2` stored values.
///
/// On the CPU its kernel ([`SymmetricBlocks`](crate::kernels::symmetric::SymmetricBlocks))
/// multiplies by blocks of the upper triangle, each used for `W` and its mirror image, never
/// building `W`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Symmetric<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for Symmetric<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = tied_patterns::SYMMETRIC.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Symmetric);
    const SIZE_CHECK: () = tied_patterns::SYMMETRIC.assert_fits(I, O, &[K]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Symmetric.index(I, O, i, j)
    }
}

/// `W = −Wᵀ`, square `N`×`N`: the strict upper triangle row by row, `K = N(N − 1)/2` stored
/// values; `W[j, i] = −W[i, j]` below the diagonal, and the diagonal a structural zero. What
/// orthogonal (Cayley) and Hamiltonian layers are built from. A 1×1 `skew` stores nothing and
/// does not compile.
///
/// On the CPU the packed-triangle kernel
/// ([`SymmetricBlocks`](crate::kernels::symmetric::SymmetricBlocks)) multiplies by blocks of the
/// strict upper triangle, each used for `W` and, negated, its mirror image, never building `W`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skew<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for Skew<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = tied_patterns::SKEW.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Skew);
    const SIGNED: bool = true;
    // The rule's check, and a 1×1 weight refused: it would store nothing.
    const SIZE_CHECK: () = {
        if let Err(misfit) = tied_patterns::Geometry::new(&tied_patterns::SKEW, I, O, &[K]) {
            let message = misfit.message();
            panic!("{}", message.as_str());
        }
    };

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Skew.index(I, O, i, j)
    }

    fn negated(i: usize, j: usize) -> bool {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        matches!(tied_patterns::Map::Skew.entry(I, O, i, j), Some((_, true)))
    }
}

/// Zeros below the diagonal, square `N`×`N`: the upper triangle row by row, `K = N(N + 1)/2`
/// stored values. `W[i, j]` for `i > j` is a structural zero (no parameter).
///
/// On the CPU the packed-triangle kernel
/// ([`SymmetricBlocks`](crate::kernels::symmetric::SymmetricBlocks)) skips the zero blocks: half
/// a dense layer's multiply-adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpperTriangular<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for UpperTriangular<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = tied_patterns::UPPER_TRIANGULAR.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::UpperTriangular);
    const SIZE_CHECK: () = tied_patterns::UPPER_TRIANGULAR.assert_fits(I, O, &[K]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::UpperTriangular.index(I, O, i, j)
    }
}

/// Zeros above the diagonal, square `N`×`N` (a masked autoregressive layer's weight): the lower
/// triangle column by column (the upper triangle of `Wᵀ` row by row, so `Transposed<UpperTriangular<K>>`
/// is the same map), `K = N(N + 1)/2` stored values.
///
/// On the CPU the packed-triangle kernel skips the zero blocks, as for [`UpperTriangular`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LowerTriangular<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for LowerTriangular<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = tied_patterns::LOWER_TRIANGULAR.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::LowerTriangular);
    const SIZE_CHECK: () = tied_patterns::LOWER_TRIANGULAR.assert_fits(I, O, &[K]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::LowerTriangular.index(I, O, i, j)
    }
}

/// A Toeplitz band: `K = 2b + 1` stored values for bandwidth `b`; `W[i, j] = v[i − j + b]` where
/// `|i − j| ≤ b`, and a structural zero (no parameter) elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Banded<const K: usize>;

impl<const I: usize, const O: usize, const K: usize> Tie<I, O> for Banded<K> {
    type Stored = Rank1<K>;
    const NAME: &'static str = tied_patterns::BANDED.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Banded { k: K });
    const SIZE_CHECK: () = tied_patterns::BANDED.assert_fits(I, O, &[K]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Banded { k: K }.index(I, O, i, j)
    }
}

/// Values on the diagonal only: square `N`×`N`, `W[i, i] = v[i]` and a structural zero elsewhere,
/// `N` stored values.
///
/// Lowering: `y[n, i] = x[n, i]·v[i]`, one elementwise product: O(n·N), no N×N tensor, no
/// `matmul` (so no broadcast operand can reach one). On the CPU a fused kernel
/// ([`DiagonalKernel`](crate::kernels::diagonal::DiagonalKernel)) does the product and the bias
/// in one pass, and the backward in another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Diagonal;

impl<const I: usize, const O: usize> Tie<I, O> for Diagonal {
    type Stored = Rank1<O>;
    const NAME: &'static str = tied_patterns::DIAGONAL.key;
    const MAP: Option<tied_patterns::Map> = Some(tied_patterns::Map::Diagonal);
    const SIZE_CHECK: () = tied_patterns::DIAGONAL.assert_fits(I, O, &[]);

    fn index(i: usize, j: usize) -> Option<usize> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        tied_patterns::Map::Diagonal.index(I, O, i, j)
    }

    fn try_apply<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<I, E, D, T>,
        stored: &Tensor<Rank1<O>, E, D>,
    ) -> Result<Batch<O, E, D, T>, D::Err> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        <Self as Tie<I, O>>::try_apply_fused(x, stored, None)
            .or_else(|x| diagonal_apply::<I, O, E, D, T>(x, stored))
    }

    fn try_apply_transposed<E: Dtype, D: Device<E>, T: Tape<E, D>>(
        x: Batch<O, E, D, T>,
        stored: &Tensor<Rank1<O>, E, D>,
    ) -> Result<Batch<I, E, D, T>, D::Err> {
        let () = <Self as Tie<I, O>>::SIZE_CHECK;
        <Self as Tie<I, O>>::try_apply_transposed_fused(x, stored, None).or_else(|x| {
            // Wᵀ = W: the same product.
            let n = x.shape().0;
            let x: Batch<I, E, D, T> = x.try_reshape_like(&(n, Const::<I>))?;
            diagonal_apply::<I, O, E, D, T>(x, stored)?.try_reshape_like(&(n, Const::<I>))
        })
    }
}

/// `x·diag(v)` for a square weight (`IN == OUT`, which `Diagonal`'s size check proves).
fn diagonal_apply<const IN: usize, const OUT: usize, E, D, T>(
    x: Batch<IN, E, D, T>,
    stored: &Tensor<Rank1<OUT>, E, D>,
) -> Result<Batch<OUT, E, D, T>, D::Err>
where
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    let n = x.shape().0;
    // A no-op reshape (IN == OUT): the shapes' types only.
    let x: Batch<OUT, E, D, T> = x.try_reshape_like(&(n, Const::<OUT>))?;
    let v = stored
        .retaped::<T>()
        .try_broadcast_like(&(n, Const::<OUT>))?;
    // Elementwise: the broadcast `v` never reaches `matmul`; the product is a fresh contiguous
    // tensor, and its backward sums `v`'s gradient over the rows sequentially.
    x.try_mul(v)
}

/// A pattern of your own, written once against the framework-free [`RuntimePattern`](crate::RuntimePattern), as a dfdx
/// `Tie` storing `K` values: `#[tied(pattern = tied::ByMap<Checkerboard, 2>)]`. The same type
/// serves `#[tied::burn::layer]` as `pattern = Checkerboard`, so one definition serves both front
/// ends.
///
/// `K` is the stored length at the weight's sizes (a const, as dfdx's shapes are); the layer's
/// build checks the map against it (every position below `K`, every stored value used), as it
/// checks any user pattern.
///
/// ```
/// use tied_dfdx::{check_pattern, ByMap, RuntimePattern, Tie};
///
/// /// `W[i, j] = v[(i + j) mod 2]`, two values at any size.
/// struct Checkerboard;
///
/// impl RuntimePattern for Checkerboard {
///     const NAME: &'static str = "checkerboard";
///     fn stored_len(_inputs: usize, _outputs: usize) -> usize {
///         2
///     }
///     fn index(_inputs: usize, _outputs: usize, i: usize, j: usize) -> Option<usize> {
///         Some((i + j) % 2)
///     }
/// }
///
/// type Board = ByMap<Checkerboard, 2>;
/// assert_eq!(<Board as Tie<3, 4>>::index(1, 2), Some(1));
/// assert_eq!(<Board as Tie<3, 4>>::NAME, "checkerboard");
/// assert!(check_pattern::<Board, 3, 4>().is_ok());
/// // A wrong `K` is refused where the layer is built: stored value 2 is never used.
/// assert!(check_pattern::<ByMap<Checkerboard, 3>, 3, 4>().is_err());
/// ```
pub struct ByMap<P, const K: usize>(core::marker::PhantomData<P>);

impl<P, const I: usize, const O: usize, const K: usize> Tie<I, O> for ByMap<P, K>
where
    P: tied_patterns::RuntimePattern + 'static,
{
    type Stored = Rank1<K>;
    const NAME: &'static str = P::NAME;

    fn index(i: usize, j: usize) -> Option<usize> {
        P::index(I, O, i, j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tied_patterns::Geometry;

    /// `P`'s dfdx `index` on I×O against the runtime-sized geometry the Burn side uses, and
    /// against the formulas the `Tie` impls held before the maps moved to `tied_patterns`.
    fn same_map<P: Tie<I, O>, const I: usize, const O: usize>(
        key: &str,
        stated: &[usize],
        before: impl Fn(usize, usize) -> Option<usize>,
    ) {
        let geometry = match key {
            "dense" => Geometry::dense(I, O),
            _ => Geometry::new(tied_patterns::find(key).unwrap(), I, O, stated),
        }
        .unwrap();
        assert_eq!(
            geometry.stored_len(),
            <P::Stored as ConstShape>::NUMEL,
            "{key}"
        );
        for i in 0..I {
            for j in 0..O {
                assert_eq!(
                    P::index(i, j),
                    geometry.index(i, j),
                    "{key} {I}×{O} W[{i}, {j}]"
                );
                assert_eq!(P::index(i, j), before(i, j), "{key} {I}×{O} W[{i}, {j}]");
            }
        }
    }

    #[test]
    fn index_maps_are_the_runtime_geometries() {
        same_map::<Dense, 3, 5>("dense", &[], |i, j| Some(i * 5 + j));
        same_map::<Rows, 3, 5>("rows", &[], |i, _| Some(i));
        same_map::<Cols, 5, 3>("cols", &[3], |_, j| Some(j));
        same_map::<Scalar, 4, 2>("scalar", &[], |_, _| Some(0));
        same_map::<Tile<3, 2>, 6, 4>("tile", &[3, 2], |i, j| Some((i % 3) * 2 + j % 2));
        same_map::<Tile<2, 3>, 4, 9>("tile", &[2, 3], |i, j| Some((i % 2) * 3 + j % 3));
        same_map::<Block<3, 2>, 6, 4>("block", &[3, 2], |i, j| Some((i / 2) * 2 + j / 2));
        same_map::<Block<2, 3>, 4, 9>("block", &[2, 3], |i, j| Some((i / 2) * 3 + j / 3));
        same_map::<Toeplitz<7>, 3, 5>("toeplitz", &[7], |i, j| Some(i + 5 - 1 - j));
        same_map::<Toeplitz<7>, 5, 3>("toeplitz", &[], |i, j| Some(i + 3 - 1 - j));
        same_map::<Hankel<7>, 5, 3>("hankel", &[7], |i, j| Some(i + j));
        same_map::<Circulant, 5, 5>("circulant", &[], |i, j| Some((j + 5 - i % 5) % 5));
        same_map::<Symmetric<15>, 5, 5>("symmetric", &[15], |i, j| {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            Some(a * 5 - a * a.saturating_sub(1) / 2 + (b - a))
        });
        same_map::<UpperTriangular<10>, 4, 4>("upper_triangular", &[10], |i, j| {
            (i <= j).then(|| i * 4 - i * i.saturating_sub(1) / 2 + (j - i))
        });
        same_map::<Skew<10>, 5, 5>("skew", &[10], |i, j| {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            (a != b).then(|| a * 4 - a * a.saturating_sub(1) / 2 + (b - a - 1))
        });
        for i in 0..5 {
            for j in 0..5 {
                assert_eq!(<Skew<10> as Tie<5, 5>>::negated(i, j), i > j);
                assert_eq!(<Transposed<Skew<10>> as Tie<5, 5>>::negated(i, j), i < j);
            }
        }
        same_map::<LowerTriangular<10>, 4, 4>("lower_triangular", &[], |i, j| {
            <Transposed<UpperTriangular<10>> as Tie<4, 4>>::index(i, j)
        });
        for_band::<5, 7>();
        same_map::<Banded<1>, 4, 4>("banded", &[1], |i, j| (i == j).then_some(0));
        same_map::<Diagonal, 4, 4>("diagonal", &[], |i, j| (i == j).then_some(i));
    }

    fn for_band<const I: usize, const O: usize>() {
        same_map::<Banded<3>, I, O>("banded", &[3], |i, j| {
            let k = (i + 1).checked_sub(j)?;
            (k < 3).then_some(k)
        });
    }
}
