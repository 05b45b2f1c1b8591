"""Recurrent layers: the fold (one ``lax.scan``) vs hand-written Equinox scans, side by side.

Three measurements, each in interleaved rounds in this one process (round by round,
the two sides alternate who runs first), reported as the median ratio with its
quartiles:

1. every recurrent layer of ``topos.nn.recurrent`` (RNN, GRU, LSTM, diagonal linear
   SSM, selective SSM) compiled by ``backends.jax`` against a hand-written Equinox
   module running ``jax.lax.scan`` over the same weights (``eqx.nn.GRUCell`` and
   ``LSTMCell`` for GRU and LSTM), at sequence ``--n`` (1,024), a batch of ``--batch``
   sequences (``jax.vmap``), width ``--d``. Ratio ``topos / equinox`` (target ≤ 1.05);
   the outputs are checked equal first;
2. the linear SSM's sequential form (the fold) vs its parallel form
   (``linear_ssm(..., parallel=True)``: one ``linear_scan``, which the backend runs as
   a chunked scan, ``backends.jax.core.scan``) at sequence ``--long`` (4,096). Ratio
   ``sequential / parallel`` (target ≥ 5); beside it, in the same rounds, the same
   layer with ``linear_scan`` lowered to ``lax.associative_scan`` (the balanced tree:
   ``tree / chunked``, the lowering this replaced) and the
   *dense floor* ``(x B) C + D x`` — the two matmuls and the skip that every form
   computes, without the recurrence: ``sequential / floor`` bounds what any parallel
   form can reach on this machine;
3. recurrent decoding: one token of ``generate`` (a jitted ``decode_step`` with the
   carried states as the cache) after a context of 128 vs 4,096 tokens, each model
   built with room for its context. Ratio ``4096 / 128`` (should be 1: the cache is
   one state per layer whatever the context).

    .venv/bin/python benchmarks/recurrent.py [--n 1024 --long 4096 --batch 8 --d 64
                                             --rounds 15 --quick --out PATH
                                             --only layers parallel decoding]

Nothing is written unless ``--out`` names a file (a Markdown table).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import equinox as eqx  # noqa: E402 - after the path is set
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from backends.jax import apply, register  # noqa: E402
from backends.jax.core.registry import registered  # noqa: E402
from backends.jax.core.scan import compose  # noqa: E402
from backends.jax.decoding import decode_step  # noqa: E402
from topos.nn import recurrent as rec  # noqa: E402
from topos.objects import Dim  # noqa: E402
from topos.para import Para  # noqa: E402

Array = jax.Array


# -- hand-written Equinox layers on the same weights ---------------------------------------


class EqxRNN(eqx.Module):
    wx: Array
    bx: Array
    wh: Array

    def __call__(self, xs: Array) -> Array:
        def step(h: Array, x: Array) -> tuple[Array, Array]:
            new = jnp.tanh(x @ self.wx + self.bx + h @ self.wh)
            return new, new

        return jax.lax.scan(step, jnp.zeros(self.wh.shape[0]), xs)[1]


class EqxCellScan(eqx.Module):
    """An Equinox cell (``GRUCell``/``LSTMCell``) over the sequence: the Equinox idiom."""

    cell: Any
    lstm: bool = eqx.field(static=True)

    def __call__(self, xs: Array) -> Array:
        h = jnp.zeros(self.cell.hidden_size)

        def step(s: Any, x: Array) -> tuple[Any, Array]:
            new = self.cell(x, s)
            return new, new[0] if self.lstm else new

        return jax.lax.scan(step, (h, h) if self.lstm else h, xs)[1]


class EqxSSM(eqx.Module):
    a_log: Array
    b: Array
    c: Array
    d: Array

    def __call__(self, xs: Array) -> Array:
        a = jnp.exp(-jnp.exp(self.a_log))

        def step(h: Array, x: Array) -> tuple[Array, Array]:
            h = a * h + x @ self.b
            return h, h @ self.c + self.d * x

        return jax.lax.scan(step, jnp.zeros_like(a), xs)[1]


class EqxMamba(eqx.Module):
    dt_w: Array
    dt_b: Array
    a_log: Array
    w_b: Array
    w_c: Array
    d: Array

    def __call__(self, xs: Array) -> Array:
        big_a = -jnp.exp(self.a_log)

        def step(h: Array, x: Array) -> tuple[Array, Array]:
            dt = jax.nn.softplus(x @ self.dt_w + self.dt_b)
            h = jnp.exp(dt[:, None] * big_a) * h + (dt * x)[:, None] * (x @ self.w_b)[None, :]
            return h, h @ (x @ self.w_c) + self.d * x

        return jax.lax.scan(step, jnp.zeros_like(big_a), xs)[1]


def _shapes(make: Callable[[], Any]) -> Any:
    return eqx.filter_eval_shape(make)  # the module's structure; the weights come after


def equinox_twin(kind: str, params: dict[str, Any], d: int) -> eqx.Module:
    p = {k.split(".", 1)[1]: jnp.asarray(v) for k, v in params.items()}
    if kind == "rnn":
        return EqxRNN(p["x.w"], p["x.b"], p["h.w"])
    if kind == "gru":
        cell = _shapes(lambda: eqx.nn.GRUCell(d, d, key=jax.random.key(0)))
        cell = eqx.tree_at(
            lambda c: (c.weight_ih, c.bias, c.weight_hh, c.bias_n),
            cell,
            (p["x.w"].T, p["x.b"], p["h.w"].T, p["h.bn"]),
        )
        return EqxCellScan(cell, False)
    if kind == "lstm":
        cell = _shapes(lambda: eqx.nn.LSTMCell(d, d, key=jax.random.key(0)))
        cell = eqx.tree_at(
            lambda c: (c.weight_ih, c.weight_hh, c.bias), cell, (p["x.w"].T, p["h.w"].T, p["b"])
        )
        return EqxCellScan(cell, True)
    if kind == "ssm":
        return EqxSSM(p["a_log"], p["b"], p["c"], p["d"])
    return EqxMamba(p["dt.w"], p["dt.b"], p["a_log"], p["w_b"], p["w_c"], p["d"])


def layer(kind: str, d: int, n: int, state: int, parallel: bool = False) -> Para:
    if kind == "rnn":
        return rec.rnn(d, d, n, name="l")
    if kind == "gru":
        return rec.gru(d, d, n, name="l")
    if kind == "lstm":
        return rec.lstm(d, d, n, name="l")
    if kind == "ssm":
        return rec.linear_ssm(d, state, n, parallel=parallel, name="l")
    return rec.selective_ssm(d, state, n, name="l")


def random_params(p: Para, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        k: jnp.asarray((0.3 * rng.standard_normal(v.ob.shape)).astype(np.float32))
        for k, v in p.parameters().items()
    }


# -- timing -----------------------------------------------------------------------------------


def _time(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t


def ratios(a: Callable[[], Any], b: Callable[[], Any], rounds: int) -> list[float]:
    """``time(a) / time(b)`` per round, the two alternating who goes first."""
    jax.block_until_ready(a())
    jax.block_until_ready(b())
    out = []
    for r in range(rounds):
        if r % 2:
            tb, ta = _time(b), _time(a)
        else:
            ta, tb = _time(a), _time(b)
        out.append(ta / tb)
    return out


def summary(rs: list[float]) -> str:
    q1, med, q3 = statistics.quantiles(rs, n=4) if len(rs) > 1 else (rs[0],) * 3
    return f"{med:.3f} [{q1:.3f}, {q3:.3f}]"


def bench_layers(args: argparse.Namespace) -> list[tuple[str, str, float]]:
    rows = []
    rng = np.random.default_rng(1)
    xs = jnp.asarray(rng.standard_normal((args.batch, args.n, args.d)).astype(np.float32))
    for kind in rec.KINDS:
        p = layer(kind, args.d, args.n, args.state)
        params = random_params(p)
        module = equinox_twin(kind, params, args.d)  # weights passed as arguments on both sides
        ours = jax.jit(jax.vmap(lambda q, x, p=p: apply(p, q, x), in_axes=(None, 0)))
        twin = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
        diff = float(jnp.abs(ours(params, xs) - twin(module, xs)).max())
        rs = ratios(
            lambda f=ours, q=params: f(q, xs), lambda f=twin, m=module: f(m, xs), args.rounds
        )
        rows.append((kind, summary(rs), diff))
        print(f"{kind:6s} topos/equinox at n={args.n}: {summary(rs)}  max |diff| {diff:.2e}")
    return rows


def times(fns: list[Callable[[], Any]], rounds: int) -> list[list[float]]:
    """Seconds per call of each of ``fns``, round by round, the order rotating each round."""
    for fn in fns:
        jax.block_until_ready(fn())
    out: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        order = list(range(len(fns)))
        order = order[r % len(fns) :] + order[: r % len(fns)]
        for i in order if r % 2 == 0 else order[::-1]:
            out[i].append(_time(fns[i]))
    return out


def tree_lowering(box: Any, x: Any) -> Any:
    """``linear_scan`` as ``lax.associative_scan`` (the balanced tree): the old lowering."""
    return jax.lax.associative_scan(compose, x)[1]


def traced_with(lowering: Callable[[Any, Any], Any], fn: Callable[[], Any]) -> None:
    """Trace ``fn`` (a jitted call) while ``linear_scan`` runs as ``lowering``; restore it."""
    old = registered()["linear_scan"]
    register("linear_scan", lowering, cls=old.cls, replace=True)
    try:
        jax.block_until_ready(fn())  # jit keeps what it traced
    finally:
        register("linear_scan", old.fn, cls=old.cls, replace=True)


def dense_floor(params: dict[str, Any], xs: Array) -> Array:
    """What every form computes besides the recurrence: ``(x B) C + D x`` (not the layer)."""
    p = {k.split(".", 1)[1]: v for k, v in params.items()}
    return (xs @ p["b"]) @ p["c"] + p["d"] * xs


def bench_parallel(args: argparse.Namespace) -> tuple[list[tuple[str, str]], float]:
    """Sequential fold, chunked scan, balanced tree and the dense floor, interleaved."""
    seq, par = (layer("ssm", args.d, args.long, args.state, parallel=b) for b in (False, True))
    params = random_params(seq)
    xs = jnp.asarray(
        np.random.default_rng(2).standard_normal((args.batch, args.long, args.d)).astype(np.float32)
    )
    batch = (None, 0)
    f = jax.jit(jax.vmap(lambda q, x: apply(seq, q, x), in_axes=batch))
    g = jax.jit(jax.vmap(lambda q, x: apply(par, q, x), in_axes=batch))
    tree = jax.jit(jax.vmap(lambda q, x: apply(par, q, x), in_axes=batch))
    traced_with(tree_lowering, lambda: tree(params, xs))  # the same layer, the old lowering
    floor = jax.jit(jax.vmap(dense_floor, in_axes=batch))
    diff = max(float(jnp.abs(f(params, xs) - h(params, xs)).max()) for h in (g, tree))
    t_seq, t_par, t_tree, t_floor = times([partial(h, params, xs) for h in (f, g, tree, floor)],
                                          args.rounds)  # fmt: skip
    flops = 4 * args.batch * args.long * args.d * args.state
    rows = [
        (f"linear SSM sequential/parallel, n={args.long}", per_round(t_seq, t_par)),
        (f"linear SSM tree/chunked (associative_scan / chunked), n={args.long}",
         per_round(t_tree, t_par)),
        (f"linear SSM sequential/dense floor (the bound), n={args.long}",
         per_round(t_seq, t_floor)),
    ]  # fmt: skip
    for name, s in rows:
        print(f"{name}: {s}")
    print(
        f"  medians: sequential {1e3 * statistics.median(t_seq):.2f} ms, parallel"
        f" {1e3 * statistics.median(t_par):.2f} ms, tree {1e3 * statistics.median(t_tree):.2f} ms,"
        f" dense floor {1e3 * statistics.median(t_floor):.2f} ms ({flops / 1e6:.0f} MFLOP);"
        f" max |diff| {diff:.2e}"
    )
    return rows, diff


def per_round(num: list[float], den: list[float]) -> str:
    return summary([a / b for a, b in zip(num, den, strict=True)])


def bench_decoding(args: argparse.Namespace) -> str:
    steps = []
    for context in (128, 4096):
        lm = rec.recurrent_lm(
            64, Dim("seq", context + 8), args.d, 2, kind=args.decode_kind, state=args.state
        )
        params = random_params(lm)
        prompt = jnp.asarray(np.random.default_rng(3).integers(0, 64, context), jnp.int32)
        step = jax.jit(decode_step, static_argnums=0)
        logits, state = step(lm, params, prompt, {}, 0)  # prefill the context
        tok = jnp.argmax(logits[-1:], axis=-1).astype(jnp.int32)
        steps.append(lambda s=step, m=lm, q=params, st=state, t=tok, c=context: s(m, q, t, st, c))
    rs = ratios(steps[1], steps[0], args.rounds * 4)
    print(f"{args.decode_kind} decode per token, context 4096/128: {summary(rs)}")
    return summary(rs)


#: The three measurements, by name (``--only``).
PARTS = ("layers", "parallel", "decoding")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--long", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--state", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--decode-kind", default="gru", choices=rec.KINDS)
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown table here")
    args = parser.parse_args()
    if args.quick:
        args.n, args.long, args.batch, args.d, args.rounds = 128, 512, 2, 16, 5
    parts = set(args.only or PARTS)
    print(f"device: {jax.devices()[0].device_kind}; batch {args.batch}, d {args.d}")
    rows = bench_layers(args) if "layers" in parts else []
    par, par_diff = bench_parallel(args) if "parallel" in parts else ([], 0.0)
    dec = bench_decoding(args) if "decoding" in parts else None
    if args.out is not None:
        lines = [
            f"device {jax.devices()[0].device_kind}, batch {args.batch}, d {args.d},"
            f" state {args.state}, {args.rounds} rounds: median ratio [quartiles]",
            "",
            "| measurement | ratio | max abs diff |",
            "|---|---|---|",
            *(f"| {k} topos/equinox, n={args.n} | {s} | {d:.1e} |" for k, s, d in rows),
            *(f"| {name} | {s} | {par_diff:.1e} |" for name, s in par),
            *([f"| {args.decode_kind} decode per token, context 4096/128 | {dec} | |"] * bool(dec)),
        ]
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
