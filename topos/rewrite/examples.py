"""Worked examples of what ``optimize`` improves, shared by the tests and the benchmark.

>>> from topos.rewrite import optimize
>>> str(optimize(linear_attention(64, 8)).arrow).count("einsum") >= 2
True
>>> f = multihead_linear_attention(64, 8, heads=4, batch=2)
>>> f.dom.left.left, f.cod
(R(2, 4, 64, 8), R(2, 4, 64, 8))
>>> print(optimize(f).certificate.steps[0].after)
(MM x.0.0 (MM (Tr x.0.1) x.1))
>>> p = linear_attention_para(64, 8)
>>> list(p.parameters()), p.dom, p.cod
(['wq', 'wk', 'wv'], R(64, 8), R(64, 8))
>>> optimize(p.arrow).certificate.cost_after < optimize(p.arrow).certificate.cost_before
True
>>> f = softmax_attention(4096, heads=2, dh=8)               # 128 MiB of scores
>>> print(optimize(f, memory_budget=2**20).arrow)            # ... over a 1 MiB budget
⟨⟨π₁ >> π₁, π₁ >> π₂⟩, π₂⟩ >> softmax_fold
"""

from __future__ import annotations

from topos.arrows import Arrow, Id, compose, fst, pair, snd
from topos.nn import primitives as P
from topos.objects import R
from topos.para import Para, normal

__all__ = [
    "chain",
    "linear_attention",
    "linear_attention_para",
    "multihead_linear_attention",
    "softmax_attention",
]


def linear_attention(n: int, d: int) -> Arrow:
    """``(Q Kᵀ) V`` on ``Q * K * V``, scores first, as written by hand (O(n²) memory)."""
    q = R(n, d)
    qk = q * q
    scores = pair(fst(qk, q) >> fst(q, q), fst(qk, q) >> snd(q, q)) >> P.einsum("sd,td->st", q, q)
    return pair(scores, snd(qk, q)) >> P.einsum("st,td->sd", R(n, n), q)


def multihead_linear_attention(n: int, d: int, heads: int, batch: int = 1) -> Arrow:
    """``(Q Kᵀ) V`` per batch entry and head on ``Q * K * V``, each ``R(batch, heads, n, d)``.

    The einsums carry batch and head labels (``"bhsd,bhtd->bhst"`` then
    ``"bhst,bhtd->bhsd"``), scores first, as written by hand (O(n²) memory).
    """
    q = R(batch, heads, n, d)
    qk = q * q
    first = pair(fst(qk, q) >> fst(q, q), fst(qk, q) >> snd(q, q))
    scores = first >> P.einsum("bhsd,bhtd->bhst", q, q)
    return pair(scores, snd(qk, q)) >> P.einsum("bhst,bhtd->bhsd", scores.cod, q)


def chain(shapes: list[int]) -> Arrow:
    """``((A₁ A₂) A₃) ⋯`` on ``((A₁ * A₂) * A₃) * ...``; ``Aᵢ`` is ``shapes[i-1:i+1]``."""
    mats = [R(a, b) for a, b in zip(shapes, shapes[1:], strict=False)]
    acc: Arrow = Id(mats[0])
    for m in mats[1:]:
        acc = (acc * Id(m)) >> P.matmul(acc.cod, m)
    return acc


def linear_attention_para(n: int, d: int) -> Para:
    """``((X Wq)(X Wk)ᵀ)(X Wv)`` as a Para over ``X: R(n, d)`` with ``wq``, ``wk``, ``wv``.

    Written scores first (O(n²)); ``optimize`` reassociates it to ``Q (Kᵀ V)``.
    """
    x, w = R(n, d), R(d, d)
    ws = (w * w) * w
    dom = ws * x
    take = [
        compose(fst(ws, x), fst(w * w, w), fst(w, w)),
        compose(fst(ws, x), fst(w * w, w), snd(w, w)),
    ]
    take.append(fst(ws, x) >> snd(w * w, w))
    proj = [pair(snd(ws, x), t) >> P.einsum("sd,de->se", x, w) for t in take]
    scores = pair(proj[0], proj[1]) >> P.einsum("se,te->st", x, x)
    arrow = pair(scores, proj[2]) >> P.einsum("st,te->se", R(n, n), x)
    assert arrow.dom == dom
    init = normal(d**-0.5)
    return Para(ws, arrow, {"wq": init, "wk": init, "wv": init})


def softmax_attention(
    n: int, heads: int, dh: int, *, causal: bool = True, groups: int = 1, dtype: str = "float32"
) -> Arrow:
    """``softmax(mask(q kᵀ/√dh)) v`` on ``q * k * v`` in the layout of ``topos.nn.self_attention``
    (``q: R(n, heads, groups, dh)``, ``k, v: R(n, heads, dh)``): the scores in memory, O(n²).
    """
    qs, ks = R(n, heads, groups, dh, dtype=dtype), R(n, heads, dh, dtype=dtype)
    scores = P.einsum("skgd,tkd->kgst", qs, ks)
    a = scores.cod
    assert isinstance(a, R)
    qk = pair(fst(qs * ks, ks) >> fst(qs, ks), fst(qs * ks, ks) >> snd(qs, ks))
    chooser = qk >> scores >> P.scale(a, dh**-0.5)
    if causal:
        chooser = chooser >> P.causal_mask(a)
    chooser = chooser >> P.softmax(a, -1)
    return pair(chooser, snd(qs * ks, ks)) >> P.einsum("kgst,tkd->skgd", a, ks)
