"""Cached generation at context 512: ``generate`` vs recomputing the window vs hand-written JAX.

One GPT-style model (learned positions, tied head; ``--d 128 --layers 4 --heads 4``
by default) and one parameter dict, three decoders of the same greedy tokens,
timed side by side in this process:

- ``generate``: ``backends.jax.decoding.generate``, the key–value cache derived from the
  diagram (``seq = Dim("seq", 512)``);
- ``recompute``: ``backends.jax.decoding.sample``, which reruns the model on the whole
  512-token window for every token (the same architecture built at ``seq = 512``);
- ``hand``: a cached decoder written directly in JAX for these weights (prefill,
  then one ``lax.scan`` over tokens and one over layers, caches updated in place).

The prompt fills half the context and ``--steps`` tokens follow (256 by default:
the last token sits at position 511). Each decoder is compiled and run once, then
timed over ``--repeat`` runs (best and median). Targets (issue 12): ``generate``
≥ 10× the tokens/s of ``recompute``, and within 1.2× of ``hand``. The greedy
tokens of ``generate`` and ``hand`` are checked to be identical (``recompute``
draws at temperature 1e-6, i.e. greedily).

    .venv/bin/python benchmarks/generate.py [--batch 1 --steps 256 --repeat 5 --quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402 - after the path is set
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from backends.jax import generate, init, sample  # noqa: E402
from topos import nn  # noqa: E402
from topos.objects import Dim  # noqa: E402

EPS = 1e-5


def _ln(x: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    mu = x.mean(-1, keepdims=True)
    c = x - mu
    return c * jax.lax.rsqrt((c * c).mean(-1, keepdims=True) + EPS) * scale + bias


def hand_decoder(params: dict[str, Any], heads: int, ctx: int, width: int, steps: int) -> Any:
    """A jitted greedy decoder ``ids (B, width) -> new ids (B, steps)`` written in plain JAX."""
    p = params
    d = p["embed.table"].shape[1]
    dh = d // heads
    names = [k for k in p if k.startswith("blocks.")]
    stacked = {k[len("blocks.") :]: p[k] for k in names}

    def block(x: jax.Array, w: dict[str, jax.Array], kc: jax.Array, vc: jax.Array, pos: Any):
        # x: (B, n, d); caches (B, ctx, heads, dh); rows at positions pos .. pos + n - 1
        b, n, _ = x.shape
        h = _ln(x, w["ln1.scale"], w["ln1.bias"])
        q = (h @ w["attn.q.w"] + w["attn.q.b"]).reshape(b, n, heads, dh)
        k = (h @ w["attn.k.w"] + w["attn.k.b"]).reshape(b, n, heads, dh)
        v = (h @ w["attn.v.w"] + w["attn.v.b"]).reshape(b, n, heads, dh)
        kc = jax.lax.dynamic_update_slice(kc, k, (0, pos, 0, 0))
        vc = jax.lax.dynamic_update_slice(vc, v, (0, pos, 0, 0))
        s = jnp.einsum("bshd,bthd->bhst", q, kc) / np.sqrt(dh)
        rows = pos + jnp.arange(n)
        keep = jnp.arange(ctx)[None, :] <= rows[:, None]
        a = jax.nn.softmax(jnp.where(keep, s, -1e9), axis=-1)
        o = jnp.einsum("bhst,bthd->bshd", a, vc).reshape(b, n, d)
        x = x + o @ w["attn.o.w"] + w["attn.o.b"]
        h = _ln(x, w["ln2.scale"], w["ln2.bias"])
        h = jax.nn.gelu(h @ w["mlp.fc1.w"] + w["mlp.fc1.b"], approximate=True)
        return x + h @ w["mlp.fc2.w"] + w["mlp.fc2.b"], kc, vc

    def forward(ids: jax.Array, kcs: jax.Array, vcs: jax.Array, pos: Any) -> Any:
        n = ids.shape[1]
        x = p["embed.table"][ids] + jax.lax.dynamic_slice_in_dim(p["pos.table"], pos, n)

        def layer(x: jax.Array, xs: Any) -> Any:
            w, kc, vc = xs
            x, kc, vc = block(x, w, kc, vc, pos)
            return x, (kc, vc)

        x, (kcs, vcs) = jax.lax.scan(layer, x, (stacked, kcs, vcs))
        x = _ln(x[:, -1], p["ln_f.scale"], p["ln_f.bias"])
        return x @ p["embed.table"].T, kcs, vcs

    @jax.jit
    def run(ids: jax.Array) -> jax.Array:
        b = ids.shape[0]
        layers = p["blocks.ln1.scale"].shape[0]
        kcs = jnp.zeros((layers, b, ctx, heads, dh))
        logits, kcs, vcs = forward(ids, kcs, kcs, 0)
        tok = jnp.argmax(logits, -1)

        def step(carry: Any, i: Any) -> Any:
            tok, kcs, vcs = carry
            logits, kcs, vcs = forward(tok[:, None], kcs, vcs, width + i)
            nxt = jnp.argmax(logits, -1)
            return (nxt, kcs, vcs), nxt

        _, toks = jax.lax.scan(step, (tok, kcs, vcs), jnp.arange(steps - 1))
        return jnp.concatenate([tok[None], toks]).T

    return run


def _time(fn: Any, repeat: int) -> tuple[float, float, Any]:
    out = fn()  # compile and warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="ctx 64, 16 steps, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.ctx, args.steps, args.repeat = 64, 16, 1
    ctx, steps, b = args.ctx, args.steps, args.batch
    width = ctx - steps
    model = nn.language_model(
        args.vocab, Dim("seq", ctx), args.d, args.heads, args.layers, tie=True
    )
    fixed = nn.language_model(args.vocab, ctx, args.d, args.heads, args.layers, tie=True)
    params = init(model, jax.random.key(0))
    prompts = np.asarray(jax.random.randint(jax.random.key(1), (b, width), 0, args.vocab))
    key = jax.random.key(2)

    def cached() -> np.ndarray:
        return generate(model, params, prompts, steps, key, temperature=0, lengths=[width] * b)

    def recompute() -> np.ndarray:
        return sample(fixed, params, prompts[0], steps, key, temperature=1e-6)

    hand = hand_decoder(params, args.heads, ctx, width, steps)
    ids = jnp.asarray(prompts)

    def handwritten() -> np.ndarray:
        return np.asarray(hand(ids))

    rows = {}
    for name, fn, tokens in [
        ("generate", cached, b * steps),
        ("hand", handwritten, b * steps),
        ("recompute", recompute, steps),
    ]:
        best, median, out = _time(fn, args.repeat)
        rows[name] = (tokens / best, tokens / median, out)
        print(
            f"{name:10s} best {best * 1e3:9.1f} ms  median {median * 1e3:9.1f} ms"
            f"  {tokens / best:10.1f} tokens/s (best)",
            flush=True,
        )
    same = np.array_equal(rows["generate"][2], rows["hand"][2])
    same_rec = np.array_equal(np.asarray(rows["generate"][2])[0], rows["recompute"][2])
    print(f"context {ctx}, prompt {width}, {steps} steps, batch {b}, d {args.d},"
          f" {args.layers} layers, {args.heads} heads, vocab {args.vocab}")  # fmt: skip
    print(f"greedy tokens identical: generate = hand {same}, generate = recompute {same_rec}")
    g, h, r = rows["generate"][0], rows["hand"][0], rows["recompute"][0]
    print(f"generate / recompute tokens/s:  {g / r:6.2f}x   (target >= 10x)")
    print(f"generate / hand time per token: {h / g:6.2f}x   (target <= 1.2x)")


if __name__ == "__main__":
    main()
