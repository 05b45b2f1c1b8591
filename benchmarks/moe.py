"""Routed top-k experts versus the dense-masked form, side by side in one process.

The same parameters, the same 4,096 tokens: ``topos.nn.moe.experts`` with index
dispatch (``routed=True``: each expert runs on its ``capacity`` slots) and its
dense form (``routed=False``: every expert on every token). Each round times
both jitted forward passes (the median of ``--reps`` calls each), interleaved,
so load on the machine hits both alike; the report is the median ratio
dense / routed over the rounds with its quartiles.

    .venv/bin/python benchmarks/moe.py [--tokens 4096 --d 128 --hidden 256 --experts 8 --k 2
                                        --capacity-factor 1.25 --rounds 9 --reps 5 --out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import jax
import numpy as np

from backends.jax import apply, init
from topos.nn.moe import capacity, experts


def _timed(fn: Any, *args: Any, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--capacity-factor", type=float, default=1.25)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", help="also write the report to this file")
    a = ap.parse_args()
    kw = dict(n_experts=a.experts, k=a.k)
    routed = experts(a.tokens, a.d, a.hidden, capacity_factor=a.capacity_factor, **kw)
    dense = experts(a.tokens, a.d, a.hidden, routed=False, **kw)
    params = init(routed, jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (a.tokens, a.d))
    run_r = jax.jit(lambda p, v: apply(routed, p, v))
    run_d = jax.jit(lambda p, v: apply(dense, p, v))
    jax.block_until_ready((run_r(params, x), run_d(params, x)))  # compile both
    ratios, tr, td = [], [], []
    for _ in range(a.rounds):
        r = _timed(run_r, params, x, reps=a.reps)
        d = _timed(run_d, params, x, reps=a.reps)
        tr.append(r), td.append(d), ratios.append(d / r)
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    cap = capacity(a.tokens, a.experts, a.k, a.capacity_factor)
    lines = [
        f"routed top-{a.k} of {a.experts} experts vs dense, {a.tokens} tokens, d={a.d},"
        f" hidden={a.hidden}, capacity factor {a.capacity_factor} ({cap} rows per expert),"
        f" {jax.devices()[0].device_kind}",
        f"  routed {statistics.median(tr) * 1e3:.2f} ms, dense {statistics.median(td) * 1e3:.2f} ms"
        f" (medians over {a.rounds} interleaved rounds)",
        f"  speed-up dense/routed: median {med:.2f}x (quartiles {q1:.2f}-{q3:.2f})",
    ]
    report = "\n".join(lines)
    print(report)
    if a.out:
        with open(a.out, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
