"""``trace(fn, dom)`` and ``@diagram(dom=...)``: a Python function read as an arrow or a Para."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from topos.arrows import Arrow, Id, fst, group, snd
from topos.nn.layers import grouped
from topos.objects import Ob, One
from topos.para import Para
from topos.syntax.values import Tape, TraceError, Value, pop, push, user_code
from topos.syntax.wiring import binary, wire

__all__ = ["diagram", "trace"]


def _doms(fn: Callable[..., Any], dom: Ob | tuple[Ob, ...]) -> tuple[Ob, ...]:
    doms = dom if isinstance(dom, tuple) else (dom,)
    where = getattr(fn, "__qualname__", repr(fn))
    for ob in doms:
        if not isinstance(ob, Ob):
            raise TypeError(
                f"trace {where}: dom must be an object or a tuple of objects, got {ob!r}"
            )
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return doms
    try:
        sig.bind(*doms)
    except TypeError:
        raise TypeError(
            f"trace {where}: dom gives {len(doms)} argument(s) {doms}, but the function"
            f" takes {sig}; give one object per argument as a tuple, e.g. dom=(R(4), R(4)),"
            f" or unpack a product inside the function (x, y = xy)"
        ) from None
    return doms


def _name_locals(frame: FrameType) -> None:
    for key, v in frame.f_locals.items():
        if isinstance(v, Value) and v.name is None and not key.startswith("_"):
            v.name = key


def _run(fn: Callable[..., Any], args: list[Value]) -> Any:
    """``fn(*args)``, naming values after the user's local variables as its lines run."""
    if sys.gettrace() is not None:  # a debugger or coverage owns tracing: names of arguments only
        for key, v in zip(inspect.signature(fn).parameters, args, strict=False):
            v.name = key
        return fn(*args)

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event in ("line", "return"):
            _name_locals(frame)
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if event == "call" and user_code(frame) else None

    sys.settrace(calls)
    try:
        return fn(*args)
    finally:
        sys.settrace(None)


def _balanced(obs: list[Ob]) -> tuple[Ob, list[Arrow]]:
    """A balanced product of ``obs`` and the projection onto each factor, in order.

    Balanced, so that reading a weight out of the parameters is ``O(log n)``
    projections deep, not ``O(n)``.
    """
    if len(obs) == 1:
        return obs[0], [Id(obs[0])]
    half = (len(obs) + 1) // 2
    left, lp = _balanced(obs[:half])
    right, rp = _balanced(obs[half:])
    return left * right, [fst(left, right) >> q for q in lp] + [snd(left, right) >> q for q in rp]


def _weights_wire(tape: Tape) -> Value:
    """One value for all the weights: the parameter object ``P``.

    Each weight group's input becomes the projection out of ``P`` where it is
    first read, so the steps between carry one wire of weights, not one per group.
    """
    groups = tape.groups
    ob, projections = _balanced([g.ob for g in groups])
    p = Value(tape, ob, -1)
    for g, proj in zip(groups, projections, strict=True):
        assert g.value is not None
        node = tape.nodes[g.value.index]
        node.arrow, node.args = proj, p
    return p


def _outputs(out: Any, where: str) -> Any:
    if isinstance(out, Value):
        return out
    if isinstance(out, (tuple, list)):
        return tuple(_outputs(x, where) for x in out)
    raise TypeError(
        f"trace {where}: the function must return symbolic values (or tuples of them),"
        f" got {type(out).__name__} {out!r}"
    )


def trace(
    fn: Callable[..., Any],
    dom: Ob | tuple[Ob, ...],
    *,
    name: str | None = None,
    para: bool | None = None,
    labels: bool = True,
) -> Arrow | Para:
    """The arrow (or Para) that ``fn`` computes on symbolic inputs of ``dom``.

    See the ``topos.syntax`` module docstring for the laws and a worked example.

    >>> from topos import R, Box
    >>> f = Box("f", R(2), R(3))
    >>> trace(lambda x, y: (f(x), y), (R(2), R(4)))
    pair(fst(R(2), R(4)) >> Box('f', R(2), R(3)), snd(R(2), R(4)))

    Args:
        fn: a Python function of symbolic values (one per entry of ``dom``).
        dom: the input object, or a tuple of objects, one per argument; the
            domain is their product ``A * B * ...``.
        name: when given, the result is the named sub-diagram ``name`` and the
            parameter paths are prefixed by it (as ``topos.nn.layers.grouped``).
        para: ``True`` always gives a Para, ``False`` refuses weights; by
            default a Para exactly when ``fn`` declares or calls weights.
        labels: whether named values label their wires (for ``topos.draw``).

    Returns:
        An ``Arrow dom -> cod``, or a ``Para`` whose parameters are the weights
        in the order they are first used.
    """
    where = getattr(fn, "__qualname__", repr(fn))
    doms = _doms(fn, dom)
    tape = Tape()
    args = [tape.input(ob) for ob in doms]
    push(tape)
    try:
        out = _outputs(_run(fn, args), where)
    finally:
        pop()
    inputs = binary(tuple(args))
    weights = [g for g in tape.groups]
    if para is False and weights:
        raise TraceError(
            f"trace {where}: para=False, but it uses the weights"
            f" {', '.join(x.path for g in weights for x in g.params)}"
        )
    if not weights and not para:
        arrow = wire(tape, inputs, out, labels=labels)
        return group(name, arrow) if name else arrow
    p = _weights_wire(tape) if weights else ()
    arrow = wire(tape, (p, inputs), out, labels=labels)
    params = tuple(x for g in weights for x in g.params)
    result = Para(p.ob if isinstance(p, Value) else One, arrow, params=params)
    return grouped(name, result) if name else result


def diagram(
    dom: Ob | tuple[Ob, ...],
    *,
    name: str | None = None,
    para: bool | None = None,
    labels: bool = True,
) -> Callable[[Callable[..., Any]], Arrow | Para]:
    """``@diagram(dom=R(8, 16))`` over a function: the function traced (``trace``).

    The decorated name is bound to the arrow or Para, so it can be composed,
    compiled, drawn, and called inside other traced functions.

    >>> from topos import R
    >>> from topos.syntax import param, relu
    >>> @diagram(dom=R(3), name="layer")
    ... def layer(x):
    ...     return relu(x @ param("w", R(3, 3)))
    >>> list(layer.parameters()), layer.arrow.name
    (['layer.w'], 'layer')
    >>> @diagram(dom=R(3))
    ... def twice(x):
    ...     return layer(layer(x))        # one weight, used twice
    >>> list(twice.parameters())
    ['layer.w']
    """

    def decorate(fn: Callable[..., Any]) -> Arrow | Para:
        return trace(fn, dom, name=name, para=para, labels=labels)

    return decorate
