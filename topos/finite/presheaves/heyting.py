"""Subobjects of a presheaf: a Heyting algebra (``Subobject``, ``subobjects``)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from topos.errors import not_a
from topos.finite.presheaves.categories import sierpinski  # noqa: F401  (the doctests)
from topos.finite.presheaves.presheaf import (
    Nat,
    Presheaf,
    nat_transformations,
)
from topos.finite.presheaves.psh import (
    Presheaves,
)

# ---------------------------------------------------------------------------------
# Subobjects: a Heyting algebra


class Subobject:
    """A subpresheaf ``S ↪ F``: subsets ``S[c] ⊆ F[c]`` closed under restriction.

    Subobjects of ``F`` form a Heyting algebra: ``&`` (meet), ``|`` (join),
    ``implies``, ``~`` (negation), ``<=`` (inclusion), ``top``, ``bottom``; each is
    classified by ``characteristic()``, a map ``F ⇒ Omega``.

    >>> S = Presheaves(sierpinski())
    >>> y1 = S.yoneda(1)
    >>> U = Subobject(y1, {0: ["0≤1"], 1: []})   # the part living at 0 only
    >>> ~U == Subobject.bottom(y1), ~~U == Subobject.top(y1)
    (True, True)
    >>> (U | ~U) == Subobject.top(y1)   # excluded middle fails
    False
    >>> Subobject.classified_by(U.characteristic()) == U
    True
    """

    __slots__ = ("presheaf", "_parts")
    presheaf: Presheaf
    _parts: dict[Hashable, frozenset[Any]]

    def __init__(self, presheaf: Presheaf, parts: Mapping[Hashable, Iterable[Any]]) -> None:
        if not isinstance(presheaf, Presheaf):
            raise not_a("Subobject", "a Presheaf", presheaf)
        C = presheaf.category
        own = {c: frozenset(parts.get(c, ())) for c in C.objects}
        for c, part in own.items():
            outside = [x for x in part if x not in presheaf[c]]
            if outside:
                raise ValueError(f"Subobject: {outside[0]!r} is not in {presheaf[c]} at {c!r}")
        for f in C.arrows:
            for x in own[C.cod(f)]:
                if presheaf.act(x, f) not in own[C.dom(f)]:
                    raise ValueError(
                        f"Subobject: not closed under restriction: {x!r}·{f!r} ="
                        f" {presheaf.act(x, f)!r} is missing at {C.dom(f)!r}"
                    )
        object.__setattr__(self, "presheaf", presheaf)
        object.__setattr__(self, "_parts", own)

    @classmethod
    def _make(cls, presheaf: Presheaf, parts: dict[Hashable, frozenset[Any]]) -> Subobject:
        out = object.__new__(cls)
        object.__setattr__(out, "presheaf", presheaf)
        object.__setattr__(out, "_parts", parts)
        return out

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Subobject is immutable")

    def __getitem__(self, c: Hashable) -> frozenset[Any]:
        """The part ``S[c] ⊆ F[c]``."""
        return self._parts[c]

    @classmethod
    def top(cls, presheaf: Presheaf) -> Subobject:
        """The whole of ``presheaf``."""
        return cls._make(presheaf, {c: frozenset(presheaf[c]) for c in presheaf.category.objects})

    @classmethod
    def bottom(cls, presheaf: Presheaf) -> Subobject:
        """The empty subobject."""
        return cls._make(presheaf, {c: frozenset() for c in presheaf.category.objects})

    @classmethod
    def classified_by(cls, chi: Nat) -> Subobject:
        """``{x | chi(x) is the maximal sieve}``: the subobject ``chi`` classifies."""
        C = chi.dom.category
        parts = {
            c: frozenset(x for x in chi.dom[c] if chi(c, x) == frozenset(C.into(c)))
            for c in C.objects
        }
        return cls._make(chi.dom, parts)

    def characteristic(self) -> Nat:
        """χ: F ⇒ Omega, sending ``x ∈ F[c]`` to the sieve ``{h | x·h ∈ S}``."""
        F = self.presheaf
        C = F.category
        omega = Presheaves(C).omega()
        comps = {
            c: {x: frozenset(h for h in C.into(c) if F.act(x, h) in self[C.dom(h)]) for x in F[c]}
            for c in C.objects
        }
        return Nat._make(F, omega, comps)

    def pullback(self, alpha: Nat) -> Subobject:
        """The inverse image ``α*(S) = {x | α(x) ∈ S}`` along ``α: G ⇒ F``."""
        if alpha.cod != self.presheaf:
            raise ValueError(
                "Subobject.pullback: the transformation does not land in this presheaf"
            )
        G = alpha.dom
        parts = {
            c: frozenset(x for x in G[c] if alpha(c, x) in self[c]) for c in G.category.objects
        }
        return Subobject._make(G, parts)

    # -- the Heyting algebra ------------------------------------------------------------
    def _same(self, other: Subobject, op: str) -> None:
        if not isinstance(other, Subobject) or other.presheaf != self.presheaf:
            raise TypeError(f"Subobject.{op}: both sides must be subobjects of one presheaf")

    def __and__(self, other: Subobject) -> Subobject:
        self._same(other, "meet")
        return Subobject._make(self.presheaf, {c: p & other[c] for c, p in self._parts.items()})

    def __or__(self, other: Subobject) -> Subobject:
        self._same(other, "join")
        return Subobject._make(self.presheaf, {c: p | other[c] for c, p in self._parts.items()})

    def meet(self, other: Subobject) -> Subobject:
        """``S ∧ T``, the intersection."""
        return self & other

    def join(self, other: Subobject) -> Subobject:
        """``S ∨ T``, the union."""
        return self | other

    def implies(self, other: Subobject) -> Subobject:
        """``S ⇒ T``: the largest ``U`` with ``U ∧ S ≤ T`` (x such that every x·h in S is in T)."""
        self._same(other, "implies")
        F = self.presheaf
        C = F.category

        def keep(c: Hashable, x: Any) -> bool:
            return all(
                F.act(x, h) in other[C.dom(h)] for h in C.into(c) if F.act(x, h) in self[C.dom(h)]
            )

        return Subobject._make(F, {c: frozenset(x for x in F[c] if keep(c, x)) for c in C.objects})

    def negate(self) -> Subobject:
        """``¬S = S ⇒ ⊥``: the largest subobject disjoint from ``S``."""
        return self.implies(Subobject.bottom(self.presheaf))

    def __invert__(self) -> Subobject:
        return self.negate()

    def __le__(self, other: Subobject) -> bool:
        self._same(other, "<=")
        return all(p <= other[c] for c, p in self._parts.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Subobject):
            return NotImplemented
        return self.presheaf == other.presheaf and self._parts == other._parts

    def __hash__(self) -> int:
        return hash(frozenset(self._parts.items()))

    def __repr__(self) -> str:
        parts = {c: sorted(p, key=repr) for c, p in self._parts.items()}
        return f"Subobject({self.presheaf!r}, {parts!r})"


def subobjects(presheaf: Presheaf) -> list[Subobject]:
    """Every subobject of ``presheaf``, one per map into ``Omega``.

    >>> len(subobjects(Presheaves(sierpinski()).yoneda(1)))   # = |Omega(1)|
    3
    """
    omega = Presheaves(presheaf.category).omega()
    return [Subobject.classified_by(chi) for chi in nat_transformations(presheaf, omega)]
