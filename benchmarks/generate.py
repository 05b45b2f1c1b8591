"""Cached decoding: ``generate`` vs the strongest plain-JAX cached decoder, interleaved.

For each case — a preset (``gpt``: learned positions, LayerNorm, GELU, tied head;
``llama``: RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases; both
``--d 128 --layers 4 --heads 4``), a context (512 and 2,048 by default), a way of
drawing (``greedy``; ``top-k``: temperature 1, the 40 most likely tokens) and a
batch (1, and 8 for greedy) — two decoders of the same tokens from one parameter dict:

- ``generate``: ``backends.jax.decoding.generate``, the key–value cache derived from the
  diagram (``seq = Dim("seq", ctx)``);
- ``hand``: a decoder written directly in JAX for these weights, as fast as plain
  JAX gets: a preallocated cache per layer (updated in place with
  ``dynamic_update_slice``), the keys held ``(batch, kv heads, positions, width)`` and
  the values ``(batch, kv heads, width, positions)``, as the attention products read
  them, without a transposed copy (``--hand-cache heads``: values held as the keys;
  ``--hand-cache positions``: both positions first, as the projections make them,
  which XLA copies transposed for each token), the layers unrolled in Python, one
  ``lax.fori_loop`` over the tokens with the sampling inside it, one ``jax.jit`` over
  the whole call, no host round trip per token; the prefill computes the logits of
  the last row only.

The prompt fills the context but ``--steps`` slots (256 by default), so each new
token attends to a long cache. Both decoders are compiled and run once, then run
in ``--rounds`` rounds (8 by default; an odd count is rounded up, see
``interleave``), one call of each per round, in alternating
order; each call is timed to completion. Reported per case: the tokens/s of each
(median round), and the median over rounds of the paired ratio ``generate time /
hand time`` with its quartiles (target ≤ 1.05; at batch 8, tokens/s ≥ 0.95× hand's).
The drawn tokens of the two are compared (greedy: must be identical).

    .venv/bin/python benchmarks/generate.py                    # every case (minutes)
    .venv/bin/python benchmarks/generate.py --preset llama --ctx 512 --mode greedy
    .venv/bin/python benchmarks/generate.py --quick            # ctx 64, 16 steps, 4 rounds

A shared machine is noisy: compare the paired ratios, not the times.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402 - after the path is set
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from backends.jax import generate, init  # noqa: E402
from topos import nn  # noqa: E402
from topos.objects import Dim  # noqa: E402

TOP_K = 40


@dataclass(frozen=True)
class Case:
    preset: str  # "gpt" or "llama"
    ctx: int
    mode: str  # "greedy" or "top-k"
    batch: int


@dataclass(frozen=True)
class Size:
    d: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2  # llama
    hidden: int = 384  # llama's SwiGLU
    vocab: int = 256


def build(preset: str, ctx: int, s: Size) -> Any:
    """The preset as a topos language model over ``seq = Dim("seq", ctx)``."""
    seq = Dim("seq", ctx)
    if preset == "gpt":
        return nn.language_model(s.vocab, seq, s.d, s.heads, s.layers, tie=True)
    return nn.language_model(
        s.vocab, seq, s.d, s.heads, s.layers, kv_heads=s.kv_heads, positional="rope",
        norm="rms", eps=1e-6, activation="swiglu", bias=False, mlp_hidden=s.hidden,
    )  # fmt: skip


# -- the hand-written decoders ------------------------------------------------------------


def _ln(x: jax.Array, scale: jax.Array, bias: jax.Array, eps: float = 1e-5) -> jax.Array:
    mu = x.mean(-1, keepdims=True)
    c = x - mu
    return c * jax.lax.rsqrt((c * c).mean(-1, keepdims=True) + eps) * scale + bias


def _rms(x: jax.Array, scale: jax.Array, eps: float = 1e-6) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + eps) * scale


def _rope(x: jax.Array, pos: jax.Array, base: float = 10_000.0) -> jax.Array:
    """Half-split rotary embedding of ``x: (b, n, heads, dim)`` at positions ``pos: (n,)``."""
    dim = x.shape[-1]
    freq = base ** (-2.0 * jnp.arange(dim // 2, dtype=x.dtype) / dim)
    theta = pos.astype(x.dtype)[:, None] * freq[None, :]
    cos, sin = jnp.cos(theta)[:, None, :], jnp.sin(theta)[:, None, :]
    x1, x2 = x[..., : dim // 2], x[..., dim // 2 :]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


def pick(logits: jax.Array, key: jax.Array, mode: str) -> jax.Array:
    """Greedy, or top-k sampling at temperature 1 (as ``generate`` draws)."""
    if mode == "greedy":
        return jnp.argmax(logits, -1).astype(jnp.int32)
    kth = jax.lax.top_k(logits, min(TOP_K, logits.shape[-1]))[0][..., -1:]
    return jax.random.categorical(key, jnp.where(logits < kth, -jnp.inf, logits), -1).astype(
        jnp.int32
    )


def hand_weights(params: dict[str, Any], s: Size) -> dict[str, Any]:
    """The weights as the hand decoder takes them: one dict per layer (sliced once)."""
    blocks = {k[len("blocks.") :]: v for k, v in params.items() if k.startswith("blocks.")}
    rest = {k: v for k, v in params.items() if not k.startswith("blocks.")}
    layers = [{k: jnp.asarray(v[i]) for k, v in blocks.items()} for i in range(s.layers)]
    return {"layers": layers, **{k: jnp.asarray(v) for k, v in rest.items()}}


def hand_decoder(
    preset: str, s: Size, ctx: int, width: int, steps: int, mode: str, layout: str = "values"
) -> Any:
    """A jitted decoder ``(weights, ids (B, width), key) -> new ids (B, steps)``.

    ``layout`` of the caches: ``"values"`` (the default, the fastest) holds the keys
    ``(batch, kv heads, positions, width)`` and the values ``(batch, kv heads,
    width, positions)``, each as its attention product reads it (the scores sum
    over the width, the mixing over the positions); ``"heads"`` holds both as the
    keys (the hand decoder of issue 25's third pass); ``"positions"`` holds both
    ``(batch, positions, kv heads, width)``, as the projections make them, which
    XLA copies transposed for every new token (before that pass)."""
    heads, dh = s.heads, s.d // s.heads
    kv = s.kv_heads if preset == "llama" else s.heads
    group = heads // kv
    keys, values = {"values": ("bktd", "bkdt"), "heads": ("bktd", "bktd"),
                    "positions": ("btkd", "btkd")}[layout]  # fmt: skip

    def attend(q: jax.Array, kc: jax.Array, vc: jax.Array, pos: jax.Array) -> jax.Array:
        b, n = q.shape[:2]
        q = q.reshape(b, n, kv, group, dh)
        sc = jnp.einsum(f"bskgd,{keys}->bkgst", q, kc) / math.sqrt(dh)
        keep = jnp.arange(ctx)[None, :] <= pos[:, None]
        a = jax.nn.softmax(jnp.where(keep, sc, -1e9), axis=-1)
        return jnp.einsum(f"bkgst,{values}->bskgd", a, vc).reshape(b, n, heads * dh)

    def write(c: jax.Array, new: jax.Array, start: Any, held: str) -> jax.Array:
        """``new`` rows ``(batch, rows, kv heads, width)`` into a cache held as ``held``."""
        rows = jnp.einsum(f"btkd->{held}", new)
        at = [0, 0, 0, 0]
        at[held.index("t")] = start
        return jax.lax.dynamic_update_slice(c, rows, at)

    def zeros(b: int, held: str) -> jax.Array:
        sizes = {"b": b, "k": kv, "t": ctx, "d": dh}
        return jnp.zeros(tuple(sizes[c] for c in held), jnp.float32)

    def block(x: jax.Array, w: dict[str, Any], cache: Any, start: Any) -> Any:
        b, n, _ = x.shape
        pos = start + jnp.arange(n)
        kc, vc = cache
        if preset == "gpt":
            h = _ln(x, w["ln1.scale"], w["ln1.bias"])
            q = (h @ w["attn.q.w"] + w["attn.q.b"]).reshape(b, n, heads, dh)
            k = (h @ w["attn.k.w"] + w["attn.k.b"]).reshape(b, n, kv, dh)
            v = (h @ w["attn.v.w"] + w["attn.v.b"]).reshape(b, n, kv, dh)
        else:
            h = _rms(x, w["ln1.scale"])
            q = _rope((h @ w["attn.q.w"]).reshape(b, n, heads, dh), pos)
            k = _rope((h @ w["attn.k.w"]).reshape(b, n, kv, dh), pos)
            v = (h @ w["attn.v.w"]).reshape(b, n, kv, dh)
        kc, vc = write(kc, k, start, keys), write(vc, v, start, values)
        o = attend(q, kc, vc, pos)
        if preset == "gpt":
            x = x + o @ w["attn.o.w"] + w["attn.o.b"]
            h = _ln(x, w["ln2.scale"], w["ln2.bias"])
            h = jax.nn.gelu(h @ w["mlp.fc1.w"] + w["mlp.fc1.b"], approximate=True)
            return x + h @ w["mlp.fc2.w"] + w["mlp.fc2.b"], (kc, vc)
        x = x + o @ w["attn.o.w"]
        h = _rms(x, w["ln2.scale"])
        return x + (jax.nn.silu(h @ w["mlp.gate.w"]) * (h @ w["mlp.up.w"])) @ w["mlp.down.w"], (
            kc,
            vc,
        )

    def forward(p: dict[str, Any], ids: jax.Array, caches: list[Any], start: Any) -> Any:
        x = p["embed.table"][ids]
        if preset == "gpt":
            x = x + jax.lax.dynamic_slice_in_dim(p["pos.table"], start, ids.shape[1])
        out = []
        for w, cache in zip(p["layers"], caches, strict=True):  # unrolled
            x, cache = block(x, w, cache, start)
            out.append(cache)
        last = x[:, -1]
        if preset == "gpt":
            return _ln(last, p["ln_f.scale"], p["ln_f.bias"]) @ p["embed.table"].T, out
        return _rms(last, p["ln_f.scale"]) @ p["head.w"], out

    @jax.jit
    def run(p: dict[str, Any], ids: jax.Array, key: jax.Array) -> jax.Array:
        b = ids.shape[0]
        empty = (zeros(b, keys), zeros(b, values))
        logits, caches = forward(p, ids, [empty] * s.layers, 0)
        key, sub = jax.random.split(key)
        tok = pick(logits, sub, mode)
        toks = jnp.zeros((b, steps), jnp.int32).at[:, 0].set(tok)

        def body(i: Any, carry: Any) -> Any:
            tok, caches, key, toks = carry
            logits, caches = forward(p, tok[:, None], caches, width + i)
            key, sub = jax.random.split(key)
            nxt = pick(logits, sub, mode)
            return nxt, caches, key, jax.lax.dynamic_update_slice(toks, nxt[:, None], (0, i + 1))

        return jax.lax.fori_loop(0, steps - 1, body, (tok, caches, key, toks))[3]

    return run


# -- timing, interleaved ------------------------------------------------------------------


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def interleave(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Each function once per round, in alternating order, each call timed to completion.

    ``rounds`` is rounded up to an even number, so that each function runs first in
    as many rounds as the other: on this machine the first call of a round runs a few
    percent slower, and with an odd count the median per-round ratio leans toward
    the rounds one function started (11 rounds gave 1.073x where 12 gave 0.992x for
    the same decoders).
    """
    rounds += rounds % 2
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            jax.block_until_ready(fns[name]())
            times[name].append(time.perf_counter() - t0)
    return times


def run_case(
    case: Case, s: Size, steps: int, rounds: int, layout: str = "values"
) -> dict[str, Any]:
    model = build(case.preset, case.ctx, s)
    params = init(model, jax.random.key(0))
    width = case.ctx - steps
    prompts = np.asarray(
        jax.random.randint(jax.random.key(1), (case.batch, width), 0, s.vocab), np.int32
    )
    key = jax.random.key(2)
    temperature, top_k = (0.0, None) if case.mode == "greedy" else (1.0, min(TOP_K, s.vocab))
    lengths = [width] * case.batch

    def topos() -> Any:
        return generate(model, params, prompts, steps, key, temperature, top_k, lengths=lengths)

    weights = hand_weights(params, s)
    hand = hand_decoder(case.preset, s, case.ctx, width, steps, case.mode, layout)
    ids = jnp.asarray(prompts)

    def handwritten() -> Any:
        return hand(weights, ids, key)

    t0 = time.perf_counter()
    a = np.asarray(topos())
    first_topos = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = np.asarray(handwritten())
    first_hand = time.perf_counter() - t0
    times = interleave({"generate": topos, "hand": handwritten}, rounds)
    ratios = [g / h for g, h in zip(times["generate"], times["hand"], strict=True)]
    tokens = case.batch * steps
    return {
        "case": case,
        "generate": tokens / statistics.median(times["generate"]),
        "hand": tokens / statistics.median(times["hand"]),
        "ratio": quartiles(ratios),
        "same": float((a == b).mean()),
        "first": (first_topos, first_hand),
    }


def table(rows: list[dict[str, Any]], steps: int, rounds: int, s: Size) -> list[str]:
    lines = [
        f"d {s.d}, {s.layers} layers, {s.heads} heads (llama: {s.kv_heads} kv heads, SwiGLU"
        f" {s.hidden}), vocab {s.vocab}; the prompt fills the context but {steps} slots,"
        f" {steps} new tokens; {rounds} interleaved rounds; device"
        f" {jax.devices()[0].platform}, jax {jax.__version__}.",
        "",
        "| preset | context | drawing | batch | hand tokens/s | generate tokens/s |"
        " generate / hand time: median [quartiles] | same tokens | first call (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, (q1, med, q3) = r["case"], r["ratio"]
        lines.append(
            f"| {c.preset} | {c.ctx} | {c.mode} | {c.batch} | {r['hand']:,.0f} |"
            f" {r['generate']:,.0f} | **{med:.3f}x** [{q1:.3f}-{q3:.3f}] |"
            f" {r['same']:.0%} | {r['first'][0]:.1f} / {r['first'][1]:.1f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["gpt", "llama"], action="append")
    parser.add_argument("--ctx", type=int, action="append")
    parser.add_argument("--mode", choices=["greedy", "top-k"], action="append")
    parser.add_argument("--batch", type=int, action="append", help="default: 1, and 8 greedy")
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="ctx 64, 16 steps, 4 rounds")
    parser.add_argument(
        "--hand-cache",
        choices=["values", "heads", "positions"],
        default="values",
        help="the hand decoder's cache layout: keys (batch, heads, positions, width) and values"
        " (batch, heads, width, positions), the fastest; both as the keys (heads); or both"
        " (batch, positions, heads, width), as before issue 25's third pass (positions)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.ctx, args.steps, args.rounds = args.ctx or [64], 16, 4
    args.rounds += args.rounds % 2  # each decoder first in as many rounds (``interleave``)
    s = Size(d=args.d, layers=args.layers)
    cases = [
        Case(preset, ctx, mode, batch)
        for preset in args.preset or ["gpt", "llama"]
        for ctx in args.ctx or [512, 2048]
        for mode in args.mode or ["greedy", "top-k"]
        for batch in args.batch or ([1, 8] if mode == "greedy" else [1])
    ]
    rows = []
    for case in cases:
        rows.append(run_case(case, s, args.steps, args.rounds, args.hand_cache))
        print(table(rows[-1:], args.steps, args.rounds, s)[-1], flush=True)
    lines = table(rows, args.steps, args.rounds, s)
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
