"""Precision as part of the type: a diagram at another dtype, by a functor.

The dtype of ``R(*shape, dtype=...)`` is part of the object (``R(3) !=
R(3, dtype="float64")``), so it is part of every box's type, of every parameter's,
and of what the diagram computes for itself: the angle tables of rotary embeddings
(``arange``, ``exp``, ``sin``, ``cos``), masks, constants. ``with_dtype(f, d)`` is
the same diagram with every real object at ``d``: a functor into the free
structure (``topos.functor.Free``) that maps each ``R`` to ``R`` at ``d`` and each
box to the box of the same name and attributes between the mapped objects. So the
tables a float64 model computes are float64 too, and its parameters are declared
float64: a backend refuses arrays of another dtype for them (``backends.jax``
names the parameter and both dtypes), instead of mixing precisions silently.

Laws (doctested here, tested in ``tests/topos/test_dtypes.py``):

- functor: ``with_dtype(f >> g, d) == with_dtype(f, d) >> with_dtype(g, d)``;
- identity: ``with_dtype(f, d) == f`` when every real object of ``f`` is at ``d``;
- idempotent, and reversible where all reals shared one dtype:
  ``with_dtype(with_dtype(f, "float64"), "float32") == f`` for a float32 ``f``.

>>> from topos import R
>>> from topos.nn import primitives as P
>>> f = P.arange(4) >> P.exp(R(4))
>>> print(with_dtype(f, "float64").cod)
R(4, dtype='float64')
>>> with_dtype(with_dtype(f, "float64"), "float32") == f
True
>>> with_dtype(f, "float128")
Traceback (most recent call last):
...
TypeError: with_dtype: dtype must be one of ('float32', 'float64', ...), got 'float128'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from topos.arrows import Arrow, Box
from topos.functor import Free, Functor
from topos.normal import deep
from topos.objects import DTYPES, Coproduct, Exp, Ob, Product, R

__all__ = ["with_dtype"]


def with_dtype(f: Any, dtype: str) -> Any:
    """The diagram ``f`` (an arrow, a Para or an object) with every ``R`` at ``dtype``.

    A Para's parameters are declared at ``dtype`` too (same paths, same
    initialisers), and so is the global input of a ``Global`` actegory. ``Fin`` and
    ``Omega`` have no float dtype and stay as they are.

    >>> from topos.nn import linear
    >>> p = with_dtype(linear(2, 3), "float64")
    >>> p.parameters()["linear.w"].ob, p.dom
    (R(2, 3, dtype='float64'), R(2, dtype='float64'))

    Args:
        f: an arrow, a Para or an object.
        dtype: one of ``topos.objects.DTYPES``.

    Returns:
        The same kind of value, at ``dtype``.
    """
    from topos.para import Global, Para  # noqa: PLC0415 - para imports the core
    from topos.para.core import _scan_consts  # noqa: PLC0415
    from topos.para.init import Param  # noqa: PLC0415

    if dtype not in DTYPES:
        raise TypeError(f"with_dtype: dtype must be one of {DTYPES}, got {dtype!r}")

    def ob(x: Ob) -> Ob:
        return R(*x.shape, dtype=dtype) if isinstance(x, R) else x

    if isinstance(f, Ob):
        return _object(f, ob)
    functor = Functor(ob=ob, ar=lambda b: _box(b, functor), cod=Free())
    if isinstance(f, Arrow):
        return deep(lambda: functor(f), f)
    if not isinstance(f, Para):
        raise TypeError(f"with_dtype: expected an arrow, a Para or an object, got {f!r}")

    def para() -> Para:
        arrow, p = functor(f.arrow), functor(f.P)
        actegory = Global(functor(f.actegory.E)) if isinstance(f.actegory, Global) else f.actegory
        own = tuple(Param(x.path, functor(x.ob), x.init, x.stacked) for x in f.params)
        return Para._make(
            p, arrow, actegory.split(p, arrow.dom), actegory, own=own, consts=_scan_consts(arrow)
        )

    return deep(para, f.arrow)


def _object(x: Ob, leaf: Callable[[Ob], Ob]) -> Ob:
    """``x`` with ``leaf`` applied to its generating objects, iteratively (deep products)."""
    done: dict[int, Ob] = {}
    stack = [x]
    while stack:
        y = stack[-1]
        if id(y) in done:
            stack.pop()
            continue
        parts = [z for z in y._fields() if isinstance(z, Ob)] if _structured(y) else []
        todo = [z for z in parts if id(z) not in done]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        done[id(y)] = type(y)(*(done[id(z)] for z in parts)) if parts else leaf(y)
    return done[id(x)]


def _structured(x: Ob) -> bool:
    return isinstance(x, (Product, Coproduct, Exp))


def _box(b: Any, functor: Functor[Ob, Arrow]) -> Arrow:
    if not isinstance(b, Box):  # constants and slices: the free structure rebuilds them
        raise KeyError(b)
    return Box(b.name, functor(b.dom), functor(b.cod), **b.attrs)
