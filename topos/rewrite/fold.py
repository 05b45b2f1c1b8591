"""The online softmax: attention as a fold with a monoid, and the law ``softmax-fold``.

For one query, ``softmax(s) v = Σⱼ e^{sⱼ} vⱼ / Σⱼ e^{sⱼ}``. A block ``B`` of keys is
summarised as ``(m, l, o) = (max_{j∈B} sⱼ, Σ_{j∈B} e^{sⱼ-m}, Σ_{j∈B} e^{sⱼ-m} vⱼ)``, and
two summaries combine by

    (m₁,l₁,o₁) ⊕ (m₂,l₂,o₂) = (m, l₁e^{m₁-m} + l₂e^{m₂-m}, o₁e^{m₁-m} + o₂e^{m₂-m}),
    m = max(m₁, m₂),

with unit ``(-∞, 0, 0)``. ``⊕`` is associative with that unit (a monoid, commutative
too), so folding the keys' singletons ``(sⱼ, 1, vⱼ)`` in blocks, in any grouping,
gives the summary of all keys, and ``o / l`` is ``softmax(s) v``. Only ``(m, l, o)``
is kept: memory linear in the length instead of the ``s × t`` scores.

Laws, checked here in float64 and property-tested (``tests/topos/rewrite/test_fold.py``):

>>> x, y, z = (0.5, 1.0, 2.0), (3.0, 2.0, -1.0), (-1.0, 0.5, 4.0)
>>> close = lambda a, b: all(abs(p - q) <= 1e-12 * max(1.0, abs(q)) for p, q in zip(a, b))
>>> close(combine(combine(x, y), z), combine(x, combine(y, z)))      # associativity
True
>>> combine(UNIT, x) == x == combine(x, UNIT)                       # unit
True

and symbolically, for every weak order of three maxima (``certify``): both
groupings normalise to the same summary, ``(M, Σᵢ lᵢ e^{mᵢ-M}, Σᵢ oᵢ e^{mᵢ-M})`` with
``M = max mᵢ``, and the unit is neutral on both sides:

>>> cert = certify()
>>> cert.cases, cert.associative, cert.unital, cert.closed_form
(13, True, True, True)
>>> from topos.rewrite.theory import LINEAR_ALGEBRA
>>> print(LINEAR_ALGEBRA["softmax-fold"].lhs)
(Mix (Softmax (Mask (Scale c (Scores q k)))) v)

The law ``softmax-fold`` of ``LINEAR_ALGEBRA`` rewrites the materialised attention of
``topos.nn.self_attention`` (``einsum`` scores, ``scale``, optional ``causal_mask``,
``softmax``, ``einsum`` mix) into one ``softmax_fold`` box; ``optimize(f,
memory_budget=...)`` applies it where the scores would take more bytes than the
budget (``fold_steps`` here), and ``check`` re-verifies each instance: the pattern,
the attributes carried over, and this certificate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from topos.arrows import Box
from topos.nn import primitives as P
from topos.objects import R
from topos.rewrite.terms import Term, nodes

__all__ = [
    "UNIT",
    "FoldCertificate",
    "certify",
    "combine",
    "fold_steps",
    "folded",
    "scores_bytes",
]

#: The unit of ``⊕``: the summary of no keys.
UNIT: tuple[float, float, float] = (-math.inf, 0.0, 0.0)


def combine(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, ...]:
    """``a ⊕ b`` on numbers (one value column): the monoid of the online softmax.

    ``e^{mᵢ-m}`` is taken as 0 for a unit side (``mᵢ = -∞``), so the unit is exact.
    """
    (m1, l1, o1), (m2, l2, o2) = a, b
    m = max(m1, m2)
    if m == -math.inf:
        return UNIT
    e1 = 0.0 if m1 == -math.inf else math.exp(m1 - m)
    e2 = 0.0 if m2 == -math.inf else math.exp(m2 - m)
    return (m, l1 * e1 + l2 * e2, o1 * e1 + o2 * e2)


# -- the symbolic certificate ---------------------------------------------------------
#
# A symbolic summary of generators xᵢ = (mᵢ, lᵢ, oᵢ) is (M, {i: Eᵢ}): its maximum M (a
# generator index, or None for -∞) and, for each generator it holds, the exponent Eᵢ of
# e in lᵢ e^{Eᵢ} (and oᵢ e^{Eᵢ}: l and o are scaled alike), a linear form in the mᵢ
# {index: coefficient}. Under a weak order of the mᵢ, tied maxima are one variable.

_Form = tuple[tuple[int, int], ...]
_Sym = tuple[int | None, tuple[tuple[int, _Form], ...]]


def _form(d: dict[int, int]) -> _Form:
    return tuple(sorted((k, c) for k, c in d.items() if c))


def _shift(f: _Form, up: int, down: int) -> _Form:
    """The form ``f + m_up - m_down`` (the exponent after scaling by ``e^{m_up - m_down}``)."""
    out = dict(f)
    out[up] = out.get(up, 0) + 1
    out[down] = out.get(down, 0) - 1
    return _form(out)


def _sym_combine(a: _Sym, b: _Sym, rank: dict[int, int]) -> _Sym:
    (ma, ea), (mb, eb) = a, b
    if ma is None:
        return b
    if mb is None:
        return a
    m = ma if rank[ma] >= rank[mb] else mb
    terms: dict[int, _Form] = {}
    for mi, e in ((ma, ea), (mb, eb)):
        for i, f in e:
            terms[i] = _shift(f, mi, m)  # × e^{mᵢ - m}
    return m, tuple(sorted(terms.items()))


def _canon(a: _Sym, rank: dict[int, int]) -> _Sym:
    """The summary with each mᵢ replaced by the least index tied with it."""
    rep = {i: min(j for j in rank if rank[j] == rank[i]) for i in rank}
    m, e = a
    terms = []
    for i, f in e:
        d: dict[int, int] = {}
        for k, c in f:
            d[rep[k]] = d.get(rep[k], 0) + c
        terms.append((i, _form(d)))
    return (None if m is None else rep[m]), tuple(sorted(terms))


def _weak_orders(n: int) -> Iterator[dict[int, int]]:
    """Every weak order (ranking with ties) of ``n`` maxima, once: 13 for ``n = 3``."""
    seen = set()
    for ranks in itertools.product(range(n), repeat=n):
        used = sorted(set(ranks))
        dense = tuple(used.index(r) for r in ranks)
        if dense not in seen:
            seen.add(dense)
            yield dict(enumerate(dense))


@dataclass(frozen=True)
class FoldCertificate:
    """What ``certify`` checked: the number of weak orders and each law's verdict."""

    cases: int
    associative: bool
    unital: bool
    closed_form: bool

    @property
    def holds(self) -> bool:
        """Whether ``⊕`` is a monoid and folds to the softmax-weighted sum."""
        return self.associative and self.unital and self.closed_form


def certify() -> FoldCertificate:
    """Check the monoid laws of ``⊕`` symbolically, for every weak order of three maxima."""
    gen: list[_Sym] = [(i, ((i, ()),)) for i in range(3)]
    unit: _Sym = (None, ())
    cases, assoc, unital, closed = 0, True, True, True
    for rank in _weak_orders(3):
        cases += 1
        x, y, z = gen

        def c(a: _Sym, b: _Sym, rank: dict[int, int] = rank) -> _Sym:
            return _sym_combine(a, b, rank)

        left, right = _canon(c(c(x, y), z), rank), _canon(c(x, c(y, z)), rank)
        assoc &= left == right
        for a in (x, c(x, y), unit):
            unital &= _canon(c(unit, a), rank) == _canon(a, rank) == _canon(c(a, unit), rank)
        top = max(range(3), key=lambda i: (rank[i], -i))
        want: _Sym = (top, tuple((i, _shift((), i, top)) for i in range(3)))
        closed &= left == _canon(want, rank)
    return FoldCertificate(cases, assoc, unital, closed)


# -- the law on terms -------------------------------------------------------------------

#: The einsum specs of ``topos.nn.self_attention``: scores and mix.
SCORES, MIX = "skgd,tkd->kgst", "kgst,tkd->skgd"


def _box(t: Term, name: str) -> Box | None:
    return t.data if t.op == "box" and isinstance(t.data, Box) and t.data.name == name else None


def _match(t: Term) -> dict[str, Any] | None:
    """The parts of a materialised attention ``t`` (the law's left side), or ``None``."""
    mix = _box(t, "einsum")
    if mix is None or mix.attrs.get("spec") != MIX or len(t.args) != 2:
        return None
    probs, v = t.args
    soft = _box(probs, "softmax")
    if soft is None:
        return None
    inner = probs.args[0]
    mask = _box(inner, "causal_mask")
    scaled = inner.args[0] if mask is not None else inner
    if scaled.op != "Scale":
        return None
    scores = scaled.args[0]
    sb = _box(scores, "einsum")
    if sb is None or sb.attrs.get("spec") != SCORES or len(scores.args) != 2:
        return None
    if not isinstance(scores.ob, R) or soft.attrs.get("axis") != len(scores.ob.shape) - 1:
        return None
    q, k = scores.args
    return {
        "q": q,
        "k": k,
        "v": v,
        "scale": float(scaled.data),
        "causal": mask is not None,
        "fill": float(mask.attrs["fill"]) if mask is not None else -1e9,
        "scores": scores.ob,
    }


def scores_bytes(ob: Any) -> int:
    """The bytes of one example's scores ``ob`` (at the bound of each ``Dim``)."""
    item = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}.get(ob.dtype, 4)
    return int(ob.size) * item


def folded(t: Term, block: int) -> Term | None:
    """The right side of ``softmax-fold`` for a materialised attention ``t``, or ``None``."""
    parts = _match(t)
    if parts is None:
        return None
    q, k, v = parts["q"], parts["k"], parts["v"]
    try:
        box = P.softmax_fold(
            q.ob,
            k.ob,
            v.ob,
            scale=parts["scale"],
            causal=parts["causal"],
            fill=parts["fill"],
            block=block,
        )
    except (TypeError, ValueError):
        return None
    if box.cod != t.ob:
        return None
    return Term("box", box, (q, k, v), box.cod)


def is_instance(before: Term, after: Term) -> bool:
    """Whether ``before = after`` is an instance of ``softmax-fold`` (any block size)."""
    fold = _box(after, "softmax_fold")
    if fold is None:
        return False
    again = folded(before, fold.attrs["block"])
    return again is after and certify().holds


def fold_steps(roots: list[Term], memory_budget: int, block: int) -> dict[int, tuple[Term, Term]]:
    """The instances of ``softmax-fold`` to apply: each materialised attention in
    ``roots`` whose scores take more than ``memory_budget`` bytes, by node id."""
    out: dict[int, tuple[Term, Term]] = {}
    for t in nodes(roots):
        parts = _match(t)
        if parts is None or scores_bytes(parts["scores"]) <= memory_budget:
            continue
        new = folded(t, block)
        if new is not None:
            out[id(t)] = (t, new)
    return out

