"""How fast regions are enumerated and decisions explained (``backends.jax.logic``).

Run from the repository root::

    OPENBLAS_NUM_THREADS=1 python benchmarks/regions.py            # figures 1 and 2
    OPENBLAS_NUM_THREADS=1 python benchmarks/regions.py --plot     # and redraw docs/img/
    OPENBLAS_NUM_THREADS=1 python benchmarks/regions.py --resnet   # figure 3 (minutes)

1. A 2-16-16-1 ReLU MLP trained on two moons (generated, scaled into the square
   ``[-1, 1]^2``): all its activation regions on the square, exact, by the 2-D
   traversal. The first call (which compiles the batched pattern and affine maps)
   and the best of 5 warm calls are reported, with the region count and a check
   that dense sampling finds no region the traversal missed.
2. The digits MLP (64-128-10, as in ``examples/digits.py``, trained briefly):
   ``explain`` on test images, first call and median of warm calls, side by side
   (interleaved) with the reference path (the certification and LP settings of
   before, ``explain_reference``), checked to give the same rules and
   counterfactual distances; one explanation printed.
3. ``--resnet``: the zoo's ResNet (three residual conv blocks, max-pool,
   mean-pool; about 8,000 branch conditions) trained briefly on the digits:
   ``explain`` without a time limit on test images, interleaved with the
   reference path (``explain_reference``: the earlier certification and
   full-size LPs; like the ``explain`` of before, it cannot finish here) under
   a budget (``--before-budget``, 60 s), whose verdict says how far it got;
   one explanation printed.

Times are wall-clock on whatever machine runs this; they are not asserted
anywhere (the tests check correctness, not speed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from backends.jax import batched, fit, init  # noqa: E402
from backends.jax.logic import PLNet, explain, local_map, plot_regions, regions  # noqa: E402
from backends.jax.logic.explanations import explain_reference  # noqa: E402
from topos.nn import mlp  # noqa: E402
from topos.nn.zoo import resnet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def moons(n: int = 600, noise: float = 0.12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, scaled into ``[-1, 1]^2``; labels 0 and 1."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    y = rng.integers(0, 2, n)
    x = np.where(
        y[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    )
    x = x + noise * rng.normal(size=x.shape)
    x = (x - [0.5, 0.25]) / [1.6, 1.0]
    return x.astype(np.float32), y.astype(np.int32)


def train(p: Any, x: np.ndarray, y: np.ndarray, loss_kind: str, steps: int, seed: int = 0) -> Any:
    forward = batched(p)

    def loss(params: Any, b: tuple[Any, Any]) -> Any:
        out = forward(params, b[0])
        if loss_kind == "binary":
            return optax.sigmoid_binary_cross_entropy(out[:, 0], b[1].astype(out.dtype)).mean()
        return optax.softmax_cross_entropy_with_integer_labels(out, b[1]).mean()

    rng = np.random.default_rng(seed + 1)

    def batches(step: int) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(y), 128)
        return x[idx], y[idx]

    result = fit(
        loss,
        init(p, jax.random.key(seed)),
        batches,
        optimizer=optax.adam(1e-2 if loss_kind == "binary" else 3e-3),
        steps=steps,
        progress=False,
    )
    return result.params


def moons_net() -> tuple[PLNet, np.ndarray, np.ndarray]:
    """The 2-16-16-1 ReLU net trained on two moons (accuracy printed)."""
    x, y = moons()
    p = mlp([2, 16, 16, 1])
    params = train(p, x, y, "binary", steps=600)
    net = PLNet(p, params)
    acc = float(np.mean((net.record_many(x)[0][:, 0] > 0) == y))
    print(f"two moons: 2-16-16-1 ReLU MLP, train accuracy {acc:.1%}")
    return net, x, y


def bench_regions(net: PLNet) -> Any:
    t0 = time.perf_counter()
    found = regions(net, [-1, 1], progress=False)
    first = time.perf_counter() - t0
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        found = regions(net, [-1, 1], progress=False)
        warm.append(time.perf_counter() - t0)
    grid = np.random.default_rng(0).uniform(-1, 1, size=(20000, 2))
    _, _, dec = net.record_many(grid)
    sampled = {
        b"".join(np.ascontiguousarray(d[i], np.int32).tobytes() for d in dec)
        for i in range(len(grid))
    }
    missed = len(sampled - {c.key for c in found.cells})
    kind = "exact" if found.exact else "lower bound"
    print(
        f"regions on [-1, 1]^2: {len(found)} ({kind}); first call {first:.2f} s (compiles),"
        f" warm best of 5 {min(warm):.3f} s; 20,000 samples hit {len(sampled)} regions,"
        f" {missed} missed by the traversal"
    )
    return found


def bench_explain(images: int = 10) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    import digits

    xtr, ytr, xte, yte = digits.load(0)
    p = mlp([64, 128, 10])
    params = train(p, xtr.reshape(len(xtr), 64), ytr, "softmax", steps=300)
    net = PLNet(p, params)
    xs = xte.reshape(len(xte), 64)
    acc = float(np.mean(net.record_many(xs)[0].argmax(axis=1) == yte))
    print(f"digits: 64-128-10 ReLU MLP, test accuracy {acc:.1%}")
    t0 = time.perf_counter()
    e = explain(net, xs[0], box=[0, 1])
    first = time.perf_counter() - t0
    explain_reference(net, xs[0], box=[0, 1])
    new, old = [], []
    for x in xs[1 : images + 1]:  # interleaved: both paths see the same load
        t0 = time.perf_counter()
        fast = explain(net, x, box=[0, 1])
        new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = explain_reference(net, x, box=[0, 1])
        old.append(time.perf_counter() - t0)
        same = fast.rule.names == ref.rule.names and (
            (fast.counterfactual is None) == (ref.counterfactual is None)
        )
        if same and fast.counterfactual is not None and ref.counterfactual is not None:
            same = abs(fast.counterfactual.distance - ref.counterfactual.distance) < 1e-7
        if not same:
            raise AssertionError("explain and the reference path disagree")

    def ms(ts: list[float]) -> str:
        return f"median {statistics.median(ts) * 1e3:.0f} ms (min {min(ts) * 1e3:.0f} ms)"

    print(
        f"explain (rule pruned to facets by certificates + LPs, local model, LP counterfactual):"
        f" first call {first * 1e3:.0f} ms; {images} images, side by side: now {ms(new)},"
        f" reference path (before) {ms(old)};"
        f" {statistics.median(old) / statistics.median(new):.1f}x,"
        f" same rules and counterfactual distances"
    )
    print(f"\nexplain(net, test image 0) (label {yte[0]}):\n{e}")


def resnet_net(steps: int = 300) -> tuple[PLNet, np.ndarray, np.ndarray]:
    """The zoo's ResNet trained on the digits (accuracy and set-up time printed)."""
    sys.path.insert(0, str(ROOT / "examples"))
    import digits

    xtr, ytr, xte, yte = digits.load(0)
    p = resnet()
    params = train(p, xtr.reshape(-1, 8, 8, 1), ytr, "softmax", steps=steps)
    xs = xte.reshape(len(xte), 64).astype(np.float64)
    t0 = time.perf_counter()
    net = PLNet(p, params)
    local_map(net, xs[0])
    setup = time.perf_counter() - t0
    acc = float(np.mean(net.record_many(xs)[0].argmax(axis=1) == yte))
    print(
        f"digits: ResNet (3 residual conv blocks, 16 channels, max-pool, mean-pool),"
        f" test accuracy {acc:.1%}; {net.n_constraints} branch conditions;"
        f" PLNet + first local_map {setup:.1f} s (compiles)"
    )
    return net, xs, yte


def bench_resnet(images: int, before: float) -> None:
    net, xs, ys = resnet_net()
    t0 = time.perf_counter()
    e = explain(net, xs[0], box=[0, 1], budget=None)
    first = time.perf_counter() - t0
    new, old, rows = [], [], []
    for x in xs[1 : images + 1]:  # interleaved: both paths see the same load
        t0 = time.perf_counter()
        fast = explain(net, x, box=[0, 1], budget=None)
        new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = explain_reference(net, x, box=[0, 1], budget=before)
        old.append(time.perf_counter() - t0)
        left = int(ref.undecided.sum())
        rows.append(f"{len(ref.rule) - left}/{len(ref.rule)}")
        if ref.complete and fast.rule.names != ref.rule.names:
            raise AssertionError("explain and the reference path disagree")
        print(
            f"  image: now {new[-1]:.1f} s ({len(fast.rule)} facets, complete {fast.complete});"
            f" reference {old[-1]:.1f} s, {ref.verdict()}",
            flush=True,
        )
    print(
        f"explain on the ResNet: first call {first:.1f} s (compiles the Jacobian);"
        f" {images} images, side by side: now median {statistics.median(new):.1f} s"
        f" (min {min(new):.1f} s), complete; reference path (before) under a {before:g} s"
        f" budget: median {statistics.median(old):.1f} s, rows classified {', '.join(rows)}"
    )
    print(f"\nexplain(net, test image 0) (label {ys[0]}):\n{e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--plot", action="store_true", help="redraw docs/img/regions_moons.{png,svg}"
    )
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--resnet", action="store_true", help="figure 3 only: the ResNet")
    parser.add_argument("--resnet-images", type=int, default=3)
    parser.add_argument("--before-budget", type=float, default=60.0)
    args = parser.parse_args()
    if args.resnet:
        bench_resnet(args.resnet_images, args.before_budget)
        return
    net, x, y = moons_net()
    found = bench_regions(net)
    if args.plot:
        out = ROOT / "docs" / "img" / "regions_moons"
        for suffix in ("png", "svg"):
            plot_regions(net, [-1, 1], f"{out}.{suffix}", found=found, points=x[::3], labels=y[::3])
        print(f"plot: {out}.png and .svg")
    bench_explain(args.images)


if __name__ == "__main__":
    main()
