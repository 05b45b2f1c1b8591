"""Presheaves on a finite category: an exact topos whose logic is not Boolean.

A ``FiniteCategory`` is given by objects, arrows ``name: (dom, cod)`` and the
composition of every composable pair of non-identity arrows (identities are
implicit, named ``id_<object>``). A ``Presheaf`` ``F: C^op -> FinSet`` gives a set
``F[c]`` per object and, for each arrow ``f: c -> d``, a restriction
``F[d] -> F[c]`` written ``x ↦ x·f`` (``F.act(x, f)``), with ``x·id = x`` and
``(x·g)·f = x·(f >> g)``. A ``Nat`` is a natural transformation ``α: F ⇒ G``:
components ``α_c: F[c] -> G[c]`` with ``α_c(x·f) = α_d(x)·f``.

``Presheaves(C)`` is a ``topos.functor.Category``: products and coproducts are
pointwise; the exponential is ``(G^F)(c) = Nat(y c × F, G)`` with ``y c`` the
representable ``Hom(-, c)``; ``Omega(c)`` is the set of sieves on ``c`` (sets of
arrows into ``c`` closed under precomposition), ``true`` picks the maximal sieve,
and the connectives are intersection, union, and the Heyting implication and
negation of sieves. Subobjects (``Subobject``) form a Heyting algebra, classified
by the maps into ``Omega``.

On the Sierpinski topos (presheaves on the arrow category ``0 -> 1``),
``Omega(1)`` has three truth values, and the logic is not Boolean: double
negation is not the identity and excluded middle fails.

>>> from topos import Omega, Id, neg, disj, pair, discard, true
>>> from topos.functor import Functor
>>> S = Presheaves(sierpinski())
>>> len(S.omega()[1]), len(S.omega()[0])
(3, 2)
>>> F = Functor(ob={}, ar={}, cod=S)
>>> F(neg >> neg) == F(Id(Omega))
False
>>> F(pair(Id(Omega), neg) >> disj) == F(discard(Omega) >> true)
False

On a discrete category every presheaf is a family of sets and the logic is Boolean:

>>> D = Functor(ob={}, ar={}, cod=Presheaves(discrete(["a", "b"])))
>>> D(neg >> neg) == D(Id(Omega))
True

Every transformation built here is natural; the cartesian closed laws hold exactly:

>>> from topos import R, Box, curry, ev
>>> A, B = R(1), R(2)
>>> m = Box("m", A * B, A)
>>> G = random_presheaf_model(sierpinski(), seed=0)
>>> G(curry(m) * Id(B) >> ev(A, B)) == G(m), G(curry(m)).is_natural()
(True, True)
"""

from __future__ import annotations

from topos.finite.presheaves.categories import FiniteCategory, discrete, poset, sierpinski
from topos.finite.presheaves.heyting import Subobject, subobjects
from topos.finite.presheaves.models import random_presheaf_model
from topos.finite.presheaves.presheaf import Nat, Presheaf, nat_transformations
from topos.finite.presheaves.psh import Presheaves

__all__ = [
    "MAX_ELEMENTS",
    "FiniteCategory",
    "Nat",
    "Presheaf",
    "Presheaves",
    "Subobject",
    "discrete",
    "nat_transformations",
    "poset",
    "random_presheaf_model",
    "sierpinski",
    "subobjects",
]

#: The most elements a constructed presheaf enumerates at one object (read here, at
#: each construction, so that setting ``topos.finite.presheaves.MAX_ELEMENTS`` works).
MAX_ELEMENTS = 20_000
