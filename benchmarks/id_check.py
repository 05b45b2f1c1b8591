"""The cost of checking token ids at run time: a jitted forward with and without the test.

``apply``, ``batched``, ``compile`` and ``decode_step`` embed a test that refuses an
id out of range when the jitted program runs (``backends.jax.core.values.run_checked``;
``check_ids=False`` leaves it out). This times ``jax.jit(batched(lm))`` against
``jax.jit(batched(lm, check_ids=False))`` on small transformers, side by side in one
process: calls interleaved, the minimum over rounds (the figure least disturbed by
other work on a shared machine), and XLA's cost analysis of both programs.

    .venv/bin/python benchmarks/id_check.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax

from backends.jax import batched, init
from topos import nn

#: (vocab, seq, d, heads, layers, batch, calls per round)
SIZES = ((64, 16, 32, 2, 2, 8, 50), (256, 64, 64, 4, 2, 32, 5), (1024, 128, 128, 4, 4, 16, 2))


def measure(size: tuple[int, ...], rounds: int) -> dict[str, Any]:
    vocab, seq, d, heads, layers, batch, reps = size
    lm = nn.transformer(vocab, seq, d, heads, layers)
    params = init(lm, jax.random.key(0))
    xs = jax.random.randint(jax.random.key(1), (batch, seq), 0, vocab)
    runs = {"checked": jax.jit(batched(lm)), "unchecked": jax.jit(batched(lm, check_ids=False))}
    cost = {k: f.lower(params, xs).compile().cost_analysis() for k, f in runs.items()}
    for f in runs.values():
        jax.block_until_ready(f(params, xs))
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, f in runs.items():  # interleaved: drift hits both alike
            t = time.perf_counter()
            for _ in range(reps):
                out = f(params, xs)
            jax.block_until_ready(out)
            best[name] = min(best[name], (time.perf_counter() - t) / reps)
    return {
        "size": size[:6],
        "checked_us": best["checked"] * 1e6,
        "unchecked_us": best["unchecked"] * 1e6,
        "flops": cost["checked"].get("flops", 0) / cost["unchecked"].get("flops", 1),
        "bytes": cost["checked"].get("bytes accessed", 0)
        / cost["unchecked"].get("bytes accessed", 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}")
    print("| V, seq, d, heads, layers, batch | checked | unchecked | time | XLA flops | bytes |")
    print("|---|---|---|---|---|---|")
    for size in SIZES:
        r = measure(size, args.rounds)
        ratio = r["checked_us"] / r["unchecked_us"] - 1
        print(
            f"| {r['size']} | {r['checked_us']:.0f} us | {r['unchecked_us']:.0f} us"
            f" | {ratio:+.1%} | {r['flops'] - 1:+.2%} | {r['bytes'] - 1:+.2%} |"
        )


if __name__ == "__main__":
    main()
