#!/usr/bin/env python3
"""Markdown tables for docs/benchmarks.md from one run of both benchmarks.

    cargo bench --bench patterns | tee /tmp/patterns.txt
    python3 benches/pytorch_baseline.py | tee /tmp/pytorch.txt
    python3 benches/report.py /tmp/pytorch.txt [/tmp/patterns.txt]

Times are criterion's medians (target/criterion/*/new/estimates.json) and PyTorch's medians, in
ms. With the bench's output, its peak-memory table is repeated as a Markdown table.
"""

import json
import sys
from pathlib import Path

CRITERION = Path(__file__).resolve().parent.parent / "target" / "criterion"

PATTERNS = [
    ("rows", "rows", ["algebraic"]),
    ("cols", "cols", ["algebraic"]),
    ("scalar", "scalar", ["algebraic"]),
    ("tile(64, 64)", "tile64x64", ["fold+matmul+repeat"]),
    ("block(64, 64)", "block64x64", ["fold+matmul+repeat_interleave"]),
    ("circulant", "circulant", ["fft"]),
    ("toeplitz", "toeplitz", ["fft 2N"]),
    ("hankel", "hankel", ["fft 2N"]),
    ("symmetric", "symmetric", ["dense nn.Linear", "gather"]),
    ("banded, K = 17", "banded17", ["conv1d"]),
    ("diagonal", "diagonal", []),
]


def criterion_ms(pattern, cache, variant, n):
    path = CRITERION / f"{pattern}_{cache}" / variant / str(n) / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e6


def pytorch(path):
    """{(name, form, n): ms} from pytorch_baseline.py's output."""
    times = {}
    for line in Path(path).read_text().splitlines():
        if len(line) < 61 or line.startswith(("torch ", "pattern")):
            continue
        try:
            n, ms = int(line[54:59]), float(line[60:])
        except ValueError:
            continue
        times[(line[:22].strip(), line[23:53].strip(), n)] = ms
    return times


def fmt(ms):
    if ms is None:
        return "—"
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def tables(torch):
    for n in (4096, 1024, 256):
        linear = {c: criterion_ms("dense", c, "dfdx-linear", n) for c in ("cache-off", "cache-on")}
        harness = {c: criterion_ms("harness", c, "elementwise", n) for c in ("cache-off", "cache-on")}
        t_lin = torch.get(("dense", "nn.Linear", n))
        t_har = torch.get(("harness", "elementwise", n))
        print(f"### Time per step, N = {n}, B = 64 (ms, medians)\n")
        print(
            f"dfdx `Linear<{n}, {n}>`: {fmt(linear['cache-off'])} ms cache off, "
            f"{fmt(linear['cache-on'])} ms cache on. PyTorch dense `nn.Linear`: {fmt(t_lin)} ms. "
            f"The step without a layer (`harness`): dfdx {fmt(harness['cache-off'])} ms cache off, "
            f"{fmt(harness['cache-on'])} ms cache on; PyTorch {fmt(t_har)} ms.\n"
        )
        print(
            "| pattern | `tied` cache off | `tied` cache on | `naive` cache on | PyTorch best (form) "
            "| tied (cache on) / PyTorch | tied − harness / PyTorch − harness "
            "| `Linear` / tied (cache on) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for label, key, forms in PATTERNS:
            off = criterion_ms(key, "cache-off", "tied", n)
            on = criterion_ms(key, "cache-on", "tied", n)
            naive = criterion_ms(key, "cache-on", "naive", n)
            best = None
            for form in forms:
                ms = torch.get((key, form, n))
                if ms is not None and (best is None or ms < best[0]):
                    best = (ms, form)
            best_ms = best[0] if best else None
            own = None if on is None or harness["cache-on"] is None else on - harness["cache-on"]
            t_own = None if best_ms is None or t_har is None else best_ms - t_har
            print(
                f"| {label} | {fmt(off)} | {fmt(on)} | {fmt(naive)} | "
                f"{fmt(best_ms) + f' ({best[1]})' if best else '—'} | {ratio(on, best_ms)} | "
                f"{ratio(own, t_own) if own is not None and own > 0 and t_own and t_own > 0 else '—'} | "
                f"{ratio(linear['cache-on'], on)} |"
            )
        print()
        rows = []
        for pattern in ("rows", "tile64x64"):
            for cache in ("cache-off", "cache-on"):
                gen = criterion_ms(pattern, cache, "tied", n)
                hand = criterion_ms(pattern, cache, "hand", n)
                rows.append(f"| {pattern}, {n}, {cache} | {fmt(gen)} | {fmt(hand)} | {ratio(gen, hand)} |")
        print("Generated vs hand-written:\n")
        print("| pattern, N, cache | `tied` (ms) | `hand` (ms) | ratio |\n|---|---|---|---|")
        print("\n".join(rows))
        print()
    ae = [criterion_ms(f"autoencoder1024-256", c, v, 1024) for c in ("cache-off", "cache-on") for v in ("tied", "untied-dfdx")]
    print("Autoencoder 1024 → 256 → 1024 (ms): tied cache off / on "
          f"{fmt(ae[0])} / {fmt(ae[2])}, untied dfdx {fmt(ae[1])} / {fmt(ae[3])}; PyTorch tied "
          f"{fmt(torch.get(('autoencoder1024-256', 'tied', 1024)))}, untied "
          f"{fmt(torch.get(('autoencoder1024-256', 'untied', 1024)))}.\n")


def memory(path):
    lines = Path(path).read_text().splitlines()
    try:
        start = next(k for k, l in enumerate(lines) if l.startswith("peak heap growth"))
    except StopIteration:
        return
    print("### Peak heap growth per step (MiB)\n")
    print("| case | cache off | cache on |\n|---|---|---|")
    for line in lines[start + 2:]:
        parts = line.split()
        if len(parts) != 3:
            break
        print(f"| {parts[0]} | {parts[1]} | {parts[2]} |")
    print()


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    tables(pytorch(sys.argv[1]))
    if len(sys.argv) > 2:
        memory(sys.argv[2])


if __name__ == "__main__":
    main()
