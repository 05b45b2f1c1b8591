"""One training step of a Llama-style model: topos vs hand-written Equinox vs Penzai.

    .venv/bin/python benchmarks/llama_train.py            # prints the section
    .venv/bin/python benchmarks/llama_train.py --out benchmarks/results.md   # and updates it
    .venv/bin/python benchmarks/llama_train.py --quick    # a smoke test at a tiny size

The model (issue 12): width 128, 4 layers, grouped-query attention (4 query heads
sharing 2 key/value heads of width 32), RoPE, RMSNorm, SwiGLU (hidden 384), no
biases, vocabulary 256, sequences of 128, batches of 16. Three implementations of
the *same* function on the *same* weights:

- **topos**: ``topos.nn.zoo.llama`` compiled by ``backends.jax`` (``batched``);
- **equinox**: the model written by hand below (``EqxLlama``), blocks as a list of
  modules in a Python loop, and the same blocks stacked under ``jax.lax.scan``;
- **penzai**: ``penzai.models.transformer.variants.llamalike_common``, whose
  weights ``backends.jax.interop.penzai.from_penzai_llama`` reads into topos's layout.

Before timing, the logits of all of them are checked equal (max-abs difference
below 1e-4). One step is ``value_and_grad`` of the mean cross-entropy and an
``optax.adam`` update, in one ``jax.jit`` over ``(params, opt_state, batch)`` with
donated buffers. The variants run interleaved step by step (each round in another
order), each step timed to completion; the figure is the median, and the ratio of
medians. ``cost_analysis()``
gives XLA's flop count of each compiled step (a rolled ``while`` loop's body
counts once: compare variants with the same loop structure).

Timings on a shared machine are noisy: compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from baselines import paired  # noqa: E402
from penzai import pz  # type: ignore[import-untyped]  # noqa: E402
from penzai.models.transformer.variants import (  # type: ignore[import-untyped]  # noqa: E402
    llamalike_common as L,
)

from backends.jax import batched  # noqa: E402
from backends.jax.interop.penzai import from_penzai_llama  # noqa: E402
from backends.jax.training.lenses import Objective  # noqa: E402
from backends.jax.training.state import TrainState  # noqa: E402
from backends.jax.training.step import jit_step  # noqa: E402
from topos.nn.decoder import language_model  # noqa: E402
from topos.objects import Fin, R  # noqa: E402
from topos.para.lens import cross_entropy as lens_cross_entropy  # noqa: E402

Batch = tuple[Any, Any]
Step = Callable[[Any, Any, Batch], tuple[Any, Any, Any]]
HOST = "topos (fit, jax.grad of a loss function)"
OBJECTIVE = "topos (fit, Objective: the reverse derivative)"
FIT = (HOST, OBJECTIVE)
BEGIN, END = "<!-- llama_train: begin -->", "<!-- llama_train: end -->"
NOTE = (
    "Command: `python benchmarks/llama_train.py`. topos unrolls a `repeat` of at most"
    " `backends.jax.core.compile.UNROLL_MAX` (4) layers, as the Equinox loop and Penzai do, so"
    " their flops compare; XLA's `cost_analysis()` counts a rolled `while` loop's body once,"
    " hence the scan variant's lower figure."
)


@dataclasses.dataclass(frozen=True)
class Size:
    vocab: int = 256
    seq: int = 128
    d: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 32
    hidden: int = 384
    batch: int = 16
    eps: float = 1e-6
    base: float = 10_000.0


QUICK = Size(vocab=32, seq=8, d=16, layers=2, heads=4, kv_heads=2, head_dim=4, hidden=24, batch=2)


# -- the hand-written Equinox model -------------------------------------------------------


def rms(x: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + eps) * scale


def rope(x: jax.Array, base: float) -> jax.Array:
    """Half-split rotary embedding of ``x: (seq, heads, dim)``."""
    seq, dim = x.shape[0], x.shape[-1]
    freq = base ** (-2.0 * jnp.arange(dim // 2, dtype=x.dtype) / dim)
    theta = jnp.arange(seq, dtype=x.dtype)[:, None] * freq[None, :]
    cos, sin = jnp.cos(theta)[:, None, :], jnp.sin(theta)[:, None, :]
    x1, x2 = x[..., : dim // 2], x[..., dim // 2 :]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


class Block(eqx.Module):
    ln1: jax.Array
    wq: jax.Array
    wk: jax.Array
    wv: jax.Array
    wo: jax.Array
    ln2: jax.Array
    gate: jax.Array
    up: jax.Array
    down: jax.Array
    size: Size = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        s = self.size
        seq, group = x.shape[0], s.heads // s.kv_heads
        h = rms(x, self.ln1, s.eps)
        q = rope((h @ self.wq).reshape(seq, s.heads, s.head_dim), s.base)
        k = rope((h @ self.wk).reshape(seq, s.kv_heads, s.head_dim), s.base)
        v = (h @ self.wv).reshape(seq, s.kv_heads, s.head_dim)
        q = q.reshape(seq, s.kv_heads, group, s.head_dim)
        scores = jnp.einsum("skgd,tkd->kgst", q, k) / math.sqrt(s.head_dim)
        causal = jnp.tril(jnp.ones((seq, seq), bool))
        att = jax.nn.softmax(jnp.where(causal, scores, -1e9), -1)
        mixed = jnp.einsum("kgst,tkd->skgd", att, v).reshape(seq, s.heads * s.head_dim)
        x = x + mixed @ self.wo
        h = rms(x, self.ln2, s.eps)
        return x + (jax.nn.silu(h @ self.gate) * (h @ self.up)) @ self.down


class EqxLlama(eqx.Module):
    """Llama-style LM on one sequence; ``blocks`` a list (loop) or one stacked Block (scan)."""

    embed: jax.Array
    blocks: Any
    ln_f: jax.Array
    head: jax.Array
    size: Size = eqx.field(static=True)
    scan: bool = eqx.field(static=True)

    @staticmethod
    def from_topos(params: dict[str, Any], size: Size, *, scan: bool) -> EqxLlama:
        names = {"ln1": "ln1.scale", "wq": "attn.q.w", "wk": "attn.k.w", "wv": "attn.v.w",
                 "wo": "attn.o.w", "ln2": "ln2.scale", "gate": "mlp.gate.w",
                 "up": "mlp.up.w", "down": "mlp.down.w"}  # fmt: skip
        stacked = {k: jnp.asarray(params[f"blocks.{v}"]) for k, v in names.items()}
        if scan:
            blocks: Any = Block(**stacked, size=size)
        else:
            blocks = [Block(**{k: a[i] for k, a in stacked.items()}, size=size)
                      for i in range(size.layers)]  # fmt: skip
        return EqxLlama(
            jnp.asarray(params["embed.table"]), blocks, jnp.asarray(params["ln_f.scale"]),
            jnp.asarray(params["head.w"]), size, scan,
        )  # fmt: skip

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.embed[tokens]
        if self.scan:
            arrays, static = eqx.partition(self.blocks, eqx.is_array)

            def layer(x: jax.Array, a: Any) -> tuple[jax.Array, None]:
                return eqx.combine(a, static)(x), None

            x, _ = jax.lax.scan(layer, x, arrays)
        else:
            for blk in self.blocks:
                x = blk(x)
        return rms(x, self.ln_f, self.size.eps) @ self.head


# -- the three train steps ------------------------------------------------------------------


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


def adam_step(value_and_grad: Callable[[Any, Batch], tuple[Any, Any]], tx: Any) -> Step:
    """``step(params, opt_state, batch)``: one jitted, donated optimiser step on the
    gradient ``value_and_grad(params, batch) -> (loss, grads)``."""

    def step(params: Any, opt_state: Any, batch: Batch) -> tuple[Any, Any, Any]:
        loss, grads = value_and_grad(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1))  # type: ignore[no-any-return]


def make_step(logits_fn: Callable[[Any, Any], Any], tx: Any) -> Step:
    """``step(params, opt_state, (tokens, targets))``: one jitted, donated step by ``jax.grad``."""
    return adam_step(
        jax.value_and_grad(lambda p, batch: cross_entropy(logits_fn(p, batch[0]), batch[1])), tx
    )


def fit_step(loss: Callable[[Any, Batch], Any], tx: Any, params: Any) -> tuple[Step, Any]:
    """``fit``'s own step on ``loss`` (``jit_step``: guarded, ids checked on the host
    before each step, compiled without the run-time id test) as a ``Step``; its state
    rides in the params slot. Returns the step and the initial state (on a copy of
    ``params``). An ``Objective`` loss is differentiated by its own reverse derivative,
    a loss function by ``jax.grad``."""
    state = TrainState.build(jax.tree.map(jnp.copy, params), tx)
    step = jit_step(loss, tx, state.partition, ids_on_host=True)

    def run(s: Any, _opt: Any, batch: Batch) -> tuple[Any, Any, Any]:
        s, value = step(s, batch)
        return s, None, value

    return run, state


def objective_step(obj: Objective, tx: Any) -> Step:
    """The Objective's step (its reverse derivative) as one plain ``jax.jit`` (for its flops)."""
    return adam_step(obj.value_and_grad, tx)


def objective(size: Size) -> Objective:
    """The benchmark's model and loss as an ``Objective`` (mean cross-entropy per token)."""
    return Objective(topos_llama(size), lens_cross_entropy(R(size.seq, size.vocab),
                                                           Fin(size.vocab, size.seq)))  # fmt: skip


@dataclasses.dataclass
class Variant:
    name: str
    logits: Callable[[Any, Any], Any]  # (params, (batch, seq) tokens) -> (batch, seq, vocab)
    params: Any


def topos_llama(size: Size) -> Any:
    """The benchmark's model as a topos diagram (``from_penzai_llama`` builds the same)."""
    return language_model(
        size.vocab, size.seq, size.d, size.heads, size.layers, kv_heads=size.kv_heads,
        head_dim=size.head_dim, mlp_hidden=size.hidden, positional="rope", norm="rms",
        eps=size.eps, activation="swiglu", bias=False, rope_base=size.base,
    )  # fmt: skip


def variants(size: Size, *, penzai: bool = True) -> tuple[list[Variant], int]:
    """The implementations on one set of weights (Penzai's initialisation), and their count.

    ``penzai=False`` leaves Penzai out (its eager initialisation is slow) and draws
    the weights with NumPy instead.
    """
    if not penzai:
        para = topos_llama(size)
        rng = np.random.default_rng(0)
        params = {
            k: jnp.asarray(
                (k.endswith("scale") + 0.3 * rng.standard_normal(v.ob.shape)), jnp.float32
            )
            for k, v in para.parameters().items()
        }
        return _with_equinox(para, params, size), sum(int(v.size) for v in params.values())
    cfg = L.LlamalikeTransformerConfig(
        num_kv_heads=size.kv_heads, query_head_multiplier=size.heads // size.kv_heads,
        embedding_dim=size.d, projection_dim=size.head_dim, mlp_hidden_dim=size.hidden,
        num_decoder_blocks=size.layers, vocab_size=size.vocab, mlp_variant="swiglu",
        tie_embedder_and_logits=False, rms_norm_eps=size.eps, rope_wavelength=size.base,
    )  # fmt: skip
    model = L.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(0))
    para, params = from_penzai_llama(model, cfg, size.seq)
    params = {k: jnp.asarray(v) for k, v in params.items()}
    n_params = sum(int(v.size) for v in params.values())
    out = _with_equinox(para, params, size)
    unbound, frozen = pz.unbind_params(model, freeze=True)

    def pz_logits(p: Any, tokens: Any) -> Any:
        bound = pz.bind_variables(unbound, p)
        named = pz.nx.wrap(tokens).tag("batch", "seq")
        return bound(named).unwrap("batch", "seq", "vocabulary")

    out.append(Variant("penzai (llamalike)", pz_logits, frozen))
    return out, n_params


def _with_equinox(para: Any, params: dict[str, Any], size: Size) -> list[Variant]:
    out = [Variant("topos (diagram)", batched(para), params)]
    for scan in (False, True):
        m = EqxLlama.from_topos(params, size, scan=scan)
        arrays, static = eqx.partition(m, eqx.is_array)

        def eqx_logits(p: Any, tokens: Any, static: Any = static) -> Any:
            return jax.vmap(eqx.combine(p, static))(tokens)

        out.append(Variant(f"equinox ({'scan' if scan else 'loop'})", eqx_logits, arrays))
    return out


def flops(step: Any, *args: Any) -> float:
    cost = step.lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost.get("flops", float("nan")))


def batches(size: Size, n: int) -> list[Batch]:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, size.vocab, (n, size.batch, size.seq + 1)).astype(np.int32)
    return [(jnp.asarray(w[:, :-1]), jnp.asarray(w[:, 1:])) for w in ids]


def run(size: Size, rounds: int, per_round: int) -> list[str]:
    lines: list[str] = []
    say = lines.append
    vs, n_params = variants(size)
    # fit's own step: the ids checked on the host before each step (timed with it), the
    # step compiled without the run-time test (its conditional), guarded against NaN
    vs[1:1] = [Variant(name, batched(topos_llama(size)), vs[0].params) for name in FIT]
    data = batches(size, rounds * per_round + 1)
    probe = data[0][0]
    ref = np.asarray(jax.jit(vs[0].logits)(vs[0].params, probe))
    gaps = {}
    for v in vs[1:]:
        gaps[v.name] = float(np.abs(np.asarray(jax.jit(v.logits)(v.params, probe)) - ref).max())
    assert max(gaps.values()) < 1e-4, f"the implementations disagree: {gaps}"
    tx = optax.adam(1e-3)
    steps = {v.name: make_step(v.logits, tx) for v in vs}
    fl = {v.name: flops(steps[v.name], v.params, tx.init(v.params), data[0]) for v in vs}
    fl[OBJECTIVE] = flops(objective_step(objective(size), tx), vs[0].params,
                          tx.init(vs[0].params), data[0])  # fmt: skip
    state = {v.name: (jax.tree.map(jnp.copy, v.params), tx.init(v.params)) for v in vs}
    logits = vs[1].logits

    def loss(p: Any, batch: Batch) -> Any:
        return cross_entropy(logits(p, batch[0]), batch[1])

    for name, fn in zip(FIT, (loss, objective(size)), strict=True):  # (flops: the plain step)
        steps[name], fit_state = fit_step(fn, tx, vs[0].params)
        state[name] = (fit_state, None)
    times: dict[str, list[float]] = {v.name: [] for v in vs}
    losses: dict[str, float] = {}
    for v in vs:  # warm-up: compile and one step
        p, o = state[v.name]
        p, o, loss = steps[v.name](p, o, data[0])
        jax.block_until_ready(loss)
        state[v.name] = (p, o)
    for r in range(rounds):  # step by step, each round in another order: load hits all alike
        order = vs if r % 2 == 0 else vs[::-1]
        for i in range(per_round):
            batch = data[1 + r * per_round + i]
            for v in order:
                p, o = state[v.name]
                t0 = time.perf_counter()
                p, o, loss = steps[v.name](p, o, batch)  # FIT: the id check, then the step
                jax.block_until_ready((p.train if v.name in FIT else p, loss))
                times[v.name].append(time.perf_counter() - t0)
                state[v.name] = (p, o)
                losses[v.name] = float(loss)
    med = {k: statistics.median(t) for k, t in times.items()}
    topos = vs[0].name
    eqx_best = min((k for k in med if k.startswith("equinox")), key=med.__getitem__)
    pz_name = vs[-1].name
    say(f"Llama-style model: d {size.d}, {size.layers} layers, {size.heads} heads /"
        f" {size.kv_heads} kv heads (width {size.head_dim}), SwiGLU {size.hidden}, vocab"
        f" {size.vocab}, seq {size.seq}, batch {size.batch}; {n_params:,} parameters, the same"
        " weights in every variant (Penzai's initialisation).")  # fmt: skip
    say("")
    say(f"Device: {jax.devices()[0].platform} ({platform.processor() or platform.machine()}),"
        f" jax {jax.__version__}; {rounds} interleaved rounds x {per_round} steps after a"
        " warm-up step, interleaved step by step; median step time (fwd + bwd + adam, one"
        " jitted step). A shared machine under load: compare ratios, not times.")  # fmt: skip
    say("")
    say("| variant | median step | topos / variant | flops (XLA) | flops / topos |"
        " loss after the run | max-abs logit gap to topos |")  # fmt: skip
    say("|---|---|---|---|---|---|---|")
    for v in vs:
        k = v.name
        gap = "—" if k == topos else f"{gaps[k]:.1e}"
        say(f"| {k} | {med[k] * 1e3:.1f} ms | {med[topos] / med[k]:.2f}x | {fl[k]:,.0f} |"
            f" {fl[k] / fl[topos]:.4f} | {losses[k]:.4f} | {gap} |")  # fmt: skip
    say("")
    say(
        f"- topos / fastest Equinox ({eqx_best}): **{med[topos] / med[eqx_best]:.2f}x**"
        f" (target <= 1.00x); per step, paired: {paired(times[topos], times[eqx_best])}"
    )
    say(
        f"- topos / Penzai: **{med[topos] / med[pz_name]:.2f}x** (target <= 1.00x); per step,"
        f" paired: {paired(times[topos], times[pz_name])}"
    )
    faster = min(eqx_best, pz_name, key=med.__getitem__)
    for name in FIT:
        say(
            f"- {name} / the faster baseline ({faster}): **{med[name] / med[faster]:.3f}x**"
            f" (target <= 1.00x); per step, paired: {paired(times[name], times[faster])};"
            f" / fastest Equinox, paired: {paired(times[name], times[eqx_best])};"
            f" / Penzai, paired: {paired(times[name], times[pz_name])}"
        )
    say("")
    say(NOTE)
    return lines


def write(lines: list[str], path: Path) -> None:
    section = "\n".join(["## Llama-style training step (`benchmarks/llama_train.py`)", "",
                         BEGIN, *lines, END]) + "\n"  # fmt: skip
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        start = text.index(BEGIN)
        head = text[:start].rsplit("## Llama-style training step", 1)[0]
        text = head + section + text[text.index(END) + len(END) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny model, a few steps")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument(
        "--out", help="markdown file whose section to update (e.g. benchmarks/results.md)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.quick:
        lines = run(QUICK, 2, 2)
    else:
        lines = run(Size(), args.rounds, args.per_round)
    lines.append("")
    lines.append(f"Total benchmark time: {time.perf_counter() - started:.0f} s.")
    print("\n".join(lines))
    if args.out is not None:  # a tracked file changes only when asked
        write(lines, Path(args.out))


if __name__ == "__main__":
    main()
