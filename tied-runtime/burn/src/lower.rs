//! The structure-aware lowerings of `x·W` and `x·Wᵀ` on 2-D inputs (n×I, n×O), with Burn's own
//! differentiable ops only, so they run, and train, on every Burn backend.
//!
//! Stored values arrive flat (`v`, a vector) or as their matrix (`V`, R×C for `tile` and `block`,
//! I×O for no tie).

use burn::tensor::module::conv1d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use tied_patterns::Fold;

/// `y = x·W` for `W[i, j] = V[rows(i), cols(j)]` (`V` R×C; [`Structure::Fold`]): fold `x` onto
/// `V`'s rows (`R` sums, or `x` itself where `rows` is the identity), multiply by `V`, spread the
/// `C` results over the `o` outputs. O(n·(I + R·C + O)), no I×O tensor. `rows`, `cols`, `scalar`,
/// `tile`, `block`, and each one's transpose (`Vᵀ`, the folds swapped).
///
/// [`Structure::Fold`]: tied_patterns::Structure::Fold
pub(crate) fn fold(x: Tensor<2>, v: Tensor<2>, rows: Fold, cols: Fold, o: usize) -> Tensor<2> {
    let [n, i] = x.dims();
    let folded = match rows {
        Fold::Div(g) if g == i => x,
        // One sum per row, times V's one row: elementwise, no product.
        Fold::Div(1) => return spread(x.sum_dim(1).mul(v), cols, o),
        Fold::Div(g) => x.reshape([n, g, i / g]).sum_dim(2).reshape([n, g]),
        Fold::Mod(g) => x.reshape([n, i / g, g]).sum_dim(1).reshape([n, g]),
    };
    spread(folded.matmul(v), cols, o)
}

/// `z` (m×C) spread over `o` columns as `cols` folds them: column `j` is `z[.., cols(j)]`.
pub(crate) fn spread(z: Tensor<2>, cols: Fold, o: usize) -> Tensor<2> {
    let m = z.dims()[0];
    match cols {
        Fold::Div(g) if g == o => z,
        Fold::Div(1) => z.expand([m, o]),
        Fold::Div(g) => z.reshape([m, g, 1]).expand([m, g, o / g]).reshape([m, o]),
        Fold::Mod(g) => z.repeat_dim(1, o / g),
    }
}

/// `y = x·diag(v)`: one elementwise product, O(n·N).
pub(crate) fn diagonal(x: Tensor<2>, v: Tensor<1>) -> Tensor<2> {
    let n = v.dims()[0];
    x.mul(v.reshape([1, n]))
}

/// `y[r, j] = Σ_i x[r, i]·v[i + j]` for `j < o` (a Hankel product, `v` of length `I + o − 1`):
/// the correlation of the signal `v` with each row of `x`, as one `conv1d` whose input is `v`
/// (batch 1, one channel) and whose `n` filters are the rows of `x`.
///
/// Why this orientation: the output is 1×n×o from an input of one channel, so an im2col backend
/// (Burn's flex, tiled) unfolds the signal once, I·O values, the size of `W` itself, and the
/// work is the n·I·O of a dense product. The other orientation (the batch as the input, `v` as
/// one filter of length `I + O − 1`) unfolds n·O·(I + O − 1) values: 8.6 GB at N = 4096, B = 64.
///
/// With `fft` (the `fft` feature; see [`hankel_fft`]) and f32 values, the same correlation runs
/// through Burn's real FFT instead, in O(n·L log L).
pub(crate) fn hankel(x: Tensor<2>, v: Tensor<1>, o: usize, fft: bool) -> Tensor<2> {
    let [n, i] = x.dims();
    let k = v.dims()[0];
    debug_assert_eq!(k + 1, i + o);
    // Flex's FFT computes in f32 (on f64 values it loses their precision: 1e-8 relative,
    // measured), so f64 and the half types keep the exact `conv1d`.
    // A transform of length 1 (a 1×1 weight) stays direct: CubeCL's real FFT (wgpu, CUDA) needs
    // at least the DC and Nyquist bins, and there is nothing to gain.
    #[cfg(feature = "fft")]
    if fft && x.dtype() == burn::tensor::DType::F32 && k.max(i) > 1 {
        return hankel_fft(x, v, o);
    }
    #[cfg(not(feature = "fft"))]
    let _ = fft;
    let y = conv1d(
        v.reshape([1, 1, k]),
        x.reshape([n, 1, i]),
        None,
        ConvOptions::new([1], [0], [1], 1),
    );
    y.reshape([n, o])
}

/// The Hankel product `y[r, j] = Σ_i x[r, i]·v[i + j]` (`j < o`) as a circular correlation of
/// length `L`, the power of two at or above `I + o − 1`: `y = irfft(conj(rfft(x))·rfft(v))`, the
/// first `o` values. No term wraps around: `i + j ≤ I + o − 2 < L`. Burn's `rfft` takes powers of
/// two only, hence the padding (at most 2× the length). Differentiable: burn-signal's autodiff
/// backward of `rfft`/`irfft`.
#[cfg(feature = "fft")]
pub(crate) fn hankel_fft(x: Tensor<2>, v: Tensor<1>, o: usize) -> Tensor<2> {
    use burn::signal::{irfft, rfft};
    let i = x.dims()[1];
    let k = v.dims()[0];
    let l = k.max(i).next_power_of_two();
    let (xr, xi) = rfft(x, 1, Some(l));
    let (vr, vi) = rfft(v.reshape([1, k]), 1, Some(l));
    // conj(X)·V, whose inverse is the correlation Σ_i x[i]·v[(i + t) mod L].
    let re = xr.clone() * vr.clone() + xi.clone() * vi.clone();
    let im = xr * vi - xi * vr;
    irfft(re, im, 1, Some(l)).narrow(1, 0, o)
}

/// `y = x·W` for `W[i, j] = v[i − j + O − 1]` (Toeplitz, `v` of length `I + o − 1`): the Hankel
/// product with the outputs read backwards.
pub(crate) fn toeplitz(x: Tensor<2>, v: Tensor<1>, o: usize, fft: bool) -> Tensor<2> {
    hankel(x, v, o, fft).flip([1])
}

/// `y = x·Wᵀ` for the Toeplitz `W` (I×O, `x` n×O): `Wᵀ[a, b] = v[b + O − 1 − a]`, the Hankel
/// product of `x` read backwards.
pub(crate) fn toeplitz_transposed(x: Tensor<2>, v: Tensor<1>, i: usize, fft: bool) -> Tensor<2> {
    hankel(x.flip([1]), v, i, fft)
}

/// The circulant's values unrolled for a Hankel product: `u[m] = v[(m + 1) mod N]`,
/// `m < 2N − 1`, that is `v[1..] ++ v`.
fn unrolled(v: Tensor<1>) -> Tensor<1> {
    let n = v.dims()[0];
    if n == 1 {
        return v;
    }
    Tensor::cat(vec![v.clone().narrow(0, 1, n - 1), v], 0)
}

/// `y = x·W` for `W[i, j] = v[(j − i) mod N]`: with `i' = N − 1 − i`, `W[i, j] = u[i' + j]`, so
/// the Hankel product of `x` read backwards with the unrolled values.
pub(crate) fn circulant(x: Tensor<2>, v: Tensor<1>, fft: bool) -> Tensor<2> {
    let n = v.dims()[0];
    #[cfg(feature = "fft")]
    if fft && x.dtype() == burn::tensor::DType::F32 && n > 1 && n.is_power_of_two() {
        return circular_convolution_fft(x, v);
    }
    hankel(x.flip([1]), unrolled(v), n, fft)
}

/// `y[r, j] = Σ_i x[r, i]·v[(j − i) mod N]`, a circular convolution of length N (a power of two,
/// as Burn's `rfft` needs): `irfft(rfft(x)·rfft(v))`, half the FFT length of the Hankel form.
#[cfg(feature = "fft")]
fn circular_convolution_fft(x: Tensor<2>, v: Tensor<1>) -> Tensor<2> {
    use burn::signal::{irfft, rfft};
    let n = v.dims()[0];
    let (xr, xi) = rfft(x, 1, None);
    let (vr, vi) = rfft(v.reshape([1, n]), 1, None);
    let re = xr.clone() * vr.clone() - xi.clone() * vi.clone();
    let im = xr * vi + xi * vr;
    irfft(re, im, 1, Some(n))
}

/// `y = x·Wᵀ` for the circulant `W`: `Wᵀ[a, b] = v[(a − b) mod N] = u[a + (N − 1 − b)]`, the
/// Hankel product with the outputs read backwards.
pub(crate) fn circulant_transposed(x: Tensor<2>, v: Tensor<1>, fft: bool) -> Tensor<2> {
    let n = v.dims()[0];
    // Wᵀ[a, b] = v[(a − b) mod N] = u[(b − a) mod N] with u[m] = v[(−m) mod N]: a circulant
    // again, of the values read backwards from the second.
    #[cfg(feature = "fft")]
    if fft && x.dtype() == burn::tensor::DType::F32 && n > 1 && n.is_power_of_two() {
        let u = Tensor::cat(
            vec![v.clone().narrow(0, 0, 1), v.narrow(0, 1, n - 1).flip([0])],
            0,
        );
        return circular_convolution_fft(x, u);
    }
    hankel(x, unrolled(v), n, fft).flip([1])
}

/// `y = x·W` for the band `W[i, j] = v[i − j + b]` (`|i − j| ≤ b`, `K = 2b + 1` values, I×o):
/// a `conv1d` of `x` (n signals, one channel) with the one filter `v`, after `b` zeros on the
/// left and as many on the right as make `o` outputs. The unfolded input is n·o·K values, K
/// being small.
pub(crate) fn banded(x: Tensor<2>, v: Tensor<1>, o: usize) -> Tensor<2> {
    let [n, i] = x.dims();
    let k = v.dims()[0];
    let b = k / 2;
    if i == o {
        // A square band pads `b` zeros on each side: the convolution's own padding, no copy.
        return conv1d(
            x.reshape([n, 1, i]),
            v.reshape([1, 1, k]),
            None,
            ConvOptions::new([1], [b], [1], 1),
        )
        .reshape([n, o]);
    }
    // Inputs past `o − 1 + b` meet no output.
    let kept = i.min(o + b);
    let x = if kept < i { x.narrow(1, 0, kept) } else { x };
    let right = o + b - kept;
    let (device, dtype) = (x.device(), x.dtype());
    let mut parts = Vec::with_capacity(3);
    if b > 0 {
        parts.push(Tensor::zeros([n, b], (&device, dtype)));
    }
    parts.push(x);
    if right > 0 {
        parts.push(Tensor::zeros([n, right], (&device, dtype)));
    }
    let padded = Tensor::cat(parts, 1);
    let len = o + k - 1;
    conv1d(
        padded.reshape([n, 1, len]),
        v.reshape([1, 1, k]),
        None,
        ConvOptions::new([1], [0], [1], 1),
    )
    .reshape([n, o])
}
