"""A grammar of sequence architectures, as diagrams: the space an architecture search explores.

An architecture is a *spec*, a nested tuple (hashable, JSON-friendly), built into a
``Para`` by the categorical combinators over the vocabulary of ``topos.nn``. Every
block is an endomorphism of the token matrices ``R(seq, width)``, so every spec the
grammar produces is well typed by construction:

- leaves: ``("mlp", ratio)`` a tokenwise ReLU MLP ``width -> ratio * width -> width``;
  ``("mix",)`` token mixing, a learned linear map along the sequence axis (first
  order, linear); ``("lsa",)`` linear self-attention (``topos.nn.lsa``: choose ;
  ev, polynomial); ``("attn",)`` softmax self-attention (choose ; ev, smooth);
- combinators: ``("seq", f, g)`` composition ``f >> g``; ``("par", f, g)`` the
  product ``copy ; (f * g) ; add``; ``("res", f)`` the residual ``x + f(x)``;
  ``("rep", f, k)`` ``repeat(f, k)`` (``k`` layers, stacked weights).

``architecture(spec, ...)`` wraps the body: a tokenwise embedding ``d_in -> width``,
the body, the last token (``take``) and a linear head ``width -> d_out``.
``random_spec(rng, ...)`` draws a spec; ``first_order`` restricts the leaves to
``mlp`` and ``mix``. Where a candidate lives is read off the built diagram by
``analyze``, not off the spec:

>>> import random
>>> from topos.analysis import analyze
>>> spec = ("arch", 8, ("seq", ("res", ("lsa",)), ("mlp", 2)))
>>> show(spec)
'w8: res(lsa) ; mlp×2'
>>> net = architecture(spec, seq=11, d_in=11, d_out=1)
>>> net.dom, net.cod, net.num_params()
(R(11, 11), R(1), 641)
>>> analyze(net).lives_in, analyze(architecture(random_spec(random.Random(0), first_order=True),
...                                              seq=11, d_in=11, d_out=1)).lives_in
('topos completion', 'PL pretopos')
"""

from __future__ import annotations

import random
import warnings
from typing import Any

from topos.arrows import copy
from topos.nn import primitives as P
from topos.nn.layers import _dims, grouped, linear, mlp, residual, weight
from topos.nn.lsa import lsa
from topos.nn.transformer import attention
from topos.objects import R
from topos.para import Para, glorot_uniform, repeat

__all__ = [
    "FIRST_ORDER",
    "HIGHER_ORDER",
    "WIDTHS",
    "architecture",
    "body",
    "higher_order",
    "leaves",
    "random_spec",
    "show",
]

#: Leaves whose diagrams evaluate only functions fixed by the parameters.
FIRST_ORDER = ("mlp", "mix")
#: Leaves built as choose ; ev: the function applied is chosen by the input.
HIGHER_ORDER = ("lsa", "attn")
#: The token widths ``random_spec`` draws from.
WIDTHS = (8, 16, 32)

Spec = tuple[Any, ...]


def leaves(spec: Spec) -> list[str]:
    """The leaf kinds of a spec, left to right.

    Args:
        spec: a body or an ``("arch", width, body)`` spec.

    Returns:
        The kinds, e.g. ``["lsa", "mlp"]``.

    >>> leaves(("seq", ("res", ("lsa",)), ("mlp", 2)))
    ['lsa', 'mlp']
    """
    head = spec[0]
    if head == "arch":
        return leaves(spec[2])
    if head in ("seq", "par"):
        return leaves(spec[1]) + leaves(spec[2])
    if head in ("res", "rep"):
        return leaves(spec[1])
    return [head]


def higher_order(spec: Spec) -> bool:
    """Whether some leaf of ``spec`` is choose ; ev (``lsa`` or ``attn``).

    Args:
        spec: a body or an architecture spec.

    Returns:
        True when a higher-order leaf occurs.

    >>> higher_order(("res", ("mix",))), higher_order(("rep", ("attn",), 2))
    (False, True)
    """
    return any(k in HIGHER_ORDER for k in leaves(spec))


def show(spec: Spec) -> str:
    """A one-line reading of a spec: ``;`` composes, ``∥`` is the product summed.

    Args:
        spec: a body or an architecture spec.

    Returns:
        The string.

    >>> show(("par", ("mix",), ("rep", ("attn",), 2)))
    '(mix ∥ 2×attn)'
    """
    head = spec[0]
    if head == "arch":
        return f"w{spec[1]}: {show(spec[2])}"
    if head == "seq":
        return f"{show(spec[1])} ; {show(spec[2])}"
    if head == "par":
        return f"({show(spec[1])} ∥ {show(spec[2])})"
    if head == "res":
        return f"res({show(spec[1])})"
    if head == "rep":
        inner = show(spec[1])
        return f"{spec[2]}×({inner})" if " " in inner else f"{spec[2]}×{inner}"
    if head == "mlp":
        return f"mlp×{spec[1]}"
    return str(head)


def _leaf(kind: str, spec: Spec, seq: int, width: int, name: str, context: int) -> Para:
    if kind == "mlp":
        return mlp([width, spec[1] * width, width], lead=(seq,), name=name)
    if kind == "mix":
        t, x = R(seq, seq), R(seq, width)
        mixer = weight("w", t, glorot_uniform, P.einsum("ts,sd->td", t, x))
        return grouped(name, mixer)
    if kind == "lsa":
        return lsa(seq, width, context=context, name=name)
    if kind == "attn":
        return attention(seq, width, name=name)
    raise ValueError(f"grammar: unknown leaf {kind!r} in {spec!r}")


def body(spec: Spec, seq: int, width: int, *, context: int | None = None) -> Para:
    """A body spec as a ``Para`` ``R(seq, width) -> R(seq, width)``; leaves named ``b0, b1, ...``.

    Args:
        spec: a body spec (no ``"arch"``).
        seq: tokens per sequence.
        width: the token width.
        context: how many leading tokens ``lsa`` leaves attend to; default ``seq - 1``.

    Returns:
        The ``Para``.

    >>> list(body(("seq", ("mix",), ("res", ("mlp", 1))), 4, 2).parameters())
    ['b0.w', 'b1.fc1.w', 'b1.fc1.b', 'b1.fc2.w', 'b1.fc2.b']
    """
    _dims("body", seq=seq, width=width)
    ctx = seq - 1 if context is None else context
    count = [0]

    def build(s: Spec) -> Para:
        head = s[0]
        if head == "seq":
            return build(s[1]) >> build(s[2])
        if head == "par":
            x = R(seq, width)
            return copy(x) >> (build(s[1]) * build(s[2])) >> P.add(x, x)
        if head == "res":
            return residual(build(s[1]))
        if head == "rep":
            return repeat(build(s[1]), int(s[2]))
        name = f"b{count[0]}"
        count[0] += 1
        return _leaf(head, s, seq, width, name, ctx)

    return build(spec)


def architecture(spec: Spec, *, seq: int, d_in: int, d_out: int) -> Para:
    """An ``("arch", width, body)`` spec as a model ``R(seq, d_in) -> R(d_out)``.

    Tokenwise embedding ``embed: d_in -> width``, the body, the last token, and the
    head ``head: width -> d_out``.

    Args:
        spec: ``("arch", width, body)``.
        seq: tokens per sequence (the query is the last).
        d_in: the input token width.
        d_out: the prediction's dimension.

    Returns:
        The ``Para``.

    >>> architecture(("arch", 4, ("mix",)), seq=3, d_in=2, d_out=1).num_params()
    26
    """
    if spec[0] != "arch":
        raise ValueError(f"architecture: expected ('arch', width, body), got {spec!r}")
    width = int(spec[1])
    x = R(seq, width)
    return (
        linear(d_in, width, lead=(seq,), name="embed")
        >> body(spec[2], seq, width)
        >> P.take(x, seq - 1, 0)
        >> linear(width, d_out, name="head")
    )


def _draw(rng: random.Random, kinds: tuple[str, ...], depth: int) -> Spec:
    if depth == 0 or rng.random() < 0.4:
        kind = rng.choice(kinds)
        return ("mlp", rng.choice((1, 2, 4))) if kind == "mlp" else (kind,)
    op = rng.choice(("seq", "seq", "par", "res", "res", "rep"))
    if op in ("seq", "par"):
        return (op, _draw(rng, kinds, depth - 1), _draw(rng, kinds, depth - 1))
    if op == "res":
        return ("res", _draw(rng, kinds, depth - 1))
    return ("rep", _draw(rng, kinds, depth - 1), rng.choice((2, 3)))


def random_spec(
    rng: random.Random,
    *,
    first_order: bool = False,
    depth: int = 3,
    widths: tuple[int, ...] = WIDTHS,
) -> Spec:
    """Draw an architecture spec ``("arch", width, body)``.

    With ``first_order=True`` the leaves are ``mlp`` and ``mix`` only; otherwise
    at least one leaf is ``lsa`` or ``attn`` (redrawn until so), so the two
    strata of a search are the two places a candidate can live.

    Args:
        rng: the source of randomness (``random.Random(seed)``: reproducible).
        first_order: draw from the first-order leaves only.
        depth: the maximum nesting of combinators.
        widths: the token widths to choose from.

    Returns:
        The spec.

    >>> s = random_spec(random.Random(3))
    >>> s[0], s[1] in WIDTHS, higher_order(s)
    ('arch', True, True)
    """
    kinds = FIRST_ORDER if first_order else FIRST_ORDER + HIGHER_ORDER
    width = rng.choice(widths)
    while True:
        spec = _draw(rng, kinds, depth)
        if first_order or higher_order(spec):
            return ("arch", width, spec)


def __getattr__(name: str) -> Any:
    if name == "sample":  # the name of topos 0.1, which backends.jax.sample also had
        warnings.warn(
            "topos.nn.grammar.sample is now random_spec", DeprecationWarning, stacklevel=2
        )
        return random_spec
    raise AttributeError(f"module 'topos.nn.grammar' has no attribute {name!r}")
