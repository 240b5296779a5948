//! Fused ops on Burn's Flex backend (feature `flex`), registered with Burn's
//! `#[backend_extension]`: a forward on Flex's buffers and a hand-written backward on the autodiff
//! tape, where Burn's own ops cost more than the arithmetic. Each is tested against Burn's portable
//! ops ([`Tie::without_kernels`](crate::Tie::without_kernels)), which every other backend runs.
//!
//! - [`FlexOps::tied_linear`]: a pattern's slice kernel from `tied-kernels`, the one the dfdx front
//!   end runs, forward and backward: `rows`, `cols`, `scalar` (one fold instead of Burn's handful of
//!   small ops), Toeplitz, circulant, Hankel (rustfft, or directly when short, instead of
//!   burn-signal's FFT, which took 10 ms at N = 4096 where this takes 1.1), `banded`.
//! - [`FlexOps::symmetric_matmul`]: `x·W` from the packed triangle, `W` unpacked into a reused
//!   buffer and multiplied by `tied-kernels`' product (faer, as on the dfdx side); backward `dy·W`
//!   and the fold of `xᵀ·dy`. The portable lowering gathers the N² entries with `select` and
//!   scatter-adds them back: 3.4× slower than a dense `Linear` at N = 4096, where this is 1.7×
//!   faster.
//! - [`FlexOps::symmetric_unpack`] / [`FlexOps::symmetric_fold`]: `W` alone (the effective weight),
//!   each the other's adjoint.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{
    backend_extension, Autodiff, Backend, Dispatch, DispatchDevice, Flex, FlexDevice,
};
use burn::tensor::{DType, FloatDType, Shape, Slice, Tensor};
use rayon::prelude::*;
use std::sync::Arc;
use tied_kernels::matmul::{all_cores, cols_of, matmul_into, rows_of};
use tied_kernels::{
    kernel_for, Backward as KernelBackward, Forward as KernelForward, Kernel, KernelDtype,
    LinearKernel,
};
use tied_patterns::{packed_row_start as row_start, Geometry, Map};

/// `tied`'s fused ops on Flex: the patterns' slice kernels, and `symmetric`'s product and passes.
#[backend_extension(Flex, Autodiff)]
pub trait FlexOps: Backend {
    /// The N×N symmetric matrix whose upper triangle is `packed` (N(N + 1)/2 values, row by row).
    fn symmetric_unpack(packed: FloatTensor<Self>, n: usize) -> FloatTensor<Self>;

    /// The adjoint of [`FlexOps::symmetric_unpack`]: the packed values' gradient from `W`'s
    /// N×N gradient.
    fn symmetric_fold(grad: FloatTensor<Self>, n: usize) -> FloatTensor<Self>;

    /// `x·W` (`x` n×I, `W` I×`outputs`) by a pattern's slice kernel from `tied-kernels`, the one
    /// the dfdx front end runs: dense products (faer), folds, FFT correlations, bands, packed
    /// triangles.
    fn tied_linear(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        kernel: FlexKernel,
        outputs: usize,
    ) -> FloatTensor<Self>;

    /// `x·W + b` ([`FlexOps::tied_linear`] and a bias of `outputs` values), the bias added inside
    /// the op: `y` starts at it and the product accumulates onto it. (Two methods rather than an
    /// `Option`: Burn's dispatch takes tensors, not options of them.)
    fn tied_linear_with_bias(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        kernel: FlexKernel,
        outputs: usize,
    ) -> FloatTensor<Self>;

    /// [`FlexOps::tied_linear`]'s backward for `dy`: the input's gradient (n·I values), the
    /// stored values', then (when `bias`) the bias's (`dy`'s column sums), flat.
    fn tied_linear_backward(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: FlexKernel,
        bias: bool,
    ) -> FloatTensor<Self>;

    /// `x·W` for `x` m×n and `W` the symmetric matrix of `packed`, without `W` on the tape: the
    /// input's gradient is the same product of the output's (`dy·Wᵀ = dy·W`).
    fn symmetric_matmul(
        x: FloatTensor<Self>,
        packed: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self>;

    /// The packed values' gradient of [`FlexOps::symmetric_matmul`]: the fold of `xᵀ·dy`.
    fn symmetric_matmul_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self>;
}

/// Rows and columns per tile of the two passes. The half of each pass that walks a column (the
/// lower triangle) goes through a tile buffer: the tile's rows are read contiguously into it, then
/// read back across. Walking columns of `W` straight took 40 ms a step at N = 4096: rows 16 KiB
/// apart fall in the same cache sets.
const TILE: usize = 64;

/// The tile buffer's row stride: one more than a tile, so that reading it across does not walk
/// one cache set.
const PITCH: usize = TILE + 1;

/// `W` (n×n, row-major) from `packed`, one task per band of [`TILE`] rows.
fn unpack<E: Copy + Default + Send + Sync>(packed: &[E], n: usize, w: &mut [E]) {
    if n == 0 {
        return;
    }
    w.par_chunks_mut(TILE * n)
        .enumerate()
        .for_each(|(t, band)| {
            let i0 = t * TILE;
            let rows = band.len() / n;
            // Above the diagonal: each row's own packed row.
            for (r, row) in band.chunks_exact_mut(n).enumerate() {
                let i = i0 + r;
                let own = row_start(i, n);
                row[i..].copy_from_slice(&packed[own..own + n - i]);
            }
            // Below it: W[i, j] = W[j, i], at i − j in packed row j. Per tile of columns j, the
            // packed rows' runs over this band's i go into `tile`, then out across.
            let mut tile = [E::default(); TILE * PITCH];
            for j0 in (0..i0 + rows).step_by(TILE) {
                let j1 = (j0 + TILE).min(i0 + rows);
                for j in j0..j1 {
                    // Rows i > j of this band: i from max(i0, j + 1).
                    let from = i0.max(j + 1);
                    if from < i0 + rows {
                        let at = row_start(j, n) + from - j;
                        let run = i0 + rows - from;
                        let t = (j - j0) * PITCH + (from - i0);
                        tile[t..t + run].copy_from_slice(&packed[at..at + run]);
                    }
                }
                for (r, row) in band.chunks_exact_mut(n).enumerate() {
                    let i = i0 + r;
                    for j in j0..j1.min(i) {
                        row[j] = tile[(j - j0) * PITCH + r];
                    }
                }
            }
        });
}

/// The packed gradient from `W`'s gradient `g` (n×n, row-major): `g[a, b] + g[b, a]` above the
/// diagonal, `g[a, a]` on it. One task per band of [`TILE`] packed rows, tile by tile, `g[b, a]`
/// through a tile buffer as in [`unpack`]. The same for `g` and `gᵀ`.
fn fold<E: Copy + Default + Send + Sync + core::ops::Add<Output = E>>(
    g: &[E],
    n: usize,
    packed: &mut [E],
) {
    let mut bands = Vec::with_capacity(n.div_ceil(TILE));
    let mut rest = packed;
    for a0 in (0..n).step_by(TILE) {
        let a1 = (a0 + TILE).min(n);
        let len = row_start(a1, n) - row_start(a0, n);
        let (band, tail) = core::mem::take(&mut rest).split_at_mut(len);
        bands.push((a0, a1, band));
        rest = tail;
    }
    bands.into_par_iter().for_each(|(a0, a1, band)| {
        let base = row_start(a0, n);
        let mut tile = [E::default(); TILE * PITCH];
        for b0 in (a0..n).step_by(TILE) {
            let b1 = (b0 + TILE).min(n);
            // tile[b − b0][a − a0] = g[b, a].
            for b in b0..b1 {
                let t = (b - b0) * PITCH;
                tile[t..t + a1 - a0].copy_from_slice(&g[b * n + a0..b * n + a1]);
            }
            for a in a0..a1 {
                let row = &mut band[row_start(a, n) - base..];
                let own = &g[a * n..a * n + n];
                for b in b0.max(a)..b1 {
                    row[b - a] = if a == b {
                        own[a]
                    } else {
                        own[b] + tile[(b - b0) * PITCH + (a - a0)]
                    };
                }
            }
        }
    });
}

/// `f` on the values of a Flex tensor of dtype `E`, into a new tensor of `shape`. When
/// `transposed_too`, a transposed n×n view is read as it lies (for `f` that gives the same for a
/// matrix and its transpose); any other view is copied contiguous first.
fn flex_map<E: burn::tensor::Element + bytemuck::Pod + Send + Sync>(
    input: FloatTensor<Flex>,
    shape: Shape,
    transposed_too: bool,
    f: impl FnOnce(&[E], &mut [E]),
) -> FloatTensor<Flex> {
    let layout = input.layout();
    let transposed = transposed_too
        && layout.num_dims() == 2
        && layout.strides() == [1, layout.shape()[0] as isize]
        && layout.shape()[0] == layout.shape()[1];
    let input = if input.is_contiguous() || transposed {
        input
    } else {
        input.to_contiguous()
    };
    let dtype = FloatDType::from(input.dtype());
    let mut out = Flex::float_empty(shape, &FlexDevice, dtype);
    let values: &[E] = if transposed {
        let start = input.layout().start_offset();
        &input.storage::<E>()[start..start + input.layout().num_elements()]
    } else {
        input.as_slice::<E>().expect("contiguous, of its own dtype")
    };
    f(values, out.storage_mut::<E>());
    out
}

/// `c (m×n) = aᵀ·b` (`a` k×m) when `a_transposed`, else `a·b` (`a` m×k); `b` k×n; all row-major:
/// `tied-kernels`' product (faer, then `vzeroupper`), the one the dfdx front end runs.
fn product<E: KernelDtype>(
    a: &[E],
    b: &[E],
    c: &mut [E],
    (m, k, n): (usize, usize, usize),
    a_transposed: bool,
) {
    let lhs = if a_transposed {
        cols_of(a, m)
    } else {
        rows_of(a, k)
    };
    matmul_into(
        rows_of(c, n),
        (m, n, k),
        lhs,
        rows_of(b, n),
        false,
        all_cores(),
    );
}

/// The values the fused ops take: f32 and f64, as Flex stores them and the kernels compute them.
trait Value: burn::tensor::Element + bytemuck::Pod + KernelDtype {}

impl<E> Value for E where E: burn::tensor::Element + bytemuck::Pod + KernelDtype {}

thread_local! {
    /// An n×n matrix between the passes of one op (`W`, or `xᵀ·dy` before it is folded), kept
    /// between calls: a fresh 64 MiB buffer a call cost its page faults every step (N = 4096).
    static SCRATCH: core::cell::RefCell<Vec<f64>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// `f` with a scratch buffer of `len` values of `E` (f32 or f64), contents unspecified.
fn with_scratch<E: bytemuck::Pod, R>(len: usize, f: impl FnOnce(&mut [E]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        let words = (len * size_of::<E>()).div_ceil(size_of::<f64>());
        if buf.len() < words {
            buf.resize(words, 0.0);
        }
        let values: &mut [E] = bytemuck::cast_slice_mut(&mut buf[..words]);
        f(&mut values[..len])
    })
}

/// The values of a Flex tensor of dtype `E`, contiguous (copied when it is a view).
fn contiguous(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

/// `y = x·W` on Flex's buffers, `W` unpacked into the scratch buffer.
fn flex_symmetric_matmul<E>(
    x: FloatTensor<Flex>,
    packed: FloatTensor<Flex>,
    n: usize,
) -> FloatTensor<Flex>
where
    E: Value,
{
    let (x, packed) = (contiguous(x), contiguous(packed));
    let m = x.layout().num_elements() / n.max(1);
    let mut y = Flex::float_empty(Shape::new([m, n]), &FlexDevice, FloatDType::from(x.dtype()));
    let (xs, ps) = (
        x.as_slice::<E>().expect("contiguous, of its own dtype"),
        packed
            .as_slice::<E>()
            .expect("contiguous, of its own dtype"),
    );
    with_scratch::<E, _>(n * n, |w| {
        unpack(ps, n, w);
        product(xs, w, y.storage_mut::<E>(), (m, n, n), false);
    });
    y
}

/// The packed gradient of `y = x·W`: `xᵀ·dy` into the scratch buffer, then folded.
fn flex_symmetric_matmul_grad<E>(
    x: FloatTensor<Flex>,
    dy: FloatTensor<Flex>,
    n: usize,
) -> FloatTensor<Flex>
where
    E: Value,
{
    let (x, dy) = (contiguous(x), contiguous(dy));
    let m = x.layout().num_elements() / n.max(1);
    let len = n * (n + 1) / 2;
    let mut out = Flex::float_empty(Shape::new([len]), &FlexDevice, FloatDType::from(x.dtype()));
    let (xs, gs) = (
        x.as_slice::<E>().expect("contiguous, of its own dtype"),
        dy.as_slice::<E>().expect("contiguous, of its own dtype"),
    );
    with_scratch::<E, _>(n * n, |d| {
        product(xs, gs, d, (n, m, n), true);
        fold(d, n, out.storage_mut::<E>());
    });
    out
}

/// A pattern's slice kernel (from `tied-kernels`) as the argument of [`FlexOps::tied_linear`].
/// Clones share the state a forward keeps for its backward (folded rows, spectra).
#[derive(Clone)]
pub struct FlexKernel(Arc<Kernel>);

impl core::fmt::Debug for FlexKernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("FlexKernel").field(&self.0.kind()).finish()
    }
}

impl FlexKernel {
    /// The kernel of a built-in pattern or of no tie (`x·Wᵀ` when `transposed`): the one the
    /// dfdx front end runs ([`kernel_for`] of its structure), where Flex takes it. A weight with
    /// no tie (a dense field, and every `transpose_of` and `same_as` use of one) runs faer's
    /// product, not Burn's `matmul`. `None` for `tile`, `block` and `diagonal`, whose Burn ops
    /// were faster on Flex (N = 1024: tile 0.105 ms portable against 0.169 fused, block 0.128
    /// against 0.177, diagonal 0.076 against 0.088), for `symmetric` (its own fused op), and for
    /// sizes the kernel does not take. The triangular patterns take the packed-triangle block
    /// kernel, not `symmetric`'s unpack-and-multiply: it skips the zero half of `W`, where an
    /// unpacked `W` would be multiplied whole.
    pub(crate) fn of(geometry: &Geometry, transposed: bool) -> Option<Self> {
        match geometry.map() {
            Map::Tile { .. } | Map::Block { .. } | Map::Diagonal | Map::Symmetric => None,
            _ => kernel_for(
                geometry.structure(),
                geometry.inputs(),
                geometry.outputs(),
                transposed,
            )
            .map(|kernel| FlexKernel(Arc::new(kernel))),
        }
    }

    fn forward<F: KernelDtype>(&self, a: KernelForward<'_, F>) {
        self.0.forward(a);
    }

    fn backward<F: KernelDtype>(&self, a: KernelBackward<'_, F>) {
        self.0.backward(a);
    }
}

/// `y = x·W (+ b)` by `kernel` on Flex's buffers.
fn flex_linear<E: Value + KernelDtype>(
    x: FloatTensor<Flex>,
    stored: FloatTensor<Flex>,
    bias: Option<FloatTensor<Flex>>,
    kernel: &FlexKernel,
    outputs: usize,
) -> FloatTensor<Flex> {
    let (x, stored, bias) = (contiguous(x), contiguous(stored), bias.map(contiguous));
    let n = x.layout().shape()[0];
    let dtype = FloatDType::from(x.dtype());
    // The kernels take `y` zeroed (and start it at the bias themselves).
    let mut y = Flex::float_zeros(Shape::new([n, outputs]), &FlexDevice, dtype);
    kernel.forward(KernelForward {
        n,
        x: x.as_slice::<E>().expect("contiguous, of its own dtype"),
        w: stored
            .as_slice::<E>()
            .expect("contiguous, of its own dtype"),
        bias: bias
            .as_ref()
            .map(|b| b.as_slice::<E>().expect("contiguous, of its own dtype")),
        y: y.storage_mut::<E>(),
    });
    y
}

/// `kernel`'s backward on Flex's buffers: `[dx | dstored | dbias]`, flat (`dbias`, `outputs`
/// values, when `bias`).
fn flex_linear_backward<E: Value + KernelDtype>(
    x: FloatTensor<Flex>,
    stored: FloatTensor<Flex>,
    dy: FloatTensor<Flex>,
    kernel: &FlexKernel,
    bias: bool,
) -> FloatTensor<Flex> {
    let (x, stored, dy) = (contiguous(x), contiguous(stored), contiguous(dy));
    let n = x.layout().shape()[0];
    let (nx, nw) = (x.layout().num_elements(), stored.layout().num_elements());
    let nb = if bias { dy.layout().shape()[1] } else { 0 };
    let dtype = FloatDType::from(x.dtype());
    let mut out = Flex::float_zeros(Shape::new([nx + nw + nb]), &FlexDevice, dtype);
    let (dx, rest) = out.storage_mut::<E>().split_at_mut(nx);
    let (dw, db) = rest.split_at_mut(nw);
    kernel.backward(KernelBackward {
        n,
        x: x.as_slice::<E>().expect("contiguous, of its own dtype"),
        w: stored
            .as_slice::<E>()
            .expect("contiguous, of its own dtype"),
        dy: dy.as_slice::<E>().expect("contiguous, of its own dtype"),
        dx,
        dw,
        db: bias.then_some(db),
    });
    out
}

/// `$body` with `$e` the Rust type of `$dtype`: the fused ops run on f32 and f64 values only
/// (`Tie` routes nothing else here).
macro_rules! by_dtype {
    ($dtype:expr, |$e:ident| $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $e = f32;
                $body
            }
            DType::F64 => {
                type $e = f64;
                $body
            }
            other => unreachable!("tied calls its fused ops on f32 and f64 only, not {other:?}"),
        }
    };
}

impl FlexOps for Flex {
    fn tied_linear(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        kernel: FlexKernel,
        outputs: usize,
    ) -> FloatTensor<Self> {
        by_dtype!(x.dtype(), |E| flex_linear::<E>(
            x, stored, None, &kernel, outputs
        ))
    }

    fn tied_linear_with_bias(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        kernel: FlexKernel,
        outputs: usize,
    ) -> FloatTensor<Self> {
        by_dtype!(x.dtype(), |E| flex_linear::<E>(
            x,
            stored,
            Some(bias),
            &kernel,
            outputs
        ))
    }

    fn tied_linear_backward(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: FlexKernel,
        bias: bool,
    ) -> FloatTensor<Self> {
        by_dtype!(x.dtype(), |E| flex_linear_backward::<E>(
            x, stored, dy, &kernel, bias
        ))
    }

    fn symmetric_matmul(
        x: FloatTensor<Self>,
        packed: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        by_dtype!(x.dtype(), |E| flex_symmetric_matmul::<E>(x, packed, n))
    }

    fn symmetric_matmul_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        by_dtype!(x.dtype(), |E| flex_symmetric_matmul_grad::<E>(x, dy, n))
    }

    fn symmetric_unpack(packed: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        let shape = Shape::new([n, n]);
        by_dtype!(packed.dtype(), |E| flex_map::<E>(
            packed,
            shape,
            false,
            |p, w| unpack(p, n, w)
        ))
    }

    fn symmetric_fold(grad: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        let shape = Shape::new([n * (n + 1) / 2]);
        by_dtype!(grad.dtype(), |E| flex_map::<E>(
            grad,
            shape,
            true,
            |g, p| fold(g, n, p)
        ))
    }
}

/// One of the two passes on the tape; its backward is the other.
#[derive(Debug)]
struct SymmetricBackward {
    /// `true` for the unpacking (backward: fold), `false` for the fold (backward: unpack).
    unpacks: bool,
}

impl<B: Backend + FlexOps> Backward<B, 1> for SymmetricBackward {
    type State = usize;

    fn backward(self, ops: Ops<usize, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(parent) = parent {
            let n = ops.state;
            let back = if self.unpacks {
                B::symmetric_fold(grad, n)
            } else {
                B::symmetric_unpack(grad, n)
            };
            grads.register::<B>(parent.id, back);
        }
    }
}

/// [`FlexOps::symmetric_matmul`] on the tape: `dx = dy·W`, `dpacked = fold(xᵀ·dy)`.
#[derive(Debug)]
struct SymmetricMatmulBackward;

impl<B: Backend + FlexOps> Backward<B, 2> for SymmetricMatmulBackward {
    /// `x`, the packed values and n.
    type State = (FloatTensor<B>, FloatTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, packed_node] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, packed, n) = ops.state;
        if let Some(node) = packed_node {
            grads.register::<B>(node.id, B::symmetric_matmul_grad(x, dy.clone(), n));
        }
        if let Some(node) = x_node {
            grads.register::<B>(node.id, B::symmetric_matmul(dy, packed, n));
        }
    }
}

/// [`FlexOps::tied_linear`] on the tape: one backward call gives every gradient. `N` is 2 (`x`
/// and the stored values) or 3 (and the bias).
#[derive(Debug)]
struct LinearBackward;

impl<B: Backend + FlexOps, const N: usize> Backward<B, N> for LinearBackward {
    /// `x`, the stored values, the kernel, and their shapes.
    type State = (FloatTensor<B>, FloatTensor<B>, FlexKernel, Shape, Shape);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, stored, kernel, x_shape, stored_shape) = ops.state;
        let (nx, nw) = (x_shape.num_elements(), stored_shape.num_elements());
        let nb = dy.shape()[1];
        let bias = N == 3;
        let all = B::tied_linear_backward(x, stored, dy, kernel, bias);
        let part =
            |from: usize, len: usize| B::float_slice(all.clone(), &[Slice::from(from..from + len)]);
        if let Some(node) = &ops.parents[0] {
            grads.register::<B>(node.id, B::float_reshape(part(0, nx), x_shape));
        }
        if let Some(node) = &ops.parents[1] {
            grads.register::<B>(node.id, B::float_reshape(part(nx, nw), stored_shape));
        }
        if let Some(Some(node)) = ops.parents.get(2) {
            grads.register::<B>(node.id, part(nx + nw, nb));
        }
    }
}

impl<B: Backend + FlexOps, C: CheckpointStrategy> FlexOps for Autodiff<B, C> {
    fn tied_linear(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        kernel: FlexKernel,
        outputs: usize,
    ) -> FloatTensor<Self> {
        tracked_linear::<B, C, 2>([x, stored], kernel, outputs)
    }

    fn tied_linear_with_bias(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        kernel: FlexKernel,
        outputs: usize,
    ) -> FloatTensor<Self> {
        tracked_linear::<B, C, 3>([x, stored, bias], kernel, outputs)
    }

    /// Only backward passes call it: computed on the inner backend, its result a constant.
    fn tied_linear_backward(
        x: FloatTensor<Self>,
        stored: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: FlexKernel,
        bias: bool,
    ) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::tied_linear_backward(
            x.into_primitive(),
            stored.into_primitive(),
            dy.into_primitive(),
            kernel,
            bias,
        ))
    }

    fn symmetric_matmul(
        x: FloatTensor<Self>,
        packed: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        match SymmetricMatmulBackward
            .prepare::<C>([x.node(), packed.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, pp) = (x.primitive().clone(), packed.primitive().clone());
                let y = B::symmetric_matmul(xp.clone(), pp.clone(), n);
                prep.finish((xp, pp, n), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::symmetric_matmul(
                x.into_primitive(),
                packed.into_primitive(),
                n,
            )),
        }
    }

    /// Only backward passes call it, and nothing differentiates through it: computed on the inner
    /// backend, its result a constant.
    fn symmetric_matmul_grad(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::symmetric_matmul_grad(
            x.into_primitive(),
            dy.into_primitive(),
            n,
        ))
    }

    fn symmetric_unpack(packed: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        match (SymmetricBackward { unpacks: true })
            .prepare::<C>([packed.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish(n, B::symmetric_unpack(packed.primitive().clone(), n))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::symmetric_unpack(packed.into_primitive(), n))
            }
        }
    }

    fn symmetric_fold(grad: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        match (SymmetricBackward { unpacks: false })
            .prepare::<C>([grad.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish(n, B::symmetric_fold(grad.primitive().clone(), n))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::symmetric_fold(grad.into_primitive(), n)),
        }
    }
}

/// [`FlexOps::tied_linear`] on the tape, for `[x, stored]` (`N = 2`) or `[x, stored, bias]`
/// (`N = 3`).
fn tracked_linear<B: Backend + FlexOps, C: CheckpointStrategy, const N: usize>(
    inputs: [FloatTensor<Autodiff<B, C>>; N],
    kernel: FlexKernel,
    outputs: usize,
) -> FloatTensor<Autodiff<B, C>> {
    let nodes = inputs.each_ref().map(|t| t.node());
    let mut primitives = inputs.map(|t| t.into_primitive()).into_iter();
    let x = primitives.next().expect("x comes first");
    let stored = primitives.next().expect("the stored values come second");
    let bias = primitives.next();
    let forward = |x, stored, kernel| match bias {
        Some(bias) => B::tied_linear_with_bias(x, stored, bias, kernel, outputs),
        None => B::tied_linear(x, stored, kernel, outputs),
    };
    match LinearBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (xs, ss) = (x.shape(), stored.shape());
            let y = forward(x.clone(), stored.clone(), kernel.clone());
            prep.finish((x, stored, kernel, xs, ss), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x, stored, kernel)),
    }
}

/// Whether a built-in pattern at these sizes has a slice kernel on Flex ([`FlexKernel::of`]).
pub(crate) fn has_kernel(geometry: &Geometry) -> bool {
    FlexKernel::of(geometry, false).is_some()
}

/// Whether `tensor` lives on Flex (with or without autodiff) in f32 or f64: where the fused ops run.
pub(crate) fn runs_here<const D: usize>(tensor: &Tensor<D>) -> bool {
    matches!(tensor.dtype(), DType::F32 | DType::F64)
        && matches!(
            tensor.device().inner().as_dispatch(),
            DispatchDevice::Flex(_)
        )
}

/// `x·W + b` (x n×I, `b` when given) by a pattern's slice kernel, on Flex ([`runs_here`]).
pub(crate) fn linear(
    x: Tensor<2>,
    stored: Tensor<1>,
    bias: Option<Tensor<1>>,
    kernel: FlexKernel,
    outputs: usize,
) -> Tensor<2> {
    Tensor::from_dispatch(match bias {
        Some(bias) => <Dispatch as FlexOps>::tied_linear_with_bias(
            x.into_dispatch(),
            stored.into_dispatch(),
            bias.into_dispatch(),
            kernel,
            outputs,
        ),
        None => <Dispatch as FlexOps>::tied_linear(
            x.into_dispatch(),
            stored.into_dispatch(),
            kernel,
            outputs,
        ),
    })
}

/// `x·W` (x m×n) for `symmetric`'s `W` from its packed values, on Flex ([`runs_here`]).
pub(crate) fn symmetric_matmul(x: Tensor<2>, packed: Tensor<1>, n: usize) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FlexOps>::symmetric_matmul(
        x.into_dispatch(),
        packed.into_dispatch(),
        n,
    ))
}

/// `symmetric`'s `W` (n×n) from its packed values, on Flex ([`runs_here`]).
pub(crate) fn symmetric_effective(packed: Tensor<1>, n: usize) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as FlexOps>::symmetric_unpack(
        packed.into_dispatch(),
        n,
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn host(t: Tensor<2>) -> Vec<f64> {
        t.into_data().try_to_vec::<f64>().unwrap()
    }

    /// Both passes against their definitions (f64, exact), on sizes around a tile's edge, and the fold of a
    /// transposed view (read as it lies) equal to the fold of the matrix.
    #[test]
    fn unpack_and_fold_match_their_definitions() {
        let device = Device::flex();
        for n in [1, 2, 63, 64, 65, 130] {
            let len = n * (n + 1) / 2;
            let packed: Vec<f64> = (0..len).map(|k| (k as f64 * 0.37).sin()).collect();
            let p = Tensor::<1>::from_data(
                TensorData::new(packed.clone(), [len]),
                (&device, DType::F64),
            );
            let w = host(symmetric_effective(p, n));
            let at = |i: usize, j: usize| {
                let (a, b) = if i <= j { (i, j) } else { (j, i) };
                packed[row_start(a, n) + b - a]
            };
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(w[i * n + j], at(i, j), "W[{i}, {j}], n = {n}");
                }
            }

            let g: Vec<f64> = (0..n * n).map(|k| (k as f64 * 0.11).cos()).collect();
            let gt =
                Tensor::<2>::from_data(TensorData::new(g.clone(), [n, n]), (&device, DType::F64));
            let fold_of = |t: Tensor<2>| -> Vec<f64> {
                let out = Tensor::<1>::from_dispatch(<Dispatch as FlexOps>::symmetric_fold(
                    t.into_dispatch(),
                    n,
                ));
                out.into_data().try_to_vec::<f64>().unwrap()
            };
            let folded = fold_of(gt.clone());
            for a in 0..n {
                for b in a..n {
                    let want = if a == b {
                        g[a * n + a]
                    } else {
                        g[a * n + b] + g[b * n + a]
                    };
                    assert_eq!(
                        folded[row_start(a, n) + b - a],
                        want,
                        "p[{a}, {b}], n = {n}"
                    );
                }
            }
            assert_eq!(fold_of(gt.transpose()), folded, "the transpose, n = {n}");
        }
    }
}
