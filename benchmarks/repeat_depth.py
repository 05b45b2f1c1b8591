"""Compile time of a deep stack: ``repeat`` (one scan) versus the unrolled composite.

A residual block built from simple registered boxes (affine maps, tanh, add) is
stacked 2, 8 and 24 times, once with ``topos.para.repeat`` (stacked parameters,
one ``jax.lax.scan``) and once unrolled (``topos.para.unroll``: one copy of the
block per layer). For each depth the script reports, side by side, the time to
trace, lower and compile a jitted training step (value and gradient; best of
three fresh compilations, after a warm-up), the number
of instructions in the optimised HLO, and the steady-state step time.

    .venv/bin/python benchmarks/repeat_depth.py [--depths 2 8 24 --d 64 --batch 32]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp

from backends.jax import batched, init, register
from topos.arrows import Box, Id, copy
from topos.objects import R
from topos.para import Para, glorot_uniform, repeat, unroll, zeros


def _affine(box: Box, v: Any) -> Any:
    (w, b), x = v
    return x @ w + b


register("bench.affine", _affine, cls="linear", replace=True)
register("bench.tanh", lambda box, x: jnp.tanh(x), cls="smooth", replace=True)
register("bench.add", lambda box, v: v[0] + v[1], cls="linear", replace=True)


def block(d: int) -> Para:
    """``x + affine2(tanh(affine1(x)))`` on ``R(d)``: a residual MLP block."""

    def affine(name: str) -> Para:
        P = R(d, d) * R(d)
        layer = Para(P, Box("bench.affine", P * R(d), R(d)), {"w": glorot_uniform, "b": zeros})
        return layer.named(name)

    a = R(d)
    body = affine("fc1") >> Box("bench.tanh", a, a) >> affine("fc2")
    return Para.lift(copy(a)) >> (body * Para.lift(Id(a))) >> Box("bench.add", a * a, a)


def instructions(compiled: Any) -> int:
    return sum(
        bool(re.match(r"\s*(ROOT )?%\S+ = ", line)) for line in compiled.as_text().splitlines()
    )


def measure(p: Para, batch: int, d: int, repeats: int, trials: int = 3) -> dict[str, float]:
    """Compile time (best of ``trials``), HLO size and median step time of a train step."""
    run = batched(p)
    params = init(p, jax.random.key(0))
    xs = jnp.ones((batch, d))
    compile_times = []
    for _ in range(trials):  # a fresh function each time: trace, lower, compile anew
        step = jax.jit(jax.value_and_grad(lambda q, x: jnp.mean(run(q, x) ** 2)))
        t0 = time.perf_counter()
        compiled = step.lower(params, xs).compile()
        compile_times.append(time.perf_counter() - t0)
    compile_s = min(compile_times)
    jax.block_until_ready(compiled(params, xs))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(params, xs))
        times.append(time.perf_counter() - t)
    return {
        "compile s": compile_s,
        "HLO instr": instructions(compiled),
        "step ms": 1e3 * statistics.median(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 8, 24])
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].device_kind}; d {args.d}, batch {args.batch}")
    measure(block(args.d), args.batch, args.d, 1, 1)  # warm up JAX itself
    print(
        "layers | repeat: compile s | HLO instr | step ms"
        " | unrolled: compile s | HLO instr | step ms"
    )
    for n in args.depths:
        deep = repeat(block(args.d), n)
        a = measure(deep, args.batch, args.d, args.repeats)
        b = measure(unroll(deep), args.batch, args.d, args.repeats)
        print(
            f"{n:6d} | {a['compile s']:.3f} | {a['HLO instr']:.0f} | {a['step ms']:.3f}"
            f" | {b['compile s']:.3f} | {b['HLO instr']:.0f} | {b['step ms']:.3f}"
        )


if __name__ == "__main__":
    main()
