"""String diagrams: ``draw(f)`` returns SVG text for any arrow or Para.

Conventions (one throughout):

- **Composition runs top to bottom**: ``f >> g`` draws ``f`` above ``g``; the
  domain's wires enter at the top, the codomain's leave at the bottom.
- **Products run side by side**: a wire per factor of a product (``factors``),
  ``One`` is no wire at all; coproducts and exponentials are single wires.
- ``copy`` and ``discard`` are dots, ``swap`` is crossing wires, ``fst``/``snd``
  discard a side; ``curry(m)`` is a bubble enclosing ``m`` with the exponential wire
  leaving its bottom (the abstracted wire starts inside it), ``ev`` is a clasp;
  ``copair``/``+`` are case boxes with one compartment per alternative.
- A ``Para`` draws its parameters entering each box **from the left side**; the
  reparametrisations (tying: a copy dot on a parameter wire; freezing: a constant
  box) are drawn on the parameter wires, left of the diagram.

Named sub-diagrams (the convention the neural vocabulary and the backends share):

- ``Box(name, dom, cod, body=g, **attrs)`` with ``g: dom -> cod`` an Arrow is a
  **named sub-diagram** (a group): its meaning is ``g``. Backends, ``analyze`` and
  functors inline ``g``; ``draw`` shows a box labelled ``name`` when collapsed, or a
  frame labelled ``name`` around ``g``'s diagram when expanded. Other attributes are
  free (documentation, ``cls`` is ignored since the body decides). ``group(name, g)``
  builds one.
- The one exception to "same type as its body" is ``repeat``:
  ``Box("repeat", P_stacked * A, A, body=g, n=n)`` with ``g: P * A -> A`` is ``n``
  applications of ``g`` with stacked parameters; it is drawn as a box labelled
  ``×n`` (``name ×n`` when ``g`` is itself a named sub-diagram) that expands to a
  stacked frame around ``g``.
- ``draw(f, depth=k)`` expands named sub-diagrams ``k`` levels deep and collapses
  the ones below; ``depth=0`` collapses every named sub-diagram, ``None`` (default)
  expands all of them.

>>> from topos import R, Box
>>> X = R(8)
>>> mlp = Box("up", X, R(32)) >> Box("relu", R(32), R(32)) >> Box("down", R(32), X)
>>> block = group("mlp", mlp)
>>> block.attrs["body"] == mlp and (block.dom, block.cod) == (mlp.dom, mlp.cod)
True
"""

from __future__ import annotations

from typing import Any

from topos.arrows import Arrow, Box
from topos.errors import not_a

__all__ = ["group"]


def group(name: str, body: Arrow, **attrs: Any) -> Box:
    """The named sub-diagram ``Box(name, body.dom, body.cod, body=body, **attrs)``.

    >>> from topos import R, Box
    >>> group("block", Box("f", R(2), R(2)))
    Box('block', R(2), R(2), body=Box('f', R(2), R(2)))
    """
    if not isinstance(body, Arrow):
        raise not_a(f"group({name!r})", "an arrow as the body", body)
    return Box(name, body.dom, body.cod, body=body, **attrs)
