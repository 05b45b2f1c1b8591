"""``optimize`` against hand-written JAX (run: ``python benchmarks/optimize.py [--quick]``).

Side by side in one run, each row timed as the best of a few calls of one
``jax.jit``-compiled function (compilation excluded):

- linear attention ``(Q Kᵀ) V`` (no softmax, no mask) at n = 4096, d = 64,
  forward + backward (the gradient of a sum of squares with respect to Q, K
  and V): hand-written JAX the obvious way, topos without ``optimize``, topos
  with it (reassociated to ``Q (Kᵀ V)``); the peak temporary memory XLA plans
  for each (``memory_analysis``);
- multi-head linear attention, the same per batch entry and head: einsums
  ``"bhsd,bhtd->bhst"`` then ``"bhst,bhtd->bhsd"`` at n = 4096, d = 64, 4 heads,
  forward + backward;
- a chain of four matrix products written left to right with badly ordered
  shapes, forward + backward;
- the stock transformer (the zoo's 2-layer one) and every model of the zoo,
  forward on a batch of ``ZOO_BATCH`` examples, with and without ``optimize``;
- the time ``optimize`` takes on the 24-layer stock transformer (a ``repeat``:
  its body is optimised once), first call (egglog loaded) and warm.

Prints a markdown table. ``--quick`` shrinks the sizes for a smoke test.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from backends.jax import batched, compile, init, optimized  # noqa: E402
from backends.jax.core.params import cartesian  # noqa: E402
from topos.nn.transformer import transformer  # noqa: E402
from topos.nn.zoo import ARCHITECTURES  # noqa: E402
from topos.para import Para  # noqa: E402
from topos.rewrite import RUN_MIN_GAIN, optimize  # noqa: E402
from topos.rewrite.examples import (  # noqa: E402
    chain,
    linear_attention,
    multihead_linear_attention,
)


def best(run: Callable[[], Any], repeat: int) -> float:
    """The shortest wall time of ``repeat`` runs (after one warm-up call)."""
    jax.block_until_ready(run())
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - t0)
    return min(times)


def timed(fn: Callable[[Any], Any], x: Any, repeat: int) -> float:
    """The best time of the jitted ``fn`` on ``x``."""
    return best(lambda: fn(x), repeat)


def run_para(p: Para) -> Callable[[Any], Any]:
    """``(params, xs) -> ys`` for the Para ``p``, jitted, on a batch (``batched``)."""
    return jax.jit(lambda v: batched(p)(*v))


#: Examples per zoo forward: enough that the time is the computation's, not dispatch.
ZOO_BATCH = 256


def grad_step(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Forward + backward: the gradient of ``sum(fn(x)²)`` with respect to every input."""
    return jax.jit(jax.grad(lambda x: jnp.sum(fn(x) ** 2)))


def temp_bytes(fn: Callable[[Any], Any], x: Any) -> int:
    stats = jax.jit(fn).lower(x).compile().memory_analysis()
    return int(stats.temp_size_in_bytes) if stats is not None else -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    key = jax.random.key(0)
    rows: list[tuple[str, str, str, str, str]] = []

    t0 = time.perf_counter()
    lm24 = transformer(vocab=65, seq=64, d=64, heads=4, layers=24)
    first = optimize(lm24.arrow)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    optimize(lm24.arrow)
    warm = time.perf_counter() - t0
    body = first.certificate.bodies[0]
    rows.append(
        (
            "optimize() on the 24-layer transformer",
            "vocab 65, seq 64, d 64",
            f"{cold * 1000:,.0f} ms first call",
            f"{warm * 1000:,.0f} ms warm",
            f"body: {body.iterations} iterations, {body.eclasses} e-classes,"
            f" {len(body.steps)} rewrites",
        )
    )

    n, d = (512, 16) if args.quick else (4096, 64)
    f = linear_attention(n, d)
    opt = optimize(f)
    xs = tuple(jax.random.normal(k, (n, d)) for k in jax.random.split(key, 3))
    x = ((xs[0], xs[1]), xs[2])

    def by_hand(v: Any) -> Any:
        (q, k), val = v
        return (q @ k.T) @ val

    plain, fast = compile(f), compile(opt.arrow)
    t_hand, t_plain, t_opt = (timed(grad_step(h), x, repeat) for h in (by_hand, plain, fast))
    mem = [temp_bytes(grad_step(h), x) / 2**20 for h in (by_hand, plain, fast)]
    rows.append(
        (
            "linear attention (Q Kᵀ) V, fwd + bwd",
            f"n {n}, d {d}",
            f"hand {t_hand * 1000:,.1f} ms / topos {t_plain * 1000:,.1f} ms",
            f"optimised {t_opt * 1000:,.1f} ms",
            f"**{t_hand / t_opt:.1f}x** vs hand; temp memory {mem[0]:,.1f} /"
            f" {mem[1]:,.1f} / {mem[2]:,.2f} MiB",
        )
    )

    heads = 4
    mh = multihead_linear_attention(n, d, heads=heads)
    opt_mh = optimize(mh)
    hs = tuple(jax.random.normal(k, (1, heads, n, d)) for k in jax.random.split(key, 3))
    xh = ((hs[0], hs[1]), hs[2])

    def heads_by_hand(v: Any) -> Any:
        (q, k), val = v
        scores = jnp.einsum("bhsd,bhtd->bhst", q, k)
        return jnp.einsum("bhst,bhtd->bhsd", scores, val)

    plain, fast = compile(mh), compile(opt_mh.arrow)
    t_hand, t_plain, t_opt = (timed(grad_step(h), xh, repeat) for h in (heads_by_hand, plain, fast))
    mem = [temp_bytes(grad_step(h), xh) / 2**20 for h in (heads_by_hand, plain, fast)]
    rows.append(
        (
            "multi-head linear attention, einsum bhsd,bhtd->bhst; bhst,bhtd->bhsd, fwd + bwd",
            f"n {n}, d {d}, {heads} heads",
            f"hand {t_hand * 1000:,.1f} ms / topos {t_plain * 1000:,.1f} ms",
            f"optimised {t_opt * 1000:,.1f} ms",
            f"**{t_hand / t_opt:.1f}x** vs hand; temp memory {mem[0]:,.1f} /"
            f" {mem[1]:,.1f} / {mem[2]:,.2f} MiB",
        )
    )

    shapes = [256, 32, 256, 32, 4] if args.quick else [2048, 64, 2048, 64, 8]
    g = chain(shapes)
    opt_g = optimize(g)
    mats = [
        jax.random.normal(k, (a, b))
        for k, a, b in zip(jax.random.split(key, 4), shapes, shapes[1:], strict=False)
    ]
    y = (((mats[0], mats[1]), mats[2]), mats[3])

    def chain_by_hand(v: Any) -> Any:
        ((a, b), c), e = v
        return ((a @ b) @ c) @ e

    t_hand, t_plain, t_opt = (
        timed(grad_step(h), y, repeat) for h in (chain_by_hand, compile(g), compile(opt_g.arrow))
    )
    rows.append(
        (
            "chain of 4 products, left to right, fwd + bwd",
            "x".join(map(str, shapes)),
            f"hand {t_hand * 1000:,.1f} ms / topos {t_plain * 1000:,.1f} ms",
            f"optimised {t_opt * 1000:,.1f} ms",
            f"**{t_hand / t_opt:.1f}x** vs hand; flops {opt_g.certificate.cost_before:,}"
            f" -> {opt_g.certificate.cost_after:,}",
        )
    )

    for name, build in ARCHITECTURES.items():
        p = build(True)
        q = optimized(p)  # what fit(..., optimize=True) trains
        params = init(p, key)
        dom = cartesian(p).dom
        examples = [_example(dom, k) for k in jax.random.split(key, ZOO_BATCH)]
        x0 = jax.tree.map(lambda *xs: jnp.stack(xs), *examples)
        any_saving = optimize(p.arrow)  # min_gain 1: every modeled saving taken
        if any_saving.arrow is p.arrow:  # no cheaper form at all: the same program runs
            t_plain = timed(run_para(p), (params, x0), repeat * 25)
            rows.append(
                (
                    f"zoo: {name}, forward, batch {ZOO_BATCH}",
                    "small",
                    f"{t_plain * 1e6:,.0f} µs",
                    "same arrow",
                    "1.00x: no cheaper form, identical program",
                )
            )
            continue
        # q is what runs (RUN_MIN_GAIN); r the cheapest form by the cost model alone
        r = Para(p.P, any_saving.arrow, p.params, p.actegory)
        plain_fn, opt_fn, any_fn = run_para(p), run_para(q), run_para(r)
        t_plain = t_opt = t_any = math.inf
        for _ in range(4):  # interleaved rounds, the same number of runs each (µs: many)
            t_plain = min(t_plain, timed(plain_fn, (params, x0), repeat * 25))
            if q is not p:  # else the very same program runs: 1.00x by construction
                t_opt = min(t_opt, timed(opt_fn, (params, x0), repeat * 25))
            t_any = min(t_any, timed(any_fn, (params, x0), repeat * 25))
        t_opt = t_plain if q is p else t_opt
        c = any_saving.certificate
        steps = "; ".join(f"{st.before} => {st.after}" for st in c.steps)
        ran = "same arrow (kept)" if q is p else f"optimised {t_opt * 1e6:,.0f} µs"
        rows.append(
            (
                f"zoo: {name}, forward, batch {ZOO_BATCH}",
                "small",
                f"{t_plain * 1e6:,.0f} µs",
                ran,
                f"{t_plain / t_opt:.2f}x; the cheapest form by {c.cost} ({c.cost_before:,} ->"
                f" {c.cost_after:,}) runs {t_plain / t_any:.2f}x"
                + (f", below min_gain {RUN_MIN_GAIN:g}: kept" if q is p else "")
                + f"; {steps}",
            )
        )

    command = "python benchmarks/optimize.py" + (" --quick" if args.quick else "")
    print(f"Command: `{command}` (best of {repeat}; Python {platform.python_version()},")
    print(
        f"jax {jax.__version__}, {os.cpu_count()} CPUs shared, load average"
        f" {os.getloadavg()[0]:.1f})\n"
    )
    print("| what | size | without optimize | with optimize | ratio / notes |")
    print("|---|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


def _example(ob: Any, key: Any) -> Any:
    from topos.objects import Fin

    if isinstance(ob, Fin):
        return jax.random.randint(key, ob.shape, 0, ob.n)
    if hasattr(ob, "left"):
        return (_example(ob.left, key), _example(ob.right, key))
    return jax.random.normal(key, ob.shape)


if __name__ == "__main__":
    raise SystemExit(main())
