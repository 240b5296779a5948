#!/usr/bin/env python3
"""Markdown tables for docs/benchmarks.md from one run of `benches/products.rs` and
`benches/pytorch_products.py`:

    cargo bench --bench products
    python3 benches/pytorch_products.py | tee /tmp/pytorch-products.txt
    python3 benches/report_products.py /tmp/pytorch-products.txt

Times are criterion's medians (target/criterion/GROUP_DTYPE/VARIANT/N/new/estimates.json) and
PyTorch's medians, in ms.
"""

import json
import sys
from pathlib import Path

from report import fmt, ratio

CRITERION = Path(__file__).resolve().parent.parent / "target" / "criterion"


def ms(group, dtype, variant, n):
    path = CRITERION / f"{group}_{dtype}" / variant / str(n) / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e6


def pytorch(path):
    """{(case, form, dtype, n): ms} from pytorch_products.py's output."""
    times = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith(("torch ", "case")):
            continue
        case, form, dtype = line[:22].strip(), line[23:53].strip(), line[54:62].strip()
        try:
            n, t = int(line[63:68]), float(line[69:])
        except ValueError:
            continue
        times[(case, form, dtype, n)] = t
    return times


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    torch = pytorch(sys.argv[1])
    rows = [
        ("tied autoencoder N → N/4 → N", "autoencoder", "tied", "tied"),
        ("dense field (no tie), N×N", "dense-field", "tied", "nn.Linear"),
        ("`symmetric`, N×N", "symmetric", "tied", "dense nn.Linear"),
    ]
    for dtype, tname in (("f32", "float32"), ("f64", "float64")):
        print(f"### {dtype}, B = 64, forward + backward (ms, medians)\n")
        print(
            "| layer | N | `tied` | before (kernels off: dfdx `matmul`, gemm 0.15) "
            "| PyTorch | tied / PyTorch | before / PyTorch |"
        )
        print("|---|---|---|---|---|---|---|")
        for n in (1024, 4096):
            for label, group, variant, form in rows:
                t = ms(group, dtype, variant, n)
                before = ms(group, dtype, "reference", n)
                p = torch.get((group, form, tname, n))
                print(
                    f"| {label} | {n} | {fmt(t)} | {fmt(before)} | {fmt(p)} ({form}) "
                    f"| {ratio(t, p)} | {ratio(before, p)} |"
                )
            lin = ms("dfdx-linear", dtype, "dfdx", n)
            untied = ms("autoencoder", dtype, "untied-dfdx", n)
            print(
                f"| dfdx `Linear<{n}, {n}>` (not `tied`'s) | {n} | {fmt(lin)} | — "
                f"| {fmt(torch.get(('dense-field', 'nn.Linear', tname, n)))} (nn.Linear) "
                f"| {ratio(lin, torch.get(('dense-field', 'nn.Linear', tname, n)))} | — |"
            )
            print(
                f"| untied autoencoder, dfdx `Linear`s | {n} | {fmt(untied)} | — "
                f"| {fmt(torch.get(('autoencoder', 'untied', tname, n)))} (untied) "
                f"| {ratio(untied, torch.get(('autoencoder', 'untied', tname, n)))} | — |"
            )
        print()
    print("### One training step of the examples' models (f32, ms, medians)\n")
    print("| model | batch | `tied` | before (kernels off) | PyTorch | tied / PyTorch |")
    print("|---|---|---|---|---|---|")
    for label, group, n, case in (
        ("`digits` tied autoencoder 64 → 16 → 64", "train-step-digits", 32, "train-step digits"),
        ("`char_lm` (head = embeddingᵀ)", "train-step-char_lm", 128, "train-step char_lm"),
    ):
        t = ms(group, "f32", "tied", n)
        before = ms(group, "f32", "reference", n)
        p = torch.get((case, "tied, Adam", "float32", n))
        print(f"| {label} | {n} | {fmt(t)} | {fmt(before)} | {fmt(p)} | {ratio(t, p)} |")
    print()


if __name__ == "__main__":
    main()
