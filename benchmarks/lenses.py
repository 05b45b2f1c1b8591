"""Training through the composite lens against optax: the trajectory and the time per step.

    .venv/bin/python benchmarks/lenses.py                  # both models, every learner
    .venv/bin/python benchmarks/lenses.py --rounds 100 --models mlp

For each model (the digits MLP ``mlp([64, 32, 10])``, batch 64; the demo transformer,
``build_model(DemoConfig(d_model=32, heads=2, layers=2, seq=16), vocab=24)``, batch 8)
and each learner (gradient descent, momentum, Nesterov, Adam):

- **trajectory**: 100 steps through ``backends.jax.training.lenses.fit_lens`` and
  100 steps of ``jax.grad`` + the optax optimiser from the same parameters on the
  same batches; the largest difference of the final parameters, over all parameters
  but those whose exact gradient is zero (found in float64 at step 0: below 1e-15 of
  the largest gradient; the demo transformer's key bias ``blocks.attn.k.b``, which
  softmax cannot see), and apart, for those, their difference and their float32
  gradient relative to the largest (rounding noise, which Adam normalises to steps
  of a fraction of lr);
- **speed** (Adam only): the two jitted steps timed interleaved, round by round
  (order alternating), each to completion; the median of the per-round ratios
  lens / optax with quartiles. Compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import jax  # noqa: E402
import optax  # noqa: E402

from backends.jax import apply, init  # noqa: E402
from backends.jax.training.lenses import fit_lens, training_step  # noqa: E402
from tests.backends.jax.test_lenses import (  # noqa: E402
    PAIRS,
    biggest_difference,
    demo_transformer,
    digits,
    token_batches,
    with_optax,
    xent,
)
from topos.dtypes import with_dtype  # noqa: E402
from topos.nn import mlp  # noqa: E402
from topos.objects import Fin, R  # noqa: E402
from topos.para.lens import cross_entropy  # noqa: E402


def setups() -> dict[str, Any]:
    return {
        "mlp": (lambda: mlp([64, 32, 10]), cross_entropy(R(10), Fin(10)), digits),
        "transformer": (
            lambda: demo_transformer(24, 16),
            cross_entropy(R(16, 24), Fin(24, 16)),
            lambda: token_batches(24, 16),
        ),
    }


def optax_step(p: Any, opt: Any) -> Any:
    def objective(q: Any, b: Any) -> Any:
        return jax.vmap(lambda x, t: xent(apply(p, q, x, check_ids=False), t))(*b).mean()

    @jax.jit
    def step(s: Any, q: Any, b: Any) -> Any:
        value, g = jax.value_and_grad(objective)(q, b)
        u, s = opt.update(g, s, q)
        return s, optax.apply_updates(q, u), value

    return step


def gradient_sizes(p: Any, batch: Any, dtype: str) -> dict[str, float]:
    """max |d loss / d param| per parameter at step 0 (jax.grad, ``init(p, key(0))``)."""
    with jax.enable_x64(dtype == "float64"):
        q = with_dtype(p, dtype)
        params = init(q, jax.random.key(0))

        def objective(v: Any) -> Any:
            xs, ts = batch
            return jax.vmap(lambda x, t: xent(apply(q, v, x, check_ids=False), t))(xs, ts).mean()

        grads = jax.jit(jax.grad(objective))(params)
        return {k: float(abs(g).max()) for k, g in grads.items()}


def zero_gradient_paths(p: Any, batch: Any) -> dict[str, float]:
    """The parameters whose exact gradient is zero, with their float32 gradient / the largest."""
    exact, rounded = gradient_sizes(p, batch, "float64"), gradient_sizes(p, batch, "float32")
    top, top32 = max(exact.values()), max(rounded.values())
    return {k: rounded[k] / top32 for k, v in exact.items() if v <= 1e-15 * top}


def speed(p: Any, loss: Any, batches: Any, rounds: int) -> str:
    learner, opt = PAIRS["adam"][0](), PAIRS["adam"][1]()
    params = init(p, jax.random.key(0))
    ours, theirs = training_step(p, loss, learner), optax_step(p, opt)
    states = [learner.init(params), opt.init(params)]
    b = batches(0)
    for fn, s in ((ours, states[0]), (theirs, states[1])):
        jax.block_until_ready(fn(s, params, b))
    ratios = []
    for k in range(rounds):
        times = [0.0, 0.0]
        order = [(0, ours), (1, theirs)] if k % 2 == 0 else [(1, theirs), (0, ours)]
        for i, fn in order:
            t = time.perf_counter()
            jax.block_until_ready(fn(states[i], params, b))
            times[i] = time.perf_counter() - t
        ratios.append(times[0] / times[1])
    q1, med, q3 = statistics.quantiles(ratios, n=4)
    return f"{med:.3f} ({q1:.3f}–{q3:.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--models", nargs="*", default=["mlp", "transformer"])
    args = ap.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    print(
        "| model | learner | max abs diff to optax after the steps (all but zero-gradient"
        " parameters) | zero-gradient parameters: diff (float32 gradient / largest)"
        " | lens / optax per step (Adam) |"
    )
    print("|---|---|---|---|---|")
    for name in args.models:
        build, loss, make_batches = setups()[name]
        p = build()
        zero = zero_gradient_paths(p, make_batches()(0))
        for learner_name, (learner, opt) in PAIRS.items():
            params = init(p, jax.random.key(0))
            ours, _ = fit_lens(p, loss, learner(), params, make_batches(), args.steps)
            theirs = with_optax(p, xent, opt(), params, make_batches(), args.steps)
            ratio = speed(p, loss, make_batches(), args.rounds) if learner_name == "adam" else ""
            rest = {k: v for k, v in ours.items() if k not in zero}
            diff = biggest_difference(rest, theirs)
            apart = ", ".join(
                f"`{k}` {biggest_difference({k: ours[k]}, theirs):.1e} ({g:.0e})"
                for k, g in zero.items()
            )
            row = f"| {name} | {learner_name} | {diff:.1e} | {apart or '—'} | {ratio} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
