"""Dimension variables: diagrams whose lengths vary, and their specialisation.

A ``Dim("seq", max=128)`` stands for an axis length in ``R`` and ``Fin`` shapes
(``topos.objects.Dim``). A diagram mentioning it is a family of diagrams, one per
length ``1 <= n <= 128``; ``specialise(f, seq=n)`` is the member at ``n``: the
substitution ``seq := n`` applied to every object and every box attribute, by a
functor into the free structure (``topos.functor.Free``). So it preserves
composition, products, curry, groups and repeats, and parameters (always
concrete) are untouched: one parameter dict serves every length.

Laws (doctested here, property-tested in ``tests/topos/test_dims.py``):

- functor: ``specialise(f >> g, **b) == specialise(f, **b) >> specialise(g, **b)``;
- identity on concrete diagrams: ``specialise(f) == f`` when ``dims(f)`` is empty;
- agreement with building: specialising a builder's diagram equals building it
  at the concrete length (the stock layers of ``topos.nn``);
- bounds: a length outside ``1 .. max`` is refused, naming the dim;
- one name, one dim: a diagram holding two dims of one name with different
  bounds is refused when that name is bound (which bound would the length obey?).

>>> from topos import R
>>> from topos.nn import primitives as P
>>> seq = Dim("seq", 16)
>>> f = P.slice_axis(R(16, 4), 0, seq, axis=0) >> P.relu(R(seq, 4))
>>> f.cod, dims(f)
(R(Dim('seq', 16), 4), (Dim('seq', 16),))
>>> specialise(f, seq=3) == P.slice_axis(R(16, 4), 0, 3, axis=0) >> P.relu(R(3, 4))
True
>>> g = P.relu(R(seq, 4)) >> P.scale(R(seq, 4), 2.0)
>>> specialise(g, seq=5) == specialise(P.relu(R(seq, 4)), seq=5) >> P.scale(R(5, 4), 2.0)
True
>>> specialise(f, seq=17)
Traceback (most recent call last):
...
ValueError: specialise: seq = 17 is outside 1..16 (the bound of Dim('seq', 16))
>>> specialise(f * P.relu(R(Dim("seq", 8), 4)), seq=4)
Traceback (most recent call last):
...
ValueError: specialise: the diagram has two dims named 'seq' with different bounds, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topos.arrows import Arrow, Box, Recur, fold
from topos.errors import dims_clash
from topos.functor import Free, Functor
from topos.objects import Coproduct, Dim, Exp, Fin, Ob, Product, R, is_symbolic

__all__ = ["Dim", "bind", "dims", "dims_in", "specialise"]


def _sub(v: Any, binding: Mapping[str, int]) -> Any:
    if isinstance(v, Dim):
        return binding.get(v.name, v)
    if isinstance(v, tuple):
        return tuple(_sub(w, binding) for w in v)
    return v


def _sub_ob(x: Ob, binding: Mapping[str, int]) -> Ob:
    if isinstance(x, R):
        return R(*_sub(x.shape, binding), dtype=x.dtype) if is_symbolic(x.shape) else x
    if isinstance(x, Fin):
        return Fin(x.n, *_sub(x.shape, binding)) if is_symbolic(x.shape) else x
    return x


def dims_in(v: Any, out: dict[Dim, None]) -> None:
    """Add to ``out`` every ``Dim`` in ``v`` (a dim, or nested tuples of them and sizes).

    >>> found: dict[Dim, None] = {}
    >>> dims_in((3, (Dim("t", 8), 2)), found)
    >>> list(found)
    [Dim('t', 8)]
    """
    if isinstance(v, Dim):
        out[v] = None
    elif isinstance(v, tuple):
        for w in v:
            dims_in(w, out)


def dims(f: Any) -> tuple[Dim, ...]:
    """The dimension variables an arrow (or Para, or object) mentions, in order of appearance.

    >>> from topos import R
    >>> dims(R(Dim("t", 4), 2) * R(3)), dims(R(3))
    ((Dim('t', 4),), ())
    """
    found: dict[Dim, None] = {}
    seen: set[int] = set()  # objects already read (alive for the call: ids are stable)

    def ob(x: Ob) -> None:
        stack = [x]
        while stack:
            y = stack.pop()
            if id(y) in seen:
                continue
            seen.add(id(y))
            if isinstance(y, (R, Fin)):
                dims_in(y.shape, found)
            elif isinstance(y, (Product, Coproduct)):
                stack.extend((y.right, y.left))
            elif isinstance(y, Exp):
                stack.extend((y.exponent, y.base))

    def node(a: Arrow, _kids: list[None]) -> None:
        ob(a.dom)
        ob(a.cod)
        if isinstance(a, Box):
            dims_in(tuple(a.attrs.values()), found)
        elif isinstance(a, Recur):
            dims_in(a.n, found)

    if isinstance(f, Ob):
        ob(f)
        return tuple(found)
    arrow = getattr(f, "arrow", f)
    if not isinstance(arrow, Arrow):
        raise TypeError(f"dims: expected an arrow, a Para or an object, got {type(f).__name__}")
    fold(arrow, node)  # every node once, without rebuilding the diagram (linear)
    return tuple(found)


def _check_binding(op: str, binding: Mapping[str, int], known: tuple[Dim, ...]) -> None:
    by_name: dict[str, Dim] = {}
    for d in known:
        first = by_name.setdefault(d.name, d)
        if first != d and d.name in binding:  # which bound would the length obey?
            raise dims_clash(op, first, d)
    for name, n in binding.items():
        dim = by_name.get(name)
        if dim is None:
            raise ValueError(
                f"{op}: the diagram has no dim {name!r} (it has {sorted(by_name) or 'none'})"
            )
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= dim.max:
            raise ValueError(f"{op}: {name} = {n!r} is outside 1..{dim.max} (the bound of {dim!r})")


def specialise(f: Any, **binding: int) -> Any:
    """The diagram ``f`` with each named dim replaced by a length (an arrow or a Para).

    Every object and every box attribute is substituted; parameters are concrete
    and unchanged, so a Para's parameter dict serves each specialisation.
    Unnamed dims stay symbolic.

    >>> from topos import R
    >>> from topos.nn import primitives as P
    >>> t = Dim("t", 8)
    >>> specialise(P.arange(t), t=3) == P.arange(3)
    True
    """
    from topos.para import Para  # noqa: PLC0415 - para imports the core

    known = dims(f)
    _check_binding("specialise", binding, known)
    if not binding:
        return f
    bound = dict(binding)

    def ob(x: Ob) -> Ob:
        return _sub_ob(x, bound)

    def ar(b: Any) -> Any:
        if not isinstance(b, Box):
            raise KeyError(b)
        attrs = {k: _sub(v, bound) for k, v in b.attrs.items()}
        return Box(b.name, _sub_ob_deep(b.dom, bound), _sub_ob_deep(b.cod, bound), **attrs)

    functor = Functor(ob=ob, ar=ar, cod=_Specialised(bound))
    if isinstance(f, Para):
        arrow = functor(f.arrow)
        params, consts = f._lists()
        return Para._make(
            f.P, arrow, f.actegory.split(f.P, arrow.dom), f.actegory, own=params, consts=consts
        )
    if isinstance(f, Ob):
        return functor(f)
    if not isinstance(f, Arrow):
        raise TypeError(f"specialise: expected an arrow, a Para or an object, got {f!r}")
    return functor(f)


class _Specialised(Free):
    """The free structure, with the length of a fold over a dim substituted too."""

    def __init__(self, binding: Mapping[str, int]) -> None:
        self.binding = binding

    def recur(self, cell: Arrow, node: Recur, p: Ob, s: Ob, x: Ob, y: Ob) -> Arrow:
        return Recur(cell, _sub(node.n, self.binding), node.reverse)


def _sub_ob_deep(x: Ob, binding: Mapping[str, int]) -> Ob:
    return Functor(ob=lambda y: _sub_ob(y, binding), ar={}, cod=Free())(x)  # type: ignore[no-any-return]


def bind(ob: Ob, shapes: Any, op: str = "bind") -> dict[str, int]:
    """The lengths of the dims of ``ob`` read off a value's shapes (a pytree of shapes).

    ``shapes`` mirrors ``ob``: a shape tuple for ``R``/``Fin``, a pair for a
    product, ``()`` for ``One``. A dim met twice must get one length.

    >>> from topos import R
    >>> t = Dim("t", 8)
    >>> bind(R(t, 2) * R(t), ((5, 2), (5,)))
    {'t': 5}
    >>> bind(R(t, 2) * R(t), ((5, 2), (4,)))
    Traceback (most recent call last):
    ...
    ValueError: bind: dim t is 5 at input[0] axis 0 and 4 at input[1] axis 0
    """
    out: dict[str, int] = {}
    seen: dict[str, str] = {}
    stack: list[tuple[Ob, Any, str]] = [(ob, shapes, "input")]
    while stack:
        x, s, where = stack.pop()
        if isinstance(x, (R, Fin)):
            if not isinstance(s, tuple) or len(s) != len(x.shape):
                continue  # the input check names the mismatch
            for k, (d, n) in enumerate(zip(x.shape, s, strict=True)):
                if not isinstance(d, Dim):
                    continue
                here = f"{where} axis {k}"
                if d.name in out and out[d.name] != n:
                    raise ValueError(
                        f"{op}: dim {d.name} is {out[d.name]} at {seen[d.name]} and {n} at {here}"
                    )
                if not 1 <= int(n) <= d.max:
                    raise ValueError(
                        f"{op}: {here} has length {n}, outside 1..{d.max} (the bound of {d!r})"
                    )
                out[d.name], seen[d.name] = int(n), here
        elif hasattr(x, "left") and hasattr(x, "right") and type(x).__name__ == "Product":
            if isinstance(s, tuple) and len(s) == 2:
                stack.append((x.right, s[1], f"{where}[1]"))
                stack.append((x.left, s[0], f"{where}[0]"))
    return out
