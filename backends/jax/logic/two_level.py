"""Two-level explanations: the linear maps a network chose from its input, then the PL rest.

A transformer is not PL: attention *chooses* a linear map from the input (its
mixing matrix ``A(x)``, built by ``curry``) and applies it. At one input that
choice is one matrix. ``explain_two_level`` runs the network once with a *tap*
before every ``curry`` (an identity box that records the environment the map is
built from), then holds each chosen map at its recorded value and explains the
frozen network, which is PL when the rest is, by ``explain``.

The taps are interpreted by the tapped run's own functor (``Taps``): nothing is
registered in the global primitive registry, and what a run recorded lives on
its ``Taps`` object.

>>> import numpy as np
>>> from topos import R, Box
>>> taps = Taps()
>>> f = taps.tap(R(2)) >> Box("relu", R(2), R(2))
>>> out = taps.interpret(f)(np.array([1.0, -2.0]))
>>> taps.seen[0].tolist(), out.tolist()
([1.0, -2.0], [1.0, 0.0])
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.jax.core.compile import CONSTANTS, Fn, constant
from backends.jax.core.params import cartesian, param_value
from backends.jax.core.registry import lookup
from backends.jax.core.values import shape_of
from backends.jax.logic.explanations import Explanation, explain
from backends.jax.logic.pl import PLNet, Unrolled
from topos import arrows as ar_
from topos.arrows import Arrow, Box
from topos.functor import Functor
from topos.objects import Ob
from topos.para import Para

__all__ = ["Chosen", "Taps", "TwoLevel", "explain_two_level"]


@dataclass(frozen=True, eq=False)
class Chosen:
    """A function the network builds from its input with ``curry`` (attention's mixing
    map), evaluated at the explained input: ``value`` is its environment there (for
    attention, the mixing matrix ``A(x)``), ``where`` names the layers around it."""

    where: str
    value: np.ndarray


@dataclass(frozen=True, eq=False)
class TwoLevel:
    """A two-level explanation (see ``explain_two_level``)."""

    chosen: tuple[Chosen, ...]
    rest: Explanation
    frozen: Para  # the network with every chosen map held at its value at x

    def __str__(self) -> str:
        lines = [f"level 1: {len(self.chosen)} linear map(s) chosen by the input at x"]
        for c in self.chosen:
            top = np.asarray(c.value, np.float64).reshape(-1, c.value.shape[-1])[:4]
            lines.append(f"  in {c.where or 'the top level'}: shape {c.value.shape}; first rows")
            lines += ["    " + " ".join(f"{v:.3f}" for v in row[:8]) for row in top]
        lines.append("level 2: with those maps fixed, the network is PL near x:")
        lines += [f"  {line}" for line in str(self.rest).splitlines()]
        return "\n".join(lines)


class Taps:
    """Identity boxes that record their input, and the functor that runs them.

    ``tap(ob)`` makes the next tap, numbered by its site; ``interpret(f)`` is ``f``
    as a JAX function in which each tap made here stores its input in
    ``seen[site]`` and every other box is its registered primitive. The record
    lives on this object, so two runs never share one.

    >>> from topos import R
    >>> taps = Taps()
    >>> taps.tap(R(3))
    Box('pl.tap', R(3), R(3), cls='linear', site=0)
    """

    def __init__(self) -> None:
        self.sites: dict[Box, int] = {}
        self.seen: dict[int, Any] = {}

    def tap(self, ob: Ob) -> Box:
        """A new tap on ``ob``: the identity, linear, recording what passes."""
        box = Box("pl.tap", ob, ob, cls="linear", site=len(self.sites))
        self.sites[box] = len(self.sites)
        return box

    def interpret(self, f: Arrow) -> Callable[[Any], Any]:
        """``f`` as a function of its input (repeats unrolled), the taps recording."""
        fn: Fn = Functor(ob=lambda o: o, ar=self._box, cod=Unrolled())(f)
        return fn.fn

    def _box(self, box: Arrow) -> Fn:
        if not isinstance(box, Box):  # constants and slices: the category interprets them
            raise KeyError(box)
        site = self.sites.get(box)
        if site is None:
            impl = lookup(box).fn
            return Fn(lambda v: impl(box, v), box.dom, box.cod)
        return Fn(lambda v: self._record(site, v), box.dom, box.cod)

    def _record(self, site: int, value: Any) -> Any:
        self.seen[site] = value
        return value


_BINARY: dict[type, Callable[[Arrow, Arrow], Arrow]] = {
    ar_.Pair: ar_.pair,
    ar_.Tensor: operator.mul,
    ar_.Copair: ar_.copair,
    ar_.Sum: operator.add,
}

# what replaces one curry: (the curry, its rebuilt body, the names of the groups around it)
_OnCurry = Callable[[ar_.Curry, Arrow, tuple[str, ...]], Arrow]


def _map_curries(f: Arrow, on_curry: _OnCurry) -> Arrow:
    """``f`` rebuilt with each ``curry`` replaced by ``on_curry`` (inner ones first)."""

    def go(g: Arrow, where: tuple[str, ...]) -> Arrow:
        if isinstance(g, ar_.Compose):
            out = go(g.children[0], where)
            for h in g.children[1:]:
                out = out >> go(h, where)
            return out
        binary = _BINARY.get(type(g))
        if binary is not None:
            return binary(go(g.children[0], where), go(g.children[1], where))
        if isinstance(g, ar_.Group):
            return ar_.group(g.name, go(g.body, (*where, g.name)), **g.attrs)
        if isinstance(g, (ar_.Repeat, ar_.Recur)):  # a fold over a Dim refuses, naming it
            return go(g.unroll(), where)
        if isinstance(g, ar_.Curry):
            return on_curry(g, go(g.arrow, where), where)
        return g

    return go(f, ())


def _tapped(f: Arrow, taps: Taps, sites: list[str]) -> Arrow:
    """``f`` with a tap before each ``curry``; ``sites`` gets each one's layer names."""

    def on_curry(g: ar_.Curry, body: Arrow, where: tuple[str, ...]) -> Arrow:
        sites.append(" > ".join(where))
        return taps.tap(g.dom) >> ar_.curry(body)

    return _map_curries(f, on_curry)


def _frozen(f: Arrow, values: list[np.ndarray]) -> Arrow:
    """``f`` with each ``curry(m)`` replaced by ``curry`` of ``m`` at a constant environment."""
    count = itertools.count()

    def on_curry(g: ar_.Curry, body: Arrow, where: tuple[str, ...]) -> Arrow:
        i = next(count)
        value = np.asarray(values[i])
        const = constant(value, name=f"chosen[{i}]", dtype=str(value.dtype))
        if const.cod != g.dom:
            raise TypeError(f"explain_two_level: chosen map {i} has type {g.dom}, not one array")
        return ar_.discard(g.dom) >> const >> ar_.curry(body)

    return _map_curries(f, on_curry)


def explain_two_level(
    p: Para, params: Mapping[str, Any], x: Any, box: Any = None, **kw: Any
) -> TwoLevel:
    """Explain a transformer-like network at ``x`` in two levels.

    A transformer is not PL: attention *chooses* a linear map from the input (its
    mixing matrix ``A(x)``, built by ``curry``) and applies it. At a given ``x``
    that choice is one matrix. So:

    1. **the chosen maps**: every ``curry`` of the network is evaluated at ``x``;
       its environment there (for attention, ``A(x)``: who attends to whom) is
       reported, named by the layers around it;
    2. **the rest**: the network with every chosen map *held fixed* at its value at
       ``x`` is PL when the rest is (ReLU MLPs, max-pool ...), and is explained by
       ``explain`` — rule, local linear model, counterfactual.

    What this is, precisely: level 2 explains the *frozen* network ``x' ↦
    N_{A(x)}(x')``, which agrees with the network at ``x`` and only there in general
    — the counterfactual is a point where the frozen network decides otherwise (it
    is reported for the frozen network; ``rest.counterfactual.verified`` checks it
    on that network). It is a local explanation of how the rest of the network uses
    what attention selected, not a region of the original network. Code that only
    computes a chosen map (the scores, the softmax) becomes dead in the frozen
    network, so its smooth boxes do not count; a ``relu`` inside it would still add
    (redundant) rows to the rule.

    >>> import jax, numpy as np
    >>> from topos import R
    >>> from topos.nn import attention, mlp
    >>> from topos.nn import primitives as P
    >>> from backends.jax import init
    >>> p = (attention(3, 2, 1, bias=False) >> Para.lift(P.reshape(R(3, 2), 6))
    ...      >> mlp([6, 4, 2]))
    >>> two = explain_two_level(p, init(p, jax.random.key(0)), np.linspace(-1, 1, 6))
    >>> [(c.where, c.value.shape) for c in two.chosen]
    [('attn', (3, 3))]
    >>> two.rest.rule.contains(np.linspace(-1, 1, 6))
    True

    Args:
        p: the network, a Para whose input is one ``R(...)``.
        params: its parameter dict.
        x: the input to explain.
        box: the input domain for level 2, as for ``explain``.
        **kw: passed to ``explain`` (``top``, ``steps``, ``budget``, ``progress``).

    Returns:
        A ``TwoLevel``: ``chosen`` (level 1), ``rest`` (an ``Explanation``), ``frozen``.

    Raises:
        ValueError: when a chosen map is built but never applied at ``x``.
    """
    import jax.numpy as jnp

    q = cartesian(p)
    sites: list[str] = []
    taps = Taps()
    run = taps.interpret(_tapped(q.arrow, taps, sites))
    xv = jnp.reshape(jnp.asarray(np.asarray(x, np.float32)), shape_of(q.dom))
    token = CONSTANTS.set(dict(params))
    try:
        run((param_value(q, dict(params)), xv))
    finally:
        CONSTANTS.reset(token)
    if len(taps.seen) != len(sites):
        missing = len(sites) - len(taps.seen)
        raise ValueError(f"explain_two_level: {missing} chosen map(s) never applied")
    values = [np.asarray(taps.seen[i]) for i in range(len(sites))]
    frozen = Para(q.P, _frozen(q.arrow, values), q.params, q.actegory)
    net = PLNet(frozen, params)
    chosen = tuple(Chosen(w, v) for w, v in zip(sites, values, strict=True))
    return TwoLevel(chosen, explain(net, x, box, **kw), frozen)
