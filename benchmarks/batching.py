"""Batching a transformer block: per-example + ``jax.vmap`` versus a batched lowering.

The JAX backend interprets diagrams per example and batches with ``jax.vmap``.
The alternative is a *batched lowering*: every primitive written for a leading
batch axis, as a hand-written batched model is (here: the block of
``topos.nn.transformer_block`` written directly on ``(batch, seq, d)`` arrays,
the same math). This script measures, side by side in one run, for the forward
pass and for a training step (value and gradient):

- the number of instructions of the optimised HLO (``compile().as_text()``);
- XLA's flops estimate;
- the wall time of the jitted function (minimum and median over interleaved runs).

    .venv/bin/python benchmarks/batching.py [--batch 16 --seq 64 --d 128 --heads 4]

The choice (vmap) is pinned by ``tests/backends/jax/test_batching.py``.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from backends.jax import batched, init
from topos.nn.transformer import transformer_block

EPS = 1e-5


def _layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + EPS) * scale + bias


def _causal_attention(q: jax.Array, k: jax.Array, v: jax.Array, heads: int) -> jax.Array:
    *lead, seq, d = q.shape
    split = (*lead, seq, heads, d // heads)
    q, k, v = q.reshape(split), k.reshape(split), v.reshape(split)
    scores = jnp.einsum("...qhc,...khc->...hqk", q, k) / math.sqrt(d // heads)
    mask = jnp.tril(jnp.ones((seq, seq), bool))
    weights = jax.nn.softmax(jnp.where(mask, scores, -1e9), axis=-1)
    return jnp.einsum("...hqk,...khc->...qhc", weights, v).reshape(*lead, seq, d)


def hand_batched_block(p: dict[str, jax.Array], x: jax.Array, heads: int) -> jax.Array:
    """The transformer block on ``(batch, seq, d)``, written by hand (the batched lowering)."""
    y = _layer_norm(x, p["ln1.scale"], p["ln1.bias"])
    q = y @ p["attn.q.w"] + p["attn.q.b"]
    k = y @ p["attn.k.w"] + p["attn.k.b"]
    v = y @ p["attn.v.w"] + p["attn.v.b"]
    x = x + _causal_attention(q, k, v, heads) @ p["attn.o.w"] + p["attn.o.b"]
    y = _layer_norm(x, p["ln2.scale"], p["ln2.bias"])
    hidden = jax.nn.gelu(y @ p["mlp.fc1.w"] + p["mlp.fc1.b"], approximate=True)
    return x + hidden @ p["mlp.fc2.w"] + p["mlp.fc2.b"]


def instructions(compiled: Any) -> int:
    """The number of instructions in an optimised HLO module (fusion bodies included)."""
    return sum(
        bool(re.match(r"\s*(ROOT )?%\S+ = ", line)) for line in compiled.as_text().splitlines()
    )


def flops(compiled: Any) -> float:
    cost = compiled.cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost).get("flops", 0.0))


def variants(seq: int, d: int, heads: int) -> tuple[Any, dict[str, Callable[..., Any]]]:
    """The block's parameters and the two batched forward functions ``(params, xs) -> ys``."""
    block = transformer_block(seq, d, heads)
    return block, {
        "vmap(compile(block))": batched(block),
        "batched lowering (by hand)": lambda p, xs: hand_batched_block(p, xs, heads),
    }


def measure(batch: int, seq: int, d: int, heads: int, repeats: int = 20) -> list[dict[str, Any]]:
    """Compile both variants, then time them interleaved (fair under a shared machine)."""
    block, fns = variants(seq, d, heads)
    params = init(block, jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (batch, seq, d))
    rows, runs = [], {}
    for name, fn in fns.items():
        fwd = jax.jit(fn)
        step = jax.jit(jax.value_and_grad(lambda p, x, fn=fn: jnp.mean(fn(p, x) ** 2)))
        cf, cs = fwd.lower(params, xs).compile(), step.lower(params, xs).compile()
        runs[name] = {"fwd": cf, "step": cs}
        rows.append(
            {
                "variant": name,
                "fwd HLO instr": instructions(cf),
                "step HLO instr": instructions(cs),
                "fwd GFLOP": flops(cf) / 1e9,
            }
        )
    times: dict[tuple[str, str], list[float]] = {}
    for compiled in runs.values():  # warm up
        for fn in compiled.values():
            jax.block_until_ready(fn(params, xs))
    for _ in range(repeats):
        for name, compiled in runs.items():
            for kind, fn in compiled.items():
                t = time.perf_counter()
                jax.block_until_ready(fn(params, xs))
                times.setdefault((name, kind), []).append(time.perf_counter() - t)
    for row in rows:
        for kind in ("fwd", "step"):
            ts = times[(row["variant"], kind)]
            row[f"{kind} ms (min)"] = 1e3 * min(ts)
            row[f"{kind} ms (median)"] = 1e3 * statistics.median(ts)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rows = measure(args.batch, args.seq, args.d, args.heads, args.repeats)
    print(
        f"device: {jax.devices()[0].device_kind}; batch {args.batch}, seq {args.seq},"
        f" d {args.d}, heads {args.heads}"
    )
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(
            " | ".join(f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys)
        )


if __name__ == "__main__":
    main()
