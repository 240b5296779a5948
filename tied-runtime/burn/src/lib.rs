//! The Burn runtime of [`tied`](https://docs.rs/tied): every built-in tie pattern lowered onto
//! Burn's own differentiable ops, with runtime sizes.
//!
//! A [`Tie`] is a pattern on an I×O weight (`y = x·W`), its sizes checked by the same rules and
//! in the same words as the dfdx runtime and the macro ([`tied_patterns`]). Given the stored
//! values (one tensor, a `Param`'s value) it computes `x·W` ([`Tie::forward`]), `x·Wᵀ` for a
//! weight declared `transpose_of` it ([`Tie::forward_transposed`]), rows of `W` by id
//! ([`Tie::lookup`]) and `W` itself ([`Tie::effective`]).
//!
//! The forum's layer, `W[i, j] = w[i]` on a 4×4 weight, four stored values in one `Param`:
//!
//! ```
//! use burn::module::Param;
//! use burn::tensor::{Device, Tensor};
//! use tied_burn::Tie;
//!
//! let device = Device::flex().autodiff();
//! let tie = Tie::new("rows", 4, 4, &[])?;
//! let w = Param::from_tensor(Tensor::<1>::from_data([0.1f32, -0.2, 0.3, -0.4], &device));
//! let x = Tensor::<2>::from_data([[1.0f32, 2.0, 3.0, 4.0]], &device);
//! let grads = tie.forward(x, w.val()).sum().backward();
//! // Each w[i] fills a whole row of W: its gradient sums the 4 copies, 4·x.
//! let g = w.val().grad(&grads).unwrap().to_data().to_vec::<f32>().unwrap();
//! assert_eq!(g, [4.0, 8.0, 12.0, 16.0]);
//!
//! // A size that does not fit the pattern is an error stating the rule and the numbers.
//! let err = Tie::new("toeplitz", 4, 3, &[5]).unwrap_err();
//! assert!(err.to_string().contains("I + O − 1 = 6"), "{err}");
//! # Ok::<(), tied_burn::Error>(())
//! ```
//!
//! # Lowerings
//!
//! | pattern | lowering | cost for n rows |
//! |---|---|---|
//! | no tie | `x.matmul(W)` | n·I·O |
//! | `rows`, `cols`, `scalar` | a row sum or one `x·w`, times or spread over the outputs | n·(I + O) |
//! | `tile(R, C)`, `block(R, C)` | fold `x` into R sums, R×C `matmul`, repeat or spread | n·(I + R·C + O) |
//! | `toeplitz`, `circulant`, `hankel` | one `conv1d`: the stored values as the signal, the rows of `x` as the filters | n·I·O, I·O scratch |
//! | `banded = K` | one `conv1d` of `x` with the K stored diagonals | n·O·K |
//! | `diagonal` | `x * v` | n·N |
//! | `symmetric` | `W` gathered by an `Int` table (`select`), then `matmul` | n·I·O, I·O |
//! | `upper_triangular`, `lower_triangular` | as `symmetric`; on Flex the packed-triangle block kernel, which skips the zero half | n·I·O, I·O (n·N²/2 on Flex) |
//! | `skew` | as `symmetric`, the table pointing the lower half at the values negated; on Flex the packed-triangle block kernel with its signs | n·I·O, I·O (n·N² on Flex, `W` never built) |
//!
//! On Flex (feature `flex`, f32/f64), `rows`, `cols`, `scalar`, the correlations and `banded` run
//! instead the slice kernels of `tied-kernels` (the dfdx front end's), and `symmetric` a fused
//! product (`W` unpacked into a reused buffer, multiplied with faer; its gradient folded from
//! `xᵀ·dy`), each one Burn op with its own backward; [`Tie::without_kernels`] keeps the table's
//! lowerings.
//!
//! No lowering builds an I×O tensor except no tie, `symmetric` and the correlation's scratch.
//! Each transpose is the same lowering on the transposed structure (`rows`ᵀ is `cols`, a
//! Toeplitz transpose reads its input backwards, ...).
//!
//! Why no FFT: Burn 0.22's `rfft`/`irfft` (in `burn-signal`, behind `burn`'s `signal` feature)
//! are differentiable under autodiff, but they are a backend extension with kernels for flex,
//! CubeCL and LibTorch only, and take power-of-two lengths. The lowerings here use core ops that
//! every backend has; an FFT form (pad to the next power of two, O(n·N log N)) is the natural
//! opt-in for large Toeplitz and circulant weights.
//!
//! Gradients are Burn's: a stored value's gradient is the sum over all its copies in `W`
//! (`select`'s backward adds repeated indices; `expand` and `repeat_dim` sum back).
//!
//! Patterns of your own: an [`IndexMap`] and its [`GatherTable`].
#![deny(missing_docs)]
// No `unsafe`: the fused Flex ops reach memory through Flex's typed views and multiply with
// `tied-kernels`' product, whose `vzeroupper` after faer's AVX-512 kernels lives there.
#![forbid(unsafe_code)]

mod error;
#[cfg(feature = "flex")]
mod flex;
mod gather;
mod interop;
mod lower;
mod tie;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The Burn `tied-burn` is built on (0.22): use it to be sure of the same version (the
/// generated code of `#[tied::burn::layer]` names `burn::..` as Burn's own derives do).
pub use burn;
pub use error::Error;
pub use gather::{FnMap, GatherTable, IndexMap};
pub use interop::{export_dense, export_dense_as, import_dense, import_dense_as, TiedWeights};
pub use tie::{Lowering, Tie};
/// The dense checkpoint format's types, shared with the dfdx front end.
pub use tied_interop::{
    DenseManifest, DenseNames, EffectiveField, FieldFit, ImportReport, InteropError, TiedTo,
    Violation,
};
/// The backend-free pattern core: the table, geometries and their messages.
pub use tied_patterns;
/// The picture of a weight's pattern ([`Tie::picture`]).
pub use tied_patterns::{Picture, RuntimePattern};
