#!/usr/bin/env python3
"""The shapes of benches/patterns.rs in PyTorch, each pattern in its best PyTorch form.

One step = forward of a B = 64 batch of float32 rows through an N x N layer with a bias, the sum
of the outputs, and backward with gradients for the input, the stored values and the bias, for
N in {256, 1024, 4096}. Medians over repeated steps, in milliseconds, printed as a table.

Forms (the fastest way to write each layer in PyTorch, not the literal dense weight):
  rows       (x @ w) expanded over the outputs                   W[i, j] = w[i]
  cols       x.sum(1) times w                                    W[i, j] = w[j]
  scalar     x.sum(1) times w, expanded                          W[i, j] = w
  tile       fold x into R sums, (B, R) @ V, repeat over O/C     W = V.repeat(I/R, O/C)
  block      sum x over blocks, (B, R) @ V, repeat_interleave    W = V.repeat_interleave
  circulant  rfft(x) * rfft(v), irfft (size N)                   W[i, j] = v[(j - i) mod N]
  toeplitz   correlation by rfft of size 2N                      W[i, j] = v[i - j + N - 1]
  hankel     correlation by rfft of size 2N                      W[i, j] = v[i + j]
  symmetric  W gathered from the upper triangle, x @ W; and a dense nn.Linear
  banded17   conv1d with a kernel of 17, padding 8               W[i, j] = v[i - j + 8], |i - j| <= 8
  dense      nn.Linear(N, N); naive: the rows layer's W materialized, x @ W
  autoencoder 1024 -> 256 -> 1024, decoder = encoder transposed, against the untied network
  harness    x * 2: the step without a layer (the sum and the backward), as in patterns.rs

Optional for users of `tied`: `pip install torch`, then
    python3 benches/pytorch_baseline.py [--quick] [--threads T] [--sizes 256,1024]
See docs/benchmarks.md for how it is compared with `cargo bench --bench patterns`.
"""

import argparse
import statistics
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - the baseline is optional
    raise SystemExit("pytorch_baseline.py needs PyTorch: pip install torch")

B = 64


def param(*shape):
    return (torch.randn(*shape) * 0.1).requires_grad_(True)


def rows(n):
    w, b = param(n), param(n)
    return [w, b], lambda x: (x @ w).unsqueeze(1).expand(-1, n) + b


def cols(n):
    w, b = param(n), param(n)
    return [w, b], lambda x: x.sum(1, keepdim=True) * w + b


def scalar(n):
    w, b = param(1), param(n)
    return [w, b], lambda x: (x.sum(1, keepdim=True) * w).expand(-1, n) + b


def tile(n, r=64, c=64):
    v, b = param(r, c), param(n)

    def f(x):
        folded = x.view(x.shape[0], n // r, r).sum(1)
        return (folded @ v).repeat(1, n // c) + b

    return [v, b], f


def block(n, r=64, c=64):
    v, b = param(r, c), param(n)

    def f(x):
        sums = x.view(x.shape[0], r, n // r).sum(2)
        return (sums @ v).repeat_interleave(n // c, dim=1) + b

    return [v, b], f


def circulant(n):
    # y[j] = sum_i x[i] v[(j - i) mod n]: a circular convolution.
    v, b = param(n), param(n)
    return [v, b], lambda x: torch.fft.irfft(torch.fft.rfft(x) * torch.fft.rfft(v), n=n) + b


def correlation(x, v, size):
    """c[s] = sum_i x[i] v[i + s] for s < size - len(x) + 1, by FFT of length `size`."""
    xf = torch.fft.rfft(x, n=size)
    vf = torch.fft.rfft(v, n=size)
    return torch.fft.irfft(xf.conj() * vf, n=size)


def toeplitz(n):
    # y[j] = sum_i x[i] v[i - j + n - 1] = c[n - 1 - j], c the correlation of x with v (2n - 1).
    v, b = param(2 * n - 1), param(n)
    return [v, b], lambda x: correlation(x, v, 2 * n)[:, :n].flip(1) + b


def hankel(n):
    # y[j] = sum_i x[i] v[i + j] = c[j].
    v, b = param(2 * n - 1), param(n)
    return [v, b], lambda x: correlation(x, v, 2 * n)[:, :n] + b


def symmetric_index(n):
    i = torch.arange(n).unsqueeze(1).expand(n, n)
    j = torch.arange(n).unsqueeze(0).expand(n, n)
    a, c = torch.minimum(i, j), torch.maximum(i, j)
    # Rows 0..a of the upper triangle hold n + (n - 1) + ... + (n - a + 1) values.
    return (a * n - a * (a - 1) // 2 + (c - a)).reshape(-1)


def symmetric(n):
    v, b = param(n * (n + 1) // 2), param(n)
    index = symmetric_index(n)
    return [v, b], lambda x: x @ v[index].view(n, n) + b


def banded17(n, k=17):
    v, b = param(k), param(n)
    half = k // 2
    return [v, b], lambda x: F.conv1d(x.unsqueeze(1), v.view(1, 1, k), padding=half).squeeze(1) + b


def dense(n):
    layer = torch.nn.Linear(n, n)
    return list(layer.parameters()), layer


def naive_rows(n):
    w, b = param(n), param(n)
    return [w, b], lambda x: x @ w.unsqueeze(1).expand(n, n).contiguous() + b


def autoencoder_tied(n=1024, h=256):
    e, b1, b2 = param(n, h), param(h), param(n)
    return [e, b1, b2], lambda x: torch.relu(x @ e + b1) @ e.t() + b2


def autoencoder_untied(n=1024, h=256):
    net = torch.nn.Sequential(torch.nn.Linear(n, h), torch.nn.ReLU(), torch.nn.Linear(h, n))
    return list(net.parameters()), net


def harness(n):
    return [], lambda x: x * 2.0


def median_ms(params, forward, n, reps, warmup):
    """The median step time in ms: `warmup` steps, then `reps` timed ones, or more for fast steps
    (about a second of them, at most 500: a median of 10 sub-millisecond steps moves by a third
    from run to run)."""
    x = torch.randn(B, n).requires_grad_(True)

    def step():
        for p in params + [x]:
            p.grad = None
        start = time.perf_counter()
        forward(x).sum().backward()
        return (time.perf_counter() - start) * 1e3

    warm = [step() for _ in range(max(warmup, 1))]
    reps = max(reps, min(500, int(1000.0 / max(min(warm), 1e-3))))
    return statistics.median(step() for _ in range(reps))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: rough numbers")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all)")
    parser.add_argument("--sizes", default="256,1024,4096", help="comma-separated N")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = [int(s) for s in args.sizes.split(",")]

    cases = [
        ("rows", "algebraic", rows),
        ("cols", "algebraic", cols),
        ("scalar", "algebraic", scalar),
        ("tile64x64", "fold+matmul+repeat", tile),
        ("block64x64", "fold+matmul+repeat_interleave", block),
        ("circulant", "fft", circulant),
        ("toeplitz", "fft 2N", toeplitz),
        ("hankel", "fft 2N", hankel),
        ("symmetric", "gather", symmetric),
        ("symmetric", "dense nn.Linear", dense),
        ("banded17", "conv1d", banded17),
        ("dense", "nn.Linear", dense),
        ("naive", "rows W materialized", naive_rows),
        ("harness", "elementwise", harness),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, B = {B}, float32")
    print(f"{'pattern':<22} {'form':<30} {'N':>5} {'median ms':>10}")
    for n in sizes:
        slow = n >= 4096
        reps = 3 if args.quick else (10 if slow else 50)
        warmup = 1 if args.quick else 3
        for name, form, make in cases:
            params, forward = make(n)
            ms = median_ms(params, forward, n, reps, warmup)
            print(f"{name:<22} {form:<30} {n:>5} {ms:>10.3f}")
    reps, warmup = (3, 1) if args.quick else (50, 3)
    for form, make in [("tied", autoencoder_tied), ("untied", autoencoder_untied)]:
        params, forward = make()
        ms = median_ms(params, forward, 1024, reps, warmup)
        print(f"{'autoencoder1024-256':<22} {form:<30} {1024:>5} {ms:>10.3f}")


if __name__ == "__main__":
    main()
