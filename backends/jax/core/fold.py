"""Attention as a fold over key blocks: the JAX lowering of ``topos.nn.primitives.softmax_fold``.

``online_attention(q, k, v, ...)`` computes ``softmax(mask(scale · q kᵀ)) v`` per head
without the ``s × t`` scores: queries are cut into blocks (``lax.map``), and for each
block the keys are folded ``block`` at a time (``lax.scan``) with the online-softmax
monoid of ``topos.rewrite.fold``: a summary ``(m, l, o)`` (running maximum,
normaliser, weighted values) and ``(m₁,l₁,o₁) ⊕ (m₂,l₂,o₂) = (m, l₁e^{m₁-m} + l₂e^{m₂-m},
o₁e^{m₁-m} + o₂e^{m₂-m})``. With ``causal`` the key blocks wholly above the diagonal
are skipped (a ``lax.cond`` on loop indices only, so it stays a branch under
``jax.vmap``). Each query block's body is ``jax.checkpoint``-ed: the backward pass
recomputes one block's fold instead of storing every block's scores, so forward and
backward memory are linear in the length. The maximum carries no gradient (the
result does not depend on it), as in ``jax.nn.softmax``.

Law (tested in ``tests/backends/jax/test_fold.py``): it equals the materialised form.

>>> import jax, jax.numpy as jnp
>>> q = jax.random.normal(jax.random.key(0), (10, 2, 1, 4))
>>> k, v = jax.random.normal(jax.random.key(1), (2, 10, 2, 4))
>>> s = jnp.einsum("skgd,tkd->kgst", q, k) * 0.5
>>> s = jnp.where(jnp.tril(jnp.ones((10, 10), bool)), s, -1e9)
>>> dense = jnp.einsum("kgst,tkd->skgd", jax.nn.softmax(s, -1), v)
>>> run = jax.jit(lambda q, k, v: online_attention(q, k, v, scale=0.5, causal=True, block=4))
>>> folded = run(q, k, v)
>>> bool(jnp.allclose(folded, dense, atol=1e-5))
True
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["online_attention"]


def _pad(x: Any, n: int) -> Any:
    extra = n - x.shape[0]
    return x if extra == 0 else jnp.pad(x, [(0, extra)] + [(0, 0)] * (x.ndim - 1))


def online_attention(
    q: Any,
    k: Any,
    v: Any,
    *,
    scale: float,
    causal: bool = True,
    fill: float = -1e9,
    block: int = 512,
) -> Any:
    """``softmax(mask(scale · q kᵀ)) v`` for ``q: (s, kv, g, dh)``, ``k: (t, kv, dh)``,
    ``v: (t, kv, dv)``, folded over key blocks of ``block`` (see the module docstring).

    Masked scores are ``fill`` (as ``causal_mask`` writes them), so the result is the
    materialised form's even where a row's kept scores are all below ``fill``. Half
    precision inputs are accumulated in float32.
    """
    s, kv, g, _ = q.shape
    t, dv = k.shape[0], v.shape[-1]
    bq, bk = min(block, s), min(block, t)
    nq, nk = math.ceil(s / bq), math.ceil(t / bk)
    acc = jnp.promote_types(q.dtype, jnp.float32)
    qb = _pad(q, nq * bq).reshape(nq, bq, kv, g, -1)
    kb = _pad(k, nk * bk).reshape(nk, bk, kv, -1)
    vb = _pad(v, nk * bk).reshape(nk, bk, kv, dv)

    def query_block(i: Any, qi: Any) -> Any:
        rows = i * bq + jnp.arange(bq)

        def visit(carry: Any, j: Any, kj: Any, vj: Any) -> Any:
            m, norm, o = carry
            sc = jnp.einsum("skgd,tkd->kgst", qi, kj, preferred_element_type=acc) * scale
            cols = j * bk + jnp.arange(bk)
            if causal:
                sc = jnp.where(cols[None, :] <= rows[:, None], sc, jnp.asarray(fill, acc))
            if nk * bk != t:  # padded keys count for nothing
                sc = jnp.where(cols[None, :] < t, sc, -jnp.inf)
            m_new = lax.stop_gradient(jnp.maximum(m, sc.max(-1)))
            p = jnp.exp(sc - m_new[..., None])
            alpha = jnp.exp(m - m_new)
            pv = jnp.einsum("kgst,tkd->kgsd", p.astype(v.dtype), vj, preferred_element_type=acc)
            return m_new, norm * alpha + p.sum(-1), o * alpha[..., None] + pv

        def key_block(carry: Any, jkv: Any) -> tuple[Any, None]:
            # the key blocks are scanned over, not indexed: the backward pass then adds
            # each block's cotangent in place of a full-size one per step
            if not causal:
                return visit(carry, *jkv), None
            needed = jkv[0] * bk <= i * bq + bq - 1  # some key of the block is at or before a row
            return lax.cond(needed, lambda c: visit(c, *jkv), lambda c: c, carry), None

        init = (
            jnp.full((kv, g, bq), -jnp.inf, acc),
            jnp.zeros((kv, g, bq), acc),
            jnp.zeros((kv, g, bq, dv), acc),
        )
        (_, norm, o), _ = lax.scan(key_block, init, (jnp.arange(nk), kb, vb))
        out = o / norm[..., None]
        return out.transpose(2, 0, 1, 3).astype(q.dtype)

    body = jax.checkpoint(query_block)
    out = lax.map(lambda iq: body(*iq), (jnp.arange(nq), qb))
    return out.reshape(nq * bq, kv, g, dv)[:s]
