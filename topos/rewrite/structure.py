"""Where ``topos.rewrite`` meets named groups and repeats (``topos.arrows.Group``, ``Repeat``).

A group is its body; a repeat is optimised through its body, once for all layers.
"""

from __future__ import annotations

from topos.arrows import Arrow, Group, Repeat

__all__ = ["group_body", "repeat_body", "with_body"]


def repeat_body(f: Arrow) -> tuple[Arrow, int] | None:
    """``(body, n)`` when ``f`` repeats ``body`` ``n`` times, else ``None``."""
    return (f.body, f.n) if isinstance(f, Repeat) else None


def group_body(f: Arrow) -> Arrow | None:
    """The body of a named sub-diagram (a group is its body), else ``None``."""
    return f.body if isinstance(f, Group) else None


def with_body(f: Repeat, body: Arrow) -> Repeat:
    """The repeat ``f`` with another (equal) body."""
    return Repeat(body, f.n)
