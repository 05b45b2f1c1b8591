"""Where ``topos.rewrite`` recognises named groups and repeats: this one module.

Today a named sub-diagram is ``Box(name, ..., body=g)`` and a repeat is
``Box("repeat", ..., body=g, n=k)``. When they become constructors of
``topos.arrows`` (``Group``, ``Repeat``), these two helpers become ``isinstance``
tests and nothing else in ``topos.rewrite`` changes.
"""

from __future__ import annotations

from topos.arrows import Arrow, Box

__all__ = ["group_body", "repeat_body", "with_body"]


def repeat_body(f: Arrow) -> tuple[Arrow, int] | None:
    """``(body, n)`` when ``f`` repeats ``body`` ``n`` times, else ``None``."""
    if isinstance(f, Box) and f.name == "repeat":
        body, n = f.attrs.get("body"), f.attrs.get("n")
        if isinstance(body, Arrow) and isinstance(n, int):
            return body, n
    return None


def group_body(f: Arrow) -> Arrow | None:
    """The body of a named sub-diagram (a group is its body), else ``None``."""
    if isinstance(f, Box) and f.name != "repeat":
        body = f.attrs.get("body")
        if isinstance(body, Arrow) and (body.dom, body.cod) == (f.dom, f.cod):
            return body
    return None


def with_body(f: Box, body: Arrow) -> Box:
    """The repeat ``f`` with another (equal) body."""
    attrs = f.attrs
    attrs["body"] = body
    return Box(f.name, f.dom, f.cod, **attrs)
