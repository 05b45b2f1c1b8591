"""Generation for encoder–decoders: the encoder once, the decoder with caches derived from it.

``generate(encode, decode, params, source, steps, key)`` continues from a start
token for each source sequence, with the two halves of an encoder–decoder
(``topos.nn.t5.halves``): ``encode: Fin(V, src) -> R(src, d)`` and
``decode: Fin(V, tgt) * R(src, d) -> R(tgt, V)`` with ``tgt = Dim("tgt", max)``.

- The **encoder runs once** per source (``apply``, batched by ``vmap``).
- The **decoder's self-attention caches** are derived from the diagram exactly
  as for decoder-only models (``backends.jax.decoding.generate``: the same
  decoding functor, read along the ``tgt`` axis), T5's relative-position buckets
  included (their rows are the new positions, their columns every position).
- The **cross-attention keys and values are cached once per prompt**: a value
  computed from the memory and the parameters only (never from the target) is
  the same at every step, so the first step computes it and stores it in the
  state, and later steps read it back (reshapes and transposes of such values
  are recomputed from the stored ones: they cost nothing). Later steps do not
  read the memory at all (tested: a memory of NaNs after the first step changes
  nothing).

**Law** (tested): the logits of every step equal those of the uncached model
``apply(encoder_decoder, params, (source, target so far))`` at its last row,
within float32 round-off, and greedy tokens are identical.

>>> from topos.objects import Dim
>>> from topos.nn.t5 import halves
>>> enc, dec = halves(11, 4, Dim("tgt", 6), 8, 2, 4, 16, layers=1)
>>> _halves(enc, dec, "generate")
(11, Dim('tgt', 6), R(4, 8))

Used as (``tests/backends/jax/test_seq2seq.py``)::

    params = init(encoder_decoder(...), key)        # one dict for the model and both halves
    ids = generate(enc, dec, params, sources, steps, key, temperature=0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from backends.jax.core.compile import CONSTANTS, Fn
from backends.jax.core.layout import restack
from backends.jax.core.params import apply, cartesian, param_value
from backends.jax.decoding.generate import (
    _CTX,
    _FRAME,
    DecodeCategory,
    _Context,
    _decode_box,
    _Frame,
    _frame,
    _in_frame,
    _mentions,
    _pick,
    _positions,
)
from topos.arrows import Box
from topos.functor import Functor
from topos.objects import Dim, Fin, Ob, Product, R
from topos.para import Para

__all__ = ["decode_step", "generate"]

_PARAM, _MEMORY, _TARGET = "param", "memory", "target"
#: Boxes recomputed from stored memory values rather than stored themselves (free to run).
_FREE = ("reshape", "transpose")


class _Taint:
    """What each traced value depends on: parameters only, the memory, or the target."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[Any, str]] = {}

    def mark(self, value: Any, kind: str) -> None:
        for leaf in jax.tree_util.tree_leaves(value):
            self.seen[id(leaf)] = (leaf, kind)  # the leaf is kept: its id is not reused

    def kind(self, value: Any) -> str:
        kinds = {self._one(leaf) for leaf in jax.tree_util.tree_leaves(value)}
        if _TARGET in kinds:
            return _TARGET
        return _MEMORY if _MEMORY in kinds else _PARAM

    def _one(self, leaf: Any) -> str:
        seen = self.seen.get(id(leaf))
        return seen[1] if seen is not None and seen[0] is leaf else _TARGET


_TAINT: ContextVar[_Taint | None] = ContextVar("topos_seq2seq_taint", default=None)


def _taint() -> _Taint:
    taint = _TAINT.get()
    assert taint is not None, "seq2seq: a decoding function ran outside decode_step"
    return taint


def _buckets(box: Box, ctx: _Context) -> Any:
    """T5's buckets of ``key - query`` for the new rows against every position."""
    cod = box.cod
    assert isinstance(cod, Fin)
    buckets, far = cod.n, box.attrs["max_distance"]
    rel = _positions(ctx, True)[None, :] - _positions(ctx, False)[:, None]
    out = jnp.zeros(rel.shape, jnp.int32)
    if box.attrs["bidirectional"]:
        buckets //= 2
        out = out + (rel > 0) * buckets
        dist = jnp.abs(rel)
    else:
        dist = jnp.maximum(-rel, 0)
    exact = buckets // 2
    logs = jnp.log(jnp.maximum(dist, 1).astype(jnp.float32) / np.float32(exact))
    ratio = logs / np.float32(math.log(far / exact)) * np.float32(buckets - exact)
    large = jnp.minimum(exact + ratio.astype(jnp.int32), buckets - 1)
    return (out + jnp.where(dist < exact, dist, large)).astype(jnp.int32)


def _seq2seq_box(box: Box) -> Fn:
    base = _decode_box(box)
    varying = _mentions(box)  # it reads the target's axis: never the same at every step

    def run(x: Any) -> Any:
        taint = _taint()
        if box.name == "relative_buckets" and varying:
            out = _buckets(box, _CTX.get())  # type: ignore[arg-type]
            taint.mark(out, _TARGET)
            return out
        kind = _TARGET if varying else taint.kind(x)
        if kind != _MEMORY or box.name in _FREE:
            out = base.fn(x)
            taint.mark(out, kind)
            return out
        frame = _frame()
        key = frame.next()
        out = frame.read[key] if key in frame.read else base.fn(x)
        frame.write[key] = out
        taint.mark(out, _MEMORY)
        return out

    return Fn(run, box.dom, box.cod)


class Seq2SeqCategory(DecodeCategory):
    """``DecodeCategory`` whose layers also know which carried values are the memory's."""

    def repeat(self, body: Fn, n: int, p: Ob, a: Ob) -> Fn:
        step = body.fn

        def run(x: Any) -> Any:
            params, carry = x
            params = restack(params)
            frame, taint = _frame(), _taint()
            key = frame.next()
            stacked = frame.read.get(key, {})
            kinds = [taint.kind(leaf) for leaf in jax.tree_util.tree_leaves(carry)]
            kept: list[bool] = []

            def layer(c: Any, xs: Any) -> tuple[Any, Any]:
                ps, caches = xs
                taint.mark(ps, _PARAM)
                leaves = jax.tree_util.tree_leaves(c)
                for leaf, kind in zip(leaves, kinds, strict=True):
                    taint.mark(leaf, kind)
                out, written = _in_frame(step, (ps, c), caches)
                outs = jax.tree_util.tree_leaves(out)
                kept[:] = [o is i for o, i in zip(outs, leaves, strict=True)]
                return out, written

            out, written = jax.lax.scan(layer, carry, (params, stacked), length=n)
            frame.write[key] = written
            for leaf, kind, same in zip(jax.tree_util.tree_leaves(out), kinds, kept, strict=True):
                taint.mark(leaf, kind if same else _TARGET)
            return out

        return Fn(run, body.dom, a)


_SEQ2SEQ: Functor[Ob, Fn] = Functor(ob=lambda x: x, ar=_seq2seq_box, cod=Seq2SeqCategory())


@functools.lru_cache(maxsize=64)
def _decoder(arrow: Any) -> Fn:
    return _SEQ2SEQ(arrow)  # type: ignore[no-any-return]


def _halves(encode: object, decode: object, op: str) -> tuple[int, Dim, R]:
    """The vocabulary, the target's ``Dim`` and the memory's object, checked."""
    dom, cod = getattr(decode, "dom", None), getattr(decode, "cod", None)
    ok = isinstance(dom, Product) and isinstance(dom.left, Fin) and isinstance(dom.right, R)
    if not ok or not isinstance(cod, R):
        raise TypeError(
            f"{op}: decode must be a Para Fin(V, tgt) * R(src, d) -> R(tgt, V), got {dom!r}"
        )
    assert isinstance(dom, Product) and isinstance(dom.left, Fin) and isinstance(dom.right, R)
    tokens, memory = dom.left, dom.right
    tgt = tokens.shape[0] if len(tokens.shape) == 1 else None
    if not isinstance(tgt, Dim) or tgt.max < 2:
        raise TypeError(
            f"{op}: the target length of {tokens!r} must be a Dim('tgt', max) with max >= 2"
        )
    if getattr(encode, "cod", None) != memory:
        raise TypeError(
            f"{op}: encode gives {getattr(encode, 'cod', None)!r}, decode reads {memory!r}"
        )
    return tokens.n, tgt, memory


def decode_step(
    decode: Para, params: Mapping[str, Any], ids: Any, memory: Any, state: Any, offset: Any
) -> tuple[Any, Any]:
    """One step of one example: ``(state, new ids) -> (logits of the new rows, state)``.

    ``memory`` is the encoder's output; ``state`` is ``{}`` before the first step,
    after which it holds the self-attention caches and the memory's keys and
    values (so later steps do not read ``memory``).
    """
    dom = decode.dom
    assert isinstance(dom, Product) and isinstance(dom.left, Fin)
    tgt = dom.left.shape[0]
    assert isinstance(tgt, Dim)
    q = cartesian(decode)
    fn = _decoder(q.arrow)
    pv = param_value(q, params)
    n = int(jnp.shape(ids)[0])
    ctx = _Context(tgt, n, jnp.asarray(offset, jnp.int32), jnp.asarray(0, jnp.int32))
    frame, taint = _Frame(state), _Taint()
    taint.mark(pv, _PARAM)
    taint.mark(memory, _MEMORY)
    tokens = (_CTX.set(ctx), _FRAME.set(frame), CONSTANTS.set(params), _TAINT.set(taint))
    try:
        out = fn.fn((pv, (ids, memory)))
    finally:
        _TAINT.reset(tokens[3])
        CONSTANTS.reset(tokens[2])
        _FRAME.reset(tokens[1])
        _CTX.reset(tokens[0])
    return out, frame.write


def generate(
    encode: Para,
    decode: Para,
    params: Mapping[str, Any],
    source: Any,
    steps: int,
    key: jax.Array,
    temperature: float = 1.0,
    top_k: int | None = None,
    *,
    start: int = 0,
    return_logits: bool = False,
) -> Any:
    """``steps`` tokens for each source sequence, after the start token ``start``.

    Args:
        encode: the encoder half ``Fin(V, src) -> R(src, d)``.
        decode: the decoder half ``Fin(V, tgt) * R(src, d) -> R(tgt, V)``, ``tgt`` a ``Dim``.
        params: the parameters of both (one dict, as ``topos.nn.t5.halves`` names them).
        source: one sequence of ``src`` ids, or a batch ``(batch, src)``.
        steps: how many tokens to draw, at most ``tgt.max``.
        key: a ``jax.random`` key.
        temperature: ``0`` for greedy decoding.
        top_k: draw among the ``top_k`` most likely tokens only.
        start: the decoder's start token (T5: the pad id, 0).
        return_logits: also return the logits of each step.

    Returns:
        ``int32`` ids ``(steps,)`` or ``(batch, steps)`` (and the logits with ``return_logits``).
    """
    vocab, tgt, memory = _halves(encode, decode, "seq2seq.generate")
    src = np.asarray(source)
    single = src.ndim == 1
    batch = src[None] if single else src
    enc_dom = encode.dom
    if batch.ndim != 2 or not isinstance(enc_dom, Fin) or batch.shape[1:] != enc_dom.shape:
        raise ValueError(
            f"seq2seq.generate: sources must have shape {getattr(enc_dom, 'shape', None)}"
            f" (or a batch of them), got {src.shape}"
        )
    if not np.issubdtype(batch.dtype, np.integer) or batch.min() < 0 or batch.max() >= vocab:
        raise ValueError(f"seq2seq.generate: source ids must be ints in 0..{vocab - 1}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= tgt.max:
        raise ValueError(f"seq2seq.generate: steps must be an int in 1..{tgt.max}, got {steps!r}")
    if not (isinstance(temperature, (int, float)) and 0 <= temperature < math.inf):
        raise ValueError(f"seq2seq.generate: temperature must be >= 0, got {temperature!r}")
    if not (isinstance(start, int) and 0 <= start < vocab):
        raise ValueError(f"seq2seq.generate: start must be a token id in 0..{vocab - 1}")
    missing = sorted((set(encode.parameters()) | set(decode.parameters())) - set(params))
    if missing:
        raise ValueError(f"seq2seq.generate: params lack {missing[:4]}")
    run = _compiled(encode, decode, steps, float(temperature), top_k, start)
    out, logits = run(params, jnp.asarray(batch, jnp.int32), key)
    out, logits = np.asarray(out), np.asarray(logits)
    if single:
        out, logits = out[0], logits[0]
    return (out, logits) if return_logits else out


@functools.lru_cache(maxsize=32)
def _compiled(
    encode: Para, decode: Para, steps: int, temperature: float, top_k: int | None, start: int
) -> Callable[..., Any]:
    def one(params: Any, ids: Any, memory: Any, state: Any, offset: Any) -> Any:
        return decode_step(decode, params, ids, memory, state, offset)

    batched = jax.vmap(one, in_axes=(None, 0, 0, 0, None))

    def run(every: Any, source: Any, key: Any) -> Any:
        mine = {k: every[k] for k in encode.parameters()}
        memory = jax.vmap(lambda s: apply(encode, mine, s))(source)  # the encoder, once
        params = {k: every[k] for k in decode.parameters()}
        first = jnp.full((source.shape[0], 1), start, jnp.int32)
        logits, state = batched(params, first, memory, {}, 0)
        key, sub = jax.random.split(key)
        tok = _pick(logits[:, 0], sub, temperature, top_k)

        def body(carry: Any, i: Any) -> Any:
            state, tok, key = carry
            logits, state = batched(params, tok[:, None], memory, state, i + 1)
            key, sub = jax.random.split(key)
            nxt = _pick(logits[:, 0], sub, temperature, top_k)
            return (state, nxt, key), (nxt, logits[:, 0])

        if steps == 1:
            return tok[:, None], logits
        _, (toks, lgs) = jax.lax.scan(body, (state, tok, key), jnp.arange(steps - 1))
        toks = jnp.concatenate([tok[None], toks], axis=0).T
        lgs = jnp.concatenate([logits[:, 0][None], lgs], axis=0).transpose(1, 0, 2)
        return toks, lgs

    return jax.jit(run)
