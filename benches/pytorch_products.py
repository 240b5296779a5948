#!/usr/bin/env python3
"""benches/products.rs in PyTorch: the matrix-product layers in float32 and float64, and one
training step of each real-data example's model.

A layer step is the forward of a B = 64 batch through the layer, the sum of the outputs and the
backward with every gradient (input included, as in the Rust bench), for N in {1024, 4096}:

  autoencoder  N -> N/4 -> N, decoder = encoder transposed (x @ e + b1, relu, @ e.t() + b2);
               and the same network untied (two nn.Linear)
  dense-field  nn.Linear(N, N)
  symmetric    W gathered from the upper triangle, x @ W + b; and a dense nn.Linear

  train-step   examples/digits.rs' tied autoencoder (64 -> 16 -> 64, sigmoid, MSE, batch 32,
               Adam lr 5e-3) and examples/char_lm.rs' tied model (embedding 64 x 32, context 12,
               384 -> 192 tanh -> 32, head = embedding transposed, cross-entropy, batch 128, Adam
               lr 2e-3): forward, loss, backward, optimizer step, gradients zeroed.

Medians in ms. `pip install torch`, then
    python3 benches/pytorch_products.py [--quick] [--threads T]
See docs/benchmarks.md for how it is compared with `cargo bench --bench products`.
"""

import argparse
import statistics
import time

# The same parameter initialization and batch size as the patterns' baseline (it also says how to
# install PyTorch when it is missing).
from pytorch_baseline import B, param

import torch
import torch.nn.functional as F


def autoencoder_tied(n):
    h = n // 4
    e, b1, b2 = param(n, h), param(h), param(n)
    return [e, b1, b2], lambda x: torch.relu(x @ e + b1) @ e.t() + b2


def autoencoder_untied(n):
    net = torch.nn.Sequential(torch.nn.Linear(n, n // 4), torch.nn.ReLU(), torch.nn.Linear(n // 4, n))
    return list(net.parameters()), net


def dense(n):
    layer = torch.nn.Linear(n, n)
    return list(layer.parameters()), layer


def symmetric(n):
    i = torch.arange(n).unsqueeze(1).expand(n, n)
    j = torch.arange(n).unsqueeze(0).expand(n, n)
    a, c = torch.minimum(i, j), torch.maximum(i, j)
    index = (a * n - a * (a - 1) // 2 + (c - a)).reshape(-1)
    v, b = param(n * (n + 1) // 2), param(n)
    return [v, b], lambda x: x @ v[index].view(n, n) + b


def median_ms(step, reps, warmup):
    """The median of `reps` timed calls of `step` (at least about a second of them, at most 500),
    after `warmup` untimed ones."""

    def timed():
        start = time.perf_counter()
        step()
        return (time.perf_counter() - start) * 1e3

    warm = [timed() for _ in range(max(warmup, 1))]
    reps = max(reps, min(500, int(1000.0 / max(min(warm), 1e-3))))
    return statistics.median(timed() for _ in range(reps))


def layer_step(params, forward, n):
    x = torch.randn(B, n).requires_grad_(True)

    def step():
        for p in params + [x]:
            p.grad = None
        forward(x).sum().backward()

    return step


def digits_step():
    e, b1, b2 = param(64, 16), param(16), param(64)
    opt = torch.optim.Adam([e, b1, b2], lr=5e-3)
    x = torch.rand(32, 64)

    def step():
        y = torch.sigmoid(torch.relu(x @ e + b1) @ e.t() + b2)
        loss = F.mse_loss(y, x)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()

    return step


def char_lm_step():
    vocab, dim, context, hidden, batch = 64, 32, 12, 192, 128
    embed = param(vocab, dim)
    mix, mix_b = param(context * dim, hidden), param(hidden)
    out, out_b = param(hidden, dim), param(dim)
    head_b = param(vocab)
    params = [embed, mix, mix_b, out, out_b, head_b]
    opt = torch.optim.Adam(params, lr=2e-3)
    ids = torch.randint(vocab, (batch, context))
    targets = torch.randint(vocab, (batch,))

    def step():
        e = embed[ids].reshape(batch, context * dim)
        h = torch.tanh(e @ mix + mix_b)
        z = h @ out + out_b
        logits = z @ embed.t() + head_b
        loss = F.cross_entropy(logits, targets)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: rough numbers")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all)")
    parser.add_argument("--sizes", default="1024,4096", help="comma-separated N")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = [
        ("autoencoder", "tied", autoencoder_tied),
        ("autoencoder", "untied", autoencoder_untied),
        ("dense-field", "nn.Linear", dense),
        ("symmetric", "gather", symmetric),
        ("symmetric", "dense nn.Linear", dense),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, B = {B}")
    print(f"{'case':<22} {'form':<30} {'dtype':<8} {'N':>5} {'median ms':>10}")
    for dtype in (torch.float32, torch.float64):
        torch.set_default_dtype(dtype)
        name = str(dtype).removeprefix("torch.")
        for n in sizes:
            slow = n >= 4096
            reps = 3 if args.quick else (10 if slow else 50)
            warmup = 1 if args.quick else 3
            for case, form, make in cases:
                params, forward = make(n)
                ms = median_ms(layer_step(params, forward, n), reps, warmup)
                print(f"{case:<22} {form:<30} {name:<8} {n:>5} {ms:>10.3f}")
    torch.set_default_dtype(torch.float32)
    reps, warmup = (3, 1) if args.quick else (200, 20)
    for case, n, make in [("train-step digits", 32, digits_step), ("train-step char_lm", 128, char_lm_step)]:
        ms = median_ms(make(), reps, warmup)
        print(f"{case:<22} {'tied, Adam':<30} {'float32':<8} {n:>5} {ms:>10.3f}")


if __name__ == "__main__":
    main()
