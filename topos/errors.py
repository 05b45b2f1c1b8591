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

__all__ = ["TypeMismatch", "compose_mismatch", "expected", "not_a", "short"]


class TypeMismatch(TypeError):
    """Two types that had to agree do not.

    It is a ``TypeError``, so ``except TypeError`` catches it too.
    """


def short(x: object, limit: int = 60) -> str:
    """``str(x)`` cut to ``limit`` characters, for error messages."""
    text = str(x)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compose_mismatch(
    op: str, left: object, right: object, cod: object, dom: object
) -> TypeMismatch:
    """The error for ``left >> right`` when ``cod`` (of left) is not ``dom`` (of right)."""
    return TypeMismatch(
        f"{short(left)} {op} {short(right)}: codomain {cod!r} does not match domain {dom!r}"
    )


def expected(op: str, what: str, got: object) -> TypeMismatch:
    """The error for an operation that needs ``what`` and was given ``got``."""
    return TypeMismatch(f"{op}: expected {what}, got {got!r}")


def not_a(op: str, kind: str, value: object) -> TypeError:
    """The error for a value of the wrong Python type (not an object, not an arrow ...)."""
    return TypeError(f"{op}: expected {kind}, got {type(value).__name__} {value!r}")
