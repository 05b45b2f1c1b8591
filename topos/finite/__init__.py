"""Exact semantics: finite sets and functions; presheaves on a finite category.

``Sets`` interprets every constructor of the free structure exactly (a Boolean
topos); ``Presheaves(C)`` does the same for presheaves on a finite category
``C``, a topos whose logic is intuitionistic. Both are ``topos.functor.Category``
targets, so a ``Functor`` into either checks equations without floating point.

>>> from topos import Omega, Id, neg
>>> from topos.finite import Functor, Presheaves, Sets, sierpinski
>>> double_negation = neg >> neg
>>> F = Functor(ob={}, ar={}, cod=Sets())
>>> F(double_negation) == F(Id(Omega))
True
>>> G = Functor(ob={}, ar={}, cod=Presheaves(sierpinski()))
>>> G(double_negation) == G(Id(Omega))
False
"""

from topos.finite.presheaves import (
    FiniteCategory,
    Nat,
    Presheaf,
    Presheaves,
    Subobject,
    discrete,
    nat_transformations,
    poset,
    random_presheaf_model,
    sierpinski,
    subobjects,
)
from topos.finite.sets import (
    CoproductSet,
    FinSet,
    Function,
    FunctionSet,
    ProductSet,
    Sets,
    interpret,
    random_element,
    random_model,
)
from topos.functor import Functor

__all__ = [
    "CoproductSet",
    "FinSet",
    "FiniteCategory",
    "Function",
    "FunctionSet",
    "Functor",
    "Nat",
    "Presheaf",
    "Presheaves",
    "ProductSet",
    "Sets",
    "Subobject",
    "discrete",
    "interpret",
    "nat_transformations",
    "poset",
    "random_element",
    "random_model",
    "random_presheaf_model",
    "sierpinski",
    "subobjects",
]
