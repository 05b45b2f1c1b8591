"""``from_jax`` round trips: the imported diagram against the original, value and speed.

For each model — zoo models compiled by the backend and re-imported, an Equinox
transformer, a Flax NNX MLP — this script imports the jitted original with
``backends.jax.from_jax``, and measures, on a batch (``jax.vmap``):

- the largest absolute difference of the outputs (float32);
- the number of instructions of the two optimised HLO modules (the same
  primitives, so the same program up to names);
- the wall time of the imported compiled function over the original's, both
  jitted, timed interleaved round by round in one process (each side's time in a
  round is its best of three calls): the median ratio and its quartiles (target
  <= 1.02).

Then the speed-up ``optimize`` gives a linear attention ``(Q Kᵀ) V`` (n = 1024),
written natively and imported from ``jnp`` code: unoptimised over optimised
compiled time, each measured the same way.

    .venv/bin/python benchmarks/from_jax.py [--rounds 30 --batch 64] [--out report.md]

Nothing is written unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from flax import nnx

from backends.jax import apply, compile, from_jax, imported_params, init
from topos import Arrow, Fin
from topos.nn.zoo import ARCHITECTURES

ZOO = ["mlp (relu)", "cnn (relu)", "rnn (tanh)", "linear attention", "transformer"]

Fn = Callable[[Any, Any], Any]


class Attention(eqx.Module):
    """Multi-head self-attention, written as an Equinox user would."""

    wq: jax.Array
    wk: jax.Array
    wv: jax.Array
    wo: jax.Array
    heads: int = eqx.field(static=True)

    def __init__(self, d: int, heads: int, key: jax.Array) -> None:
        ks = jax.random.split(key, 4)
        self.wq, self.wk, self.wv, self.wo = (jax.random.normal(k, (d, d)) / d**0.5 for k in ks)
        self.heads = heads

    def __call__(self, x: jax.Array) -> jax.Array:
        s, d = x.shape
        h = self.heads
        q, k, v = ((x @ w).reshape(s, h, d // h) for w in (self.wq, self.wk, self.wv))
        a = jax.nn.softmax(jnp.einsum("shd,thd->hst", q, k) / (d // h) ** 0.5, axis=-1)
        return jnp.einsum("hst,thd->shd", a, v).reshape(s, d) @ self.wo


class Block(eqx.Module):
    ln1: eqx.nn.LayerNorm
    ln2: eqx.nn.LayerNorm
    attn: Attention
    up: eqx.nn.Linear
    down: eqx.nn.Linear

    def __init__(self, d: int, heads: int, key: jax.Array, ratio: int = 4) -> None:
        k1, k2, k3 = jax.random.split(key, 3)
        self.ln1, self.ln2 = eqx.nn.LayerNorm(d), eqx.nn.LayerNorm(d)
        self.attn = Attention(d, heads, k1)
        hidden = ratio * d
        self.up, self.down = eqx.nn.Linear(d, hidden, key=k2), eqx.nn.Linear(hidden, d, key=k3)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.attn(jax.vmap(self.ln1)(x))
        return x + jax.vmap(lambda t: self.down(jax.nn.gelu(self.up(self.ln2(t)))))(x)


class NnxMLP(nnx.Module):
    def __init__(self, sizes: list[int], rngs: nnx.Rngs) -> None:
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:], strict=False)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


def _zoo(name: str, batch: int) -> tuple[Fn, Fn, Any, Any]:
    p = ARCHITECTURES[name](False)
    params = init(p, jax.random.key(0))
    dom = p.dom
    key = jax.random.key(1)
    if isinstance(dom, Fin):
        xs = jax.random.randint(key, (batch, *dom.shape), 0, dom.n)
    else:
        xs = jax.random.normal(key, (batch, *dom.shape))

    def original(params: Any, x: Any) -> Any:
        return apply(p, params, x, check_ids=False)

    q = from_jax(original, xs[0], params=params)

    def imported(params: Any, x: Any) -> Any:
        return apply(q, params, x, check_ids=False)

    return original, imported, params, xs


def _module(model: Any, xs: Any) -> tuple[Fn, Fn, Any, Any]:
    tree, static = (
        eqx.partition(model, eqx.is_inexact_array)
        if isinstance(model, eqx.Module)
        else (None, None)
    )
    q = from_jax(model, xs[0])
    params = imported_params(model)

    if isinstance(model, eqx.Module):

        def original(t: Any, x: Any) -> Any:
            return eqx.combine(t, static)(x)

        state: Any = tree
    else:
        graphdef, state, rest = nnx.split(model, nnx.Param, ...)

        def original(t: Any, x: Any) -> Any:
            return nnx.merge(graphdef, t, rest)(x)

    def imported(params: Any, x: Any) -> Any:
        return apply(q, params, x)

    # the two take their parameters as each library holds them
    return original, imported, (state, params), xs


def _time(fn: Callable[[], Any], repeat: int = 3) -> float:
    """The best of ``repeat`` calls: on a shared machine, the least disturbed one."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def instructions(fn: Any, *args: Any) -> int:
    """The number of instructions of the optimised HLO module (fusion bodies included)."""
    text = fn.lower(*args).compile().as_text()
    return sum(bool(re.match(r"\s*(ROOT )?%\S+ = ", line)) for line in text.splitlines())


def ratio(f: Callable[[], Any], g: Callable[[], Any], rounds: int) -> tuple[float, float, float]:
    """Quartiles (q1, median, q3) of time(g) / time(f), interleaved round by round."""
    for _ in range(3):  # warm up
        _time(f)
        _time(g)
    ratios = []
    for i in range(rounds):  # the order alternates round by round
        if i % 2:
            t_g, t_f = _time(g), _time(f)
        else:
            t_f, t_g = _time(f), _time(g)
        ratios.append(t_g / t_f)
    q1, med, q3 = statistics.quantiles(ratios, n=4)
    return q1, med, q3


def measure(
    original: Fn, imported: Fn, params: Any, xs: Any, rounds: int
) -> tuple[float, int, int, float, float, float]:
    """Max |difference|, HLO sizes and the quartiles of the time ratio imported / original."""
    p_orig, p_imp = params if isinstance(params, tuple) else (params, params)
    f = jax.jit(jax.vmap(original, in_axes=(None, 0)))
    g = jax.jit(jax.vmap(imported, in_axes=(None, 0)))
    a, b = f(p_orig, xs), g(p_imp, xs)
    diff = float(jnp.max(jnp.abs(a - b)))
    sizes = instructions(f, p_orig, xs), instructions(g, p_imp, xs)
    q1, med, q3 = ratio(lambda: f(p_orig, xs), lambda: g(p_imp, xs), rounds)
    return diff, *sizes, med, q1, q3


def speedups(rounds: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``optimize``'s speed-up of a linear attention, native and imported: (q1, med, q3) each."""
    from topos.rewrite import optimize  # noqa: PLC0415 - the optimize extra
    from topos.rewrite.examples import linear_attention  # noqa: PLC0415

    n, d = 1024, 16
    q = jax.random.normal(jax.random.key(0), (n, d))
    native = linear_attention(n, d)
    imported = from_jax(lambda q, k, v: (q @ k.T) @ v, q, q, q)
    out = []
    for arrow in (native, imported):
        assert isinstance(arrow, Arrow)
        slow = jax.jit(compile(arrow))
        fast = jax.jit(compile(optimize(arrow).arrow))
        x = ((q, q), q)
        q1, med, q3 = ratio(lambda f=fast, x=x: f(x), lambda s=slow, x=x: s(x), rounds)
        out.append((med, q1, q3))
    return out[0], out[1]


def rows(rounds: int, batch: int) -> list[tuple[str, float, int, int, float, float, float]]:
    out = []
    cases: list[tuple[str, Callable[[], tuple[Fn, Fn, Any, Any]]]] = [
        (f"zoo: {name}", lambda name=name: _zoo(name, batch)) for name in ZOO
    ]
    eqx_model = Block(64, 4, jax.random.key(0))
    cases.append(
        (
            "Equinox transformer block (seq 32, d 64)",
            lambda: _module(eqx_model, jax.random.normal(jax.random.key(1), (batch, 32, 64))),
        )
    )
    nnx_model = NnxMLP([64, 256, 256, 10], nnx.Rngs(0))
    cases.append(
        (
            "Flax NNX ReLU MLP (64-256-256-10)",
            lambda: _module(nnx_model, jax.random.normal(jax.random.key(1), (batch, 64))),
        )
    )
    print(f"{'model':42s} {'max|diff|':>9s} {'HLO instr.':>11s}  time imported/original")
    for name, make in cases:
        diff, n_f, n_g, med, q1, q3 = measure(*make(), rounds=rounds)
        out.append((name, diff, n_f, n_g, med, q1, q3))
        print(f"{name:42s} {diff:9.1e} {n_f:5d}/{n_g:<5d}  {med:.3f} [{q1:.3f}, {q3:.3f}]")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default=None, help="write a markdown table here")
    args = parser.parse_args()
    table = rows(args.rounds, args.batch)
    native, imported = speedups(args.rounds)
    speed = (
        f"optimize's speed-up of a linear attention (n 1024): native {native[0]:.2f}x"
        f" [{native[1]:.2f}, {native[2]:.2f}], imported {imported[0]:.2f}x"
        f" [{imported[1]:.2f}, {imported[2]:.2f}]"
    )
    print(speed)
    if args.out:
        lines = [
            "| model | max abs difference | HLO instructions original/imported"
            " | time imported/original, median [q1, q3] |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {n} | {d:.1e} | {a}/{b} | {m:.3f} [{q1:.3f}, {q3:.3f}] |"
            for n, d, a, b, m, q1, q3 in table
        ]
        lines += ["", speed]
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
