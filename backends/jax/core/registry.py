"""The registry of primitive boxes: what each named box computes in JAX.

A primitive is registered once, by name, with its forward map and its class
for the analysis (``linear`` ⊂ ``pl`` ⊂ ``polynomial`` ⊂ ``smooth``). The
function receives the ``Box`` itself (so it can read ``box.attrs``,
``box.dom``, ``box.cod``) and the box's per-example input value:

>>> import jax.numpy as jnp
>>> from topos import Box, R
>>> register("doc.double", lambda box, x: 2 * x, cls="linear")
>>> lookup(Box("doc.double", R(3), R(3))).cls
'linear'
>>> "doc.double" in registered()
True

A box whose name was never registered cannot be compiled; the error names the
box and says how to register it:

>>> lookup(Box("doc.nope", R(3), R(3)))
Traceback (most recent call last):
...
backends.jax.core.registry.UnregisteredBox: no JAX implementation for the box 'doc.nope': ...
register one with backends.jax.register('doc.nope', lambda box, x: ..., cls='smooth')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from topos.analysis import CLASSES, declare
from topos.arrows import Box

__all__ = [
    "CLASSES",
    "Primitive",
    "UnregisteredBox",
    "lookup",
    "on_replace",
    "register",
    "registered",
]


class UnregisteredBox(LookupError):
    """A box has no JAX implementation. (Not a ``KeyError``: its message is the point.)

    >>> issubclass(UnregisteredBox, KeyError), issubclass(UnregisteredBox, LookupError)
    (False, True)
    """


@dataclass(frozen=True)
class Primitive:
    """A registered box: its name, its forward map ``fn(box, x)`` and its class.

    >>> register("doc.prim.neg", lambda box, x: -x, cls="linear")
    >>> registered()["doc.prim.neg"].cls
    'linear'
    """

    name: str
    fn: Callable[[Box, Any], Any]
    cls: str


_REGISTRY: dict[str, Primitive] = {}
_ON_REPLACE: list[Callable[[], None]] = []


def on_replace(listener: Callable[[], None]) -> None:
    """Call ``listener()`` whenever a name is registered again to another function.

    ``backends.jax.core.compile`` empties its cache of interpreted arrows so.
    """
    _ON_REPLACE.append(listener)


def register(name: str, fn: Callable[[Box, Any], Any], *, cls: str, replace: bool = False) -> None:
    """Make every box named ``name`` compute ``fn(box, x)``; declare its class.

    ``cls`` is one of ``"linear"``, ``"pl"``, ``"polynomial"``, ``"smooth"`` and is
    also declared to ``topos.analysis``. Registering
    a name twice with a different function raises unless ``replace=True``; a
    replacement empties the cache of ``interpret``, so ``compile`` and ``apply``
    see the new function (a function already traced by ``jax.jit`` keeps the
    old one: jit it again).

    >>> import jax.numpy as jnp
    >>> from topos import Box, R
    >>> from backends.jax import compile
    >>> register("doc.sq", lambda box, x: x * x, cls="polynomial")
    >>> compile(Box("doc.sq", R(2), R(2)))(jnp.array([1.0, 3.0]))
    Array([1., 9.], dtype=float32)
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register: name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"register({name!r}): fn must be callable as fn(box, x), got {fn!r}")
    if cls not in CLASSES:
        raise ValueError(f"register({name!r}): cls must be one of {CLASSES}, got {cls!r}")
    old = _REGISTRY.get(name)
    if old is not None and old.fn is not fn and not replace:
        raise ValueError(
            f"register({name!r}): the name is already registered to {_qualname(old.fn)};"
            " pass replace=True to override it"
        )
    _REGISTRY[name] = Primitive(name, fn, cls)
    declare(name, cls)
    if old is not None and old.fn is not fn:
        for listener in _ON_REPLACE:  # caches of compiled arrows hold the old function
            listener()


def _qualname(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def lookup(box: Box) -> Primitive:
    """The primitive registered for ``box.name``; ``UnregisteredBox`` if none.

    >>> from topos import Box, R
    >>> register("doc.lookup.id", lambda box, x: x, cls="linear")
    >>> lookup(Box("doc.lookup.id", R(1), R(1))).name
    'doc.lookup.id'
    """
    prim = _REGISTRY.get(box.name)
    if prim is None:
        raise UnregisteredBox(
            f"no JAX implementation for the box {box.name!r}: {box.dom!r} -> {box.cod!r};"
            f" register one with backends.jax.register({box.name!r}, lambda box, x: ...,"
            " cls='smooth')"
        )
    return prim


def registered() -> dict[str, Primitive]:
    """A snapshot of the registry: name -> ``Primitive``.

    >>> register("doc.registered.id", lambda box, x: x, cls="linear")
    >>> "doc.registered.id" in registered()
    True
    """
    return dict(_REGISTRY)
