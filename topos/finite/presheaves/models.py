"""Random models: interpreting the boxes of a diagram as random natural transformations."""

from __future__ import annotations

import random
from collections.abc import Mapping

from topos.arrows import Box
from topos.finite.presheaves.categories import (
    FiniteCategory,
    sierpinski,  # noqa: F401  (the doctests use it)
)
from topos.finite.presheaves.presheaf import (
    Nat,
    Presheaf,
    nat_transformations,
)
from topos.finite.presheaves.psh import (
    Presheaves,
)
from topos.functor import Functor
from topos.objects import Ob

# ---------------------------------------------------------------------------------
# Random models


def random_presheaf_model(
    category: FiniteCategory,
    seed: int = 0,
    *,
    max_size: int = 2,
    min_size: int = 1,
    ob: Mapping[Ob, Presheaf] | None = None,
    ar: Mapping[Box, Nat] | None = None,
) -> Functor[Presheaf, Nat]:
    """A functor into ``Presheaves(category)`` interpreting every generator at random.

    ``random_presheaf_model(category, seed=0, *, max_size=2, min_size=1, ob=None,
    ar=None) -> Functor``. A generating object becomes a coproduct of ``k`` pieces
    (``k`` in ``[min_size, max_size]``): the terminal presheaf, then representables
    ``y c`` or terminal presheaves at random; a box becomes a random natural
    transformation (with ``min_size=0`` there may be none: ``ValueError``). Draws
    are seeded by ``(seed, repr(generator))``, so the model does not depend on the
    order of interpretation. ``ob``/``ar`` fix chosen generators.

    >>> from topos import R, Box
    >>> F = random_presheaf_model(sierpinski(), seed=3)
    >>> f = Box("f", R(1), R(2))
    >>> F(f).is_natural(), F(f).dom == F(R(1))
    (True, True)
    """
    if not 0 <= min_size <= max_size:
        raise ValueError(
            f"random_presheaf_model: need 0 <= min_size <= max_size, got {min_size}, {max_size}"
        )
    topos = Presheaves(category)
    fixed_ob, fixed_ar = dict(ob or {}), dict(ar or {})
    boxes: dict[Box, Nat] = {}
    functor: Functor[Presheaf, Nat]

    def on_ob(x: Ob) -> Presheaf:
        if x in fixed_ob:
            return fixed_ob[x]
        rng = random.Random(f"{seed}|{x!r}")
        pieces = [topos.one()] + [topos.yoneda(c) for c in category.objects]
        size = rng.randint(min_size, max_size)
        if size == 0:
            return topos.zero()
        # A global element (the piece One) makes a map into every model exist.
        out = topos.one()
        for _ in range(size - 1):
            out = topos.coproduct(out, rng.choice(pieces))
        return out

    def on_ar(box: Box) -> Nat:
        if box in boxes:
            return boxes[box]
        dom, cod = functor(box.dom), functor(box.cod)
        if box in fixed_ar:
            boxes[box] = fixed_ar[box]
            return boxes[box]
        found = _random_nat(topos, dom, cod, random.Random(f"{seed}|{box!r}"))
        if found is None:
            raise ValueError(
                f"random_presheaf_model: no natural transformation {box!r}: {dom} ⇒ {cod}"
            )
        boxes[box] = found
        return found

    functor = Functor(ob=on_ob, ar=on_ar, cod=topos)
    return functor


def _random_nat(topos: Presheaves, dom: Presheaf, cod: Presheaf, rng: random.Random) -> Nat | None:
    """A random transformation ``dom ⇒ cod``, or None; into exponentials and products it is
    built from its transpose and its projections, so no exponential is enumerated."""
    parts = cod._parts
    if parts is not None and parts[0] == "**":
        base, exponent = parts[1], parts[2]
        m = _random_nat(topos, topos.product(dom, exponent), base, rng)
        return None if m is None else topos.curry(m, dom, exponent, base)
    if parts is not None and parts[0] == "*":
        f, g = (_random_nat(topos, dom, side, rng) for side in parts[1:])
        return None if f is None or g is None else topos.pair(f, g)
    return next(nat_transformations(dom, cod, rng), None)
