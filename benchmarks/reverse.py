"""The backward pass compiled from ``reverse(f)`` against ``jax.vjp``, side by side.

    .venv/bin/python benchmarks/reverse.py                 # prints the table
    .venv/bin/python benchmarks/reverse.py --rounds 200    # more rounds
    .venv/bin/python benchmarks/reverse.py --hlo NAME      # and the HLO ops that differ
    .venv/bin/python benchmarks/reverse.py --per-example   # the vmap-then-sum backward

For each model of the zoo (small sizes, a batch of ``--batch`` examples) two jitted
functions of ``(params, batch, cotangent)`` compute the parameters' cotangents:

- **reverse**: ``backends.jax.core.reverse.batched_backward``: ``reverse(p.arrow)``
  run on the batch by ``backends.jax.core.batch.summed``, the parameters shared
  and their cotangent summed over the batch inside the weight gradients' products
  (``R[Δ_B]`` is the sum); with ``--per-example``, ``jax.vmap`` of the per-example
  ``backward`` and then the sum (each example's weight gradient materialised);
- **jax.vjp**: ``jax.vjp`` of ``jax.vmap`` of the compiled forward.

Both are checked equal first (the relative max difference is printed). They run
interleaved round by round (order alternating); each round times ``--calls``
back-to-back calls of each, to completion; the figure is the median of the
per-round ratios reverse / jax.vjp with its quartiles. Compare ratios, not
absolute times: the machine may be shared. With ``--hlo`` each row also gives
the optimised HLO's op counts where the two programs differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from backends.jax import init  # noqa: E402
from backends.jax.core.compile import CONSTANTS, interpret  # noqa: E402
from backends.jax.core.params import cartesian, param_value  # noqa: E402
from backends.jax.core.reverse import backward, batched_backward  # noqa: E402
from topos.nn.zoo import ARCHITECTURES  # noqa: E402
from topos.objects import Fin, Ob, Product, R, Unit  # noqa: E402
from topos.para import Para  # noqa: E402

MODELS = [
    "mlp (relu)",
    "mlp (tanh)",
    "cnn (relu)",
    "cnn (gelu)",
    "rnn (tanh)",
    "gcn (relu)",
    "linear attention",
    "hypernetwork",
    "mixture of experts",
    "swiglu mlp",
    "rmsnorm",
    "transformer",
    "llama-style lm",
]


def sample(ob: Ob, key: jax.Array, batch: int) -> Any:
    """A batch of random values of ``ob``."""
    if isinstance(ob, R):
        return jax.random.normal(key, (batch, *ob.shape), ob.dtype)
    if isinstance(ob, Fin):
        return jax.random.randint(key, (batch, *ob.shape), 0, ob.n)
    if isinstance(ob, Unit):
        return ()
    assert isinstance(ob, Product)
    k1, k2 = jax.random.split(key)
    return (sample(ob.left, k1, batch), sample(ob.right, k2, batch))


def pair_of_functions(p: Para, per_example: bool = False) -> tuple[Any, Any, Any]:
    """(ours, theirs, args): two jitted gradient functions of the same arguments."""
    q = cartesian(p)
    forward, back, one = interpret(q.arrow).fn, batched_backward(q), backward(q)

    def ours(pv: Any, x: Any, ct: Any) -> Any:
        if per_example:
            dp, _ = jax.vmap(lambda xi, ci: one(((pv, xi), ci)))(x, ct)
            return jax.tree.map(lambda g: g.sum(0), dp)
        return back(((pv, x), ct))[0]

    def theirs(pv: Any, x: Any, ct: Any) -> Any:
        _, vjp = jax.vjp(lambda v: jax.vmap(lambda xi: forward((v, xi)))(x), pv)
        return vjp(ct)[0]

    return jax.jit(ours), jax.jit(theirs), q


def hlo_ops(fn: Any, *args: Any) -> Counter[str]:
    """The counts of each HLO op of the optimised program."""
    text = fn.lower(*args).compile().as_text()
    ops: Counter[str] = Counter()
    for line in text.splitlines():
        if " = " not in line or "(" not in line:
            continue
        words = line.split(" = ", 1)[1].split("(")[0].split()
        if words and not words[-1].startswith("%"):
            ops[words[-1]] += 1
    return ops


def measure(args: argparse.Namespace, name: str) -> str:
    rounds, batch, calls = args.rounds, args.batch, args.calls
    p = ARCHITECTURES[name](True)
    ours, theirs, q = pair_of_functions(p, args.per_example)
    params = init(q, jax.random.key(0))
    token = CONSTANTS.set(params)
    try:
        pv = param_value(q, params)
        x = sample(q.dom, jax.random.key(1), batch)
        ct = sample(q.cod, jax.random.key(2), batch)
        a, b = ours(pv, x, ct), theirs(pv, x, ct)
        jax.block_until_ready((a, b))
        scale = max([1.0, *(float(jnp.abs(v).max()) for v in jax.tree.leaves(b))])
        diff = max(
            float(jnp.abs(u - v).max())
            for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )
        ratios = []
        for k in range(rounds):
            order = [(0, ours), (1, theirs)] if k % 2 == 0 else [(1, theirs), (0, ours)]
            times = [0.0, 0.0]
            for i, fn in order:
                t = time.perf_counter()
                for _ in range(calls):
                    jax.block_until_ready(fn(pv, x, ct))
                times[i] = time.perf_counter() - t
            ratios.append(times[0] / times[1])
        q1, med, q3 = statistics.quantiles(ratios, n=4)
        line = f"| {name} | {diff / scale:.1e} | {med:.3f} | {q1:.3f}–{q3:.3f} |"
        if args.hlo:
            mine, ref = hlo_ops(ours, pv, x, ct), hlo_ops(theirs, pv, x, ct)
            delta = {
                k: (mine[k], ref[k]) for k in sorted(set(mine) | set(ref)) if mine[k] != ref[k]
            }
            line += f"\n    HLO ops differing (reverse, jax.vjp): {delta}"
        return line
    finally:
        CONSTANTS.reset(token)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--calls", type=int, default=1, help="calls timed together per round")
    ap.add_argument("--hlo", action="store_true", help="print the HLO ops that differ")
    ap.add_argument(
        "--per-example", action="store_true", help="time vmap of the per-example backward + sum"
    )
    ap.add_argument("models", nargs="*", default=MODELS)
    args = ap.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, batch {args.batch},"
        f" {args.rounds} interleaved rounds of {args.calls} call(s)"
        + (", per-example backward" if args.per_example else "")
    )
    print("| model | max diff / max grad | reverse / jax.vjp (median) | quartiles |")
    print("|---|---|---|---|")
    for name in args.models:
        print(measure(args, name), flush=True)


if __name__ == "__main__":
    main()
