"""Transformers learn in context by gradient descent (von Oswald et al. 2023), checked.

Three things, on the paper's in-context linear regression (``d_x = 10``, ``N = 10``,
``x ~ U(-1, 1)``, ``W ~ N(0, I)``):

1. the construction: one LSA layer (``topos.nn.lsa``) with ``gd_weights(eta)`` *is*
   one GD step (the largest deviation on the test set is printed);
2. training one LSA layer from a random initialisation with Adam (rate decaying
   along a cosine from ``--lr``: a constant small rate left some seeds on a
   rank-one saddle, see docs/experiments.md), several seeds side by side in one
   compiled program, against one GD step at its best learning rate (exact line
   search: the loss is quadratic in ``eta``);
3. the paper's alignment measures over training: the L2 distance between the two
   models' predictions and the cosine similarity (and L2 distance) of their
   sensitivities ``∂ŷ/∂x``.

Prints the table and writes ``gd_loss.png`` and ``gd_alignment.png`` to ``--out``.

    topos demo gd                               # 5 seeds, 1000 steps
    topos demo gd --seeds 2 --steps 200 --out runs/gd
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.apps.flags import Parser, UsageError, positive_float, positive_int, writable_folder
from backends.jax import apply, init
from backends.jax.experiments.icl import (
    alignment,
    best_eta,
    gd_predict,
    predictor,
    readout,
    regression,
    squared_error,
    train,
)
from topos.analysis import analyze
from topos.nn.lsa import gd_weights, lsa
from topos.para import normal

N, D_X = 10, 10
#: Optimiser steps per compiled loop (``steps`` is rounded up to a multiple).
CHUNK = 100
#: The learning-rate schedules of ``run``.
SCHEDULES = ("cosine", "constant")


def run(
    seeds: int = 5,
    steps: int = 1000,
    batch: int = 256,
    learning_rate: float = 5e-3,
    init_std: float = 0.05,
    schedule: str = "cosine",
    test_size: int = 2048,
    every: int = 100,
    out: Path | None = None,
    say: Any = print,
) -> dict[str, Any]:
    """Run the experiment; return the per-seed results and the curves (and plot if ``out``).

    ``schedule`` is ``"cosine"`` (Adam's rate decays from ``learning_rate`` to 0 over
    the run) or ``"constant"``.
    """
    import optax

    if schedule not in SCHEDULES:
        raise ValueError(f"gd: schedule must be one of {SCHEDULES}, got {schedule!r}")
    _check_sizes(seeds=seeds, steps=steps, batch=batch, test_size=test_size, every=every)
    _check_positive(learning_rate=learning_rate, init_std=init_std)
    t0 = time.perf_counter()
    steps = -(-steps // CHUNK) * CHUNK
    rate: Any = learning_rate
    if schedule == "cosine":
        rate = optax.cosine_decay_schedule(learning_rate, steps)
    layer = lsa(N + 1, D_X + 1, context=N, init=normal(init_std))
    report = analyze(layer)
    say(f"LSA layer: {layer.dom} -> {layer.cod}, {layer.num_params()} parameters;"
        f" analyze: {report.order} order, {report.cls} (degree {report.degree}),"
        f" lives in the {report.lives_in}")  # fmt: skip
    test = regression(jax.random.key(10_000), test_size, n=N, d_x=D_X)
    eta = best_eta(test.z, test.y)
    gd = jax.jit(jax.vmap(lambda z: gd_predict(z, eta)))
    gd_loss = float(squared_error(gd(test.z), test.y))
    zero_loss = float(squared_error(jnp.zeros_like(test.y), test.y))

    built = {k: jnp.asarray(v) for k, v in gd_weights(float(eta), N, D_X).items()}
    as_gd = jax.jit(jax.vmap(lambda z: readout(apply(layer, built, z), 1)))(test.z)
    construction = float(jnp.max(jnp.abs(as_gd - gd(test.z))))
    say(f"construction: LSA with gd_weights(eta*) vs one GD step, max |Δŷ| = {construction:.2e}"
        " (float32)")  # fmt: skip

    pred = predictor(layer, 1)
    params = jax.vmap(lambda k: init(layer, k))(jax.random.split(jax.random.key(0), seeds))
    data_keys = jax.random.split(jax.random.key(1), seeds)
    probe = test.z[:256]

    @jax.jit
    def evaluate(ps: Any) -> Any:
        def one(p: Any) -> Any:
            loss = squared_error(jax.vmap(lambda z: pred(p, z))(test.z), test.y)
            a = alignment(lambda z: pred(p, z), lambda z: gd_predict(z, eta), probe)
            return loss, a.preds_l2, a.sens_cos, a.sens_l2

        return jax.vmap(one)(ps)

    curves: dict[str, list[Any]] = {k: [] for k in ("step", "loss", "l2", "cos", "sens_l2")}

    def log(step: int, ps: Any, train_loss: jax.Array) -> None:
        if step % every and step != steps:
            return
        values = [np.asarray(v) for v in evaluate(ps)]
        for k, v in zip(("loss", "l2", "cos", "sens_l2"), values, strict=True):
            curves[k].append(v.tolist())
        curves["step"].append(step)
        say(f"  step {step:5d}  test loss {values[0].mean():.4f}  (GD {gd_loss:.4f})"
            f"  L2 {values[1].mean():.4f}  cos {values[2].mean():.4f}"
            f"  [{time.perf_counter() - t0:.0f} s]")  # fmt: skip

    log(0, params, jnp.zeros(seeds))
    train(pred, params, lambda k, b: regression(k, b, n=N, d_x=D_X), data_keys,
          steps=steps, batch=batch, learning_rate=rate, chunk=CHUNK, on_chunk=log)  # fmt: skip
    final = {k: np.asarray(curves[k][-1]) for k in ("loss", "l2", "cos", "sens_l2")}
    result = {
        "seeds": list(range(seeds)),
        "eta_star": float(eta),
        "gd_loss": gd_loss,
        "zero_loss": zero_loss,
        "construction_max_abs": construction,
        "final": {k: v.tolist() for k, v in final.items()},
        "curves": curves,
        "config": {"steps": steps, "batch": batch, "learning_rate": learning_rate,
                   "schedule": schedule,
                   "init_std": init_std, "test_size": test_size, "n": N, "d_x": D_X},
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    say("")
    say(table(result))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gd.json").write_text(json.dumps(result, indent=1))
        for path in plot(result, out):
            say(f"wrote {path}")
    say(f"total {result['seconds']:.1f} s")
    return result


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"gd: {name} must be an integer >= 1, got {value!r}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"gd: {name} must be a positive finite number, got {value!r}")


def _ms(v: Any) -> str:
    a = np.asarray(v)
    return f"{a.mean():.4f} ± {a.std():.4f}"


def table(result: dict[str, Any]) -> str:
    """The Markdown table of the final measures (mean ± std over seeds)."""
    f = result["final"]
    n = len(result["seeds"])
    rows = [
        f"| measure (test set, {n} seeds: mean ± std) | value |",
        "|---|---|",
        f"| loss of the trained 1-layer LSA | {_ms(f['loss'])} |",
        f"| loss of 1 GD step, eta* = {result['eta_star']:.3f} (line search) |"
        f" {result['gd_loss']:.4f} |",
        f"| loss of predicting 0 | {result['zero_loss']:.4f} |",
        f"| L2 distance of predictions, LSA vs GD | {_ms(f['l2'])} |",
        f"| cosine of sensitivities ∂ŷ/∂x, LSA vs GD | {_ms(f['cos'])} |",
        f"| L2 distance of sensitivities | {_ms(f['sens_l2'])} |",
        f"| construction gd_weights(eta*) vs GD, max abs | {result['construction_max_abs']:.1e} |",
        "",
        "| seed | LSA loss | L2 preds | cos ∂ŷ/∂x |",
        "|---|---|---|---|",
    ]
    for s, (loss, l2, cos) in enumerate(zip(f["loss"], f["l2"], f["cos"], strict=True)):
        rows.append(f"| {s} | {loss:.4f} | {l2:.4f} | {cos:.4f} |")
    return "\n".join(rows)


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """Write ``gd_loss.png`` and ``gd_alignment.png`` (mean over seeds, band = min..max)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result["curves"]
    steps = np.asarray(c["step"])

    def band(ax: Any, key: str, label: str, color: str) -> None:
        v = np.asarray(c[key])
        ax.plot(steps, v.mean(1), color=color, label=label)
        ax.fill_between(steps, v.min(1), v.max(1), color=color, alpha=0.25)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    band(ax, "loss", f"trained LSA ({len(result['seeds'])} seeds)", "C0")
    ax.axhline(
        result["gd_loss"], color="C3", ls="--", label=f"1 GD step, η*={result['eta_star']:.2f}"
    )
    ax.set(xlabel="training step", ylabel="test loss ½|ŷ−y|²", yscale="log",
           title="In-context regression (d=10, N=10)")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    loss_path = out / "gd_loss.png"
    fig.savefig(loss_path, dpi=120)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    band(a1, "l2", "preds L2 (LSA vs GD)", "C0")
    band(a1, "sens_l2", "sensitivities L2", "C2")
    a1.set(xlabel="training step", yscale="log", title="distance")
    a1.legend()
    band(a2, "cos", "cosine of ∂ŷ/∂x", "C1")
    a2.set(xlabel="training step", title="alignment", ylim=(-0.1, 1.05))
    a2.legend(loc="lower right")
    fig.tight_layout()
    align_path = out / "gd_alignment.png"
    fig.savefig(align_path, dpi=120)
    plt.close(fig)
    return [loss_path, align_path]


def main(argv: list[str] | None = None) -> int:
    """The command line: ``topos demo gd [--seeds S] [--steps T] [--out DIR]``.

    Every flag is checked before anything runs, and so is the output folder (made if
    missing, and written to once), so a run never ends unable to write its results.
    A bad flag raises ``backends.apps.flags.UsageError`` (one line).

    >>> main(["--seeds", "0"])
    Traceback (most recent call last):
    ...
    backends.apps.flags.UsageError: argument --seeds: expected an integer >= 1, got 0 ...
    """
    parser = Parser(prog="topos demo gd", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=5, help="runs side by side")
    parser.add_argument("--steps", type=positive_int, default=1000, help="training steps")
    parser.add_argument("--batch", type=positive_int, default=256, help="problems per step")
    parser.add_argument(
        "--lr", type=positive_float, default=5e-3, help="Adam's (peak) learning rate"
    )
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    parser.add_argument(
        "--init-std", type=positive_float, default=0.05, help="std of the initial weights"
    )
    parser.add_argument("--out", type=Path, default=Path("out/gd"), help="output folder")
    args = parser.parse_args(argv)
    try:
        writable_folder(args.out)
    except OSError as err:
        raise UsageError(str(err)) from None
    run(args.seeds, args.steps, args.batch, args.lr, args.init_std, args.schedule, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
