"""Worked examples of what ``optimize`` improves, shared by the tests and the benchmark.

>>> from topos.rewrite import optimize
>>> str(optimize(linear_attention(64, 8)).arrow).count("einsum") >= 2
True
"""

from __future__ import annotations

from topos.arrows import Arrow, Id, fst, pair, snd
from topos.nn import primitives as P
from topos.objects import R

__all__ = ["chain", "linear_attention"]


def linear_attention(n: int, d: int) -> Arrow:
    """``(Q Kᵀ) V`` on ``Q * K * V``, scores first, as written by hand (O(n²) memory)."""
    q = R(n, d)
    qk = q * q
    scores = pair(fst(qk, q) >> fst(q, q), fst(qk, q) >> snd(q, q)) >> P.einsum("sd,td->st", q, q)
    return pair(scores, snd(qk, q)) >> P.einsum("st,td->sd", R(n, n), q)


def chain(shapes: list[int]) -> Arrow:
    """``((A₁ A₂) A₃) ⋯`` on ``((A₁ * A₂) * A₃) * ...``; ``Aᵢ`` is ``shapes[i-1:i+1]``."""
    mats = [R(a, b) for a, b in zip(shapes, shapes[1:], strict=False)]
    acc: Arrow = Id(mats[0])
    for m in mats[1:]:
        acc = (acc * Id(m)) >> P.matmul(acc.cod, m)
    return acc
