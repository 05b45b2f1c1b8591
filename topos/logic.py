"""Predicates and their connectives: the internal logic of ``Omega``, as diagrams.

A *predicate* on ``A`` is an arrow ``p: A -> Omega``; in any topos it classifies a
subobject of ``A`` (the part of ``A`` where ``p`` holds). The connectives here are
arrow combinators built from the structure maps of ``Omega``, so they mean the
same thing in every semantics:

    both(p, q)    = pair(p, q) >> conj         (intersection of subobjects)
    either(p, q)  = pair(p, q) >> disj         (union)
    entails(p, q) = pair(p, q) >> implies      (Heyting implication)
    negation(p)   = p >> neg                   (pseudo-complement, p ⇒ ⊥)
    top(A)        = discard(A) >> true         bottom(A) = discard(A) >> false

Substitution is composition: ``f >> p`` is the inverse image of ``p`` along ``f``.

The laws of a Heyting algebra hold in every topos; the Boolean ones (double
negation, excluded middle) hold in finite sets but not in presheaves on the
arrow category ``0 -> 1`` (the Sierpinski topos). ``holds(F, p)`` says whether
``p`` is true everywhere in the model ``F``:

>>> from topos import R, Box, Omega
>>> from topos.finite import Presheaves, random_model, random_presheaf_model, sierpinski
>>> A = R(2)
>>> p, q = Box("p", A, Omega), Box("q", A, Omega)
>>> sets, sheaves = random_model(seed=0), random_presheaf_model(sierpinski(), seed=0)
>>> all(holds(F, entails(both(p, q), p)) for F in (sets, sheaves))
True
>>> all(F(both(p, q)) == F(both(q, p)) for F in (sets, sheaves))
True
>>> holds(sets, either(p, negation(p))), holds(sets, iff(negation(negation(p)), p))
(True, True)

In presheaves, excluded middle fails for the generic truth value ``Id(Omega)``:

>>> from topos import Id
>>> from topos.functor import Functor
>>> S = Functor(ob={}, ar={}, cod=Presheaves(sierpinski()))
>>> truth = Id(Omega)
>>> holds(S, either(truth, negation(truth)))
False
>>> holds(S, entails(truth, negation(negation(truth))))
True
>>> holds(S, entails(negation(negation(truth)), truth))
False
"""

from __future__ import annotations

from typing import Any

from topos.arrows import (
    Arrow,
    conj,
    copair,
    discard,
    disj,
    false,
    fst,
    implies,
    neg,
    pair,
    snd,
    true,
)
from topos.errors import TypeMismatch, expected, not_a, short
from topos.objects import Ob, Omega

__all__ = [
    "both",
    "bottom",
    "conjunction",
    "disjunction",
    "either",
    "entails",
    "excluded_middle",
    "double_negation",
    "extent",
    "holds",
    "iff",
    "is_boolean",
    "is_predicate",
    "negation",
    "on_fst",
    "on_snd",
    "product_of",
    "reindex",
    "sum_of",
    "top",
    "valid_entailment",
]


def is_predicate(p: object) -> bool:
    """Whether ``p`` is an arrow into ``Omega``.

    >>> from topos import R, Box, Omega
    >>> is_predicate(Box("p", R(2), Omega)), is_predicate(Box("f", R(2), R(1)))
    (True, False)
    """
    return isinstance(p, Arrow) and p.cod == Omega


def _predicate(op: str, p: object) -> Arrow:
    if not isinstance(p, Arrow):
        raise not_a(op, "a predicate (an arrow into Omega)", p)
    if p.cod != Omega:
        raise expected(f"{op}: {short(p)}", "a predicate with codomain Omega", p.cod)
    return p


def _predicates(op: str, p: object, q: object) -> tuple[Arrow, Arrow]:
    p, q = _predicate(op, p), _predicate(op, q)
    if p.dom != q.dom:
        raise TypeMismatch(
            f"{op}({short(p)}, {short(q)}): the predicates are on different objects,"
            f" {p.dom!r} and {q.dom!r}"
        )
    return p, q


def top(a: Ob) -> Arrow:
    """The predicate true everywhere on ``a``: ``discard(a) >> true`` (the whole of ``a``).

    >>> from topos import R
    >>> print(top(R(2)))
    ! >> ⊤
    """
    return discard(a) >> true


def bottom(a: Ob) -> Arrow:
    """The predicate false everywhere on ``a``: ``discard(a) >> false`` (the empty part).

    >>> from topos import R
    >>> print(bottom(R(2)))
    ! >> ⊥
    """
    return discard(a) >> false


def both(p: Arrow, q: Arrow) -> Arrow:
    """``p ∧ q = pair(p, q) >> conj``: holds where both hold (intersection).

    >>> from topos import R, Box, Omega
    >>> p, q = Box("p", R(2), Omega), Box("q", R(2), Omega)
    >>> print(both(p, q))
    ⟨p, q⟩ >> ∧
    >>> both(p, Box("r", R(3), Omega))
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: both(p, r): the predicates are on different objects, R(2) and R(3)
    """
    p, q = _predicates("both", p, q)
    return pair(p, q) >> conj


def either(p: Arrow, q: Arrow) -> Arrow:
    """``p ∨ q = pair(p, q) >> disj``: holds where one holds (union).

    >>> from topos import R, Box, Omega
    >>> print(either(Box("p", R(2), Omega), Box("q", R(2), Omega)))
    ⟨p, q⟩ >> ∨
    """
    p, q = _predicates("either", p, q)
    return pair(p, q) >> disj


def entails(p: Arrow, q: Arrow) -> Arrow:
    """``p ⇒ q = pair(p, q) >> implies``, the Heyting implication, as a predicate.

    It holds everywhere exactly when ``p ≤ q`` (see ``valid_entailment``).

    >>> from topos import R, Box, Omega
    >>> print(entails(Box("p", R(2), Omega), Box("q", R(2), Omega)))
    ⟨p, q⟩ >> ⇒
    """
    p, q = _predicates("entails", p, q)
    return pair(p, q) >> implies


def negation(p: Arrow) -> Arrow:
    """``¬p = p >> neg``: the largest predicate disjoint from ``p`` (``p ⇒ ⊥``).

    >>> from topos import R, Box, Omega
    >>> print(negation(Box("p", R(2), Omega)))
    p >> ¬
    >>> negation(Box("f", R(2), R(1)))
    Traceback (most recent call last):
    ...
    topos.errors.TypeMismatch: negation: f: expected a predicate with codomain Omega, got R(1)
    """
    return _predicate("negation", p) >> neg


def iff(p: Arrow, q: Arrow) -> Arrow:
    """``p ⇔ q = (p ⇒ q) ∧ (q ⇒ p)``.

    >>> from topos import R, Box, Omega
    >>> print(iff(Box("p", R(2), Omega), Box("q", R(2), Omega)))
    ⟨⟨p, q⟩ >> ⇒, ⟨q, p⟩ >> ⇒⟩ >> ∧
    """
    p, q = _predicates("iff", p, q)
    return both(entails(p, q), entails(q, p))


def conjunction(a: Ob, *ps: Arrow) -> Arrow:
    """``p₁ ∧ … ∧ pₙ`` on ``a``, folded to the left; ``top(a)`` when there are none.

    >>> from topos import R, Box, Omega
    >>> p, q, r = (Box(n, R(2), Omega) for n in "pqr")
    >>> print(conjunction(R(2), p, q, r))
    ⟨⟨p, q⟩ >> ∧, r⟩ >> ∧
    """
    return _fold("conjunction", a, ps, both, top)


def disjunction(a: Ob, *ps: Arrow) -> Arrow:
    """``p₁ ∨ … ∨ pₙ`` on ``a``, folded to the left; ``bottom(a)`` when there are none.

    >>> from topos import R
    >>> disjunction(R(2)) == bottom(R(2))
    True
    """
    return _fold("disjunction", a, ps, either, bottom)


def _fold(op: str, a: Ob, ps: tuple[Arrow, ...], join: Any, unit: Any) -> Arrow:
    if not isinstance(a, Ob):
        raise not_a(op, "the object the predicates are on", a)
    if not ps:
        out: Arrow = unit(a)
        return out
    out = _predicate(op, ps[0])
    if out.dom != a:
        raise expected(f"{op}: {short(out)}", f"a predicate on {a!r}", out.dom)
    for p in ps[1:]:
        out = join(out, p)
    return out


def reindex(f: Arrow, p: Arrow) -> Arrow:
    """Substitution ``f >> p``: the inverse image of the subobject ``p`` along ``f``.

    >>> from topos import R, Box, Omega
    >>> print(reindex(Box("f", R(1), R(2)), Box("p", R(2), Omega)))
    f >> p
    """
    return f >> _predicate("reindex", p)


def on_fst(p: Arrow, b: Ob) -> Arrow:
    """``p`` on the first factor of ``A * b``: ``fst(A, b) >> p`` (the subobject ``P × b``).

    >>> from topos import R, Box, Omega
    >>> print(on_fst(Box("p", R(2), Omega), R(1)))
    π₁ >> p
    """
    p = _predicate("on_fst", p)
    return fst(p.dom, b) >> p


def on_snd(a: Ob, p: Arrow) -> Arrow:
    """``p`` on the second factor of ``a * B``: ``snd(a, B) >> p`` (the subobject ``a × P``).

    >>> from topos import R, Box, Omega
    >>> print(on_snd(R(1), Box("p", R(2), Omega)))
    π₂ >> p
    """
    p = _predicate("on_snd", p)
    return snd(a, p.dom) >> p


def product_of(p: Arrow, q: Arrow) -> Arrow:
    """The predicate of ``P × Q ⊆ A × B`` for ``p`` on ``A``, ``q`` on ``B``: ``(p * q) >> conj``.

    >>> from topos import R, Box, Omega
    >>> print(product_of(Box("p", R(1), Omega), Box("q", R(2), Omega)))
    p * q >> ∧
    """
    p, q = _predicate("product_of", p), _predicate("product_of", q)
    return (p * q) >> conj


def sum_of(p: Arrow, q: Arrow) -> Arrow:
    """The predicate of ``P + Q ⊆ A + B`` for ``p`` on ``A``, ``q`` on ``B``: ``copair(p, q)``.

    >>> from topos import R, Box, Omega
    >>> print(sum_of(Box("p", R(1), Omega), Box("q", R(2), Omega)))
    [p, q]
    """
    p, q = _predicate("sum_of", p), _predicate("sum_of", q)
    return copair(p, q)


def holds(model: Any, p: Arrow) -> bool:
    """Whether ``p`` is true everywhere in ``model`` (a ``Functor``): ``model(p) == model(top)``.

    Exact in ``topos.finite``'s semantics.

    >>> from topos import R, Box, Omega
    >>> from topos.finite import random_model
    >>> p = Box("p", R(2), Omega)
    >>> F = random_model(seed=0)
    >>> holds(F, top(R(2))), holds(F, either(p, negation(p))), holds(F, bottom(R(2)))
    (True, True, False)
    """
    p = _predicate("holds", p)
    return bool(model(p) == model(top(p.dom)))


def valid_entailment(model: Any, p: Arrow, q: Arrow) -> bool:
    """Whether ``p ≤ q`` in ``model``: wherever ``p`` holds, ``q`` holds.

    >>> from topos import R, Box, Omega
    >>> from topos.finite import random_model
    >>> p, q = Box("p", R(2), Omega), Box("q", R(2), Omega)
    >>> valid_entailment(random_model(seed=0), both(p, q), q)
    True
    """
    return holds(model, entails(p, q))


def excluded_middle(p: Arrow) -> Arrow:
    """``p ∨ ¬p``: true everywhere exactly when ``p`` is complemented (always, if Boolean).

    >>> from topos import R, Box, Omega
    >>> print(excluded_middle(Box("p", R(2), Omega)))
    ⟨p, p >> ¬⟩ >> ∨
    """
    p = _predicate("excluded_middle", p)
    return either(p, negation(p))


def double_negation(p: Arrow) -> Arrow:
    """``¬¬p ⇔ p``: true everywhere in a Boolean algebra; in a Heyting one only ``p ≤ ¬¬p``.

    >>> from topos import R, Box, Omega
    >>> print(double_negation(Box("p", R(2), Omega)))
    ⟨⟨p >> ¬ >> ¬, p⟩ >> ⇒, ⟨p, p >> ¬ >> ¬⟩ >> ⇒⟩ >> ∧
    """
    p = _predicate("double_negation", p)
    return iff(negation(negation(p)), p)


def extent(model: Any, p: Arrow) -> frozenset[Any]:
    """The elements where ``p`` holds in a finite-sets ``model``: the subset ``p`` classifies.

    With it, the connectives are the set operations (``both`` is ``&``, ``either``
    is ``|``, ``negation`` the complement), exactly:

    >>> from topos import R, Box, Omega
    >>> from topos.finite import interpret
    >>> A = R(1)
    >>> p, q = Box("p", A, Omega), Box("q", A, Omega)
    >>> F = interpret(ob={A: range(4)}, ar={p: lambda n: n < 2, q: lambda n: n % 2 == 0})
    >>> sorted(extent(F, p)), sorted(extent(F, both(p, q))), sorted(extent(F, negation(p)))
    ([0, 1], [0], [2, 3])
    """
    p = _predicate("extent", p)
    f = model(p)
    return frozenset(x for x in f.dom if f(x))


def is_boolean(model: Any, *ps: Arrow) -> bool:
    """Whether excluded middle and double negation hold for each of ``ps`` in ``model``.

    True for every predicate in finite sets; false for the generic truth value in
    presheaves on the Sierpinski category (a Heyting algebra, not a Boolean one):

    >>> from topos import Id, Omega
    >>> from topos.finite import Functor, Presheaves, Sets, sierpinski
    >>> sets = Functor(ob={}, ar={}, cod=Sets())
    >>> sheaves = Functor(ob={}, ar={}, cod=Presheaves(sierpinski()))
    >>> is_boolean(sets, Id(Omega)), is_boolean(sheaves, Id(Omega))
    (True, False)
    """
    return all(holds(model, excluded_middle(p)) and holds(model, double_negation(p)) for p in ps)
