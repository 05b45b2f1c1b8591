"""Hypothesis strategies and law suites, for this project's tests and for users'.

``topos.testing.strategies`` draws objects, arrows between given objects and
composable tuples; ``topos.testing.laws`` states the equations of each structure
(category, cartesian, cocartesian, closed, Heyting, functor) once, as data, and
checks them on any semantics: symbolically with ``topos.equal``, exactly in
``topos.finite``, or numerically in a backend.

Strategies feed your own properties; a law suite runs on your own semantics:

>>> from hypothesis import given, settings
>>> from topos.testing import Semantics, check_closed, composable
>>> @settings(max_examples=10, derandomize=True)
... @given(composable(2))
... def test_chains(fs):
...     assert fs[0].cod == fs[1].dom
>>> test_chains()
>>> check_closed(Semantics.symbolic(), settings=settings(max_examples=5, database=None))
['closed.ev_beta', 'closed.curry_eta', 'closed.curry_natural', 'closed.uncurry']

Strategies and law suites for actegories and ``Para`` are in ``topos.testing.para``.
"""

from topos.testing.laws import (
    THEORIES,
    Law,
    LawError,
    Semantics,
    Trial,
    check,
    check_boolean,
    check_cartesian,
    check_category,
    check_closed,
    check_cocartesian,
    check_functor,
    check_heyting,
)
from topos.testing.strategies import (
    ATOMS,
    arrows,
    atoms,
    boxes,
    composable,
    empty,
    feasible,
    feasible_from,
    objects,
)

__all__ = [
    "ATOMS",
    "THEORIES",
    "Law",
    "LawError",
    "Semantics",
    "Trial",
    "arrows",
    "atoms",
    "boxes",
    "check",
    "check_boolean",
    "check_cartesian",
    "check_category",
    "check_closed",
    "check_cocartesian",
    "check_functor",
    "check_heyting",
    "composable",
    "empty",
    "feasible",
    "feasible_from",
    "objects",
]
