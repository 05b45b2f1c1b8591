"""Initialisers and parameters (``Init``, ``Param``): plain data, read by backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topos.errors import not_a
from topos.objects import Ob, Product, R, Unit  # noqa: F401  (R: the doctests)

# ---------------------------------------------------------------------------------
# Initialisers and parameters: plain data, read by backends.

# kind -> number of numeric arguments
_INIT_ARITY = {
    "normal": 1,
    "uniform": 1,
    "constant": 1,
    "zeros": 0,
    "ones": 0,
    "glorot_uniform": 0,
}


class Init:
    """How a backend draws a parameter: ``Init(kind, *args)``, hashable data.

    Use the constructors: ``normal(std)`` (N(0, std²)), ``uniform(scale)``
    (U(-scale, scale)), ``constant(value)``, and the values ``zeros``, ``ones``,
    ``glorot_uniform`` (U(-l, l), l = sqrt(6 / (fan_in + fan_out))). ``repr``
    evaluates back:

    >>> normal(0.02), zeros, Init("uniform", 0.1)
    (normal(0.02), zeros, uniform(0.1))
    >>> eval(repr(normal(0.02))) == normal(0.02) and hash(zeros) == hash(Init("zeros"))
    True
    """

    __slots__ = ("kind", "args")
    kind: str
    args: tuple[float, ...]

    def __init__(self, kind: str, *args: float) -> None:
        if kind not in _INIT_ARITY:
            raise ValueError(f"Init: unknown kind {kind!r}, expected one of {sorted(_INIT_ARITY)}")
        if len(args) != _INIT_ARITY[kind]:
            raise TypeError(
                f"Init {kind!r}: expected {_INIT_ARITY[kind]} numeric argument(s), got {args!r}"
            )
        for a in args:
            if isinstance(a, bool) or not isinstance(a, (int, float)):
                raise TypeError(f"Init {kind!r}: arguments must be numbers, got {a!r}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "args", tuple(args))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Init is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Init):
            return NotImplemented
        return (self.kind, self.args) == (other.kind, other.args)

    def __hash__(self) -> int:
        return hash(("Init", self.kind, self.args))

    def __repr__(self) -> str:
        if not self.args:
            return self.kind
        return f"{self.kind}({', '.join(repr(a) for a in self.args)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Init, (self.kind, *self.args))


def normal(std: float) -> Init:
    """Gaussian initialiser N(0, std²).

    >>> normal(0.02).kind, normal(0.02).args
    ('normal', (0.02,))
    """
    return Init("normal", std)


def uniform(scale: float) -> Init:
    """Uniform initialiser U(-scale, scale).

    >>> uniform(0.5)
    uniform(0.5)
    """
    return Init("uniform", scale)


def constant(value: float) -> Init:
    """Every entry equal to ``value``.

    >>> constant(1.5).args
    (1.5,)
    """
    return Init("constant", value)


zeros = Init("zeros")
ones = Init("ones")
glorot_uniform = Init("glorot_uniform")

#: The initialiser of parameters declared without one (a standard normal).
DEFAULT_INIT = normal(1.0)


@dataclass(frozen=True)
class Param:
    """A parameter leaf: its ``path`` (``"block0.attn.w_q"``), object and initialiser.

    ``stacked`` counts leading axes added by ``repeat`` (one per nesting): the
    initialiser applies to each slice ``ob.shape[stacked:]``.

    >>> Param("w", R(3, 4), glorot_uniform)
    Param('w', R(3, 4), glorot_uniform)
    >>> Param("w", R(3, 4) * R(4), zeros)
    Traceback (most recent call last):
    ...
    TypeError: Param 'w': the object must be a leaf (not a product, not One), got R(3, 4) * R(4)
    """

    path: str
    ob: Ob
    init: Init
    stacked: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise TypeError(f"Param: path must be a non-empty string, got {self.path!r}")
        if not isinstance(self.ob, Ob):
            raise not_a(f"Param {self.path!r}", "an object (R, Fin, ...)", self.ob)
        if isinstance(self.ob, (Product, Unit)):
            raise TypeError(
                f"Param {self.path!r}: the object must be a leaf (not a product, not One),"
                f" got {self.ob!r}"
            )
        if not isinstance(self.init, Init):
            raise not_a(f"Param {self.path!r}", "an Init (normal(0.02), zeros, ...)", self.init)
        if isinstance(self.stacked, bool) or not isinstance(self.stacked, int) or self.stacked < 0:
            raise TypeError(f"Param {self.path!r}: stacked must be an int >= 0")

    def __repr__(self) -> str:
        extra = f", stacked={self.stacked}" if self.stacked else ""
        return f"Param({self.path!r}, {self.ob!r}, {self.init!r}{extra})"

    def renamed(self, path: str) -> Param:
        """The same parameter under another path.

        >>> Param("w", R(2), zeros).renamed("l1.w").path
        'l1.w'
        """
        return Param(path, self.ob, self.init, self.stacked)
