"""Every error the core raises, and every message template, in one place.

Typing errors name the operation and both sides:

>>> from topos import Box, R
>>> f = Box("f", R(3), R(4))
>>> f >> f
Traceback (most recent call last):
...
topos.errors.TypeMismatch: f >> f: codomain R(4) does not match domain R(3)
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "TooLarge",
    "array_size",
    "brief",
    "TypeMismatch",
    "compose_mismatch",
    "constant_misfit",
    "dims_clash",
    "expected",
    "not_a",
    "not_functorial",
    "not_in_domain",
    "not_natural",
    "not_total",
    "outside_codomain",
    "short",
    "too_large",
    "too_many",
    "too_many_layers",
    "too_many_wires",
    "unfolds_too_far",
]


class TypeMismatch(TypeError):
    """Two types that had to agree do not.

    It is a ``TypeError``, so ``except TypeError`` catches it too.
    """


def short(x: object, limit: int = 60) -> str:
    """``str(x)`` cut to ``limit`` characters, for error messages.

    Objects and arrows print only that much (at a cost bounded by ``limit``, not
    by their size), so a message about a 100,000-box diagram stays cheap.

    >>> from topos import Box, R
    >>> f = Box("f", R(1), R(1))
    >>> for _ in range(10): f = f >> f
    >>> short(f, 20)
    'f >> f >> f >> f >>…'
    """
    return _cut(x, limit, str)


def brief(x: object, limit: int = 200) -> str:
    """``repr(x)`` cut to ``limit`` characters (an object or arrow named in a message).

    >>> from topos import R
    >>> x = R(1)
    >>> for _ in range(20): x = x * x
    >>> len(brief(x)), brief(x)[-3:]
    (200, 'R(…')
    """
    return _cut(x, limit, repr)


def _cut(x: object, limit: int, show: Callable[[object], str]) -> str:
    prefix = getattr(x, "_prefix", None)  # objects and arrows print a bounded prefix
    text = prefix(limit + 1, show) if prefix is not None else show(x)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compose_mismatch(
    op: str, left: object, right: object, cod: object, dom: object
) -> TypeMismatch:
    """The error for ``left >> right`` when ``cod`` (of left) is not ``dom`` (of right)."""
    return TypeMismatch(
        f"{short(left)} {op} {short(right)}: codomain {brief(cod)} does not match domain"
        f" {brief(dom)}"
    )


def expected(op: str, what: str, got: object) -> TypeMismatch:
    """The error for an operation that needs ``what`` and was given ``got``."""
    return TypeMismatch(f"{op}: expected {what}, got {brief(got)}")


def not_a(op: str, kind: str, value: object) -> TypeError:
    """The error for a value of the wrong Python type (not an object, not an arrow ...)."""
    return TypeError(f"{op}: expected {kind}, got {type(value).__name__} {brief(value)}")


# -- constants (topos.arrows.Const, topos.literals) ---------------------------------------


def constant_misfit(value: object, cod: object, why: str) -> TypeMismatch:
    """The error for a constant whose value does not inhabit its object; ``why`` says how.

    >>> from topos import R
    >>> print(constant_misfit((1.0, 2.0), R(3), "shape (2,)"))
    Const: the value (1.0, 2.0) does not fit the object R(3): shape (2,)
    """
    return TypeMismatch(
        f"Const: the value {brief(value, 80)} does not fit the object {brief(cod, 80)}: {why}"
    )


def array_size(shape: tuple[int, ...], dtype: str, need: int, got: int) -> ValueError:
    """The error for array bytes that do not fill the array's shape exactly."""
    return ValueError(f"ArrayData: shape {shape!r} of {dtype} takes {need} bytes, got {got}")


def dims_clash(op: str, first: object, second: object) -> ValueError:
    """The error for two dimension variables with one name and different bounds."""
    name = getattr(first, "name", first)
    return ValueError(
        f"{op}: the diagram has two dims named {name!r} with different bounds, {first!r} and"
        f" {second!r}; give them different names, or one bound"
    )


# -- exact finite semantics (topos.finite) --------------------------------------------


def not_total(op: str, missing: object, dom: object) -> ValueError:
    """The error for a function table that misses ``missing`` of its domain."""
    return ValueError(f"{op}: the table is not total, it misses {missing!r} of the domain {dom}")


def outside_codomain(op: str, x: object, y: object, cod: object) -> ValueError:
    """The error for a function sending ``x`` to ``y``, which is not in its codomain."""
    return ValueError(f"{op}: {x!r} -> {y!r} lands outside the codomain {cod}")


def not_in_domain(op: str, x: object, dom: object) -> ValueError:
    """The error for applying a function to ``x``, which is not in its domain."""
    return ValueError(f"{op}: {x!r} is not in the domain {dom}")


class TooLarge(ValueError):
    """Something too large to write out: a finite set to enumerate (exponentials grow as
    ``|B| ** |A|``), a repeat to unroll."""


def too_large(what: object, size: int, limit: int) -> TooLarge:
    """The error for enumerating a finite set with more than ``limit`` elements."""
    return TooLarge(
        f"{short(what)} has {size} elements, more than the {limit} that can be enumerated;"
        " use smaller sets (exponentials grow as |B| ** |A|)"
    )


def not_natural(op: str, arrow: object, x: object, left: object, right: object) -> ValueError:
    """The error for a family of maps that does not commute with restriction along ``arrow``."""
    return ValueError(
        f"{op}: not natural at the arrow {arrow!r} and the element {x!r}:"
        f" restricting then mapping gives {left!r}, mapping then restricting gives {right!r}"
    )


def not_functorial(
    op: str, f: object, g: object, x: object, left: object, right: object
) -> ValueError:
    """The error for a presheaf whose restrictions do not compose: (x.g).f != x.(f >> g)."""
    return ValueError(
        f"{op}: restriction is not functorial at {f!r} >> {g!r} and the element {x!r}:"
        f" step by step gives {left!r}, the composite gives {right!r}"
    )


def too_many(what: str, limit: int) -> TooLarge:
    """The error for a lazily enumerated set found to exceed ``limit`` elements."""
    return TooLarge(
        f"{what} has more than {limit} elements, too many to enumerate;"
        " use smaller objects (exponentials grow fast)"
    )


def too_many_layers(op: str, layers: int, limit: int) -> TooLarge:
    """The error for writing out ``layers`` layers of repeats, more than ``limit``."""
    return TooLarge(
        f"{op}: unrolls to at least {layers} layers, more than MAX_UNROLLED_LAYERS = {limit}"
        " (topos.arrows); a repeat runs whole in the JAX backend, draws and analyses whole,"
        " and equal compares repeats whole first; raise the limit to unroll more"
    )


def too_many_wires(steps: int, limit: int) -> TooLarge:
    """The error for a drawing whose nodes carry ``steps`` wires in all, more than ``limit``."""
    return TooLarge(
        f"draw: the diagram's nodes carry {steps} wires in all, more than MAX_WIRE_STEPS ="
        f" {limit} (topos.draw); a Para of many composed layers carries all their parameters"
        " through each layer: draw the repeat (topos.para.repeat) instead of its unrolling,"
        " collapse named parts with depth=..., or raise the limit"
    )


# -- documents (topos.serial) -----------------------------------------------------------


def unfolds_too_far(limit: int, name: str, what: str) -> str:
    """The reason a document is refused: a node whose tree (shared nodes repeated) is too big."""
    return (
        f"unfolds to more than {limit} parts ({name}, the limit on {what}):"
        " a document shares nodes, but printing and normal forms unfold them"
    )
